//! dx-fallback-link: a DXL layout written to disk as a real `node_modules`, for where the FUSE
//! mount cannot be used (CI runners, containers without `/dev/fuse`) or is not wanted.
//!
//! Invariants:
//! - The result equals the mounted tree: the same paths, bytes, executable bits and `.bin`
//!   links (relative, exactly as the DXL records them). Package files are read-only (0444,
//!   0555 executable) whatever the link mode, so an edit fails instead of writing into the
//!   store through a hardlink.
//! - The link mode is decided once per install by a probe on the target filesystem (reflink,
//!   the only sharing mode a root write cannot push into the store; then hardlink; then copy),
//!   not per file; a mode that fails midway steps down for the rest of the files and the report
//!   says why, so the tree is always complete.
//! - `node_modules` is always either the old tree or the whole new one: the new tree is built
//!   beside it and exchanged atomically; failures and crashes leave the old tree in place. An
//!   in-place update of a tree (only the packages that changed) builds them beside it and
//!   renames them in; a process killed among those renames (microseconds) leaves an empty
//!   marker, so the next install rebuilds the whole tree and swaps it in.
//! - A repeat install of the same layout on an intact tree writes nothing and reads no more
//!   than the marker and a few directory `stat`s (see [`MARKER_FILE`]).
//! - Every path from the layout or an archive is checked before use; nothing is written outside
//!   `node_modules` and the staging directory beside it.
//!
//! See `docs/materialize.md` for the trade-offs.
#![deny(missing_docs)]

mod error;
mod link_mode;
mod marker;
mod materialize;
mod script_writes;
mod sys;
mod unpacked_check;

pub use error::LinkError;
pub use link_mode::{LinkMode, UnknownLinkMode};
pub use marker::MARKER_FILE;
pub use materialize::{
    InjectedFailure, MaterializeOptions, MaterializeReport, TreeUpdate, materialize,
    remove_leftovers, remove_tree,
};
pub use script_writes::ScriptWatch;
pub use unpacked_check::{UnpackedDamage, UnpackedProblem, repair_unpacked, verify_unpacked};
