//! Selecting workspace members.
