//! The few system calls std does not wrap: reflink (`FICLONE`), atomic exchange
//! (`renameat2(RENAME_EXCHANGE)`), a liveness check for the owner of a leftover staging
//! directory, and the directory-relative calls (`mkdirat`, `linkat`, `openat`, `symlinkat`,
//! `unlinkat`) that let the linker resolve a short name from an open directory instead of
//! walking a full path for each of tens of thousands of files. Elsewhere the Linux-only ones
//! report [`io::ErrorKind::Unsupported`] and callers fall back.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A name relative to an open directory: where a `*at` call acts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    /// The directory the name is resolved from.
    pub(crate) dir: BorrowedFd<'a>,
    /// The relative name (one or more plain components).
    pub(crate) name: &'a CStr,
}

impl<'a> At<'a> {
    /// `name` relative to `dir`.
    pub(crate) fn new(dir: BorrowedFd<'a>, name: &'a CStr) -> At<'a> {
        At { dir, name }
    }

    /// The name as a path, for messages.
    pub(crate) fn name_path(&self) -> &'a Path {
        Path::new(std::ffi::OsStr::from_bytes(self.name.to_bytes()))
    }
}

/// How directories are opened for `*at` calls: `O_PATH` where it exists (no read permission
/// needed, no atime update), a plain read-only open elsewhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
const DIR_HANDLE: libc::c_int = libc::O_PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const DIR_HANDLE: libc::c_int = libc::O_RDONLY;

/// `-1` from a libc call becomes the thread's `errno`.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A path as a C string (paths from the OS never hold NUL; ours are checked before use).
fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Opens a directory to resolve names from.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let path = c_path(path)?;
    // SAFETY: a valid NUL-terminated path; the returned descriptor is owned by the result.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            DIR_HANDLE | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened by us and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory at `at` to resolve names from, not following a final symlink.
pub(crate) fn open_dir_at(at: At<'_>) -> io::Result<OwnedFd> {
    // SAFETY: a borrowed open descriptor and a NUL-terminated name, both live for the call.
    let fd = check(unsafe {
        libc::openat(
            at.dir.as_raw_fd(),
            at.name.as_ptr(),
            DIR_HANDLE | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened by us and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates the directory `at` (mode 0777 minus the umask, as `fs::create_dir` does).
pub(crate) fn mkdir_at(at: At<'_>) -> io::Result<()> {
    // SAFETY: a borrowed open descriptor and a NUL-terminated name, both live for the call.
    check(unsafe { libc::mkdirat(at.dir.as_raw_fd(), at.name.as_ptr(), 0o777) }).map(drop)
}

/// Makes `dest` a new hard link to `source` (a final symlink in `source` is not followed).
pub(crate) fn link_at(source: At<'_>, dest: At<'_>) -> io::Result<()> {
    // SAFETY: borrowed open descriptors and NUL-terminated names, all live for the call.
    check(unsafe {
        libc::linkat(
            source.dir.as_raw_fd(),
            source.name.as_ptr(),
            dest.dir.as_raw_fd(),
            dest.name.as_ptr(),
            0,
        )
    })
    .map(drop)
}

/// Creates the symbolic link `at` pointing to `target`.
pub(crate) fn symlink_at(target: &CStr, at: At<'_>) -> io::Result<()> {
    // SAFETY: NUL-terminated strings and a borrowed open descriptor, all live for the call.
    check(unsafe { libc::symlinkat(target.as_ptr(), at.dir.as_raw_fd(), at.name.as_ptr()) })
        .map(drop)
}

/// Removes the file (not directory) `at`.
pub(crate) fn unlink_at(at: At<'_>) -> io::Result<()> {
    // SAFETY: a borrowed open descriptor and a NUL-terminated name, both live for the call.
    check(unsafe { libc::unlinkat(at.dir.as_raw_fd(), at.name.as_ptr(), 0) }).map(drop)
}

/// Opens the existing file `at` for reading.
pub(crate) fn open_read_at(at: At<'_>) -> io::Result<File> {
    // SAFETY: a borrowed open descriptor and a NUL-terminated name, both live for the call.
    let fd = check(unsafe {
        libc::openat(
            at.dir.as_raw_fd(),
            at.name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened by us and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Creates the new file `at` with permission bits `perm` (minus the umask) and opens it for
/// writing; fails if anything exists there.
pub(crate) fn create_at(at: At<'_>, perm: u32) -> io::Result<File> {
    // SAFETY: a borrowed open descriptor and a NUL-terminated name, both live for the call;
    // the mode is passed as the variadic argument open(2) expects with O_CREAT.
    let fd = check(unsafe {
        libc::openat(
            at.dir.as_raw_fd(),
            at.name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            perm as libc::c_uint,
        )
    })?;
    // SAFETY: `fd` was just opened by us and is not owned elsewhere.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Makes `dest` share `src`'s data blocks (copy-on-write). `dest` must be an empty regular file
/// open for writing on the same filesystem.
#[cfg(target_os = "linux")]
pub(crate) fn reflink(src: &File, dest: &File) -> io::Result<()> {
    // SAFETY: both descriptors are open for the duration of the call (borrowed `File`s), and
    // FICLONE takes the source descriptor as its integer argument; it reads no memory of ours.
    let rc = unsafe { libc::ioctl(dest.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reflinks are only wired up on Linux so far (macOS `clonefile` works on paths, not files).
#[cfg(not(target_os = "linux"))]
pub(crate) fn reflink(_src: &File, _dest: &File) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Atomically swaps the directory entries `a` and `b` (both must exist).
#[cfg(target_os = "linux")]
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let a = c_path(a)?;
    let b = c_path(b)?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call; AT_FDCWD
    // makes relative paths resolve against the working directory as std does.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// No atomic exchange here: callers fall back to two renames.
#[cfg(not(target_os = "linux"))]
pub(crate) fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether a process with this id exists (a permission error means it exists but is not ours).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check; nothing is delivered.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
    }

    #[test]
    fn exchange_swaps_two_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a).expect("mkdir a");
        std::fs::create_dir(&b).expect("mkdir b");
        std::fs::write(a.join("from-a"), b"").expect("write");
        match exchange(&a, &b) {
            Ok(()) => {
                assert!(b.join("from-a").exists());
                assert!(!a.join("from-a").exists());
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(e) => panic!("exchange failed: {e}"),
        }
    }
}
