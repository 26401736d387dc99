//! Placing one file with the current link mode, and stepping down when the mode stops working.
//!
//! The mode is shared by every placing thread. When a placement fails with an error that the
//! next mode avoids (EXDEV, EPERM, EOPNOTSUPP, quota), the first thread to see it moves the
//! shared mode down one step and records why; that thread and every other one then carry on
//! with the new mode. Files already placed stay: each was placed whole (a failed reflink removes
//! the file it created), so no restart is needed and the tree is complete either way.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::LinkMode;
use crate::error::LinkError;
use crate::sys::{self, At};

/// Mode of a placed regular file: read-only, so an edit in `node_modules` fails loudly instead
/// of writing through a hardlink into the store (and so every mode behaves the same).
pub(crate) const FILE_MODE: u32 = 0o444;
/// Mode of a placed executable.
pub(crate) const EXECUTABLE_MODE: u32 = 0o555;

/// A failure injected for tests: the `at_attempt`-th placement attempt of the install (1-based,
/// counted across threads and modes) fails with the OS error `errno` before touching the disk.
///
/// With `libc::EXDEV` this exercises a step-down midway; with `libc::EIO` a fatal error midway
/// (the old `node_modules` must survive it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InjectedFailure {
    /// Which attempt fails (1 = the first file).
    pub at_attempt: u64,
    /// The raw OS error it fails with.
    pub errno: i32,
}

/// What [`Placer::place`] needs to know about a file besides where it goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileInfo {
    /// Whether it gets the executable mode.
    pub(crate) executable: bool,
    /// Its size, for the report's byte count.
    pub(crate) size: u64,
}

/// Shared state of one install's file placement.
pub(crate) struct Placer {
    mode: AtomicU8,
    step_down: Mutex<Option<String>>,
    injected: Option<InjectedFailure>,
    attempts: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
}

impl Placer {
    /// Starts placing with `mode`, which must be concrete (not [`LinkMode::Auto`]).
    pub(crate) fn new(mode: LinkMode, injected: Option<InjectedFailure>) -> Placer {
        Placer {
            mode: AtomicU8::new(mode.code()),
            step_down: Mutex::new(None),
            injected,
            attempts: AtomicU64::new(0),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// The mode new placements use.
    pub(crate) fn current(&self) -> LinkMode {
        LinkMode::from_code(self.mode.load(Ordering::Acquire))
    }

    /// The first step-down's message, if any.
    pub(crate) fn step_down_reason(&self) -> Option<String> {
        self.step_down
            .lock()
            .map(|reason| reason.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Files placed and their total size.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.files.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// Moves straight to copy (when the store cannot provide unpacked files at all).
    pub(crate) fn force_copy(&self, reason: impl FnOnce(LinkMode) -> String) {
        let previous =
            LinkMode::from_code(self.mode.fetch_max(LinkMode::Copy.code(), Ordering::AcqRel));
        if previous != LinkMode::Copy {
            self.record(reason(previous));
        }
    }

    /// Places the file `dest`, from `unpacked` (the store's read-only copy, for reflink and
    /// hardlink) or from `contents` (the archive's bytes, for copy). `shown` is the directory
    /// `dest` is relative to, as a path for messages.
    pub(crate) fn place<'c>(
        &self,
        dest: At<'_>,
        unpacked: Option<At<'_>>,
        file: FileInfo,
        shown: &Path,
        contents: &dyn Fn() -> Result<Cow<'c, [u8]>, LinkError>,
    ) -> Result<(), LinkError> {
        let perm = if file.executable {
            EXECUTABLE_MODE
        } else {
            FILE_MODE
        };
        loop {
            let mode = self.current();
            let source = match (mode, unpacked) {
                (LinkMode::Reflink | LinkMode::Hardlink, Some(source)) => Some(source),
                (LinkMode::Reflink | LinkMode::Hardlink, None) => {
                    self.force_copy(|from| format!("{from} needs the store's unpacked files, which are unavailable; using copy"));
                    continue;
                }
                _ => None,
            };
            let result = match (self.injected_failure(), mode, source) {
                (Err(injected), _, _) => Err(injected),
                (Ok(()), LinkMode::Reflink, Some(source)) => reflink_file(source, dest, perm),
                (Ok(()), LinkMode::Hardlink, Some(source)) => sys::link_at(source, dest),
                (Ok(()), _, _) => copy_file(dest, perm, shown, contents).map(|()| Ok(()))?,
            };
            match result {
                Ok(()) => {
                    self.count(file.size);
                    return Ok(());
                }
                // One store file with too many links: copy just this one, keep hardlinking.
                Err(e) if mode == LinkMode::Hardlink && e.raw_os_error() == Some(libc::EMLINK) => {
                    copy_file(dest, perm, shown, contents)?;
                    self.count(file.size);
                    return Ok(());
                }
                Err(e) if steps_down(mode, &e) => {
                    self.step_down(mode, &shown.join(dest.name_path()), &e);
                }
                Err(e) => {
                    return Err(LinkError::io(mode.action(), shown.join(dest.name_path()))(
                        e,
                    ));
                }
            }
        }
    }

    fn count(&self, size: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Counts an attempt and fails it if it is the injected one.
    fn injected_failure(&self) -> io::Result<()> {
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed) + 1;
        match self.injected {
            Some(injected) if injected.at_attempt == attempt => {
                Err(io::Error::from_raw_os_error(injected.errno))
            }
            _ => Ok(()),
        }
    }

    /// Moves from `from` to the next mode, unless another thread already moved on.
    fn step_down(&self, from: LinkMode, dest: &Path, error: &io::Error) {
        let Some(to) = from.next() else { return };
        if self
            .mode
            .compare_exchange(from.code(), to.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.record(step_down_message(from, to, dest, error));
        }
    }

    fn record(&self, message: String) {
        let mut slot = self
            .step_down
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.as_mut() {
            Some(first) => {
                first.push_str("; then ");
                first.push_str(&message);
            }
            None => *slot = Some(message),
        }
    }
}

impl LinkMode {
    /// What a failed placement was doing, for error messages.
    fn action(self) -> &'static str {
        match self {
            LinkMode::Reflink => "reflink",
            LinkMode::Hardlink => "hardlink",
            LinkMode::Copy | LinkMode::Auto => "copy",
        }
    }
}

/// Whether `error` from `mode` is one the next mode may avoid.
fn steps_down(mode: LinkMode, error: &io::Error) -> bool {
    if error.kind() == io::ErrorKind::Unsupported {
        return mode != LinkMode::Copy;
    }
    let Some(code) = error.raw_os_error() else {
        return false;
    };
    match mode {
        LinkMode::Reflink => [
            libc::EOPNOTSUPP,
            libc::ENOTSUP,
            libc::EXDEV,
            libc::EINVAL,
            libc::ENOTTY,
            libc::EPERM,
            libc::EACCES,
            libc::ENOSYS,
            libc::EBADF,
            libc::ENOSPC,
            libc::EDQUOT,
        ]
        .contains(&code),
        LinkMode::Hardlink => [
            libc::EXDEV,
            libc::EPERM,
            libc::EACCES,
            libc::EOPNOTSUPP,
            libc::ENOSYS,
        ]
        .contains(&code),
        LinkMode::Copy | LinkMode::Auto => false,
    }
}

/// The one-line message shown when dx steps down: what failed, why, and the setting that avoids
/// the step (so the next install does not pay for the failed attempt).
pub(crate) fn step_down_message(
    from: LinkMode,
    to: LinkMode,
    dest: &Path,
    error: &io::Error,
) -> String {
    let hint = match error.raw_os_error() {
        Some(libc::EXDEV) => {
            "the store and node_modules are on different filesystems; put the store on the project's filesystem (DX_HOME)"
        }
        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOTTY | libc::ENOSYS) => {
            "the filesystem does not support it"
        }
        Some(libc::EPERM | libc::EACCES) => {
            "the filesystem or kernel policy (fs.protected_hardlinks) forbids it"
        }
        Some(libc::ENOSPC | libc::EDQUOT) => "out of space or over quota",
        _ => "it failed",
    };
    format!(
        "{from} failed at `{}` ({error}): {hint}; continued with {to} (pass --materialize={to} to avoid the attempt)",
        dest.display()
    )
}

/// Creates `dest` (read-only from birth: the creating descriptor can still write) and clones
/// `source` into it; on failure the empty file is removed so the next mode can create it.
fn reflink_file(source: At<'_>, dest: At<'_>, perm: u32) -> io::Result<()> {
    let source = sys::open_read_at(source)?;
    let target = sys::create_at(dest, perm)?;
    sys::reflink(&source, &target).inspect_err(|_| {
        drop(sys::unlink_at(dest));
    })
}

/// Writes the archive's bytes to a new read-only file.
fn copy_file<'c>(
    dest: At<'_>,
    perm: u32,
    shown: &Path,
    contents: &dyn Fn() -> Result<Cow<'c, [u8]>, LinkError>,
) -> Result<(), LinkError> {
    let bytes = contents()?;
    let path = || shown.join(dest.name_path());
    let mut file = sys::create_at(dest, perm).map_err(|e| LinkError::io("create", path())(e))?;
    file.write_all(&bytes)
        .map_err(|e| LinkError::io("write", path())(e))
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::fs;
    use std::os::fd::AsFd;

    use super::*;

    fn no_contents() -> Result<Cow<'static, [u8]>, LinkError> {
        Ok(Cow::Borrowed(b"copied"))
    }

    fn name(name: &str) -> CString {
        CString::new(name).expect("no NUL")
    }

    const PLAIN: FileInfo = FileInfo {
        executable: false,
        size: 6,
    };

    #[test]
    fn injected_exdev_steps_hardlink_down_to_copy_and_the_file_is_still_placed() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("source"), b"copied").expect("write source");
        let fd = sys::open_dir(dir.path()).expect("open dir");
        let source = name("source");
        let placer = Placer::new(
            LinkMode::Hardlink,
            Some(InjectedFailure {
                at_attempt: 2,
                errno: libc::EXDEV,
            }),
        );
        for file in ["a", "b", "c"] {
            let file = name(file);
            placer
                .place(
                    At::new(fd.as_fd(), &file),
                    Some(At::new(fd.as_fd(), &source)),
                    PLAIN,
                    dir.path(),
                    &no_contents,
                )
                .expect("place");
        }
        assert_eq!(placer.current(), LinkMode::Copy);
        let reason = placer.step_down_reason().expect("a step-down is recorded");
        assert!(
            reason.contains("hardlink failed") && reason.contains("different filesystems"),
            "{reason}"
        );
        assert!(
            reason.contains(&dir.path().join("b").display().to_string()),
            "{reason}"
        );
        for file in ["a", "b", "c"] {
            assert_eq!(fs::read(dir.path().join(file)).expect("read"), b"copied");
        }
        assert_eq!(placer.totals(), (3, 18));
    }

    #[test]
    fn a_fatal_error_is_returned_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = sys::open_dir(dir.path()).expect("open dir");
        let placer = Placer::new(
            LinkMode::Copy,
            Some(InjectedFailure {
                at_attempt: 1,
                errno: libc::EIO,
            }),
        );
        let file = name("x");
        let error = placer
            .place(
                At::new(fd.as_fd(), &file),
                None,
                PLAIN,
                dir.path(),
                &no_contents,
            )
            .expect_err("EIO is fatal");
        let shown = dir.path().join("x").display().to_string();
        assert!(error.to_string().contains(&shown), "{error}");
    }

    #[test]
    fn copies_are_read_only_and_keep_the_executable_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = sys::open_dir(dir.path()).expect("open dir");
        let placer = Placer::new(LinkMode::Copy, None);
        let (bin, lib) = (name("bin"), name("lib"));
        let executable = FileInfo {
            executable: true,
            size: 6,
        };
        placer
            .place(
                At::new(fd.as_fd(), &bin),
                None,
                executable,
                dir.path(),
                &no_contents,
            )
            .expect("place");
        placer
            .place(
                At::new(fd.as_fd(), &lib),
                None,
                PLAIN,
                dir.path(),
                &no_contents,
            )
            .expect("place");
        let mode = |name: &str| {
            fs::metadata(dir.path().join(name))
                .expect("stat")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("bin") & 0o222, 0);
        assert_ne!(mode("bin") & 0o111, 0);
        assert_eq!(mode("lib") & 0o333, 0);
    }

    #[test]
    fn hardlinks_share_the_inode_and_an_existing_target_is_an_error() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("source"), b"stored").expect("write source");
        fs::write(dir.path().join("taken"), b"other").expect("write");
        let fd = sys::open_dir(dir.path()).expect("open dir");
        let placer = Placer::new(LinkMode::Hardlink, None);
        let (source, linked, taken) = (name("source"), name("linked"), name("taken"));
        placer
            .place(
                At::new(fd.as_fd(), &linked),
                Some(At::new(fd.as_fd(), &source)),
                PLAIN,
                dir.path(),
                &no_contents,
            )
            .expect("place");
        let ino = |file: &str| fs::metadata(dir.path().join(file)).expect("stat").ino();
        assert_eq!(ino("linked"), ino("source"));
        let error = placer
            .place(
                At::new(fd.as_fd(), &taken),
                Some(At::new(fd.as_fd(), &source)),
                PLAIN,
                dir.path(),
                &no_contents,
            )
            .expect_err("EEXIST is neither success nor a reason to step down");
        assert!(error.to_string().contains("taken"), "{error}");
        assert_eq!(placer.current(), LinkMode::Hardlink);
        assert_eq!(fs::read(dir.path().join("taken")).expect("read"), b"other");
    }
}
