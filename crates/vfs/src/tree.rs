//! [`NodeModulesTree`]: dx's own filesystem interface over (layout + store archives + the
//! writable layer). Front ends (the FUSE adapter here, others later) translate their requests
//! into these calls and never look inside the formats themselves.
//!
//! Invariants:
//! - answering a request opens at most the one package archive it touches (lazily, once);
//! - the read-only tree is served with fixed attributes (mtime, uid, gid), so the kernel may
//!   cache every answer for as long as it likes;
//! - nothing here writes to the store: every change goes to the [`Overlay`].

pub mod write;

use std::borrow::Cow;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dx_formats::dxp::{Compression, EntryKind, EntryRef, PackageArchive};
use dx_store::Store;

use crate::archives::{ArchiveSet, DecodedCache, LoadedArchive};
use crate::error::VfsError;
use crate::inode::{InodeTable, LowerIno};
use crate::layout::{LayoutChanges, LayoutRow, LayoutRowKind, LayoutSlot, LayoutTable, Slot};
use crate::overlay::Overlay;

/// The mtime of every read-only file: npm's own normalized tarball time
/// (1985-10-26T08:15:00Z), so tools that compare mtimes see the same as a materialized tree.
pub const READ_ONLY_MTIME_SECS: u64 = 499_162_500;

/// Default byte budget of the decoded-file cache.
pub const DEFAULT_DECODED_CACHE_BYTES: usize = 4 << 20;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// The attributes of one node, as every front end needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAttr {
    /// dx's inode number (see [`crate::inode`]).
    pub ino: u64,
    /// File, directory or symlink.
    pub kind: NodeType,
    /// Size in bytes (a symlink's is its target's length).
    pub size: u64,
    /// Permission bits (0o644, 0o755, 0o777 for symlinks).
    pub perm: u16,
    /// Modification time.
    pub mtime: SystemTime,
}

/// One directory entry with its attributes (readdirplus-style, so the kernel needs no lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: String,
    /// Its attributes.
    pub attr: NodeAttr,
}

/// A failed filesystem request, as the errno the front end answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsError(pub i32);

impl FsError {
    /// No such file or directory.
    pub const NOT_FOUND: FsError = FsError(libc::ENOENT);
    /// Input/output error (a corrupt archive, a missing package).
    pub const IO: FsError = FsError(libc::EIO);
    /// Not a directory.
    pub const NOT_DIR: FsError = FsError(libc::ENOTDIR);
    /// Is a directory.
    pub const IS_DIR: FsError = FsError(libc::EISDIR);
    /// Invalid argument.
    pub const INVALID: FsError = FsError(libc::EINVAL);
    /// File exists.
    pub const EXISTS: FsError = FsError(libc::EEXIST);
    /// Directory not empty.
    pub const NOT_EMPTY: FsError = FsError(libc::ENOTEMPTY);
    /// Cross-device link: renaming a read-only directory (tools fall back to copy + delete,
    /// as with overlayfs).
    pub const CROSS_DEVICE: FsError = FsError(libc::EXDEV);
    /// Operation not permitted.
    pub const NOT_PERMITTED: FsError = FsError(libc::EPERM);
}

impl From<std::io::Error> for FsError {
    fn from(e: std::io::Error) -> Self {
        FsError(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

/// Where a resolved node's content comes from.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub ino: u64,
    pub path: String,
    pub lower: Option<LowerIno>,
    pub upper: bool,
}

/// The virtual node_modules of one project.
#[derive(Debug)]
pub struct NodeModulesTree {
    layout: RwLock<Arc<LayoutTable>>,
    archives: ArchiveSet,
    decoded: DecodedCache,
    overlay: Overlay,
    inodes: InodeTable,
    write_lock: Mutex<()>,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
    decoded_reads: AtomicU64,
}

/// What a reload changed, as inode numbers the front end must invalidate in kernel caches.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadChanges {
    /// (parent inode, name) of directory entries that changed, appeared or disappeared.
    pub entries: Vec<(u64, String)>,
    /// Directories whose listing changed.
    pub listings: Vec<u64>,
}

impl NodeModulesTree {
    /// A tree over `rows` (see [`crate::layout::rows_from_dxl`]) whose packages come from
    /// `store` and whose writes go to the overlay in `overlay_dir`. Reads no package archive.
    pub fn new(rows: Vec<LayoutRow>, store: Store, overlay_dir: &Path) -> Result<Self, VfsError> {
        let (table, _) = LayoutTable::build(rows, None);
        let overlay = Overlay::open(overlay_dir)?;
        // SAFETY: geteuid/getegid have no preconditions and cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Ok(NodeModulesTree {
            layout: RwLock::new(Arc::new(table)),
            archives: ArchiveSet::new(store),
            decoded: DecodedCache::new(DEFAULT_DECODED_CACHE_BYTES),
            overlay,
            inodes: InodeTable::default(),
            write_lock: Mutex::new(()),
            uid,
            gid,
            mtime: UNIX_EPOCH + Duration::from_secs(READ_ONLY_MTIME_SECS),
            decoded_reads: AtomicU64::new(0),
        })
    }

    /// The owner every node reports (the mounting user).
    pub fn owner(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    /// Swaps in a new layout. Unchanged paths keep their inodes; replaced ones keep serving
    /// their old content to whoever still holds them open.
    pub fn reload(&self, rows: Vec<LayoutRow>) -> ReloadChanges {
        let _writes = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.layout();
        let (table, changes) = LayoutTable::build(rows, Some(&old));
        *self.layout.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
        let LayoutChanges { entries, listings } = changes;
        ReloadChanges {
            entries: entries
                .into_iter()
                .map(|(slot, name)| (LowerIno::Layout(slot).encode(), name))
                .collect(),
            listings: listings
                .into_iter()
                .map(|slot| LowerIno::Layout(slot).encode())
                .collect(),
        }
    }

    /// How many package archives have been mapped so far (the daemon maps lazily).
    pub fn mapped_archives(&self) -> usize {
        self.archives.mapped_count()
    }

    /// How many reads needed decompression (cache misses included).
    pub fn decoded_reads(&self) -> u64 {
        self.decoded_reads.load(Ordering::Relaxed)
    }

    pub(crate) fn layout(&self) -> Arc<LayoutTable> {
        self.layout
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn loaded(&self, slot: &LayoutSlot) -> Result<Arc<LoadedArchive>, FsError> {
        if let Some(found) = slot.archive.get() {
            return Ok(found.clone());
        }
        let LayoutRowKind::Package {
            content_hash,
            label,
        } = &slot.kind
        else {
            return Err(FsError::IO);
        };
        let loaded = self.archives.load(content_hash, label).map_err(|e| {
            log::error!("{e}");
            FsError::IO
        })?;
        Ok(slot.archive.get_or_init(|| loaded).clone())
    }

    /// The archive directory whose files a layout node shows besides its layout children: a
    /// package's root entry; for a directory inside a package (`xo/node_modules`), the
    /// package's own directory at that place, if its archive has one (bundled dependencies:
    /// npm ships them in the tarball's `node_modules`), found once per slot. Layout children
    /// win over archive entries of the same name, as in the materialized tree.
    fn archive_dir(&self, layout: &LayoutTable, slot: Slot) -> Result<Option<LowerIno>, FsError> {
        let Some(node) = layout.slot(slot) else {
            return Ok(None);
        };
        match node.kind {
            LayoutRowKind::Package { .. } => return Ok(Some(LowerIno::Entry(slot, 0))),
            LayoutRowKind::Symlink(_) => return Ok(None),
            LayoutRowKind::Dir => {}
        }
        let Some(owner) = node.owner else {
            return Ok(None);
        };
        if let Some(found) = node.backing.get() {
            return Ok(found.map(|index| LowerIno::Entry(owner, index)));
        }
        let package = layout.slot(owner).ok_or(FsError::NOT_FOUND)?;
        let relative = node
            .path
            .strip_prefix(&*package.path)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or(FsError::IO)?;
        let loaded = self.loaded(package)?;
        self.archives.note_served(4096);
        let archive = loaded.archive().ok_or(FsError::IO)?;
        let found = archive
            .get(relative)
            .filter(|entry| entry.kind() == EntryKind::Dir)
            .map(|entry| entry.index());
        Ok(node
            .backing
            .get_or_init(|| found)
            .map(|index| LowerIno::Entry(owner, index)))
    }

    /// Runs `f` on the archive entry behind a package inode.
    fn with_entry<R>(
        &self,
        layout: &LayoutTable,
        slot: Slot,
        index: u32,
        f: impl FnOnce(&PackageArchive<'_>, EntryRef<'_>) -> Result<R, FsError>,
    ) -> Result<R, FsError> {
        let slot = layout.slot(slot).ok_or(FsError::NOT_FOUND)?;
        let loaded = self.loaded(slot)?;
        // Metadata reads touch the mapping too (header, tables, path strings): count a page,
        // so the periodic release also bounds what lookups and listings map in.
        self.archives.note_served(4096);
        let archive = loaded.archive().ok_or(FsError::IO)?;
        let entry = archive.entry(index).map_err(|e| {
            log::error!("package at {}: {e}", slot.path);
            FsError::IO
        })?;
        f(&archive, entry)
    }

    fn lower_path(&self, layout: &LayoutTable, lower: LowerIno) -> Result<String, FsError> {
        match lower {
            LowerIno::Layout(slot) => Ok(layout
                .slot(slot)
                .ok_or(FsError::NOT_FOUND)?
                .path
                .to_string()),
            LowerIno::Entry(slot, index) => {
                let base = layout.slot(slot).ok_or(FsError::NOT_FOUND)?.path.clone();
                self.with_entry(layout, slot, index, |_, entry| {
                    Ok(join(&base, entry.path()))
                })
            }
        }
    }

    /// The read-only child `name` of a read-only directory.
    fn lower_child(
        &self,
        layout: &LayoutTable,
        parent: LowerIno,
        name: &str,
    ) -> Result<Option<LowerIno>, FsError> {
        match parent {
            LowerIno::Layout(slot) => {
                if let Some(child) = layout.child(slot, name) {
                    return Ok(Some(LowerIno::Layout(child)));
                }
                match self.archive_dir(layout, slot)? {
                    Some(dir) => self.lower_child(layout, dir, name),
                    None => Ok(None),
                }
            }
            LowerIno::Entry(slot, index) => {
                self.with_entry(layout, slot, index, |archive, entry| {
                    if entry.kind() != EntryKind::Dir {
                        return Ok(None);
                    }
                    Ok(archive
                        .child(&entry, name)
                        .map(|c| LowerIno::Entry(slot, c.index())))
                })
            }
        }
    }

    fn lower_attr(
        &self,
        layout: &LayoutTable,
        lower: LowerIno,
        ino: u64,
    ) -> Result<NodeAttr, FsError> {
        let (kind, size, perm) = match lower {
            LowerIno::Layout(slot) => match &layout.slot(slot).ok_or(FsError::NOT_FOUND)?.kind {
                LayoutRowKind::Dir | LayoutRowKind::Package { .. } => (NodeType::Dir, 4096, 0o755),
                LayoutRowKind::Symlink(target) => (NodeType::Symlink, target.len() as u64, 0o777),
            },
            LowerIno::Entry(slot, index) => self.with_entry(layout, slot, index, |_, entry| {
                Ok(match entry.kind() {
                    EntryKind::Dir => (NodeType::Dir, 4096, 0o755),
                    EntryKind::File => {
                        (NodeType::File, entry.size(), (entry.mode() & 0o7777) as u16)
                    }
                })
            })?,
        };
        Ok(NodeAttr {
            ino,
            kind,
            size,
            perm,
            mtime: self.mtime,
        })
    }

    fn upper_attr(&self, path: &str, ino: u64) -> Result<NodeAttr, FsError> {
        let meta = fs::symlink_metadata(self.overlay.upper_path(path))?;
        let kind = if meta.is_dir() {
            NodeType::Dir
        } else if meta.file_type().is_symlink() {
            NodeType::Symlink
        } else {
            NodeType::File
        };
        Ok(NodeAttr {
            ino,
            kind,
            size: if kind == NodeType::Dir {
                4096
            } else {
                meta.len()
            },
            perm: (meta.permissions().mode() & 0o7777) as u16,
            mtime: UNIX_EPOCH
                + Duration::new(
                    meta.mtime().max(0) as u64,
                    meta.mtime_nsec().clamp(0, 999_999_999) as u32,
                ),
        })
    }

    fn attr_of(&self, layout: &LayoutTable, node: &Node) -> Result<NodeAttr, FsError> {
        if node.upper {
            self.upper_attr(&node.path, node.ino)
        } else if let Some(lower) = node.lower {
            self.lower_attr(layout, lower, node.ino)
        } else {
            Err(FsError::NOT_FOUND)
        }
    }

    /// Resolves a node_modules path from the root (for inodes whose number is not their place).
    fn resolve_path(&self, layout: &LayoutTable, ino: u64, path: &str) -> Result<Node, FsError> {
        let mut lower = Some(LowerIno::Layout(0));
        if !path.is_empty() {
            for name in path.split('/') {
                lower = match lower {
                    Some(parent) => self.lower_child(layout, parent, name)?,
                    None => break,
                };
            }
        }
        let lower = if self.overlay.hides_lower(path) {
            None
        } else {
            lower
        };
        let upper = self.overlay.has_upper(path);
        if lower.is_none() && !upper {
            return Err(FsError::NOT_FOUND);
        }
        Ok(Node {
            ino,
            path: path.to_owned(),
            lower,
            upper,
        })
    }

    pub(crate) fn resolve(&self, layout: &LayoutTable, ino: u64) -> Result<Node, FsError> {
        if let Some(path) = self.inodes.path_of(ino) {
            return self.resolve_path(layout, ino, &path);
        }
        let lower = LowerIno::decode(ino).ok_or(FsError::NOT_FOUND)?;
        if self.overlay.is_empty() {
            return Ok(Node {
                ino,
                path: String::new(),
                lower: Some(lower),
                upper: false,
            });
        }
        let path = self.lower_path(layout, lower)?;
        let upper = self.overlay.has_upper(&path);
        let lower = if self.overlay.hides_lower(&path) {
            None
        } else {
            Some(lower)
        };
        if lower.is_none() && !upper {
            return Err(FsError::NOT_FOUND);
        }
        Ok(Node {
            ino,
            path,
            lower,
            upper,
        })
    }

    /// The path of a node, computing it when the fast path skipped it.
    fn node_path(&self, layout: &LayoutTable, node: &Node) -> Result<String, FsError> {
        if node.ino == 1 || !node.path.is_empty() {
            return Ok(node.path.clone());
        }
        match node.lower {
            Some(lower) => self.lower_path(layout, lower),
            None => Ok(node.path.clone()),
        }
    }

    fn child_node(
        &self,
        layout: &LayoutTable,
        parent: &Node,
        name: &str,
    ) -> Result<Option<Node>, FsError> {
        if self.overlay.is_empty() {
            let Some(parent_lower) = parent.lower else {
                return Ok(None);
            };
            return Ok(self
                .lower_child(layout, parent_lower, name)?
                .map(|lower| Node {
                    ino: lower.encode(),
                    path: String::new(),
                    lower: Some(lower),
                    upper: false,
                }));
        }
        let parent_path = self.node_path(layout, parent)?;
        let path = join(&parent_path, name);
        let upper = self.overlay.has_upper(&path);
        let lower = match parent.lower {
            Some(parent_lower) if !self.overlay.hides_lower(&path) => {
                self.lower_child(layout, parent_lower, name)?
            }
            _ => None,
        };
        if !upper && lower.is_none() {
            return Ok(None);
        }
        let ino = match (self.inodes.ino_of(&path), lower) {
            (Some(ino), _) => ino,
            (None, Some(lower)) => lower.encode(),
            (None, None) => self.inodes.allocate(&path),
        };
        Ok(Some(Node {
            ino,
            path,
            lower,
            upper,
        }))
    }

    /// Looks `name` up in directory `parent`: `Ok(None)` is a (cacheable) negative answer.
    pub fn lookup(&self, parent: u64, name: &str) -> Result<Option<NodeAttr>, FsError> {
        let layout = self.layout();
        let parent = self.resolve(&layout, parent)?;
        match self.child_node(&layout, &parent, name)? {
            Some(child) => self.attr_of(&layout, &child).map(Some),
            None => Ok(None),
        }
    }

    /// The attributes of an inode.
    pub fn getattr(&self, ino: u64) -> Result<NodeAttr, FsError> {
        let layout = self.layout();
        let node = self.resolve(&layout, ino)?;
        self.attr_of(&layout, &node)
    }

    /// The target of a symlink.
    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, FsError> {
        let layout = self.layout();
        let node = self.resolve(&layout, ino)?;
        if node.upper {
            use std::os::unix::ffi::OsStringExt;
            return Ok(fs::read_link(self.overlay.upper_path(&node.path))?
                .into_os_string()
                .into_vec());
        }
        match node.lower {
            Some(LowerIno::Layout(slot)) => {
                match &layout.slot(slot).ok_or(FsError::NOT_FOUND)?.kind {
                    LayoutRowKind::Symlink(target) => Ok(target.as_bytes().to_vec()),
                    _ => Err(FsError::INVALID),
                }
            }
            _ => Err(FsError::INVALID),
        }
    }

    /// Every entry of a directory (without `.` and `..`), sorted by name, with attributes.
    pub fn readdir(&self, ino: u64) -> Result<Vec<DirEntry>, FsError> {
        let layout = self.layout();
        let node = self.resolve(&layout, ino)?;
        let mut names: Vec<String> = Vec::new();
        if let Some(lower) = node.lower {
            self.lower_names(&layout, lower, &mut names)?;
        }
        if node.upper {
            names.extend(self.overlay.upper_children(&node.path));
        } else if node.ino == 1 {
            names.extend(self.overlay.upper_children(""));
        }
        names.sort_unstable();
        names.dedup();
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            if let Some(child) = self.child_node(&layout, &node, &name)? {
                entries.push(DirEntry {
                    attr: self.attr_of(&layout, &child)?,
                    name,
                });
            }
        }
        Ok(entries)
    }

    fn lower_names(
        &self,
        layout: &LayoutTable,
        lower: LowerIno,
        out: &mut Vec<String>,
    ) -> Result<(), FsError> {
        match lower {
            LowerIno::Layout(slot) => {
                out.extend(
                    layout
                        .children(slot)
                        .iter()
                        .map(|(name, _)| name.to_string()),
                );
                if let Some(dir) = self.archive_dir(layout, slot)? {
                    self.lower_names(layout, dir, out)?;
                }
                Ok(())
            }
            LowerIno::Entry(slot, index) => {
                self.with_entry(layout, slot, index, |archive, entry| {
                    if entry.kind() != EntryKind::Dir {
                        return Err(FsError::NOT_DIR);
                    }
                    let children = archive.children(&entry).map_err(|_| FsError::IO)?;
                    out.extend(children.map(|c| c.name().to_owned()));
                    Ok(())
                })
            }
        }
    }

    /// Reads up to `size` bytes at `offset` and hands them to `reply` (borrowed straight from
    /// the archive mapping when the entry is stored raw).
    pub fn read<R>(
        &self,
        ino: u64,
        offset: u64,
        size: u32,
        reply: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, FsError> {
        let layout = self.layout();
        let node = self.resolve(&layout, ino)?;
        if node.upper {
            let file = fs::File::open(self.overlay.upper_path(&node.path))?;
            let mut buf = vec![0u8; size as usize];
            let mut filled = 0;
            while filled < buf.len() {
                let n = file.read_at(&mut buf[filled..], offset + filled as u64)?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            return Ok(reply(&buf[..filled]));
        }
        let Some(LowerIno::Entry(slot, index)) = node.lower else {
            return Err(FsError::IS_DIR);
        };
        if let Some(cached) = self.decoded.get(ino) {
            if offset + u64::from(size) >= cached.len() as u64 {
                self.decoded.release_large(ino);
            }
            return Ok(reply(window(&cached, offset, size)));
        }
        self.with_entry(&layout, slot, index, |archive, entry| {
            if entry.kind() != EntryKind::File {
                return Err(FsError::IS_DIR);
            }
            let stored = entry.stored_size() as usize;
            if entry.compression() == Compression::Raw {
                let bytes = archive.read(&entry).map_err(|_| FsError::IO)?;
                let out = reply(window(&bytes, offset, size));
                self.archives.note_served(size.min(stored as u32) as usize);
                return Ok(out);
            }
            self.archives.note_served(stored);
            self.decoded_reads.fetch_add(1, Ordering::Relaxed);
            let bytes = archive.read(&entry).map_err(|e| {
                log::error!("decoding {}: {e}", entry.path());
                FsError::IO
            })?;
            let whole_in_one = offset == 0 && u64::from(size) >= entry.size();
            let out = reply(window(&bytes, offset, size));
            if !whole_in_one {
                let owned: Arc<[u8]> = match bytes {
                    Cow::Owned(v) => v.into(),
                    Cow::Borrowed(b) => b.into(),
                };
                self.decoded.insert(ino, owned);
            }
            Ok(out)
        })
    }

    /// Filesystem totals of the writable layer (for statfs).
    pub fn upper_statvfs(&self) -> Option<libc::statvfs> {
        use std::os::unix::ffi::OsStrExt;
        let path = self.overlay.upper_path("");
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `c` is a valid NUL-terminated path and `out` is a properly sized buffer the
        // call fills on success; we read it only then.
        let rc = unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) };
        // SAFETY: statvfs returned 0, so it initialized `out`.
        (rc == 0).then(|| unsafe { out.assume_init() })
    }
}

fn window(bytes: &[u8], offset: u64, size: u32) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let end = start.saturating_add(size as usize).min(bytes.len());
    &bytes[start..end]
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else if name.is_empty() {
        base.to_owned()
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests;
