//! Many tarballs imported as one durable step: each archive (and, for a materialized install,
//! its unpacked tree, written from the archive still in memory) goes to this process's temp
//! space unflushed; [`ImportBatch::commit`] flushes the filesystem once, renames everything into
//! place, flushes once more and only then records the integrity index entries.
//!
//! The guarantee is [`Store::import_tarball`]'s: no reader ever sees a partial archive or tree,
//! and the index never names an archive that a crash could lose. What changes is the cost: a
//! cold install of the alotta fixture paid two fsyncs per archive (2,686, each a journal commit
//! on ext4) and then read every archive back to unpack it.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use dx_formats::dxp::{BuildLimits, PackageArchive};
use dx_formats::hash::{ContentHash, Integrity};

use super::insert::convert_tarball;
use super::unpack::{extract, publish_tree};
use super::{InsertGuard, Store};
use crate::atomic::{
    WriteGuard, create_written, remove_tree, rename_creating_parent, sync_filesystem,
};
use crate::error::StoreError;
use crate::store::ImportedPackage;

/// Imports waiting for one [`ImportBatch::commit`]; see the module docs. Holds the store's
/// insert guard, so gc cannot run between an import and its commit. Dropped without a commit,
/// it removes what it staged and the store is as before.
pub struct ImportBatch {
    store: Arc<Store>,
    unpack: bool,
    staged: Mutex<HashMap<Integrity, Staged>>,
    flusher: Flusher,
    _guard: InsertGuard,
}

/// Bytes staged between two background flushes.
const FLUSH_EVERY: u64 = 32 << 20;

/// Starts writeback of what the batch staged while it is still importing (a `syncfs` on a
/// thread of its own every [`FLUSH_EVERY`] bytes), so the commit's flush finds little left to
/// write: the kernel would otherwise hold every staged byte in memory until that flush (its
/// own writeback starts at a tenth of RAM), and the install would wait for all of it at once
/// with nothing else to do. Only an earlier start of the same writes; the guarantee is the
/// commit's flush.
struct Flusher {
    unflushed: AtomicU64,
    running: Arc<AtomicBool>,
}

/// One imported package, not yet in place.
#[derive(Debug)]
struct Staged {
    hash: ContentHash,
    /// The archive's temp file (`None`: the store had it already).
    archive: Option<PathBuf>,
    /// The unpacked tree's temp directory (`None`: not asked for, or present already).
    tree: Option<PathBuf>,
}

impl Store {
    /// Starts a batch of imports into this store; with `unpack`, each package's unpacked tree
    /// is written too (what a materialized install links from), from the archive bytes the
    /// import has just built rather than from the stored file afterwards.
    pub fn import_batch(self: &Arc<Self>, unpack: bool) -> Result<ImportBatch, StoreError> {
        Ok(ImportBatch {
            _guard: self.insert_guard()?,
            store: Arc::clone(self),
            unpack,
            staged: Mutex::default(),
            flusher: Flusher {
                unflushed: AtomicU64::new(0),
                running: Arc::new(AtomicBool::new(false)),
            },
        })
    }
}

impl ImportBatch {
    /// [`Store::import_tarball`], staged: the archive is checked and built the same way, but
    /// it becomes visible (and durable) only at [`ImportBatch::commit`]. Importing an integrity
    /// the batch holds already stages nothing new.
    pub fn import_tarball<R: Read>(
        &self,
        package: &str,
        gzipped: R,
        expected: &Integrity,
        limits: &BuildLimits,
    ) -> Result<ImportedPackage, StoreError> {
        let (built, tarball_size) = convert_tarball(package, gzipped, expected, limits)?;
        let hash = ContentHash::of(&built.bytes);
        if self.staged_hash(expected).is_none() {
            let staged = self.stage(&hash, &built.bytes)?;
            // What this import wrote: nothing for what the store had already.
            let written = staged
                .archive
                .as_ref()
                .map_or(0, |_| built.bytes.len() as u64)
                + staged.tree.as_ref().map_or(0, |_| built.unpacked_size);
            let replaced = self.lock().insert(expected.clone(), staged);
            if let Some(loser) = replaced {
                loser.remove(); // two threads raced on one integrity: same bytes, keep one
            }
            self.flusher.wrote(written, &self.store.layout.tmp_dir());
        }
        Ok(ImportedPackage::new(hash, built, tarball_size))
    }

    /// The store the batch imports into.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The content hash of an integrity this batch has imported, not yet committed.
    pub fn staged_hash(&self, integrity: &Integrity) -> Option<ContentHash> {
        self.lock().get(integrity).map(|s| s.hash)
    }

    /// Makes every staged import durable and visible, and returns how many there were: one
    /// `syncfs` (every temp file and tree whole on disk), the renames into place, a second
    /// `syncfs` (the renames and new fan-out directories durable), then the index entries.
    /// `syncfs` waits for every dirty page of the store's filesystem, which is what one flush
    /// per file would add up to, in two calls. Imports after a commit wait for the next.
    pub fn commit(&self) -> Result<usize, StoreError> {
        let staged: Vec<(Integrity, Staged)> = self.lock().drain().collect();
        if staged.is_empty() {
            return Ok(0);
        }
        let layout = &self.store.layout;
        let tmp = layout.tmp_dir();
        let flush = || sync_filesystem(&tmp).map_err(StoreError::io("sync", &tmp));
        let result = (|| {
            let _in_flight = WriteGuard::begin();
            flush()?;
            for (_, one) in &staged {
                if let Some(temp) = &one.archive {
                    let dest = layout.archive_path(&one.hash);
                    // The fan-out directory, if new, is made durable by the second flush.
                    rename_creating_parent(temp, &dest, false)
                        .map_err(StoreError::io("store archive", &dest))?;
                }
                if let Some(tree) = &one.tree {
                    publish_tree(tree, &layout.unpacked_path(&one.hash))?;
                }
            }
            flush()?;
            for (integrity, one) in &staged {
                self.store.record_integrity(integrity, &one.hash)?;
            }
            Ok(staged.len())
        })();
        // Gone after their renames; what a failure left is removed.
        for (_, one) in staged {
            one.remove();
        }
        result
    }

    /// Writes the archive (unless the store has it) and, if asked, its tree to temp space.
    fn stage(&self, hash: &ContentHash, dxp: &[u8]) -> Result<Staged, StoreError> {
        let layout = &self.store.layout;
        let mut staged = Staged {
            hash: *hash,
            archive: None,
            tree: None,
        };
        let result = (|| {
            if !Store::archive_present(&layout.archive_path(hash), dxp.len()) {
                let temp = self.store.session.temp_path("dxp-");
                staged.archive = Some(temp.clone());
                create_written(&temp, dxp, 0o444)
                    .map_err(StoreError::io("write archive", &temp))?;
            }
            if self.unpack && !layout.unpacked_path(hash).is_dir() {
                let archive = PackageArchive::parse(dxp)
                    .map_err(|source| StoreError::InvalidArchive { source })?;
                let temp = self.store.session.temp_path("unpack-");
                staged.tree = Some(temp.clone());
                extract(&archive, hash, &temp)?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(staged),
            Err(e) => {
                staged.remove();
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Integrity, Staged>> {
        self.staged.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ImportBatch {
    fn drop(&mut self) {
        for (_, one) in self.lock().drain() {
            one.remove();
        }
    }
}

impl Flusher {
    /// Counts `bytes` written under `dir`, and starts a background `syncfs` of its filesystem
    /// when enough has gathered and none is running.
    fn wrote(&self, bytes: u64, dir: &std::path::Path) {
        let total = self.unflushed.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total < FLUSH_EVERY || self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.unflushed.store(0, Ordering::Relaxed);
        let running = Arc::clone(&self.running);
        let dir = dir.to_path_buf();
        let started = std::thread::Builder::new()
            .name("dx-flush".into())
            .spawn(move || {
                // A failure here is not the batch's: the commit's own flush reports it.
                let _ = sync_filesystem(&dir);
                running.store(false, Ordering::Release);
            });
        if started.is_err() {
            self.running.store(false, Ordering::Release);
        }
    }
}

impl Staged {
    /// Removes the temp files (a no-op once they were renamed into place).
    fn remove(self) {
        if let Some(temp) = self.archive {
            let _ = fs::remove_file(temp);
        }
        if let Some(tree) = self.tree {
            let _ = remove_tree(&tree);
        }
    }
}
