//! Per-process temporary space inside the store (`v1/tmp/`), so every temp file is on the
//! store's filesystem (renames are atomic) and the leftovers of a killed process can be told
//! apart from the work in progress of a live one.
//!
//! Protocol: a session first creates and `flock`s `tmp/<id>.lock`, checks the lock file is still
//! linked, then creates `tmp/<id>/`. Whoever can take that lock exclusively knows its holder is
//! dead (the kernel drops a flock when a process dies, even by SIGKILL) and may delete the
//! directory, then the lock file. A directory without its lock file is an orphan.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::atomic::{list_dir, remove_file_if_exists, remove_tree, unique_name};
use crate::lock::{FileLock, LockMode};

/// Suffix of session lock files.
const LOCK_SUFFIX: &str = ".lock";

/// This process's temp directory, removed when dropped.
#[derive(Debug)]
pub(crate) struct TempSession {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: FileLock,
}

impl TempSession {
    /// Starts a session under `tmp_dir` (which must exist).
    pub(crate) fn start(tmp_dir: &Path) -> io::Result<TempSession> {
        loop {
            let id = unique_name("s-");
            let lock_path = tmp_dir.join(format!("{id}{LOCK_SUFFIX}"));
            let lock = FileLock::acquire(&lock_path, LockMode::Exclusive)?;
            if !lock.still_linked()? {
                // A cleaner took it for a dead session between our open and our flock.
                continue;
            }
            let dir = tmp_dir.join(&id);
            fs::create_dir(&dir)?;
            return Ok(TempSession {
                dir,
                lock_path,
                _lock: lock,
            });
        }
    }

    /// A fresh path inside the session directory.
    pub(crate) fn temp_path(&self, prefix: &str) -> PathBuf {
        self.dir.join(unique_name(prefix))
    }
}

impl Drop for TempSession {
    fn drop(&mut self) {
        let _ = remove_tree(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

/// Removes the temp directories of dead sessions (and orphan entries) under `tmp_dir`; returns
/// how many entries were removed. Live sessions are never touched.
pub(crate) fn clean_stale_sessions(tmp_dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for path in list_dir(tmp_dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(id) = name.strip_suffix(LOCK_SUFFIX) {
            if let Some(_dead) = FileLock::try_acquire_existing(&path, LockMode::Exclusive)? {
                // Directory first, then the lock: a crash in between leaves a lock file alone,
                // which the next cleaner handles.
                remove_tree(&tmp_dir.join(id))?;
                remove_file_if_exists(&path)?;
                removed += 1;
            }
        } else if !tmp_dir.join(format!("{name}{LOCK_SUFFIX}")).exists() {
            // Its lock is created before it, so without one it belongs to nobody. Another
            // cleaner may be removing it at the same moment.
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                remove_tree(&path)?;
            } else {
                remove_file_if_exists(&path)?;
            }
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sessions_survive_cleanup_and_dead_ones_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        let live = TempSession::start(tmp.path()).unwrap();
        fs::write(live.temp_path("x"), b"work in progress").unwrap();
        // A dead session: its lock file exists but nobody holds it.
        fs::write(tmp.path().join("s-dead.lock"), b"").unwrap();
        fs::create_dir(tmp.path().join("s-dead")).unwrap();
        fs::write(tmp.path().join("s-dead").join("half"), b"partial").unwrap();
        // An orphan file with no lock at all.
        fs::write(tmp.path().join("stray"), b"").unwrap();

        assert_eq!(clean_stale_sessions(tmp.path()).unwrap(), 2);
        assert!(live.dir.exists());
        assert!(!tmp.path().join("s-dead").exists());
        assert!(!tmp.path().join("s-dead.lock").exists());
        assert!(!tmp.path().join("stray").exists());

        drop(live);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
