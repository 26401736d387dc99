//! Crash-safe file replacement: write a temporary file, fsync it, rename it over the target and
//! fsync the directory. After a crash a reader sees either the old file or the whole new one,
//! never a torn write.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// Distinguishes temp files written by threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes of this process between creating their temporary file and renaming (or removing) it,
/// and whether the process is about to exit ([`quiesce_writes`]).
static IN_FLIGHT: Mutex<InFlight> = Mutex::new(InFlight {
    writes: 0,
    exiting: false,
});
/// Signalled when the last write in flight ends.
static SETTLED: Condvar = Condvar::new();

struct InFlight {
    writes: usize,
    exiting: bool,
}

fn in_flight() -> std::sync::MutexGuard<'static, InFlight> {
    IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held by one write from before its temporary file exists until it is renamed or removed.
pub(crate) struct WriteGuard(());

impl WriteGuard {
    /// Starts a write (waits forever once the process is exiting: see [`quiesce_writes`]).
    pub(crate) fn begin() -> Self {
        let mut state = in_flight();
        // The process is exiting: a write started now could be cut short by the exit and
        // leave its temporary file behind, so it waits for the exit instead.
        while state.exiting {
            state = SETTLED.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.writes += 1;
        WriteGuard(())
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let mut state = in_flight();
        state.writes -= 1;
        if state.writes == 0 {
            SETTLED.notify_all();
        }
    }
}

/// Readies the process to exit while other threads may still be writing files (speculative
/// work on an async runtime that is not waited for): writes already started finish, for at
/// most `timeout`, and any write asked for from now on never starts (its thread waits until
/// the process exits). So an exit cuts no atomic write short and leaves no temporary file.
/// Returns whether every write in flight finished in time.
///
/// Call it last, from the thread that then exits: a write this thread asks for afterwards
/// would wait forever.
pub fn quiesce_writes(timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let mut state = in_flight();
    state.exiting = true;
    while state.writes > 0 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        state = SETTLED
            .wait_timeout(state, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

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

/// [`write_atomic`] unless `path` already holds exactly `bytes`: a repeat costs one read and no
/// fsync. Returns whether it wrote.
pub fn write_atomic_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(false);
    }
    write_atomic(path, bytes)?;
    Ok(true)
}

/// Replaces `path` with `bytes` atomically for concurrent readers, without fsync: after a crash
/// the file may be the old one, missing or empty. Only for state a reader treats as a miss when
/// it is missing or does not parse, and that is written again before it is relied on (the
/// project's `current.dxl` and install record, the daemon's reload acknowledgement, the
/// checksummed packument cache, whose lost entries are fetched again); each
/// fsync'd write cost 5–70 ms on the install path of a busy ext4 disk.
pub fn replace_atomic_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = parent_dir(path).join(unique_name(".dx-tmp-"));
    write_via(&temp, path, bytes, 0o644, Durability::RenameOnly)
}

/// [`replace_atomic_unsynced`] unless `path` already holds exactly `bytes`. Returns whether it
/// wrote.
pub fn replace_atomic_unsynced_if_changed(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if std::fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(false);
    }
    replace_atomic_unsynced(path, bytes)?;
    Ok(true)
}

/// A [`write_atomic`] whose durable part (fsync of the file, rename, fsync of the directory)
/// runs on a thread of its own while the caller goes on; [`PendingWrite::wait`] joins it.
///
/// The temporary file is created and written before [`PendingWrite::start`] returns, so the
/// usual failures (permissions, a full disk) are reported at once; until `wait` returns, the
/// destination still holds its old content. Dropping a pending write waits for it too (its
/// error is then lost: call `wait` where it matters).
#[derive(Debug)]
pub struct PendingWrite {
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl PendingWrite {
    /// Writes `bytes` to a temporary file beside `path`, then fsyncs it, renames it over `path`
    /// and fsyncs the directory on another thread.
    pub fn start(path: &Path, bytes: &[u8]) -> io::Result<Self> {
        let in_flight = WriteGuard::begin();
        let temp = parent_dir(path).join(unique_name(".dx-tmp-"));
        let file = create_written(&temp, bytes, 0o644)?;
        let (dest, thread_temp) = (path.to_path_buf(), temp.clone());
        let spawned = std::thread::Builder::new()
            .name("dx-write".into())
            .spawn(move || {
                let _in_flight = in_flight;
                finish_durably(file, &thread_temp, &dest)
            });
        match spawned {
            Ok(thread) => Ok(Self {
                path: path.to_path_buf(),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// The file being replaced.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until the new content is durably in place (or the write failed, leaving the old
    /// content).
    pub fn wait(mut self) -> io::Result<()> {
        self.join()
    }

    /// A pending write of `bytes` to `path` that starts once this one has finished (and only
    /// if it succeeded): the order in which a crash may reveal them is the order they were
    /// asked for.
    pub fn then_write(self, path: &Path, bytes: &[u8]) -> io::Result<PendingWrite> {
        let in_flight = WriteGuard::begin();
        let temp = parent_dir(path).join(unique_name(".dx-tmp-"));
        let file = create_written(&temp, bytes, 0o644)?;
        let (dest, thread_temp) = (path.to_path_buf(), temp.clone());
        let mut first = self;
        let first_thread = first.thread.take();
        let spawned = std::thread::Builder::new()
            .name("dx-write".into())
            .spawn(move || {
                let _in_flight = in_flight;
                let earlier = match first_thread {
                    Some(thread) => join_write(thread),
                    None => Ok(()),
                };
                if let Err(e) = earlier {
                    drop(file);
                    let _ = fs::remove_file(&thread_temp);
                    return Err(e);
                }
                finish_durably(file, &thread_temp, &dest)
            });
        match spawned {
            Ok(thread) => Ok(PendingWrite {
                path: path.to_path_buf(),
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => join_write(thread),
            None => Ok(()),
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        let _ = self.join();
    }
}

fn join_write(thread: std::thread::JoinHandle<io::Result<()>>) -> io::Result<()> {
    thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread writing the file panicked")))
}

/// Creates `temp` exclusively with mode `mode` and writes `bytes` into it (not yet synced);
/// removed again on failure.
pub(crate) fn create_written(temp: &Path, bytes: &[u8], mode: u32) -> io::Result<File> {
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(temp)?;
        file.write_all(bytes)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        Ok(file)
    })();
    if written.is_err() {
        let _ = fs::remove_file(temp);
    }
    written
}

/// fsync `file` (written at `temp`), rename it to `dest`, fsync `dest`'s directory; `temp` is
/// removed on failure.
fn finish_durably(file: File, temp: &Path, dest: &Path) -> io::Result<()> {
    let result = (|| {
        file.sync_all()?;
        drop(file);
        rename_creating_parent(temp, dest, true)?;
        sync_dir(parent_dir(dest))
    })();
    if result.is_err() {
        let _ = fs::remove_file(temp);
    }
    result
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
    let _in_flight = WriteGuard::begin();
    let result = (|| {
        let file = create_written(temp, bytes, mode)?;
        if durability == Durability::Synced {
            file.sync_all()?;
        }
        drop(file);
        rename_creating_parent(temp, dest, durability == Durability::Synced)?;
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
/// With `sync_new_dir`, a directory created is made durable at once (its parent fsynced); without,
/// the caller flushes later or does not need it to survive a crash.
pub(crate) fn rename_creating_parent(from: &Path, to: &Path, sync_new_dir: bool) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && from.exists() => {
            let parent = parent_dir(to);
            fs::create_dir_all(parent)?;
            if sync_new_dir {
                sync_dir(parent_dir(parent))?;
            }
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
    fn pending_write_replaces_only_once_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dx.lock");
        fs::write(&path, b"old").unwrap();
        let pending = PendingWrite::start(&path, b"new").unwrap();
        assert_eq!(pending.path(), path);
        pending.wait().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dx.lock")]);
    }

    #[test]
    fn pending_write_that_cannot_start_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dx.lock");
        fs::write(&path, b"old").unwrap();
        // The destination's directory does not exist: the temporary file cannot be created,
        // and `start` says so at once.
        let missing = dir.path().join("gone").join("dx.lock");
        assert!(PendingWrite::start(&missing, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn failed_rename_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        // The destination is a non-empty directory: the rename fails after the temp file
        // was written and synced.
        let dest = dir.path().join("dx.lock");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep"), b"old").unwrap();
        let pending = PendingWrite::start(&dest, b"new").unwrap();
        assert!(pending.wait().is_err());
        assert_eq!(fs::read(dest.join("keep")).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dx.lock")]);
    }

    #[test]
    fn chained_writes_land_in_order_and_stop_at_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, manifest) = (dir.path().join("dx.lock"), dir.path().join("package.json"));
        PendingWrite::start(&lock, b"lock")
            .unwrap()
            .then_write(&manifest, b"manifest")
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(fs::read(&lock).unwrap(), b"lock");
        assert_eq!(fs::read(&manifest).unwrap(), b"manifest");
        // The first write fails (its destination is a non-empty directory): the second one
        // does not happen and leaves no temp file.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"").unwrap();
        let chained = PendingWrite::start(&blocked, b"lock")
            .unwrap()
            .then_write(&manifest, b"second")
            .unwrap();
        assert!(chained.wait().is_err());
        assert_eq!(fs::read(&manifest).unwrap(), b"manifest");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["blocked", "dx.lock", "package.json"]);
    }

    #[test]
    fn unsynced_replace_is_atomic_and_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("installed");
        assert!(replace_atomic_unsynced_if_changed(&path, b"one").unwrap());
        assert!(!replace_atomic_unsynced_if_changed(&path, b"one").unwrap());
        assert!(replace_atomic_unsynced_if_changed(&path, b"two").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Set in the child process [`quiesced_exit_cuts_no_write_short`] starts.
    const QUIESCE_CHILD: &str = "DX_STORE_QUIESCE_CHILD";

    /// In its own process (a flag set here would stop every other test's writes): writes race
    /// an exit that quiesces first, and no temporary file is left behind.
    #[test]
    fn quiesced_exit_cuts_no_write_short() {
        if let Some(dir) = std::env::var_os(QUIESCE_CHILD) {
            let dir = PathBuf::from(dir);
            for t in 0..4 {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let big = vec![b'x'; 1 << 20];
                    for i in 0.. {
                        let _ = write_atomic(&dir.join(format!("f{t}-{}", i % 8)), &big);
                    }
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            assert!(quiesce_writes(std::time::Duration::from_secs(10)));
            std::process::exit(0);
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "atomic::tests::quiesced_exit_cuts_no_write_short",
            ])
            .env(QUIESCE_CHILD, dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.is_empty(), "the child wrote nothing");
        let temps: Vec<&String> = names.iter().filter(|n| n.starts_with(".dx-tmp-")).collect();
        assert!(temps.is_empty(), "left behind: {temps:?}");
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
