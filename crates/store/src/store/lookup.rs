//! Reading the store: archives by content hash (memory-mapped) and content hashes by integrity.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

use dx_formats::dxp::PackageArchive;
use dx_formats::hash::{ContentHash, Integrity};
use memmap2::Mmap;

use super::Store;
use crate::error::StoreError;

/// A stored archive, memory-mapped. Owns the mapping, so it outlives gc or verify removing the
/// file (the kernel keeps an unlinked file's pages while they are mapped).
#[derive(Debug)]
pub struct StoredArchive {
    map: Mmap,
    hash: ContentHash,
    path: PathBuf,
}

impl StoredArchive {
    /// The archive's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The content hash the store filed it under.
    pub fn hash(&self) -> ContentHash {
        self.hash
    }

    /// The file it was mapped from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Parses the archive (cheap: header and tables only). An error means on-disk corruption.
    pub fn archive(&self) -> Result<PackageArchive<'_>, StoreError> {
        PackageArchive::parse(&self.map).map_err(|source| StoreError::CorruptArchive {
            hash: self.hash,
            source,
        })
    }

    /// Whether the bytes still hash to the name they are filed under (a full read).
    pub fn hash_matches(&self) -> bool {
        ContentHash::of(&self.map) == self.hash
    }
}

impl Store {
    /// Maps the archive with this hash, or `None` if the store does not hold it. O(1): an open
    /// and an mmap, no hashing (use [`Store::verify`] for that).
    pub fn get(&self, hash: &ContentHash) -> Result<Option<StoredArchive>, StoreError> {
        let path = self.layout.archive_path(hash);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("open archive", &path)(e)),
        };
        // SAFETY: archive files are never modified in place: they are created complete in a temp
        // file and renamed into place read-only (0444); replacing, quarantining or deleting one
        // swaps or unlinks the directory entry and leaves this inode's contents untouched. A
        // user who edits the file by hand anyway gets wrong bytes, which every reader validates
        // (parse and per-entry checksums), not memory unsafety in our code.
        let map = unsafe { Mmap::map(&file) }.map_err(StoreError::io("map archive", &path))?;
        Ok(Some(StoredArchive {
            map,
            hash: *hash,
            path,
        }))
    }

    /// The content hash of the archive stored for this npm integrity, if any. O(1): one small
    /// file read and one `stat`.
    pub fn lookup_integrity(
        &self,
        integrity: &Integrity,
    ) -> Result<Option<ContentHash>, StoreError> {
        let path = self.layout.index_path(integrity);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(None),
            Err(e) => return Err(StoreError::io("read index entry", &path)(e)),
        };
        // A damaged entry is a miss: the package is fetched again and the entry rewritten.
        let Ok(hash) = text.trim_end().parse::<ContentHash>() else {
            return Ok(None);
        };
        // An entry whose archive was quarantined or collected is a miss too.
        Ok(self.contains(&hash).then_some(hash))
    }
}

impl Store {
    /// Every archive file in the store, with the hash its name claims.
    pub(crate) fn archive_files(&self) -> Result<Vec<(ContentHash, PathBuf)>, StoreError> {
        let dir = self.layout.archives_dir();
        let mut out = Vec::new();
        for fan in crate::atomic::list_dir(&dir).map_err(StoreError::io("list archives", &dir))? {
            for path in
                crate::atomic::list_dir(&fan).map_err(StoreError::io("list archives", &fan))?
            {
                if let Some(hash) = crate::layout::StoreLayout::archive_hash_of(&path) {
                    out.push((hash, path));
                }
            }
        }
        Ok(out)
    }

    /// Removes index entries that are unreadable, point at an archive the store lacks, or at
    /// one of `doomed` (archives gc is about to delete); returns how many.
    pub(crate) fn prune_index(&self, doomed: &HashSet<ContentHash>) -> Result<usize, StoreError> {
        let root = self.layout.index_root();
        let mut removed = 0;
        for algorithm in
            crate::atomic::list_dir(&root).map_err(StoreError::io("list index", &root))?
        {
            for fan in crate::atomic::list_dir(&algorithm)
                .map_err(StoreError::io("list index", &algorithm))?
            {
                for entry in
                    crate::atomic::list_dir(&fan).map_err(StoreError::io("list index", &fan))?
                {
                    let live = fs::read_to_string(&entry)
                        .ok()
                        .and_then(|text| text.trim_end().parse::<ContentHash>().ok())
                        .is_some_and(|hash| !doomed.contains(&hash) && self.contains(&hash));
                    if !live
                        && crate::atomic::remove_file_if_exists(&entry)
                            .map_err(StoreError::io("remove index entry", &entry))?
                    {
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}
