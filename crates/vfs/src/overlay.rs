//! The per-project writable layer: an upper directory of real files plus whiteouts kept in
//! dx's own metadata file.
//!
//! Layout of an overlay directory (see docs/vfs.md):
//! - `upper/` mirrors node_modules paths for every file, directory or symlink written through
//!   the mount (copy-up on first write);
//! - `overlay.json` lists whiteouts: paths deleted (or renamed away) from the read-only layer.
//!   A whiteout on a directory also makes a directory later created at that path opaque.
//!
//! Invariants: the store is never written; `overlay.json` is replaced atomically, so a crash
//! leaves the old or the new list; the in-memory index equals the disk after every call.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::VfsError;

const METADATA_FILE: &str = "overlay.json";
const UPPER_DIR: &str = "upper";

#[derive(Serialize, Deserialize, Default)]
struct OverlayFile {
    version: u32,
    whiteouts: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct OverlayIndex {
    upper: HashSet<String>,
    whiteouts: BTreeSet<String>,
}

/// The writable layer of one project.
#[derive(Debug)]
pub(crate) struct Overlay {
    root: PathBuf,
    upper_root: PathBuf,
    index: RwLock<OverlayIndex>,
    /// True while nothing was ever written: lets reads skip every overlay check.
    empty: AtomicBool,
}

impl Overlay {
    /// Opens (creating if needed) the overlay in `root`, indexing what the upper dir holds.
    pub fn open(root: &Path) -> Result<Overlay, VfsError> {
        let upper_root = root.join(UPPER_DIR);
        fs::create_dir_all(&upper_root).map_err(|e| VfsError::io("creating", &upper_root, e))?;
        let meta_path = root.join(METADATA_FILE);
        let whiteouts = match fs::read(&meta_path) {
            Ok(bytes) => {
                let file: OverlayFile =
                    serde_json::from_slice(&bytes).map_err(|e| VfsError::OverlayMetadata {
                        path: meta_path.clone(),
                        reason: e.to_string(),
                    })?;
                file.whiteouts
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(VfsError::io("reading", &meta_path, e)),
        };
        let mut upper = HashSet::new();
        index_upper(&upper_root, "", &mut upper)?;
        let empty = upper.is_empty() && whiteouts.is_empty();
        Ok(Overlay {
            root: root.to_owned(),
            upper_root,
            index: RwLock::new(OverlayIndex { upper, whiteouts }),
            empty: AtomicBool::new(empty),
        })
    }

    /// True while nothing was ever written or deleted.
    pub fn is_empty(&self) -> bool {
        self.empty.load(Ordering::Acquire)
    }

    /// The real path of a node_modules path in the upper directory.
    pub fn upper_path(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.upper_root.clone()
        } else {
            self.upper_root.join(path)
        }
    }

    /// Whether the upper directory holds this path.
    pub fn has_upper(&self, path: &str) -> bool {
        !self.is_empty() && self.read().upper.contains(path)
    }

    /// Whether the read-only layer is hidden at this path (it or an ancestor is whited out).
    pub fn hides_lower(&self, path: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let index = self.read();
        if index.whiteouts.is_empty() {
            return false;
        }
        let mut current = path;
        loop {
            if index.whiteouts.contains(current) {
                return true;
            }
            match current.rsplit_once('/') {
                Some((parent, _)) => current = parent,
                None => return false,
            }
        }
    }

    /// Names the upper directory holds directly under `path`.
    pub fn upper_children(&self, path: &str) -> Vec<String> {
        if self.is_empty() || (!path.is_empty() && !self.has_upper(path)) {
            return Vec::new();
        }
        let Ok(dir) = fs::read_dir(self.upper_path(path)) else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect()
    }

    /// Records that `path` now exists in the upper directory (and so do its ancestors).
    pub fn add_upper(&self, path: &str) {
        let mut index = self.write();
        let mut current = path;
        loop {
            if !index.upper.insert(current.to_owned()) {
                break;
            }
            match current.rsplit_once('/') {
                Some((parent, _)) => current = parent,
                None => break,
            }
        }
        self.empty.store(false, Ordering::Release);
    }

    /// Forgets `path` and everything under it in the upper index.
    pub fn remove_upper(&self, path: &str) {
        let prefix = format!("{path}/");
        self.write()
            .upper
            .retain(|p| p != path && !p.starts_with(&prefix));
    }

    /// Moves the upper index of `from` (and below) to `to`, and whiteouts strictly below it.
    pub fn rename_upper(&self, from: &str, to: &str) -> Result<(), VfsError> {
        let from_prefix = format!("{from}/");
        let mut index = self.write();
        let moved: Vec<String> = index
            .upper
            .iter()
            .filter(|p| *p == from || p.starts_with(&from_prefix))
            .cloned()
            .collect();
        for old in moved {
            index.upper.remove(&old);
            index.upper.insert(format!("{to}{}", &old[from.len()..]));
        }
        let moved_whiteouts: Vec<String> = index
            .whiteouts
            .iter()
            .filter(|p| p.starts_with(&from_prefix))
            .cloned()
            .collect();
        let changed = !moved_whiteouts.is_empty();
        for old in moved_whiteouts {
            index.whiteouts.remove(&old);
            index
                .whiteouts
                .insert(format!("{to}{}", &old[from.len()..]));
        }
        drop(index);
        self.add_upper(to);
        if changed { self.save() } else { Ok(()) }
    }

    /// Records a whiteout, persisting it before returning.
    pub fn add_whiteout(&self, path: &str) -> Result<(), VfsError> {
        let inserted = self.write().whiteouts.insert(path.to_owned());
        self.empty.store(false, Ordering::Release);
        if inserted { self.save() } else { Ok(()) }
    }

    fn save(&self) -> Result<(), VfsError> {
        let file = OverlayFile {
            version: 1,
            whiteouts: self.read().whiteouts.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| VfsError::OverlayMetadata {
            path: self.root.join(METADATA_FILE),
            reason: e.to_string(),
        })?;
        let path = self.root.join(METADATA_FILE);
        dx_store::write_atomic(&path, &bytes).map_err(|e| VfsError::io("writing", &path, e))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, OverlayIndex> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, OverlayIndex> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }
}

fn index_upper(dir: &Path, prefix: &str, out: &mut HashSet<String>) -> Result<(), VfsError> {
    let entries = fs::read_dir(dir).map_err(|e| VfsError::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| VfsError::io("listing", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            index_upper(&entry.path(), &path, out)?;
        }
        out.insert(path);
    }
    Ok(())
}

/// Deletes a project's writable layer (upper directory and whiteouts): the mount shows the
/// pristine layout again. Call it while the project is not mounted.
pub fn reset_overlay(overlay_dir: &Path) -> Result<(), VfsError> {
    for name in [UPPER_DIR, METADATA_FILE] {
        let path = overlay_dir.join(name);
        let result = if name == UPPER_DIR {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(VfsError::io("removing", path, e)),
        }
    }
    Ok(())
}
