//! The packument cache in the store's metadata directory: one file per (registry, package),
//! holding the validators (ETag, Last-Modified) and the packument reduced to the fields dx
//! reads, so a cached load parses a document several times smaller than the registry's.
//!
//! Files are replaced atomically; a damaged or unreadable file is a miss, never an error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use super::packument::Packument;
use crate::client::escape_package_name;

/// Bumped when the file layout changes; older files are then misses.
const CACHE_FORMAT: u32 = 1;

/// One cached packument and how to revalidate it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct CachedPackument {
    format: u32,
    /// The ETag the registry sent.
    pub(crate) etag: Option<String>,
    /// The Last-Modified the registry sent.
    pub(crate) last_modified: Option<String>,
    /// The document.
    pub(crate) packument: Packument,
}

impl CachedPackument {
    pub(crate) fn new(
        etag: Option<String>,
        last_modified: Option<String>,
        packument: Packument,
    ) -> Self {
        Self {
            format: CACHE_FORMAT,
            etag,
            last_modified,
            packument,
        }
    }
}

/// Where one registry's packuments are cached.
#[derive(Clone, Debug)]
pub(crate) struct PackumentCache {
    dir: PathBuf,
}

impl PackumentCache {
    /// The cache under `metadata_dir` (normally `Store::metadata_dir()`).
    pub(crate) fn new(metadata_dir: &Path) -> Self {
        Self {
            dir: metadata_dir.join("packuments"),
        }
    }

    fn path(&self, registry: &str, package: &str) -> PathBuf {
        // Registries are kept apart: the same name may be a different package elsewhere.
        let registry_key = hex::encode(&sha1::Sha1::digest(registry.as_bytes())[..8]);
        self.dir
            .join(registry_key)
            .join(format!("{}.json", escape_package_name(package)))
    }

    pub(crate) fn load(&self, registry: &str, package: &str) -> Option<CachedPackument> {
        let bytes = std::fs::read(self.path(registry, package)).ok()?;
        let cached: CachedPackument = serde_json::from_slice(&bytes).ok()?;
        (cached.format == CACHE_FORMAT).then_some(cached)
    }

    /// Stores an entry; failures are ignored (a cache that cannot be written is only slower).
    pub(crate) fn store(&self, registry: &str, package: &str, entry: &CachedPackument) {
        let path = self.path(registry, package);
        let Ok(bytes) = serde_json::to_vec(entry) else {
            return;
        };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = dx_store::write_atomic(&path, &bytes);
    }
}
