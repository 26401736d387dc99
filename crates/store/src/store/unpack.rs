//! The unpacked tier: each archive extracted once into `v1/unpacked/<hash>/`, read-only, so
//! `fallback-link` can reflink or hardlink files out of it instead of copying.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dx_formats::dxp::{EntryKind, EntryRef, PackageArchive};
use dx_formats::hash::ContentHash;
use rayon::prelude::*;

use super::Store;
use crate::atomic::{remove_tree, sync_dir, sync_filesystem};
use crate::error::StoreError;

/// Mode of unpacked regular files.
pub(crate) const FILE_MODE: u32 = 0o444;
/// Mode of unpacked executables.
pub(crate) const EXECUTABLE_MODE: u32 = 0o555;
/// Mode of unpacked directories (writable by the owner so gc can delete the tree).
pub(crate) const DIR_MODE: u32 = 0o755;

/// A one-byte file on the filesystem of the unpacked tier ([`Store::sharing_probe`]), removed
/// when dropped.
#[derive(Debug)]
pub struct SharingProbe(PathBuf);

impl SharingProbe {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SharingProbe {
    fn drop(&mut self) {
        drop(fs::remove_file(&self.0));
    }
}

impl Store {
    /// A file to ask how files can be shared from the unpacked tier (reflink, hardlink, or
    /// neither) into another directory before anything is unpacked: it sits in this process's
    /// temp space, which is on the unpacked tier's filesystem (trees are renamed from there
    /// into place). Not flushed: it is only linked and removed. Fails where the store cannot
    /// be written (read-only, full), where nothing can be unpacked either.
    pub fn sharing_probe(&self) -> Result<SharingProbe, StoreError> {
        let path = self.session.temp_path("probe-");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE | 0o200)
            .open(&path)
            .map_err(StoreError::io("create", &path))?;
        let probe = SharingProbe(path);
        file.write_all(b"x")
            .map_err(StoreError::io("write", probe.path()))?;
        Ok(probe)
    }

    /// The directory holding the archive's files, extracting it the first time.
    ///
    /// Extraction goes to this process's temp space and is renamed into place, so a reader never
    /// sees a partial tree; when two processes race, the first rename wins and the other's copy
    /// is discarded. The tree is flushed to disk (syncfs) before the rename (see
    /// [`Store::unpack_missing`] for many at once). Files are 0444 (0555 executable) so a
    /// hardlinked `node_modules` cannot edit the store by accident; directories 0755.
    pub fn unpacked(&self, hash: &ContentHash) -> Result<PathBuf, StoreError> {
        let dest = self.layout.unpacked_path(hash);
        if dest.is_dir() {
            return Ok(dest);
        }
        self.unpack_missing(std::slice::from_ref(hash))?;
        Ok(dest)
    }

    /// Extracts every archive of `hashes` whose unpacked tree is missing, with one `syncfs`
    /// for all of them instead of one each: each `syncfs` waits for every dirty page of the
    /// filesystem, so per-package flushes during a cold materialized install (1,343 of them for
    /// the alotta fixture) each waited for all the others' writes. The guarantee is the same:
    /// every tree is on disk before it is renamed into place. Extraction runs in parallel.
    pub fn unpack_missing(&self, hashes: &[ContentHash]) -> Result<(), StoreError> {
        let missing: Vec<(&ContentHash, PathBuf)> = hashes
            .iter()
            .map(|hash| (hash, self.layout.unpacked_path(hash)))
            .filter(|(_, dest)| !dest.is_dir())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let _guard = self.insert_guard()?;
        let staged: Vec<(PathBuf, &PathBuf)> = missing
            .iter()
            .map(|(_, dest)| (self.session.temp_path("unpack-"), dest))
            .collect();
        let result = missing
            .par_iter()
            .zip(staged.par_iter())
            .try_for_each(|((hash, _), (staging, _))| {
                let stored = self
                    .get(hash)?
                    .ok_or(StoreError::MissingArchive { hash: **hash })?;
                extract(&stored.archive()?, hash, staging)
            })
            .and_then(|()| {
                // Durable before it becomes visible: a crash must not leave a published tree of
                // empty files. One syncfs instead of an fsync per file (measured on the alotta
                // fixture's 37,661 files: 4.9 s instead of 47.8 s), and one for all trees.
                let first = &staged[0].0;
                sync_filesystem(first).map_err(StoreError::io("sync", first))
            })
            .and_then(|()| {
                for (staging, dest) in &staged {
                    publish_tree(staging, dest)?;
                }
                let parent = self.layout.unpacked_dir();
                sync_dir(&parent).map_err(StoreError::io("sync directory", &parent))
            });
        // Gone after a successful rename; the whole partial trees otherwise.
        for (staging, _) in &staged {
            let _ = remove_tree(staging);
        }
        result
    }
}

/// Renames an extracted (and flushed) tree from the session into its place in the tier; when
/// another process finished first, its identical tree stays and `staging` is left to discard.
pub(crate) fn publish_tree(staging: &Path, dest: &Path) -> Result<(), StoreError> {
    match fs::rename(staging, dest) {
        Ok(()) => Ok(()),
        Err(_) if dest.is_dir() => Ok(()),
        Err(e) => Err(StoreError::io("rename unpacked tree", dest)(e)),
    }
}

/// Writes every entry of `archive` under `root` (which must not exist yet), without flushing.
pub(crate) fn extract(
    archive: &PackageArchive<'_>,
    hash: &ContentHash,
    root: &Path,
) -> Result<(), StoreError> {
    let mut dirs = DirBuilder::new();
    dirs.mode(DIR_MODE);
    dirs.create(root)
        .map_err(StoreError::io("create directory", root))?;
    let mut created: HashSet<PathBuf> = HashSet::new();
    created.insert(root.to_path_buf());
    for entry in archive.entries() {
        if is_root(&entry) {
            continue;
        }
        let relative =
            safe_relative_path(entry.path()).ok_or_else(|| StoreError::UnsafeEntryPath {
                hash: *hash,
                path: entry.path().to_owned(),
            })?;
        let target = root.join(relative);
        match entry.kind() {
            EntryKind::Dir => create_dirs(&mut dirs, &mut created, &target)?,
            EntryKind::File => {
                if let Some(parent) = target.parent() {
                    create_dirs(&mut dirs, &mut created, parent)?;
                }
                let bytes = archive
                    .read(&entry)
                    .map_err(|source| StoreError::CorruptArchive {
                        hash: *hash,
                        source,
                    })?;
                let mode = if entry.is_executable() {
                    EXECUTABLE_MODE
                } else {
                    FILE_MODE
                };
                write_read_only(&target, &bytes, mode)?;
            }
        }
    }
    // Exact modes despite the umask.
    for dir in &created {
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
            .map_err(StoreError::io("chmod", dir))?;
    }
    // Not flushed here: the caller flushes every tree it extracted at once (see
    // `Store::unpack_missing`) before publishing any.
    Ok(())
}

fn create_dirs(
    builder: &mut DirBuilder,
    created: &mut HashSet<PathBuf>,
    dir: &Path,
) -> Result<(), StoreError> {
    if created.contains(dir) {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(builder, created, parent)?;
    }
    match builder.create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(StoreError::io("create directory", dir)(e)),
    }
    created.insert(dir.to_path_buf());
    Ok(())
}

/// Creates a file with `bytes` and an exact mode (not fsynced: see [`extract`]).
fn write_read_only(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(StoreError::io("create", path))?;
    file.write_all(bytes)
        .map_err(StoreError::io("write", path))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(StoreError::io("chmod", path))
}

/// Whether the entry is the archive's root directory (empty path), which is the tree itself.
pub(crate) fn is_root(entry: &EntryRef<'_>) -> bool {
    entry.path().is_empty() && entry.kind() == EntryKind::Dir
}

/// `path` as a relative path of plain components, or `None` if it could escape the tree.
///
/// The DXP builder already refuses such paths; this is the second line of defence, since the
/// archive bytes come from disk.
pub(crate) fn safe_relative_path(path: &str) -> Option<&Path> {
    let plain = !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    plain.then(|| Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(safe_relative_path("lib/index.js").is_some());
        assert!(safe_relative_path("package.json").is_some());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\0b",
        ] {
            assert!(safe_relative_path(bad).is_none(), "{bad:?}");
        }
    }
}
