//! Keel's log engines (work in progress: see issue 3).
