//! Garbage collection: remove what no live project references and no live mount uses, and the
//! state of projects that are gone.
//!
//! Protocol (docs/store.md): gc holds the exclusive side of `v1/gc.lock`; installs hold the
//! shared side from their first lookup until what they installed is protected otherwise (their
//! root registered and, for a mount, its daemon holding its mount guard), and mount daemons
//! take their mount guard under the shared side. So gc sees every archive either referenced by
//! a root that it keeps or not in use by anyone.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dx_formats::hash::ContentHash;

use super::projects::project_is_gone;
use super::roots::PROJECT_LOCKFILE;
use super::{GcLock, Store};
use crate::atomic::{list_dir, remove_file_if_exists};
use crate::error::StoreError;
use crate::layout::safe_file_name;
use crate::lock::{FileLock, LockMode};
use crate::session::clean_stale_sessions;

/// How [`Store::gc`] decides what is garbage.
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Files younger than this are kept even when unreferenced: a safety margin for dx
    /// processes that insert without the gc lock protocol (older versions, other tools).
    pub min_age: Duration,
    /// `true`: projects whose directory and `dx.lock` still exist keep their packages (routine
    /// gc). `false`: only live mounts keep anything (`dx cache clean`).
    pub keep_registered_roots: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            min_age: Duration::from_secs(3600),
            keep_registered_roots: true,
        }
    }
}

/// What [`Store::gc`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Projects whose packages were kept.
    pub roots_kept: usize,
    /// Root records dropped (project or lockfile gone, unreadable, or `dx cache clean`).
    pub roots_removed: usize,
    /// Mounts found alive (their roots are always kept).
    pub live_mounts: usize,
    /// Archives kept.
    pub archives_kept: usize,
    /// Archives deleted.
    pub archives_removed: usize,
    /// Bytes of the deleted archives.
    pub archive_bytes_removed: u64,
    /// Unpacked trees deleted.
    pub unpacked_removed: usize,
    /// DXL files deleted.
    pub dxl_removed: usize,
    /// Index entries deleted because their archive is gone.
    pub index_entries_removed: usize,
    /// Temp entries of dead processes deleted.
    pub temp_entries_removed: usize,
    /// State directories (mount files, install record, overlay) of projects whose directory
    /// is gone and that no live mount serves, deleted.
    pub project_states_removed: usize,
}

impl Store {
    /// Collects garbage; waits for running installs to finish (the exclusive gc lock).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, StoreError> {
        let lock = self.gc_lock()?;
        self.gc_locked(&lock, options)
    }

    /// Collects garbage under a gc lock the caller holds.
    pub fn gc_locked(&self, _lock: &GcLock, options: &GcOptions) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        let now = SystemTime::now();
        let old_enough = |path: &Path| {
            fs::symlink_metadata(path)
                .and_then(|m| m.modified())
                .map(|modified| now.duration_since(modified).unwrap_or_default() >= options.min_age)
                .unwrap_or(true)
        };

        let tmp = self.layout.tmp_dir();
        report.temp_entries_removed =
            clean_stale_sessions(&tmp).map_err(StoreError::io("clean temp", &tmp))?;

        let live_mounts = self.live_mounts()?;
        report.live_mounts = live_mounts.len();

        let mut live_hashes: HashSet<ContentHash> = HashSet::new();
        let mut live_dxl: HashSet<String> = HashSet::new();
        let mut gone_projects: Vec<PathBuf> = Vec::new();
        for (path, key, record) in self.read_roots()? {
            if let Some(record) = &record
                && project_is_gone(&record.project)
            {
                gone_projects.push(record.project.clone());
            }
            let keep = match &record {
                _ if live_mounts.contains(&key) => true,
                None => false,
                Some(_) if !options.keep_registered_roots => false,
                Some(record) => record.project.join(PROJECT_LOCKFILE).is_file(),
            };
            match record {
                Some(record) if keep => {
                    report.roots_kept += 1;
                    live_hashes.extend(record.hashes);
                    live_dxl.insert(format!("{}.dxl", safe_file_name(&record.dxl_key)));
                }
                // An unreadable root of a live mount is kept: the daemon may rewrite it.
                None if keep => report.roots_kept += 1,
                _ => {
                    remove_file_if_exists(&path).map_err(StoreError::io("remove root", &path))?;
                    report.roots_removed += 1;
                }
            }
        }

        // What goes, decided first, then removed in the order that keeps every step a valid
        // store if the process dies there: unpacked trees (moved aside whole), then the index
        // entries naming doomed archives, then the archives. A kill leaves at worst archives
        // that nothing names, which the next gc collects; never an entry or a tree whose
        // archive is gone.
        let mut doomed: Vec<(ContentHash, PathBuf)> = Vec::new();
        for (hash, path) in self.archive_files()? {
            if live_hashes.contains(&hash) || !old_enough(&path) {
                report.archives_kept += 1;
            } else {
                doomed.push((hash, path));
            }
        }
        let doomed_hashes: HashSet<ContentHash> = doomed.iter().map(|(hash, _)| *hash).collect();

        let unpacked = self.layout.unpacked_dir();
        for path in list_dir(&unpacked).map_err(StoreError::io("list unpacked", &unpacked))? {
            let hash = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<ContentHash>().ok());
            let live = hash.is_some_and(|h| {
                live_hashes.contains(&h) && !doomed_hashes.contains(&h) && self.contains(&h)
            });
            if !live && (old_enough(&path) || hash.is_some_and(|h| doomed_hashes.contains(&h))) {
                self.remove_aside(&path)?;
                report.unpacked_removed += 1;
            }
        }

        report.index_entries_removed = self.prune_index(&doomed_hashes)?;

        for (_, path) in doomed {
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            if remove_file_if_exists(&path).map_err(StoreError::io("remove archive", &path))? {
                report.archives_removed += 1;
                report.archive_bytes_removed += size;
            }
        }

        let dxl = self.layout.dxl_dir();
        for path in list_dir(&dxl).map_err(StoreError::io("list dxl", &dxl))? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !live_dxl.contains(name)
                && old_enough(&path)
                && remove_file_if_exists(&path).map_err(StoreError::io("remove dxl", &path))?
            {
                report.dxl_removed += 1;
            }
        }

        report.project_states_removed =
            self.reclaim_project_states(&live_mounts, &gone_projects)?;
        Ok(report)
    }

    /// Project keys of mounts whose daemon is alive; stale mount files are removed. Must be
    /// called under the exclusive gc lock (mount guards are taken under its shared side).
    fn live_mounts(&self) -> Result<HashSet<String>, StoreError> {
        let dir = self.layout.mounts_dir();
        let mut live = HashSet::new();
        for path in list_dir(&dir).map_err(StoreError::io("list mounts", &dir))? {
            let Some(key) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
            else {
                continue;
            };
            match FileLock::try_acquire_existing(&path, LockMode::Exclusive)
                .map_err(StoreError::io("lock", &path))?
            {
                Some(_stale) => {
                    remove_file_if_exists(&path)
                        .map_err(StoreError::io("remove mount lock", &path))?;
                }
                None if path.exists() => {
                    live.insert(key.to_owned());
                }
                None => {}
            }
        }
        Ok(live)
    }
}
