//! The few system calls std does not wrap: reflink (`FICLONE`), atomic exchange
//! (`renameat2(RENAME_EXCHANGE)`) and a liveness check for the owner of a leftover staging
//! directory. Elsewhere these report [`io::ErrorKind::Unsupported`] and callers fall back.

use std::fs::File;
use std::io;
use std::path::Path;

/// Makes `dest` share `src`'s data blocks (copy-on-write). `dest` must be an empty regular file
/// open for writing on the same filesystem.
#[cfg(target_os = "linux")]
pub(crate) fn reflink(src: &File, dest: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
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
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let b = CString::new(b.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
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
