//! [`LinkError`]: why a materialization failed, naming the file or package concerned.
//!
//! A failure never leaves a broken `node_modules`: the new tree is built beside the old one, and
//! an error removes it and leaves the old tree as it was.

use std::io;
use std::path::PathBuf;

use dx_formats::dxp::DxpError;
use dx_formats::hash::ContentHash;
use dx_store::StoreError;

/// Everything that can make [`materialize`](crate::materialize) or the unpacked-tier check fail.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A filesystem operation failed; `action` says what was being done.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "copy", "swap in", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The store failed (opening an archive, extracting the unpacked tier).
    #[error("store error for {package}: {source}")]
    Store {
        /// Display name of the package ("react@18.3.1").
        package: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },

    /// The layout names a package the store does not hold.
    #[error("{package} ({}) is not in the store; run the install again to fetch it", hash.to_hex())]
    MissingPackage {
        /// Display name of the package.
        package: String,
        /// Its content hash.
        hash: ContentHash,
    },

    /// A package archive in the store is corrupt (a bad entry, a failed decompression).
    #[error("corrupt archive for {package}: {source}; run `dx cache verify`")]
    CorruptArchive {
        /// Display name of the package.
        package: String,
        /// What is wrong with it.
        #[source]
        source: DxpError,
    },

    /// A path from the layout or an archive could escape `node_modules` (absolute, `..`, empty
    /// component); it is refused rather than written.
    #[error("refusing unsafe path `{path}` in {origin}")]
    UnsafePath {
        /// The offending path.
        path: String,
        /// Where it came from ("the layout", "react@18.3.1").
        origin: String,
    },

    /// Two layout nodes or archive entries want the same path with different kinds.
    #[error("layout conflict at `{path}`: {reason}")]
    LayoutConflict {
        /// The path relative to `node_modules`.
        path: String,
        /// What clashes.
        reason: String,
    },

    /// The key recorded in the layout marker must be a single line.
    #[error("layout key {0:?} must be non-empty and free of line breaks")]
    InvalidKey(String),
}

impl LinkError {
    /// A closure mapping an `io::Error` to [`LinkError::Io`] with context, for `map_err`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> LinkError {
        let path = path.into();
        move |source| LinkError::Io {
            action,
            path,
            source,
        }
    }
}
