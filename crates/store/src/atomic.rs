//! Crash-safe file replacement: write a temporary file, fsync it, rename it over the target and
//! fsync the directory. After a crash a reader sees either the old file or the whole new one,
//! never a torn write.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files written by threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other thread or process will pick at the same time: pid, a per-process counter and
/// the clock's nanoseconds (two processes with the same pid in different pid namespaces may share
/// a store).
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}", std::process::id())
}

/// Replaces `path` with `bytes` atomically and durably.
///
/// The temporary file is created beside `path` (same filesystem, so the rename is atomic) with a
/// `.dx-tmp-` prefix; it is removed again if anything fails. Everyone in the project writes
/// files this way.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let temp = dir.join(unique_name(".dx-tmp-"));
    write_atomic_via(&temp, path, bytes, 0o644)
}

/// Atomic for concurrent readers (temp file, rename) but not durable: no fsync. Only for
/// caches whose readers treat a missing, empty or damaged file as a miss (the packument cache,
/// whose entries are checksummed): a crash may lose the file, never hand out a half-written one
/// that passes for whole.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = parent_dir(path).join(unique_name(".dx-tmp-"));
    write_via(&temp, path, bytes, 0o644, Durability::RenameOnly)
}

/// [`write_atomic`] unless `path` already holds exactly `bytes`: a repeat costs one read and no
/// fsync. Returns whether it wrote.
pub fn write_atomic_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(false);
    }
    write_atomic(path, bytes)?;
    Ok(true)
}

/// Writes `bytes` to `temp` (created exclusively, mode `mode`), fsyncs it, renames it to `dest`
/// and fsyncs `dest`'s directory. `temp` must be on the same filesystem as `dest`; it is removed
/// on failure.
pub(crate) fn write_atomic_via(
    temp: &Path,
    dest: &Path,
    bytes: &[u8],
    mode: u32,
) -> io::Result<()> {
    write_via(temp, dest, bytes, mode, Durability::Synced)
}

/// How much a store write pays for durability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync the file before the rename and the directory after it: after a crash the file is
    /// either absent or whole, and once this returns it survives a crash.
    Synced,
    /// Rename only: atomic for concurrent readers, but a crash may lose the file or leave it
    /// empty. Only for files whose loss or emptiness readers treat as a miss (index entries).
    RenameOnly,
}

/// [`write_atomic_via`] with a choice of durability.
pub(crate) fn write_via(
    temp: &Path,
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(temp)?;
        file.write_all(bytes)?;
        // `mode` passed to open is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        drop(file);
        rename_creating_parent(temp, dest)?;
        if durability == Durability::Synced {
            sync_dir(parent_dir(dest))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
}

/// Renames `from` to `to`, creating `to`'s parent directory (a fan-out directory) on demand.
///
/// Fan-out directories are created lazily rather than all 256 at open, which keeps `open` cheap.
pub(crate) fn rename_creating_parent(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            let parent = parent_dir(to);
            fs::create_dir_all(parent)?;
            // Make the new directory entry itself durable.
            sync_dir(parent_dir(parent))?;
            fs::rename(from, to)
        }
        other => other,
    }
}

/// Fsyncs a directory so that renames and creations inside it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes a directory tree whose files may be read-only (or a lone file); a missing tree is not
/// an error.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => return remove_file_if_exists(path).map(drop),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        _ => {}
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // A directory without write permission (tampered with): open it up and retry.
            make_dirs_writable(path)?;
            fs::remove_dir_all(path)
        }
        other => other,
    }
}

fn make_dirs_writable(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
        for entry in fs::read_dir(path)? {
            make_dirs_writable(&entry?.path())?;
        }
    }
    Ok(())
}

/// Removes a file; a missing file is not an error.
pub(crate) fn remove_file_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Flushes every dirty page of the filesystem holding `dir` (`syncfs`): one call makes a whole
/// freshly written tree durable, where an fsync per file would cost a journal commit each.
pub(crate) fn sync_filesystem(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let handle = File::open(dir)?;
    // SAFETY: `handle` keeps the descriptor open for the duration of the call; syncfs only
    // reads the descriptor number.
    if unsafe { libc::syncfs(handle.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Paths of the entries of `dir`; a missing directory has none.
pub(crate) fn list_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.path())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("value")]);
    }

    #[test]
    fn failed_write_removes_its_temp() {
        let dir = tempfile::tempdir().unwrap();
        let temp = dir.path().join("t");
        // Destination directory cannot be created: its parent is a file.
        fs::write(dir.path().join("file"), b"").unwrap();
        let dest = dir.path().join("file").join("sub").join("x");
        assert!(write_atomic_via(&temp, &dest, b"x", 0o444).is_err());
        assert!(!temp.exists());
    }

    #[test]
    fn fan_out_directory_is_created_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("ab").join("cdef");
        write_atomic_via(&dir.path().join("t"), &dest, b"x", 0o444).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"x");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444);
    }
}
