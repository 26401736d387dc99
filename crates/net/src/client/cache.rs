//! The packument cache in the store's metadata directory: one file per (registry, package),
//! holding the packument's index ([`dx_metadata::index`]: compact, checksummed, decoded
//! lazily) with the validators (ETag, Last-Modified) recorded inside it.
//!
//! Invariants: files are replaced atomically (`dx_store::replace_atomic_unsynced`: a temp file
//! renamed over, not fsynced, since a lost entry is only a miss), never written in
//! place, so a mapped file does not change under its reader; a file that is damaged,
//! truncated, of another format version or for another (registry, package) is a miss, never
//! an error and never a panic; the file's modification time is when the entry stops being
//! fresh (see [`PackumentCache::set_expiry`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dx_metadata::{IndexBytes, IndexError, Packument};
use sha1::Digest as _;

/// The file name extension (format 1, JSON, used `.json`; formats 2 and 3 share `.dxpk`, the
/// header's format version tells them apart).
const EXTENSION: &str = "dxpk";
/// Files at least this large are memory-mapped; smaller ones are read (a mapping costs more
/// than reading a few pages).
const MAP_FROM: u64 = 64 * 1024;

/// A cached packument and whether it may be used without asking the registry.
pub(crate) struct CachedPackument {
    /// The document.
    pub(crate) packument: Packument,
    /// Until when it is fresh.
    pub(crate) expires: SystemTime,
}

/// Why a cache entry was not used; only ever a miss, kept for tests and debugging.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheLoadError {
    /// The file is absent or unreadable.
    #[error("reading packument cache `{path}`: {source}")]
    Read {
        /// The cache file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is there but not a valid entry for this package.
    #[error("packument cache `{path}`: {source}")]
    Index {
        /// The cache file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: IndexError,
    },
}

/// Where one registry's packuments are cached.
#[derive(Clone, Debug)]
pub(crate) struct PackumentCache {
    dir: PathBuf,
    /// The last registry's directory: hashing the registry URL for every load showed in the
    /// benchmark's profile, and nearly every load is for the same registry.
    registry_dir: Arc<Mutex<Option<(String, OsString)>>>,
}

impl PackumentCache {
    /// The cache under `metadata_dir` (normally `Store::metadata_dir()`).
    pub(crate) fn new(metadata_dir: &Path) -> Self {
        Self {
            dir: metadata_dir.join("packuments"),
            registry_dir: Arc::default(),
        }
    }

    /// `<dir>/<sha1(registry), 8 bytes hex>`: registries are kept apart, since the same name
    /// may be a different package elsewhere.
    fn registry_dir(&self, registry: &str) -> OsString {
        let mut memo = self
            .registry_dir
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match memo.as_ref() {
            Some((url, dir)) if url == registry => dir.clone(),
            _ => {
                let key = hex::encode(&sha1::Sha1::digest(registry.as_bytes())[..8]);
                let dir = self.dir.join(key).into_os_string();
                *memo = Some((registry.to_owned(), dir.clone()));
                dir
            }
        }
    }

    /// The file for `package` from `registry`, named `<escaped name>.<extension>` as
    /// [`crate::client::escape_package_name`] escapes it. (Not `Path::with_extension`: package
    /// names contain dots.) Built in one buffer: this runs on every cached load.
    fn file(&self, registry: &str, package: &str, extension: &str) -> PathBuf {
        let mut path = self.registry_dir(registry);
        path.reserve(package.len() + extension.len() + 8);
        path.push("/");
        for (i, part) in package.split('/').enumerate() {
            if i > 0 {
                path.push("%2f");
            }
            path.push(part);
        }
        path.push(".");
        path.push(extension);
        PathBuf::from(path)
    }

    /// Where the entry for `package` from `registry` lives.
    pub(crate) fn path(&self, registry: &str, package: &str) -> PathBuf {
        self.file(registry, package, EXTENSION)
    }

    /// The cached entry, or `None` on any miss (absent, damaged, stale format).
    pub(crate) fn load(&self, registry: &str, package: &str) -> Option<CachedPackument> {
        self.try_load(registry, package).ok()
    }

    /// The cached entry, or why there is none. One `open`, one `fstat` (size and expiry), then
    /// one `read` or a mapping.
    pub(crate) fn try_load(
        &self,
        registry: &str,
        package: &str,
    ) -> Result<CachedPackument, CacheLoadError> {
        let path = self.path(registry, package);
        let read = |source| CacheLoadError::Read {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(read)?;
        let meta = file.metadata().map_err(read)?;
        let expires = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let bytes = if meta.len() >= MAP_FROM {
            // SAFETY: cache files are only ever replaced by rename, never modified in place
            // (module invariant), so the mapped bytes stay what was checked.
            IndexBytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(read)?)
        } else {
            // One read of the size fstat gave (`read_to_end` would stat and seek again, then
            // read once more to see the end: three syscalls per file on every resolution).
            // A file shorter than that is an error here; one longer fails the length check.
            use std::io::Read as _;
            let mut bytes = vec![0; meta.len() as usize];
            (&file).read_exact(&mut bytes).map_err(read)?;
            IndexBytes::Owned(bytes)
        };
        let packument = Packument::open(bytes, Some((registry, package)))
            .map_err(|source| CacheLoadError::Index { path, source })?;
        Ok(CachedPackument { packument, expires })
    }

    /// Records when the entry stops being fresh (ignored when it cannot be written): the
    /// file's modification time, so checking costs nothing beyond the load's own `fstat`.
    pub(crate) fn set_expiry(&self, registry: &str, package: &str, expires: SystemTime) {
        if let Ok(file) = std::fs::File::options()
            .write(true)
            .open(self.path(registry, package))
        {
            let _ = file.set_modified(expires);
        }
    }

    /// Stores `packument`'s index, fresh until `expires`; failures are ignored (a cache that
    /// cannot be written is only slower).
    pub(crate) fn store(
        &self,
        registry: &str,
        package: &str,
        packument: &Packument,
        expires: SystemTime,
    ) {
        let path = self.path(registry, package);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        // Not fsynced: an entry lost or damaged by a crash is a miss (checksum), refetched.
        if dx_store::replace_atomic_unsynced(&path, packument.index_bytes()).is_ok() {
            self.set_expiry(registry, package, expires);
            // A format-1 JSON entry for the same package is dead weight from now on.
            let _ = std::fs::remove_file(self.file(registry, package, "json"));
        }
    }
}
