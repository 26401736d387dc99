//! Errors of the virtual node_modules, each naming what failed.

use std::io;
use std::path::PathBuf;

/// Why FUSE cannot be used on this machine: the CLI turns this into the materialize fallback
/// with a one-line note, so each variant says what is missing in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FuseUnavailable {
    /// The kernel has no FUSE device (module not loaded, container without the device).
    #[error(
        "/dev/fuse does not exist (FUSE kernel module not loaded or not passed to this container)"
    )]
    NoDevice,
    /// The device exists but this user may not open it.
    #[error("/dev/fuse cannot be opened: {0}")]
    NoPermission(String),
    /// Not root, and neither `fusermount3` nor `fusermount` is on PATH.
    #[error(
        "fusermount3 is not installed (needed to mount FUSE without root; install the fuse3 package)"
    )]
    NoFusermount,
    /// The mount(2) or fusermount call itself was refused.
    #[error("mounting was refused: {0}")]
    MountRefused(String),
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    /// FUSE cannot be used here: fall back to materializing.
    #[error("FUSE is not available: {0}")]
    FuseUnavailable(#[from] FuseUnavailable),
    /// The layout (DXL) could not be read.
    #[error("invalid layout (DXL): {0}")]
    Layout(String),
    /// A package archive the layout names could not be opened from the store.
    #[error("package {package} ({hash}) could not be opened from the store: {reason}")]
    Package {
        /// `name@version` of the package.
        package: String,
        /// Hex content hash.
        hash: String,
        /// What the store said.
        reason: String,
    },
    /// An I/O error on a path we can name.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("creating", "reading", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The overlay metadata file is corrupt.
    #[error("overlay metadata {path} is corrupt: {reason}")]
    OverlayMetadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another dx process holds this project's mount lock.
    #[error("another dx process (pid {pid}) is already mounting or serving {mountpoint}")]
    AlreadyMounted {
        /// The mountpoint both want.
        mountpoint: PathBuf,
        /// The pid recorded in the lock file (0 when unknown).
        pid: u32,
    },
    /// The daemon child did not report readiness.
    #[error("the mount daemon failed to start: {0}")]
    DaemonStart(String),
    /// The mountpoint is busy and could not be unmounted, even lazily.
    #[error("could not unmount {path}: {reason}")]
    Unmount {
        /// The mountpoint.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl VfsError {
    /// Wraps an I/O error with the action and path, the shape every call site needs.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        VfsError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
