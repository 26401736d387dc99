//! Building beside and swapping in: the new tree is built in `node_modules.dx-new-<pid>` next to
//! the old one, then exchanged with it in one `renameat2(RENAME_EXCHANGE)`, so at every instant
//! `node_modules` is either the whole old tree or the whole new one. Where the exchange is not
//! available the old tree is renamed aside first (a window of a few microseconds without
//! `node_modules`, never a half tree). Leftovers of dead processes are removed by the next run.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::LinkError;
use crate::sys;

const NEW_PREFIX: &str = "node_modules.dx-new-";
const OLD_PREFIX: &str = "node_modules.dx-old-";

/// Where this process builds the new tree.
pub(crate) fn staging_path(project_dir: &Path) -> PathBuf {
    project_dir.join(format!("{NEW_PREFIX}{}", std::process::id()))
}

/// Where the old tree goes when it cannot be exchanged.
fn aside_path(project_dir: &Path) -> PathBuf {
    project_dir.join(format!("{OLD_PREFIX}{}", std::process::id()))
}

/// Moves the replaced tree at `old` (the staging name, after an exchange) to this process's
/// set-aside name, which `remove_leftovers` of a later run treats as a leftover once this
/// process is gone; returns where it is (`old` itself if the rename failed).
pub(crate) fn set_aside(project_dir: &Path, old: &Path) -> PathBuf {
    let aside = aside_path(project_dir);
    if old == aside || fs::rename(old, &aside).is_ok() {
        aside
    } else {
        old.to_path_buf()
    }
}

/// Removes the staging and set-aside trees (`node_modules.dx-new-<pid>`,
/// `node_modules.dx-old-<pid>`) that dx processes which are gone left in `project_dir` (or an
/// earlier, failed run of this one), so interrupted installs do not pile up.
pub fn remove_leftovers(project_dir: &Path) -> Result<(), LinkError> {
    let entries = match fs::read_dir(project_dir) {
        Ok(entries) => entries,
        Err(e) => return Err(LinkError::io("read directory", project_dir)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = leftover_pid(&name) else {
            continue;
        };
        if pid == std::process::id() || !sys::process_alive(pid) {
            let path = entry.path();
            remove_tree(&path).map_err(LinkError::io("remove leftover", &path))?;
        }
    }
    Ok(())
}

/// The process id in a staging or set-aside directory name.
fn leftover_pid(name: &OsStr) -> Option<u32> {
    let name = name.to_str()?;
    let pid = name
        .strip_prefix(NEW_PREFIX)
        .or_else(|| name.strip_prefix(OLD_PREFIX))?;
    pid.parse().ok()
}

/// Makes the finished tree at `staging` the project's `node_modules` and returns where the old
/// tree (if any) now is, for the caller to remove.
pub(crate) fn swap_in(
    project_dir: &Path,
    staging: &Path,
    node_modules: &Path,
) -> Result<Option<PathBuf>, LinkError> {
    match fs::symlink_metadata(node_modules) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::rename(staging, node_modules)
                .map_err(LinkError::io("move new tree into place at", node_modules))?;
            return Ok(None);
        }
        Err(e) => return Err(LinkError::io("stat", node_modules)(e)),
        Ok(_) => {}
    }
    match sys::exchange(staging, node_modules) {
        // The old tree is now at the staging path.
        Ok(()) => Ok(Some(staging.to_path_buf())),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(LinkError::Io {
            action: "swap in the new tree (is node_modules a mount point? run `dx unmount` first)",
            path: node_modules.to_path_buf(),
            source: e,
        }),
        Err(_) => {
            let aside = aside_path(project_dir);
            fs::rename(node_modules, &aside)
                .map_err(LinkError::io("move old tree aside", node_modules))?;
            if let Err(e) = fs::rename(staging, node_modules) {
                // Put the old tree back: the project must not be left without node_modules.
                drop(fs::rename(&aside, node_modules));
                return Err(LinkError::io("move new tree into place at", node_modules)(
                    e,
                ));
            }
            Ok(Some(aside))
        }
    }
}

/// Removes a tree (files, links, directories) with its top-level entries in parallel.
///
/// Read-only files need no chmod: unlinking depends on the directory's permission only.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return fs::remove_file(path);
    }
    remove_dir_contents(path)?;
    match fs::remove_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Entries another process removed first (two runs removing one leftover) count as removed.
fn remove_dir_contents(dir: &Path) -> io::Result<()> {
    let entries: Vec<fs::DirEntry> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(Result::ok).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    entries.par_iter().try_for_each(|entry| {
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                remove_dir_contents(&path).and_then(|()| fs::remove_dir(&path))
            }
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names_carry_a_pid() {
        assert_eq!(
            leftover_pid(OsStr::new("node_modules.dx-new-123")),
            Some(123)
        );
        assert_eq!(leftover_pid(OsStr::new("node_modules.dx-old-9")), Some(9));
        assert_eq!(leftover_pid(OsStr::new("node_modules")), None);
        assert_eq!(leftover_pid(OsStr::new("node_modules.dx-new-x")), None);
    }

    #[test]
    fn swap_replaces_the_old_tree_and_returns_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node_modules = dir.path().join("node_modules");
        let staging = staging_path(dir.path());
        fs::create_dir(&node_modules).expect("mkdir");
        fs::write(node_modules.join("old"), b"").expect("write");
        fs::create_dir(&staging).expect("mkdir");
        fs::write(staging.join("new"), b"").expect("write");
        let old = swap_in(dir.path(), &staging, &node_modules)
            .expect("swap")
            .expect("an old tree");
        assert!(node_modules.join("new").exists());
        assert!(old.join("old").exists());
        remove_tree(&old).expect("remove");
        assert!(!old.exists());
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Pid 1 is always alive; a pid above the kernel's limit never is.
        let live = dir.path().join(format!("{NEW_PREFIX}1"));
        let dead = dir.path().join(format!("{OLD_PREFIX}{}", u32::MAX - 1));
        for tree in [&live, &dead] {
            fs::create_dir_all(tree.join("pkg")).expect("mkdir");
            fs::write(tree.join("pkg/file"), b"x").expect("write");
        }
        remove_leftovers(dir.path()).expect("clean");
        assert!(live.exists());
        assert!(!dead.exists());
    }
}
