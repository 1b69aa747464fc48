//! The session machine's commands, rule by rule.
