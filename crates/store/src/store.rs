//! [`Store`]: one content-addressed store on disk, shared by every dx process of a user.
//!
//! The operations live in submodules by concern; this file holds opening, paths and the small
//! caches (DXL files, cached values, the metadata directory).

mod batch;
mod gc;
mod insert;
mod lookup;
mod projects;
mod roots;
mod stats;
mod unpack;
mod verify;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dx_formats::hash::ContentHash;

use crate::atomic::{remove_tree, write_atomic_via};
use crate::error::StoreError;
use crate::layout::StoreLayout;
use crate::lock::{FileLock, LockMode};
use crate::session::{TempSession, clean_stale_sessions};

pub use batch::ImportBatch;
pub use gc::{GcOptions, GcReport};
pub use insert::ImportedPackage;
pub use lookup::StoredArchive;
pub use projects::ProjectState;
pub use roots::{MountGuard, PROJECT_LOCKFILE, RootRecord};
pub use stats::{AreaStats, StoreStats};
pub use unpack::SharingProbe;
pub use verify::{CorruptArchive, ProjectMissingArchives, VerifyReport};

/// An open store. Cheap to share between threads (`&Store` is all any operation needs); every
/// process opens its own, and they coordinate through files and locks only.
#[derive(Debug)]
pub struct Store {
    layout: StoreLayout,
    session: TempSession,
}

/// Held by an install from its first archive lookup until what it installed is protected
/// otherwise: its root registered and, for a mount, the daemon holding its [`MountGuard`]
/// (`dx cache clean` keeps only what live mounts use). gc cannot run meanwhile, so it cannot
/// delete an archive that is stored but not yet protected.
///
/// Shared with other installs; exclusive against gc.
#[derive(Debug)]
pub struct InsertGuard {
    _lock: FileLock,
}

/// The exclusive side of the gc lock: no install, mount start or verify runs while it is held.
/// Taken by [`Store::gc`], or by the caller ([`Store::try_gc_lock`], [`Store::gc_lock`]) to
/// say it waits before [`Store::gc_locked`].
#[derive(Debug)]
pub struct GcLock {
    _lock: FileLock,
}

impl Store {
    /// The store directory of this user: `$DX_HOME`, else `$XDG_CACHE_HOME/dx`, else
    /// `~/.cache/dx`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        root_from_env(|name| std::env::var_os(name))
    }

    /// Opens the store at `root`, creating its directories, and removes the temp files of dx
    /// processes that died mid-write.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let layout = StoreLayout::new(root.into());
        for dir in layout.directories() {
            fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        }
        let tmp = layout.tmp_dir();
        clean_stale_sessions(&tmp).map_err(StoreError::io("clean temp directory", &tmp))?;
        let session =
            TempSession::start(&tmp).map_err(StoreError::io("create temp session", &tmp))?;
        Ok(Store { layout, session })
    }

    /// The root directory (the one holding `v1/`).
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// Where the archive with this hash lives (whether or not it is there).
    pub fn archive_path(&self, hash: &ContentHash) -> PathBuf {
        self.layout.archive_path(hash)
    }

    /// Whether the archive is in the store. One `stat`.
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.layout.archive_path(hash).is_file()
    }

    /// Takes the shared side of the gc lock; see [`InsertGuard`] and docs/store.md.
    pub fn insert_guard(&self) -> Result<InsertGuard, StoreError> {
        let path = self.layout.gc_lock_path();
        let lock =
            FileLock::acquire(&path, LockMode::Shared).map_err(StoreError::io("lock", &path))?;
        Ok(InsertGuard { _lock: lock })
    }

    /// Takes the exclusive gc lock, or `None` at once when an install (or a mount starting, or
    /// a verify) holds the shared side.
    pub fn try_gc_lock(&self) -> Result<Option<GcLock>, StoreError> {
        let path = self.layout.gc_lock_path();
        let lock = FileLock::try_acquire(&path, LockMode::Exclusive)
            .map_err(StoreError::io("lock", &path))?;
        Ok(lock.map(|lock| GcLock { _lock: lock }))
    }

    /// Takes the exclusive gc lock, waiting for every holder of the shared side to finish.
    pub fn gc_lock(&self) -> Result<GcLock, StoreError> {
        let path = self.layout.gc_lock_path();
        let lock =
            FileLock::acquire(&path, LockMode::Exclusive).map_err(StoreError::io("lock", &path))?;
        Ok(GcLock { _lock: lock })
    }

    /// The registry-metadata cache directory (written by dx-net; the store only creates it).
    pub fn metadata_dir(&self) -> PathBuf {
        self.layout.metadata_dir()
    }

    /// Empties the registry-metadata cache (`dx cache clean`): the directory is renamed into
    /// this process's temp session in one step, then removed there. A concurrent install that
    /// caches a packument meanwhile writes into a fresh directory, or fails that cache write
    /// (which it ignores); removing the tree in place raced with such writers ("Directory not
    /// empty").
    pub fn clear_metadata(&self) -> Result<(), StoreError> {
        self.remove_aside(&self.layout.metadata_dir())
    }

    /// Removes a file or tree so that no reader ever sees it half removed: it is renamed into
    /// this process's temp session first (one atomic step), then deleted there. A process
    /// killed in between leaves it in a dead session, which the next open cleans.
    pub(crate) fn remove_aside(&self, path: &Path) -> Result<(), StoreError> {
        let aside = self.session.temp_path("removed-");
        match fs::rename(path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("move aside", path)(e)),
        }
        // A writer that looked the directory up just before the rename can still create one
        // file in it (its path was resolved already): a removal that meets such a late file
        // tries again.
        let mut attempts = 0;
        loop {
            match remove_tree(&aside) {
                Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty && attempts < 20 => {
                    attempts += 1;
                }
                other => return other.map_err(StoreError::io("remove", &aside)),
            }
        }
    }

    /// Where the compiled DXL file for `key` lives. Keys other than plain file names are hashed,
    /// so any string is safe.
    pub fn dxl_path(&self, key: &str) -> PathBuf {
        self.layout.dxl_path(key)
    }

    /// Where the compiled DXL file for `key` lives in the store at `root`, without opening the
    /// store (no directory created, no temp session started): for commands that only read a
    /// layout if there is one (`dx list`, `dx why`).
    pub fn dxl_path_at(root: &Path, key: &str) -> PathBuf {
        StoreLayout::new(root.to_path_buf()).dxl_path(key)
    }

    /// Stores a compiled DXL file atomically under `key`; returns its path.
    pub fn write_dxl(&self, key: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
        let path = self.layout.dxl_path(key);
        self.write_file(&path, bytes, 0o444)?;
        Ok(path)
    }

    /// A small cached value (for example the registry URL npm answered), if one was set.
    pub fn cached_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let path = self.layout.value_path(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("read cached value", &path)(e)),
        }
    }

    /// Sets a small cached value atomically.
    pub fn set_cached_value(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.write_file(&self.layout.value_path(name), value.as_bytes(), 0o644)
    }

    /// Writes a store file through this process's temp session (same filesystem, cleaned up
    /// after a crash).
    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
        let temp = self.session.temp_path("w-");
        write_atomic_via(&temp, path, bytes, mode).map_err(StoreError::io("write", path))
    }
}

/// [`Store::default_root`] over any environment (tests cannot safely set process variables).
fn root_from_env(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, StoreError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("DX_HOME") {
        return Ok(home);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(cache) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
        return Ok(cache.join("dx"));
    }
    var("HOME")
        .map(|home| home.join(".cache").join("dx"))
        .ok_or(StoreError::NoHome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_follows_dx_home_then_xdg_then_home() {
        fn env(
            pairs: &[(&'static str, &'static str)],
        ) -> impl Fn(&str) -> Option<std::ffi::OsString> {
            let pairs = pairs.to_vec();
            move |name| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.into())
            }
        }
        let all = [
            ("DX_HOME", "/dx"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(root_from_env(env(&all)).unwrap(), PathBuf::from("/dx"));
        let no_dx = [
            ("DX_HOME", ""),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(
            root_from_env(env(&no_dx)).unwrap(),
            PathBuf::from("/xdg/dx")
        );
        let relative_xdg = [("XDG_CACHE_HOME", "rel"), ("HOME", "/home/u")];
        assert_eq!(
            root_from_env(env(&relative_xdg)).unwrap(),
            PathBuf::from("/home/u/.cache/dx")
        );
        assert!(matches!(root_from_env(env(&[])), Err(StoreError::NoHome)));
    }

    #[test]
    fn dxl_and_values_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = store.write_dxl("abc", b"DXL\0...").unwrap();
        assert_eq!(path, store.dxl_path("abc"));
        assert_eq!(fs::read(&path).unwrap(), b"DXL\0...");
        // Overwriting a read-only DXL file works (rename replaces it).
        store.write_dxl("abc", b"DXL\0new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"DXL\0new");

        assert_eq!(store.cached_value("registry").unwrap(), None);
        store
            .set_cached_value("registry", "http://127.0.0.1:4873/")
            .unwrap();
        assert_eq!(
            store.cached_value("registry").unwrap().as_deref(),
            Some("http://127.0.0.1:4873/")
        );
        assert!(store.metadata_dir().is_dir());
    }

    #[test]
    fn clearing_metadata_while_packuments_are_written_does_not_fail() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let packuments = store.metadata_dir().join("packuments").join("reg");
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            // An install caching packuments as the cache writes them: create the directory,
            // write a temp file, rename it in; failures are ignored.
            s.spawn(|| {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    if fs::create_dir_all(&packuments).is_ok() {
                        let temp = packuments.join(format!(".tmp-{i}"));
                        if fs::write(&temp, b"x").is_ok() {
                            let _ = fs::rename(&temp, packuments.join(format!("p{}.dxpk", i % 50)));
                        }
                    }
                }
            });
            let results: Vec<_> = (0..200).map(|_| store.clear_metadata()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for result in results {
                result.expect("clear while written");
            }
        });
        store.clear_metadata().unwrap();
        assert!(!store.metadata_dir().exists());
        // Nothing of the cleared copies is left in the temp session.
        let tmp = dir.path().join("v1").join("tmp");
        let leftovers: Vec<_> = fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .flat_map(|e| fs::read_dir(e.path()).unwrap().flatten())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn open_cleans_the_temp_files_of_dead_processes() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("v1").join("tmp");
        fs::create_dir_all(tmp.join("s-dead")).unwrap();
        fs::write(tmp.join("s-dead.lock"), b"").unwrap();
        fs::write(tmp.join("s-dead").join("partial.dxp"), b"half").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!tmp.join("s-dead").exists());
        assert!(!tmp.join("s-dead.lock").exists());
        // Only our own session remains (its dir and its lock).
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 2);
        drop(store);
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
