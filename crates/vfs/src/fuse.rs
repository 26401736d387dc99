//! The thin `fuser` adapter over [`NodeModulesTree`]: translates requests, tells the kernel to
//! cache everything, counts what reaches the daemon, and survives a panic in one request.
//!
//! Kernel caching, in order of what it saves:
//! - entry and attribute timeouts of a year, negative lookups answered as a zero-inode entry
//!   with the same timeout (cached negative dentries: node's resolver probes many missing
//!   files);
//! - `open`/`opendir`/`flush`/`getxattr`/`access` answered ENOSYS once, after which the kernel
//!   never sends them again and opens files in no-open mode, which keeps the page cache
//!   (FOPEN_KEEP_CACHE) and the directory cache (FOPEN_CACHE_DIR);
//! - FUSE_DO_READDIRPLUS (listings carry attributes: no lookup per entry), FUSE_CACHE_SYMLINKS,
//!   FUSE_PARALLEL_DIROPS.

use std::ffi::OsStr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::tree::write::SetAttr;
use crate::tree::{FsError, NodeAttr, NodeModulesTree, NodeType};

/// How long the kernel may trust an answer. The tree only changes through this daemon, which
/// invalidates explicitly (reload), so "forever" is right; a year keeps clear of overflow.
pub const CACHE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Counters of requests that reached the daemon, shared with whoever wants to measure.
#[derive(Debug, Default)]
pub struct RequestCounters {
    lookup: AtomicU64,
    negative_lookup: AtomicU64,
    getattr: AtomicU64,
    readdir: AtomicU64,
    read: AtomicU64,
    readlink: AtomicU64,
    open: AtomicU64,
    write: AtomicU64,
    other: AtomicU64,
    panics: AtomicU64,
}

/// A snapshot of [`RequestCounters`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestCounts {
    /// Lookups (positive and negative).
    pub lookup: u64,
    /// Lookups answered "does not exist".
    pub negative_lookup: u64,
    /// getattr.
    pub getattr: u64,
    /// readdir and readdirplus.
    pub readdir: u64,
    /// read.
    pub read: u64,
    /// readlink.
    pub readlink: u64,
    /// open and opendir (answered ENOSYS: should stay at most 2).
    pub open: u64,
    /// Every writing request.
    pub write: u64,
    /// Anything else (statfs, xattr, access, flush, ...).
    pub other: u64,
    /// Requests whose handler panicked (answered EIO).
    pub panics: u64,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.lookup
            + self.getattr
            + self.readdir
            + self.read
            + self.readlink
            + self.open
            + self.write
            + self.other
    }

    /// Requests since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            lookup: self.lookup - earlier.lookup,
            negative_lookup: self.negative_lookup - earlier.negative_lookup,
            getattr: self.getattr - earlier.getattr,
            readdir: self.readdir - earlier.readdir,
            read: self.read - earlier.read,
            readlink: self.readlink - earlier.readlink,
            open: self.open - earlier.open,
            write: self.write - earlier.write,
            other: self.other - earlier.other,
            panics: self.panics - earlier.panics,
        }
    }
}

impl RequestCounters {
    /// The current counts.
    pub fn snapshot(&self) -> RequestCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestCounts {
            lookup: get(&self.lookup),
            negative_lookup: get(&self.negative_lookup),
            getattr: get(&self.getattr),
            readdir: get(&self.readdir),
            read: get(&self.read),
            readlink: get(&self.readlink),
            open: get(&self.open),
            write: get(&self.write),
            other: get(&self.other),
            panics: get(&self.panics),
        }
    }
}

/// The `fuser::Filesystem` serving one [`NodeModulesTree`].
#[derive(Debug)]
pub struct FuseAdapter {
    tree: Arc<NodeModulesTree>,
    counters: Arc<RequestCounters>,
}

impl FuseAdapter {
    /// An adapter counting into `counters`.
    pub fn new(tree: Arc<NodeModulesTree>, counters: Arc<RequestCounters>) -> Self {
        FuseAdapter { tree, counters }
    }

    fn file_attr(&self, attr: &NodeAttr) -> FileAttr {
        let (uid, gid) = self.tree.owner();
        FileAttr {
            ino: INodeNo(attr.ino),
            size: attr.size,
            blocks: attr.size.div_ceil(512),
            atime: attr.mtime,
            mtime: attr.mtime,
            ctime: attr.mtime,
            crtime: attr.mtime,
            kind: match attr.kind {
                NodeType::File => FileType::RegularFile,
                NodeType::Dir => FileType::Directory,
                NodeType::Symlink => FileType::Symlink,
            },
            perm: attr.perm,
            nlink: 1,
            uid,
            gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// Runs a handler; a panic is logged and counted, and the reply (dropped unanswered while
    /// unwinding) goes out as EIO.
    fn guard(&self, op: &'static str, counter: &AtomicU64, f: impl FnOnce()) {
        counter.fetch_add(1, Ordering::Relaxed);
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            self.counters.panics.fetch_add(1, Ordering::Relaxed);
            log::error!("panic while answering {op}: answered EIO");
        }
    }

    fn entry(&self, reply: ReplyEntry, result: Result<NodeAttr, FsError>) {
        match result {
            Ok(attr) => reply.entry(&CACHE_TTL, &self.file_attr(&attr), Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }
}

fn errno(e: FsError) -> Errno {
    Errno::from_i32(e.0)
}

fn name_str(name: &OsStr) -> Result<&str, FsError> {
    name.to_str().ok_or(FsError::INVALID)
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        for flag in [
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_MAX_PAGES,
        ] {
            if config.add_capabilities(flag).is_err() {
                log::warn!("kernel lacks {flag:?}");
            }
        }
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.guard("lookup", &self.counters.lookup, || {
            let Some(name) = name.to_str() else {
                return reply.error(Errno::ENOENT);
            };
            match self.tree.lookup(parent.0, name) {
                Ok(Some(attr)) => reply.entry(&CACHE_TTL, &self.file_attr(&attr), Generation(0)),
                Ok(None) => {
                    self.counters
                        .negative_lookup
                        .fetch_add(1, Ordering::Relaxed);
                    // A zero inode with a timeout is a cached negative dentry.
                    let mut negative = self.file_attr(&NodeAttr {
                        ino: 0,
                        kind: NodeType::File,
                        size: 0,
                        perm: 0,
                        mtime: SystemTime::UNIX_EPOCH,
                    });
                    negative.ino = INodeNo(0);
                    reply.entry(&CACHE_TTL, &negative, Generation(0));
                }
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.guard("getattr", &self.counters.getattr, || {
            match self.tree.getattr(ino.0) {
                Ok(attr) => reply.attr(&CACHE_TTL, &self.file_attr(&attr)),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.guard("readlink", &self.counters.readlink, || {
            match self.tree.readlink(ino.0) {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        reply.error(Errno::ENOSYS);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.counters.other.fetch_add(1, Ordering::Relaxed);
        match self.tree.upper_statvfs() {
            Some(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                255,
                s.f_frsize as u32,
            ),
            None => reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.guard("read", &self.counters.read, || {
            let mut reply = Some(reply);
            let result = self.tree.read(ino.0, offset, size, |bytes| {
                if let Some(reply) = reply.take() {
                    reply.data(bytes);
                }
            });
            if let (Err(e), Some(reply)) = (result, reply.take()) {
                reply.error(errno(e));
            }
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.guard("readdir", &self.counters.readdir, || {
            let entries = match self.tree.readdir(ino.0) {
                Ok(entries) => entries,
                Err(e) => return reply.error(errno(e)),
            };
            let dots = [
                (ino.0, FileType::Directory, "."),
                (ino.0, FileType::Directory, ".."),
            ];
            let all = dots.into_iter().chain(entries.iter().map(|e| {
                let kind = self.file_attr(&e.attr).kind;
                (e.attr.ino, kind, e.name.as_str())
            }));
            for (i, (child, kind, name)) in all.enumerate().skip(offset as usize) {
                if reply.add(INodeNo(child), i as u64 + 1, kind, name) {
                    break;
                }
            }
            reply.ok();
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.guard("readdirplus", &self.counters.readdir, || {
            let (own, entries) = match (self.tree.getattr(ino.0), self.tree.readdir(ino.0)) {
                (Ok(own), Ok(entries)) => (own, entries),
                (Err(e), _) | (_, Err(e)) => return reply.error(errno(e)),
            };
            let dots = [(".", own), ("..", own)];
            let all = dots
                .into_iter()
                .chain(entries.iter().map(|e| (e.name.as_str(), e.attr)));
            for (i, (name, attr)) in all.enumerate().skip(offset as usize) {
                let attr = self.file_attr(&attr);
                if reply.add(
                    attr.ino,
                    i as u64 + 1,
                    name,
                    &CACHE_TTL,
                    &attr,
                    Generation(0),
                ) {
                    break;
                }
            }
            reply.ok();
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.guard("mkdir", &self.counters.write, || {
            let result =
                name_str(name).and_then(|name| self.tree.mkdir(parent.0, name, mode & !umask));
            self.entry(reply, result);
        });
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        self.guard("mknod", &self.counters.write, || {
            if mode & libc::S_IFMT != libc::S_IFREG {
                return reply.error(Errno::EPERM);
            }
            let result =
                name_str(name).and_then(|name| self.tree.create(parent.0, name, mode & !umask));
            self.entry(reply, result);
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        self.guard("create", &self.counters.write, || {
            match name_str(name).and_then(|name| self.tree.create(parent.0, name, mode & !umask)) {
                Ok(attr) => reply.created(
                    &CACHE_TTL,
                    &self.file_attr(&attr),
                    Generation(0),
                    FileHandle(0),
                    FopenFlags::FOPEN_KEEP_CACHE,
                ),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.guard("symlink", &self.counters.write, || {
            let result =
                name_str(link_name).and_then(|name| self.tree.symlink(parent.0, name, target));
            self.entry(reply, result);
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.guard("write", &self.counters.write, || {
            match self.tree.write(ino.0, offset, data) {
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.guard("setattr", &self.counters.write, || {
            let change = SetAttr {
                mode,
                size,
                atime: atime.map(time),
                mtime: mtime.map(time),
            };
            match self.tree.setattr(ino.0, change) {
                Ok(attr) => reply.attr(&CACHE_TTL, &self.file_attr(&attr)),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.guard("unlink", &self.counters.write, || {
            match name_str(name).and_then(|name| self.tree.unlink(parent.0, name)) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.guard("rmdir", &self.counters.write, || {
            match name_str(name).and_then(|name| self.tree.rmdir(parent.0, name)) {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(e)),
            }
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.guard("rename", &self.counters.write, || {
            if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
                return reply.error(Errno::EINVAL);
            }
            let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
            let result = name_str(name).and_then(|name| {
                let newname = name_str(newname)?;
                self.tree
                    .rename(parent.0, name, newparent.0, newname, no_replace)
            });
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(errno(e)),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_handler_is_caught_counted_and_the_next_request_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dx_store::Store::open(dir.path().join("store")).expect("store");
        let tree =
            NodeModulesTree::new(Vec::new(), store, &dir.path().join("overlay")).expect("tree");
        let counters = Arc::new(RequestCounters::default());
        let adapter = FuseAdapter::new(Arc::new(tree), counters.clone());
        adapter.guard("read", &counters.read, || panic!("injected failure"));
        let mut ran = false;
        adapter.guard("read", &counters.read, || ran = true);
        assert!(ran);
        let counts = counters.snapshot();
        assert_eq!((counts.panics, counts.read), (1, 2));
    }
}
