//! Package archives opened on first use, and the bounded cache of decompressed files.
//!
//! Invariants:
//! - an archive is mapped at most once per content hash while the daemon lives (a package
//!   placed at several paths shares one mapping);
//! - raw entries are served straight from the mapping; a compressed entry is decoded once
//!   and kept only when it is larger than one read request (the kernel then asks for it in
//!   several pieces); the cache never holds more than its byte budget, plus at most two files
//!   larger than the whole budget in slots of their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dx_formats::dxp::PackageArchive;
use dx_formats::hash::ContentHash;
use dx_store::{Store, StoredArchive};

use crate::error::VfsError;

/// One mapped archive.
#[derive(Debug)]
pub(crate) struct LoadedArchive {
    stored: StoredArchive,
}

impl LoadedArchive {
    /// Parses the mapped archive (header and table bounds only: cheap).
    pub fn archive(&self) -> Option<PackageArchive<'_>> {
        PackageArchive::parse(self.stored.bytes()).ok()
    }

    /// Drops this process's page-table references to the mapping: its pages stay in the
    /// page cache (the kernel's, shared, reclaimable) but stop counting in our RSS.
    fn release_pages(&self) {
        let bytes = self.stored.bytes();
        if bytes.is_empty() {
            return;
        }
        // SAFETY: the range is exactly a live read-only file mapping (page-aligned start, as
        // every mmap is). MADV_DONTNEED on a clean file-backed mapping only unmaps pages; any
        // later access, including a concurrent reader's, faults them back in from the file, so
        // no byte a borrower sees can change.
        unsafe {
            libc::madvise(
                bytes.as_ptr() as *mut libc::c_void,
                bytes.len(),
                libc::MADV_DONTNEED,
            );
        }
    }
}

/// Bytes served from mappings after which the daemon drops its page references, so its RSS
/// stays bounded however much of the store a walk touches.
const RELEASE_EVERY_BYTES: u64 = 8 << 20;

/// Opens archives from the store, one mapping per content hash.
#[derive(Debug)]
pub(crate) struct ArchiveSet {
    store: Store,
    open: Mutex<HashMap<ContentHash, Arc<LoadedArchive>>>,
    served_since_release: AtomicU64,
}

impl ArchiveSet {
    pub fn new(store: Store) -> Self {
        ArchiveSet {
            store,
            open: Mutex::new(HashMap::new()),
            served_since_release: AtomicU64::new(0),
        }
    }

    /// Records `len` bytes served from a mapping; past [`RELEASE_EVERY_BYTES`], releases the
    /// page references of every mapping.
    pub fn note_served(&self, len: usize) {
        let total = self
            .served_since_release
            .fetch_add(len as u64, Ordering::Relaxed)
            + len as u64;
        if total < RELEASE_EVERY_BYTES {
            return;
        }
        self.served_since_release.store(0, Ordering::Relaxed);
        let open: Vec<Arc<LoadedArchive>> = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for archive in open {
            archive.release_pages();
        }
    }

    /// The mapped archive for `hash`, mapping it now if needed.
    pub fn load(&self, hash: &ContentHash, label: &str) -> Result<Arc<LoadedArchive>, VfsError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = open.get(hash) {
            return Ok(found.clone());
        }
        let fail = |reason: String| VfsError::Package {
            package: label.to_owned(),
            hash: hash.to_hex(),
            reason,
        };
        let stored = self
            .store
            .get(hash)
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("not in the store".to_owned()))?;
        PackageArchive::parse(stored.bytes()).map_err(|e| fail(e.to_string()))?;
        let loaded = Arc::new(LoadedArchive { stored });
        open.insert(*hash, loaded.clone());
        Ok(loaded)
    }

    /// How many archives are mapped (for stats and tests of laziness).
    pub fn mapped_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// How many decoded files larger than the whole budget are kept at once (in their own slots).
const LARGE_SLOTS: usize = 2;

/// Decoded contents of compressed files, least recently used evicted first.
///
/// A file larger than the whole budget (a bundled compiler, a big data file) gets one of
/// [`LARGE_SLOTS`] slots of its own, which ordinary entries never evict: the kernel reads such a
/// file in many requests, possibly interleaved with reads of other files by other threads, and
/// each of them must not decode it again. A large slot is freed when a read reaches the file's
/// end or a newer large file needs it; memory stays bounded by the budget plus two files.
#[derive(Debug)]
pub(crate) struct DecodedCache {
    inner: Mutex<DecodedInner>,
    budget: usize,
}

#[derive(Debug, Default)]
struct DecodedInner {
    map: HashMap<u64, (Arc<[u8]>, u64)>,
    bytes: usize,
    large: Vec<(u64, Arc<[u8]>, u64)>,
    tick: u64,
}

impl DecodedCache {
    pub fn new(budget: usize) -> Self {
        DecodedCache {
            inner: Mutex::new(DecodedInner::default()),
            budget,
        }
    }

    pub fn get(&self, ino: u64) -> Option<Arc<[u8]>> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((_, bytes, used)) = inner.large.iter_mut().find(|(i, _, _)| *i == ino) {
            *used = tick;
            return Some(bytes.clone());
        }
        let (bytes, used) = inner.map.get_mut(&ino)?;
        *used = tick;
        Some(bytes.clone())
    }

    /// Frees `ino`'s large slot, if it has one (its last bytes were just read).
    pub fn release_large(&self, ino: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.large.retain(|(i, _, _)| *i != ino);
    }

    pub fn insert(&self, ino: u64, bytes: Arc<[u8]>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        if bytes.len() > self.budget {
            inner.large.retain(|(i, _, _)| *i != ino);
            if inner.large.len() >= LARGE_SLOTS
                && let Some(oldest) = (0..inner.large.len()).min_by_key(|&k| inner.large[k].2)
            {
                inner.large.swap_remove(oldest);
            }
            inner.large.push((ino, bytes, tick));
            return;
        }
        inner.bytes += bytes.len();
        if let Some((old, _)) = inner.map.insert(ino, (bytes, tick)) {
            inner.bytes -= old.len();
        }
        while inner.bytes > self.budget {
            let Some(oldest) = inner
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            if let Some((old, _)) = inner.map.remove(&oldest) {
                inner.bytes -= old.len();
            }
        }
    }

    /// Bytes currently held (ordinary entries and large slots).
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.bytes + inner.large.iter().map(|(_, b, _)| b.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_cache_evicts_least_recently_used_within_budget() {
        let cache = DecodedCache::new(10);
        cache.insert(1, Arc::from(&[0u8; 4][..]));
        cache.insert(2, Arc::from(&[0u8; 4][..]));
        assert!(cache.get(1).is_some());
        cache.insert(3, Arc::from(&[0u8; 4][..]));
        assert!(cache.get(2).is_none(), "2 was least recently used");
        assert!(cache.get(1).is_some() && cache.get(3).is_some());
        assert_eq!(cache.held_bytes(), 8);
        // Larger than the budget: a slot of its own, which ordinary entries do not evict.
        cache.insert(4, Arc::from(&[0u8; 11][..]));
        cache.insert(5, Arc::from(&[0u8; 4][..]));
        cache.insert(6, Arc::from(&[0u8; 4][..]));
        assert!(
            cache.get(4).is_some(),
            "a large entry survives ordinary inserts"
        );
        assert_eq!(cache.held_bytes(), 8 + 11);
        // At most two large slots: a third evicts the least recently used of them.
        cache.insert(7, Arc::from(&[0u8; 12][..]));
        assert!(cache.get(4).is_some());
        cache.insert(8, Arc::from(&[0u8; 13][..]));
        assert!(cache.get(7).is_none() && cache.get(4).is_some() && cache.get(8).is_some());
        // Reading to the end frees the slot.
        cache.release_large(4);
        assert!(cache.get(4).is_none());
        assert_eq!(cache.held_bytes(), 8 + 13);
    }
}
