//! dx-vfs: node_modules as a FUSE filesystem served lazily from the store.
//!
//! The filesystem logic lives in [`NodeModulesTree`], dx's own interface (lookup, getattr,
//! readdir, read, readlink and the write calls) over a layout (DXL), the store's package
//! archives and a per-project writable overlay. [`fuse`] is a thin adapter from `fuser` to
//! that interface; [`mount`] and [`lifecycle`] hold what a mount daemon needs (readiness,
//! stale-mount repair, locking, lazy unmount, logging).
//!
//! Invariants:
//! - the store is never written through a mount; writes go to the overlay directory;
//! - mounting reads the layout only; each package archive is mapped on first use inside it;
//! - inode numbers are derived from (layout slot, archive entry), so they are stable, and a
//!   live reload keeps the inodes of unchanged paths;
//! - a panic while answering one request answers EIO and is logged; the daemon goes on.
#![deny(missing_docs)]

mod archives;
pub mod error;
pub mod fuse;
mod inode;
pub mod layout;
pub mod lifecycle;
pub mod mount;
mod overlay;
pub mod tree;

pub use error::{FuseUnavailable, VfsError};
pub use fuse::{RequestCounters, RequestCounts};
pub use layout::{LayoutRow, LayoutRowKind, rows_from_dxl};
pub use lifecycle::{
    MountLock, MountPointState, ReadyReader, ReadyWriter, UnmountOutcome, check_fuse_available,
    cleanup_stale_mount, mount_point_state, readiness_pipe, spawn_with_readiness, unmount,
};
pub use mount::{Mount, MountConfig, reload_ack_path, serve_until_signalled};
pub use overlay::reset_overlay;
pub use tree::write::SetAttr;
pub use tree::{DirEntry, FsError, NodeAttr, NodeModulesTree, NodeType, ReloadChanges};
