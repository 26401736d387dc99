//! dx-store: the on-disk content-addressed package store shared by every dx process of a user.
//!
//! Invariants:
//! - an archive is filed under the BLAKE3 of its bytes and was fully validated before it was
//!   stored; it is written to a temp file, fsynced and renamed into place, so a crash leaves
//!   either nothing or a whole archive, and stored files are never modified in place;
//! - the integrity index is written only after its archive, so it never points at a partial
//!   archive; entries whose archive is gone are treated as misses and pruned by verify and gc;
//! - every temp file lives in a per-process session under `v1/tmp/`, removed by the next open
//!   or gc once its process is dead;
//! - gc removes only what no registered project and no live mount references, and never runs
//!   while an install holds an [`InsertGuard`] (see docs/store.md for the lock protocol);
//! - a project's state ([`ProjectState`]: mount files, install record, overlay) is removed
//!   only once its project directory is gone and no mount of it is live or starting.
#![deny(missing_docs)]

mod atomic;
mod error;
mod layout;
mod lock;
mod session;
mod store;

pub use atomic::{
    PendingWrite, quiesce_writes, replace_atomic_unsynced, replace_atomic_unsynced_if_changed,
    write_atomic, write_atomic_if_changed,
};
pub use error::StoreError;
pub use lock::{FileLock, LockMode};
pub use store::PROJECT_LOCKFILE;
pub use store::{
    AreaStats, CorruptArchive, GcLock, GcOptions, GcReport, ImportBatch, ImportedPackage,
    InsertGuard, MountGuard, ProjectMissingArchives, ProjectState, RootRecord, SharingProbe, Store,
    StoreStats, StoredArchive, VerifyReport,
};
