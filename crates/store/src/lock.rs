//! Advisory file locks (`flock`) between dx processes sharing one store.
//!
//! `flock` locks belong to an open file description and vanish when the process dies, however it
//! dies: a SIGKILLed installer or mount daemon never leaves a lock behind. Every lock here opens
//! its own descriptor, so two locks taken by one process are independent, as between processes.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Shared (many holders) or exclusive (one holder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once; excludes exclusive holders.
    Shared,
    /// One holder; excludes everyone else.
    Exclusive,
}

/// A held `flock` on a file; released when dropped (the descriptor is closed).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Opens (creating) `path` and waits for the lock.
    pub fn acquire(path: &Path, mode: LockMode) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        flock(&file, mode, true)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens (creating) `path` and takes the lock only if nobody holds a conflicting one.
    pub(crate) fn try_acquire(path: &Path, mode: LockMode) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        match flock(&file, mode, false) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Like [`FileLock::try_acquire`] but never creates the file: `Ok(None)` when it is gone or held.
    pub(crate) fn try_acquire_existing(
        path: &Path,
        mode: LockMode,
    ) -> io::Result<Option<FileLock>> {
        let file = match OpenOptions::new().read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match flock(&file, mode, false) {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the locked descriptor still is the file at its path: a lock file that someone
    /// unlinked (cleanup of a dead holder) between our open and our flock protects nothing.
    pub(crate) fn still_linked(&self) -> io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let held = self.file.metadata()?;
        match std::fs::metadata(&self.path) {
            Ok(now) => Ok(now.ino() == held.ino() && now.dev() == held.dev()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The locked file, for writing a note about the holder into it.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn flock(file: &File, mode: LockMode, wait: bool) -> io::Result<()> {
    let mut op = match mode {
        LockMode::Shared => libc::LOCK_SH,
        LockMode::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    loop {
        // SAFETY: `file` owns a valid open descriptor for the duration of the call; flock has no
        // memory-safety preconditions beyond that.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_and_exclude_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = FileLock::acquire(&path, LockMode::Shared).unwrap();
        let b = FileLock::try_acquire(&path, LockMode::Shared).unwrap();
        assert!(b.is_some());
        assert!(
            FileLock::try_acquire(&path, LockMode::Exclusive)
                .unwrap()
                .is_none()
        );
        drop(a);
        drop(b);
        let ex = FileLock::try_acquire(&path, LockMode::Exclusive).unwrap();
        assert!(ex.is_some());
        assert!(
            FileLock::try_acquire(&path, LockMode::Shared)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unlinked_lock_file_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let lock = FileLock::acquire(&path, LockMode::Exclusive).unwrap();
        assert!(lock.still_linked().unwrap());
        std::fs::remove_file(&path).unwrap();
        assert!(!lock.still_linked().unwrap());
        assert!(
            FileLock::try_acquire_existing(&path, LockMode::Exclusive)
                .unwrap()
                .is_none()
        );
    }
}
