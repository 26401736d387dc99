//! The store's error type: every variant names the file, package or entry it is about, so the
//! CLI can render a useful message without guessing.

use std::io;
use std::path::PathBuf;

use dx_formats::dxp::DxpError;
use dx_formats::hash::{ContentHash, Integrity};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Neither `$DX_HOME`, `$XDG_CACHE_HOME` nor `$HOME` is set, so there is no default root.
    #[error("cannot find a store directory: set DX_HOME, XDG_CACHE_HOME or HOME")]
    NoHome,

    /// A filesystem operation failed; `action` says what the store was doing.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What the store was doing ("create directory", "rename", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Bytes handed to [`Store::put_archive`](crate::Store::put_archive) are not a valid DXP.
    #[error("refusing to store an invalid package archive: {source}")]
    InvalidArchive {
        /// Why the archive was rejected.
        #[source]
        source: DxpError,
    },

    /// A tarball could not be converted to a DXP archive (bad gzip, hostile entry, too big).
    #[error("cannot convert the tarball of {package}: {source}")]
    InvalidTarball {
        /// Display name of the package ("lodash@4.17.21").
        package: String,
        /// Why conversion failed.
        #[source]
        source: DxpError,
    },

    /// Reading a tarball failed before its integrity could be checked.
    #[error("cannot read the tarball of {package}: {source}")]
    TarballRead {
        /// Display name of the package.
        package: String,
        /// The read error.
        #[source]
        source: io::Error,
    },

    /// A tarball does not hash to the integrity the registry vouched for; nothing was stored.
    #[error("integrity mismatch for {package}: expected {expected}, got {actual}")]
    IntegrityMismatch {
        /// Display name of the package.
        package: String,
        /// The integrity from the lockfile or registry.
        expected: Integrity,
        /// What the downloaded bytes hash to.
        actual: Integrity,
    },

    /// An archive the caller asked for is not in the store.
    #[error("package archive {hash} is not in the store")]
    MissingArchive {
        /// The content hash that was looked up.
        hash: ContentHash,
    },

    /// An archive in the store failed to parse (on-disk corruption); `dx cache verify` repairs.
    #[error("stored archive {hash} is corrupt: {source}")]
    CorruptArchive {
        /// The archive's content hash.
        hash: ContentHash,
        /// What the parser found.
        #[source]
        source: DxpError,
    },

    /// An archive entry path would escape its directory when unpacked.
    #[error("archive {hash} holds an entry with an unsafe path `{path}`")]
    UnsafeEntryPath {
        /// The archive's content hash.
        hash: ContentHash,
        /// The offending entry path.
        path: String,
    },

    /// Another live process already holds the mount guard of this project.
    #[error("node_modules of `{}` is already served by another live dx mount", project.display())]
    MountBusy {
        /// The project directory.
        project: PathBuf,
    },
}

impl StoreError {
    /// Wraps an `io::Error` with what the store was doing and where.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }
}
