//! What a mount's life around the filesystem needs: is FUSE usable, is a mountpoint stale,
//! unmounting (lazily when busy), a lock so two mounts of one project do not race, a
//! readiness pipe so `dx mount` returns once the daemon answers, and a log file. Where a
//! project's overlay, lock and log live is the caller's choice (dx keeps them in the store's
//! per-project state, `dx_store::ProjectState`).

mod logger;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::error::{FuseUnavailable, VfsError};

pub use logger::install_file_logger;

/// Environment variable through which a daemon child learns its readiness pipe's fd.
pub const READY_FD_ENV: &str = "DX_VFS_READY_FD";

/// Whether this process can mount FUSE: `/dev/fuse` opens read-write, and a non-root user has
/// `fusermount3` (or `fusermount`). Never blocks.
pub fn check_fuse_available() -> Result<(), FuseUnavailable> {
    match OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(FuseUnavailable::NoDevice),
        Err(e) => return Err(FuseUnavailable::NoPermission(e.to_string())),
    }
    if is_root() || find_in_path("fusermount3").is_some() || find_in_path("fusermount").is_some() {
        Ok(())
    } else {
        Err(FuseUnavailable::NoFusermount)
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// What is at a mountpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountPointState {
    /// Nothing mounted (the directory may or may not exist).
    NotMounted,
    /// A live FUSE mount.
    Mounted,
    /// A mount whose daemon died: every access fails with ENOTCONN ("Transport endpoint is
    /// not connected"; ECONNABORTED for a request caught in flight). [`cleanup_stale_mount`]
    /// repairs it.
    Stale,
}

/// Whether an errno from a FUSE mount means its daemon is gone: ENOTCONN once the connection
/// is down, ECONNABORTED for a request that was in flight when it went down.
fn is_dead_mount_errno(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::ENOTCONN) | Some(libc::ECONNABORTED))
}

/// Tells whether `path` is unmounted, mounted, or a dead mount.
///
/// Uses statfs, which FUSE always forwards to the daemon: a `stat` could still be answered
/// from the kernel's attribute cache after the daemon died.
pub fn mount_point_state(path: &Path) -> MountPointState {
    if !is_mountpoint(path) {
        return match fs::metadata(path) {
            Err(e) if is_dead_mount_errno(e.raw_os_error()) => MountPointState::Stale,
            _ => MountPointState::NotMounted,
        };
    }
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return MountPointState::NotMounted;
    };
    let mut out = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `out` a buffer of the right size.
    let rc = unsafe { libc::statfs(c.as_ptr(), out.as_mut_ptr()) };
    if rc != 0 && is_dead_mount_errno(io::Error::last_os_error().raw_os_error()) {
        MountPointState::Stale
    } else {
        MountPointState::Mounted
    }
}

/// Whether `/proc/self/mountinfo` lists `path` as a mount point.
fn is_mountpoint(path: &Path) -> bool {
    let absolute = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_owned())
    };
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = absolute.as_os_str().as_bytes();
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| unescape_mountinfo(mp).as_slice() == wanted)
    })
}

fn unescape_mountinfo(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// How an unmount went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmountOutcome {
    /// Unmounted now.
    Unmounted,
    /// Something still had a file open: the mount was detached and disappears when the last
    /// user closes it (the CLI says so).
    Lazy,
    /// Nothing was mounted there.
    NotMounted,
}

/// Unmounts `path`; when busy, detaches it lazily instead of failing.
pub fn unmount(path: &Path) -> Result<UnmountOutcome, VfsError> {
    if mount_point_state(path) == MountPointState::NotMounted {
        return Ok(UnmountOutcome::NotMounted);
    }
    match raw_unmount(path, false) {
        Ok(()) => Ok(UnmountOutcome::Unmounted),
        Err(_) => {
            raw_unmount(path, true).map_err(|reason| VfsError::Unmount {
                path: path.to_owned(),
                reason,
            })?;
            Ok(UnmountOutcome::Lazy)
        }
    }
}

/// Detaches a dead mount so the directory can be mounted again.
pub fn cleanup_stale_mount(path: &Path) -> Result<(), VfsError> {
    raw_unmount(path, true).map_err(|reason| VfsError::Unmount {
        path: path.to_owned(),
        reason,
    })
}

fn raw_unmount(path: &Path, lazy: bool) -> Result<(), String> {
    if is_root() {
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        let flags = if lazy { libc::MNT_DETACH } else { 0 };
        // SAFETY: `c` is a valid NUL-terminated path; umount2 has no other preconditions.
        let rc = unsafe { libc::umount2(c.as_ptr(), flags) };
        if rc == 0 {
            return Ok(());
        }
        return Err(io::Error::last_os_error().to_string());
    }
    let tool = find_in_path("fusermount3")
        .or_else(|| find_in_path("fusermount"))
        .ok_or_else(|| FuseUnavailable::NoFusermount.to_string())?;
    let output = Command::new(tool)
        .arg(if lazy { "-uz" } else { "-u" })
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// An exclusive lock held by whoever mounts or serves a project (one per overlay dir). It
/// records the holder's pid so a second `dx mount` can say who holds it.
#[derive(Debug)]
pub struct MountLock {
    /// Holds the flock for as long as the lock lives.
    _file: File,
    path: PathBuf,
}

impl MountLock {
    /// Takes the lock at `path` (created if missing) without waiting.
    pub fn acquire(path: &Path, mountpoint: &Path) -> Result<MountLock, VfsError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| VfsError::io("creating", parent, e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| VfsError::io("opening", path, e))?;
        // SAFETY: flock on an fd we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(VfsError::AlreadyMounted {
                mountpoint: mountpoint.to_owned(),
                pid: text.trim().parse().unwrap_or(0),
            });
        }
        file.set_len(0)
            .map_err(|e| VfsError::io("writing", path, e))?;
        write!(file, "{}", std::process::id()).map_err(|e| VfsError::io("writing", path, e))?;
        Ok(MountLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    /// The pid recorded by the current holder of the lock at `path`, if any process holds it.
    pub fn holder(path: &Path) -> Option<u32> {
        let file = File::open(path).ok()?;
        // SAFETY: flock on an fd we own.
        let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if free {
            return None;
        }
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The parent's end of a readiness pipe.
#[derive(Debug)]
pub struct ReadyReader(File);

/// The daemon's end of a readiness pipe: write "ready" once the mount answers.
#[derive(Debug)]
pub struct ReadyWriter(File);

/// A pipe whose write end a daemon child inherits (see [`spawn_with_readiness`]).
pub fn readiness_pipe() -> io::Result<(ReadyReader, ReadyWriter)> {
    let mut fds: [RawFd; 2] = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((ReadyReader(File::from(r)), ReadyWriter(File::from(w))))
}

impl ReadyWriter {
    /// The writer a daemon child inherited through [`READY_FD_ENV`], if any.
    pub fn from_env() -> Option<ReadyWriter> {
        let fd: RawFd = std::env::var(READY_FD_ENV).ok()?.parse().ok()?;
        // SAFETY: F_GETFD only checks that the fd is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return None;
        }
        // SAFETY: the parent passed this fd for us alone and it is open (checked above).
        let file = unsafe { File::from_raw_fd(fd) };
        // SAFETY: the variable is removed before any other thread of ours starts.
        unsafe { std::env::remove_var(READY_FD_ENV) };
        Some(ReadyWriter(file))
    }

    /// Reports success: the mount answers.
    pub fn ready(mut self) {
        let _ = self.0.write_all(b"ready\n");
    }

    /// Reports a failure the parent prints.
    pub fn failed(mut self, message: &str) {
        let _ = writeln!(self.0, "error: {}", message.replace('\n', " "));
    }
}

impl ReadyReader {
    /// Waits for the daemon's word: Ok once it is ready, an error with its message, or an
    /// error if it exited (pipe closed) or `timeout` passed.
    pub fn wait(mut self, timeout: Duration) -> Result<(), VfsError> {
        let deadline = Instant::now() + timeout;
        let mut text = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(VfsError::DaemonStart(
                    "timed out waiting for the mount to answer".into(),
                ));
            }
            let mut poll = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc =
                unsafe { libc::poll(&mut poll, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(VfsError::DaemonStart(e.to_string()));
            }
            if rc == 0 {
                continue;
            }
            let mut buf = [0u8; 512];
            let n = self
                .0
                .read(&mut buf)
                .map_err(|e| VfsError::DaemonStart(e.to_string()))?;
            if n == 0 {
                let said = String::from_utf8_lossy(&text).trim().to_owned();
                return Err(VfsError::DaemonStart(if said.is_empty() {
                    "the daemon exited before the mount answered".into()
                } else {
                    said.trim_start_matches("error: ").to_owned()
                }));
            }
            text.extend_from_slice(&buf[..n]);
            if text.starts_with(b"ready\n") {
                return Ok(());
            }
            if text.ends_with(b"\n") {
                let said = String::from_utf8_lossy(&text).trim().to_owned();
                return Err(VfsError::DaemonStart(
                    said.trim_start_matches("error: ").to_owned(),
                ));
            }
        }
    }
}

/// Spawns a daemon child (e.g. `dx mount --foreground --daemon-child`) with a readiness pipe
/// and waits until it reports the mount answers (or fails, exits, or times out). The child
/// calls [`ReadyWriter::from_env`] and then `ready()` or `failed(..)`.
pub fn spawn_with_readiness(mut command: Command, timeout: Duration) -> Result<Child, VfsError> {
    let (reader, writer) = readiness_pipe().map_err(|e| VfsError::DaemonStart(e.to_string()))?;
    let fd = writer.0.as_raw_fd();
    command.env(READY_FD_ENV, fd.to_string());
    // SAFETY: between fork and exec we only call async-signal-safe functions (fcntl, setsid).
    unsafe {
        command.pre_exec(move || {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| VfsError::DaemonStart(e.to_string()))?;
    drop(writer);
    match reader.wait(timeout) {
        Ok(()) => Ok(child),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}
