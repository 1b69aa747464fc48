//! Random conversations.
