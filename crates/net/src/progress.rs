//! Progress events, for the CLI's progress bars. They carry package names and byte counts,
//! never URLs with credentials or headers.

use std::sync::Arc;
use std::time::Duration;

/// Something that moved forward.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A packument is known (from the network or the cache).
    MetadataResolved {
        /// The package name.
        package: Arc<str>,
        /// Whether it came from the cache without a full download.
        from_cache: bool,
    },
    /// A tarball download started.
    DownloadStarted {
        /// `name@version`.
        package: Arc<str>,
    },
    /// Bytes of a tarball arrived.
    DownloadBytes {
        /// `name@version`.
        package: Arc<str>,
        /// Bytes in this chunk.
        bytes: u64,
    },
    /// A tarball is verified and stored.
    Stored {
        /// `name@version`.
        package: Arc<str>,
        /// Tarball bytes downloaded (0 when it was already in the store).
        bytes: u64,
        /// Whether it was in the store already (nothing downloaded).
        already_stored: bool,
    },
    /// A request failed in a way worth retrying; the next attempt comes after `delay`.
    Retrying {
        /// The package (or `name@version`) concerned.
        what: Arc<str>,
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// How long until it.
        delay: Duration,
        /// What went wrong, without credentials.
        reason: String,
    },
}

/// Where events go. Called from many tasks at once; it should only count and return.
pub type ProgressSink = Arc<dyn Fn(ProgressEvent) + Send + Sync>;
