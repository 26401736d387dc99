//! The packument cache in the store's metadata directory: one file per (registry, package),
//! holding the validators (ETag, Last-Modified) and the packument reduced to the fields dx
//! reads, in a compact binary form that loads without parsing JSON.
//!
//! Layout (all integers little-endian; `docs/registry.md` has the full table):
//!
//! ```text
//! header  0..4   magic "DXPK"
//!         4..8   format version (u32)
//!         8..16  body length (u64)
//!         16..32 xxh3-128 of the body (u128)
//! body    string table: count, total bytes (LEB128), the bytes (one UTF-8 run), each length
//!         document: registry, package, etag?, last-modified?, name, modified?, dist-tags,
//!                   versions — strings as table indexes, optional ones as index + 1 (0 = none)
//! ```
//!
//! Invariants: files are replaced atomically (`dx_store::write_atomic`); a file that is
//! damaged, truncated, of another format version or for another (registry, package) is a miss,
//! never an error and never a panic; the fields the packument model keeps as JSON values are
//! stored in concrete shapes ([`fields`]), and a fresh entry is reduced to the same shapes so
//! a fetched and a cached packument are equal.

mod decode;
mod encode;
mod fields;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha1::Digest as _;

use super::packument::Packument;
pub(crate) use decode::CacheDecodeError;

/// The first bytes of every cache file.
const MAGIC: [u8; 4] = *b"DXPK";
/// Bumped when the layout changes; files of another version are misses. (Format 1 was JSON.)
const FORMAT_VERSION: u32 = 2;
/// Magic, format, body length, checksum.
const HEADER_LEN: usize = 32;
/// The file name extension; the JSON form of format 1 used `.json`.
const EXTENSION: &str = "dxpk";

/// Tag bytes of the variant fields.
mod tag {
    /// The field is absent (every variant field).
    pub(super) const NONE: u8 = 0;
    /// `bin` is one path.
    pub(super) const BIN_SINGLE: u8 = 1;
    /// `bin` is command → path.
    pub(super) const BIN_MAP: u8 = 2;
    /// `engines` is engine → range.
    pub(super) const ENGINES_MAP: u8 = 1;
    /// `bundleDependencies: true`.
    pub(super) const BUNDLE_ALL: u8 = 1;
    /// `bundleDependencies` lists names.
    pub(super) const BUNDLE_NAMES: u8 = 2;
}

/// One cached packument and how to revalidate it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedPackument {
    /// The ETag the registry sent.
    pub(crate) etag: Option<String>,
    /// The Last-Modified the registry sent.
    pub(crate) last_modified: Option<String>,
    /// The document.
    pub(crate) packument: Packument,
}

impl CachedPackument {
    /// An entry for a freshly fetched document, reduced to what the cache keeps (so the caller
    /// hands out exactly what a later cached load returns).
    pub(crate) fn new(
        etag: Option<String>,
        last_modified: Option<String>,
        packument: Packument,
    ) -> Self {
        Self {
            etag,
            last_modified,
            packument: fields::normalize(packument),
        }
    }
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
    Decode {
        /// The cache file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: CacheDecodeError,
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
    /// [`crate::client::escape_package_name`] escapes it. (Not `Path::with_extension`: package names contain
    /// dots.) Built in one buffer: this runs on every cached load.
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

    /// The cached entry, or why there is none.
    pub(crate) fn try_load(
        &self,
        registry: &str,
        package: &str,
    ) -> Result<CachedPackument, CacheLoadError> {
        let path = self.path(registry, package);
        let bytes = match read_file(&path) {
            Ok(bytes) => bytes,
            Err(source) => return Err(CacheLoadError::Read { path, source }),
        };
        decode::decode(&bytes, registry, package)
            .map_err(|source| CacheLoadError::Decode { path, source })
    }

    /// Whether the entry may be used without asking the registry: its file's modification time
    /// is its expiry (set by [`PackumentCache::set_expiry`] from the response's
    /// `Cache-Control: max-age`), so this costs one `stat` and no format change.
    pub(crate) fn is_fresh(&self, registry: &str, package: &str) -> bool {
        std::fs::metadata(self.path(registry, package))
            .and_then(|m| m.modified())
            .is_ok_and(|expires| expires > std::time::SystemTime::now())
    }

    /// Records when the entry stops being fresh (ignored when it cannot be written).
    pub(crate) fn set_expiry(&self, registry: &str, package: &str, expires: std::time::SystemTime) {
        if let Ok(file) = std::fs::File::options()
            .write(true)
            .open(self.path(registry, package))
        {
            let _ = file.set_modified(expires);
        }
    }

    /// Stores an entry; failures are ignored (a cache that cannot be written is only slower).
    pub(crate) fn store(&self, registry: &str, package: &str, entry: &CachedPackument) {
        let path = self.path(registry, package);
        let bytes = encode::encode(registry, package, entry);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if dx_store::write_atomic(&path, &bytes).is_ok() {
            // A format-1 JSON entry for the same package is dead weight from now on.
            let _ = std::fs::remove_file(self.file(registry, package, "json"));
        }
    }
}

/// The whole of a cache file, usually in one `read`: no `stat` for the size and no second
/// `read` to see the end, because the header says how long the body is. (Bytes appended past
/// the declared length may go unseen; files are only ever replaced whole, never appended to.)
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    /// Larger than most entries (a few hundred bytes per version).
    const FIRST_READ: usize = 4096;
    let mut file = std::fs::File::open(path)?;
    let mut bytes = vec![0; FIRST_READ];
    let filled = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => break read?,
        }
    };
    bytes.truncate(filled);
    if declared_len(&bytes) != Some(filled) {
        file.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// The file length the header declares, once the header is there.
fn declared_len(bytes: &[u8]) -> Option<usize> {
    let field: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
    usize::try_from(u64::from_le_bytes(field))
        .ok()?
        .checked_add(HEADER_LEN)
}
