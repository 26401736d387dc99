//! `dx cache verify`: rehash every archive, quarantine the damaged ones, drop index entries
//! that lead nowhere, and check the unpacked tier against its archives.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dx_formats::dxp::{EntryKind, PackageArchive};
use dx_formats::hash::ContentHash;
use rayon::prelude::*;

use super::Store;
use super::unpack::{DIR_MODE, EXECUTABLE_MODE, FILE_MODE};
use crate::atomic::{list_dir, remove_tree, unique_name};
use crate::error::StoreError;

/// An archive that failed verification and was moved out of the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptArchive {
    /// The hash it was filed under.
    pub hash: ContentHash,
    /// Where it was moved (under `v1/quarantine/`), for inspection.
    pub quarantined_to: PathBuf,
    /// What was wrong.
    pub reason: String,
}

/// A project whose registered layout uses archives the store no longer holds (quarantined, or
/// deleted behind dx's back): its node_modules cannot serve them until its next install
/// fetches them again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectMissingArchives {
    /// The project directory.
    pub project: PathBuf,
    /// How many of its archives are missing.
    pub missing: usize,
    /// Whether an install record was dropped, so that the next install does the full work
    /// instead of finding itself up to date.
    pub install_record_dropped: bool,
}

/// What [`Store::verify`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Archives rehashed.
    pub archives_checked: usize,
    /// Bytes rehashed.
    pub bytes_checked: u64,
    /// Archives that failed and were quarantined.
    pub corrupt: Vec<CorruptArchive>,
    /// Index entries removed because their archive is missing (or was just quarantined).
    pub index_entries_removed: usize,
    /// Unpacked trees compared with their archive.
    pub unpacked_checked: usize,
    /// Files of the unpacked tier whose content or mode had changed (edited through a hardlinked
    /// `node_modules`), rewritten in place from the archive, as (package, entry path).
    pub unpacked_repaired: Vec<(ContentHash, String)>,
    /// Unpacked trees removed because their shape differs from their archive (missing, extra
    /// or retyped entries) or the archive is gone; they are re-extracted on demand.
    pub unpacked_removed: Vec<(ContentHash, String)>,
    /// Existing projects whose registered layout references archives the store lacks.
    pub projects_missing_archives: Vec<ProjectMissingArchives>,
}

impl VerifyReport {
    /// Whether the store was found intact.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.index_entries_removed == 0
            && self.unpacked_repaired.is_empty()
            && self.unpacked_removed.is_empty()
            && self.projects_missing_archives.is_empty()
    }
}

/// An archive that failed its check: (hash, path, reason).
type ArchiveFailure = (ContentHash, PathBuf, String);

/// An unpacked tree's check: (path, hash if the name is one, repaired files or why to remove it).
type TreeOutcome = (PathBuf, Option<ContentHash>, Result<Vec<String>, String>);

impl Store {
    /// Rehashes every archive (in parallel) and repairs what it can: a damaged archive is moved
    /// to `v1/quarantine/` so the next install fetches it again. Then checks every existing
    /// project's registered layout against the archives left, and drops the install record of
    /// each that lost some (see [`ProjectMissingArchives`]).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        // Shared side of the gc lock: gc must not delete under our feet; installs may go on.
        let _no_gc = self.insert_guard()?;
        let mut report = VerifyReport::default();
        let archives = self.archive_files()?;
        report.archives_checked = archives.len();
        let checked: Vec<(u64, Option<ArchiveFailure>)> = archives
            .into_par_iter()
            .map(|(hash, path)| match self.check_archive(&hash) {
                Ok((size, None)) => (size, None),
                Ok((size, Some(reason))) => (size, Some((hash, path, reason))),
                Err(e) => (0, Some((hash, path, e.to_string()))),
            })
            .collect();
        for (size, failure) in checked {
            report.bytes_checked += size;
            let Some((hash, path, reason)) = failure else {
                continue;
            };
            let quarantined_to = self.quarantine(&hash, &path)?;
            let unpacked = self.layout.unpacked_path(&hash);
            remove_tree(&unpacked).map_err(StoreError::io("remove unpacked tree", &unpacked))?;
            report.corrupt.push(CorruptArchive {
                hash,
                quarantined_to,
                reason,
            });
        }
        report.index_entries_removed = self.prune_index(&std::collections::HashSet::new())?;
        report.projects_missing_archives = self.check_projects()?;

        let unpacked_dir = self.layout.unpacked_dir();
        let trees =
            list_dir(&unpacked_dir).map_err(StoreError::io("list unpacked", &unpacked_dir))?;
        report.unpacked_checked = trees.len();
        let outcomes: Vec<TreeOutcome> = trees
            .into_par_iter()
            .map(|path| {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                let Ok(hash) = name.parse::<ContentHash>() else {
                    return (path, None, Err("not named by a content hash".to_owned()));
                };
                let outcome = self.check_unpacked(&hash, &path);
                (path, Some(hash), outcome)
            })
            .collect();
        for (path, hash, outcome) in outcomes {
            let reason = match (hash, outcome) {
                (Some(hash), Ok(files)) => {
                    report
                        .unpacked_repaired
                        .extend(files.into_iter().map(|file| (hash, file)));
                    continue;
                }
                (_, Ok(_)) => continue,
                (_, Err(reason)) => reason,
            };
            remove_tree(&path).map_err(StoreError::io("remove unpacked tree", &path))?;
            if let Some(hash) = hash {
                report.unpacked_removed.push((hash, reason));
            }
        }
        Ok(report)
    }

    /// Every existing project whose root references an archive the store lacks.
    fn check_projects(&self) -> Result<Vec<ProjectMissingArchives>, StoreError> {
        let mut broken = Vec::new();
        for root in self.roots()? {
            if super::projects::project_is_gone(&root.project) {
                continue;
            }
            let missing = root.hashes.iter().filter(|h| !self.contains(h)).count();
            if missing > 0 {
                let install_record_dropped = self.forget_install(&root.project)?;
                broken.push(ProjectMissingArchives {
                    project: root.project,
                    missing,
                    install_record_dropped,
                });
            }
        }
        Ok(broken)
    }

    /// (bytes read, reason it is damaged).
    fn check_archive(&self, hash: &ContentHash) -> Result<(u64, Option<String>), StoreError> {
        let Some(stored) = self.get(hash)? else {
            return Ok((0, None));
        };
        let size = stored.bytes().len() as u64;
        if !stored.hash_matches() {
            return Ok((size, Some("content does not match its hash".to_owned())));
        }
        let problem = match PackageArchive::parse(stored.bytes()) {
            Err(e) => Some(format!("unreadable archive: {e}")),
            Ok(archive) => archive
                .verify()
                .err()
                .map(|e| format!("checksum failure: {e}")),
        };
        Ok((size, problem))
    }

    fn quarantine(&self, hash: &ContentHash, path: &Path) -> Result<PathBuf, StoreError> {
        let dir = self.layout.quarantine_dir();
        let dest = dir.join(format!("{}.{}.dxp", hash.to_hex(), unique_name("")));
        match fs::rename(path, &dest) {
            Ok(()) => Ok(dest),
            // Someone else (a concurrent verify) moved it already.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(dest),
            Err(e) => Err(StoreError::io("quarantine archive", path)(e)),
        }
    }

    /// Compares an unpacked tree with its archive: same paths, same bytes, same modes.
    ///
    /// Changed file contents and modes are repaired in place (listed in the result); anything
    /// structural (missing, extra or retyped entries) is an error and the tree is re-extracted.
    fn check_unpacked(&self, hash: &ContentHash, tree: &Path) -> Result<Vec<String>, String> {
        let mut repaired = Vec::new();
        let stored = self
            .get(hash)
            .map_err(|e| e.to_string())?
            .ok_or("its archive is not in the store")?;
        let archive = stored.archive().map_err(|e| e.to_string())?;
        let mut expected: HashMap<PathBuf, (EntryKind, u32)> = HashMap::new();
        for entry in archive.entries() {
            if super::unpack::is_root(&entry) {
                continue;
            }
            let relative =
                super::unpack::safe_relative_path(entry.path()).ok_or("unsafe entry path")?;
            let mode = match entry.kind() {
                EntryKind::Dir => DIR_MODE,
                EntryKind::File if entry.is_executable() => EXECUTABLE_MODE,
                EntryKind::File => FILE_MODE,
            };
            // Parents of files are directories even when the archive does not list them.
            let mut parent = relative.parent();
            while let Some(dir) = parent.filter(|p| !p.as_os_str().is_empty()) {
                expected
                    .entry(dir.to_path_buf())
                    .or_insert((EntryKind::Dir, DIR_MODE));
                parent = dir.parent();
            }
            expected.insert(relative.to_path_buf(), (entry.kind(), mode));
            if entry.kind() == EntryKind::File {
                let want = archive.read(&entry).map_err(|e| e.to_string())?;
                let path = tree.join(relative);
                let meta =
                    fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", entry.path()))?;
                if !meta.is_file() {
                    return Err(format!("{}: not a regular file", entry.path()));
                }
                let have = fs::read(&path).map_err(|e| format!("{}: {e}", entry.path()))?;
                if *want != *have || meta.permissions().mode() & 0o7777 != mode {
                    rewrite_in_place(&path, &want, mode)
                        .map_err(|e| format!("{}: repair failed: {e}", entry.path()))?;
                    repaired.push(entry.path().to_owned());
                }
            }
        }
        let mut found = 0;
        check_tree_shape(tree, tree, &expected, &mut found)?;
        if found != expected.len() {
            return Err(format!(
                "{} entries on disk, {} in the archive",
                found,
                expected.len()
            ));
        }
        Ok(repaired)
    }
}

/// Restores a file's bytes and mode without replacing its inode: projects materialized by
/// hardlink share that inode, so this repairs them too (a new file would leave them damaged).
fn rewrite_in_place(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Walks `dir`, checking that every entry is expected, of the expected kind and mode.
fn check_tree_shape(
    root: &Path,
    dir: &Path,
    expected: &HashMap<PathBuf, (EntryKind, u32)>,
    found: &mut usize,
) -> Result<(), String> {
    for path in list_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let relative = path.strip_prefix(root).map_err(|e| e.to_string())?;
        let &(kind, mode) = expected
            .get(relative)
            .ok_or_else(|| format!("{}: not in the archive", relative.display()))?;
        let meta =
            fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", relative.display()))?;
        let kind_ok = match kind {
            EntryKind::Dir => meta.is_dir(),
            EntryKind::File => meta.is_file(),
        };
        if !kind_ok {
            return Err(format!("{}: wrong file type", relative.display()));
        }
        if meta.permissions().mode() & 0o7777 != mode {
            return Err(format!(
                "{}: mode {:o}, expected {mode:o}",
                relative.display(),
                meta.permissions().mode() & 0o7777
            ));
        }
        *found += 1;
        if meta.is_dir() {
            check_tree_shape(root, &path, expected, found)?;
        }
    }
    Ok(())
}
