//! dx's on-disk formats: pure functions from bytes to bytes.
//!
//! Invariants every module here keeps:
//! - no network, no global state, no I/O beyond what a caller hands in;
//! - every reader validates every offset and length against its buffer and returns an error,
//!   never panics, on hostile input;
//! - every writer is deterministic: the same input gives the same bytes.
#![deny(missing_docs)]

pub mod dxl;
pub mod dxp;
pub mod hash;
pub mod lockfile;
pub mod registry_url;
pub mod version;
