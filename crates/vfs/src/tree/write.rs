//! Writes: everything lands in the overlay's upper directory (copy-up on first write),
//! deletions of read-only nodes become whiteouts. Serialized by the tree's write lock.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::time::SystemTime;

use super::{FsError, Node, NodeAttr, NodeModulesTree, NodeType};
use crate::inode::LowerIno;
use crate::layout::{LayoutRowKind, LayoutTable};

/// The attribute changes a `setattr` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New size (truncate or extend).
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<SystemTime>,
    /// New modification time.
    pub mtime: Option<SystemTime>,
}

impl NodeModulesTree {
    fn locked(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn full_node(&self, layout: &LayoutTable, ino: u64) -> Result<Node, FsError> {
        let mut node = self.resolve(layout, ino)?;
        node.path = self.node_path(layout, &node)?;
        Ok(node)
    }

    fn existing_child(
        &self,
        layout: &LayoutTable,
        parent: &Node,
        name: &str,
    ) -> Result<Option<Node>, FsError> {
        check_name(name)?;
        let child = self.child_node(layout, parent, name)?;
        Ok(match child {
            Some(mut child) => {
                if child.path.is_empty() {
                    child.path = super::join(&parent.path, name);
                }
                Some(child)
            }
            None => None,
        })
    }

    fn kind_of(&self, layout: &LayoutTable, node: &Node) -> Result<NodeType, FsError> {
        Ok(self.attr_of(layout, node)?.kind)
    }

    /// Makes sure the directory `path` exists in the upper layer (copying up its ancestors).
    fn ensure_upper_dir(&self, layout: &LayoutTable, path: &str) -> Result<(), FsError> {
        if path.is_empty() || self.overlay.has_upper(path) {
            return Ok(());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.ensure_upper_dir(layout, parent)?;
        }
        let real = self.overlay.upper_path(path);
        match fs::create_dir(&real) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755))?;
        self.overlay.add_upper(path);
        let _ = layout;
        Ok(())
    }

    /// Copies a read-only node into the upper layer, keeping its inode number.
    fn copy_up(&self, layout: &LayoutTable, node: &Node) -> Result<(), FsError> {
        if node.upper {
            return Ok(());
        }
        let lower = node.lower.ok_or(FsError::NOT_FOUND)?;
        if let Some((parent, _)) = node.path.rsplit_once('/') {
            self.ensure_upper_dir(layout, parent)?;
        }
        let real = self.overlay.upper_path(&node.path);
        let attr = self.lower_attr(layout, lower, node.ino)?;
        match attr.kind {
            NodeType::Dir => {
                self.ensure_upper_dir(layout, &node.path)?;
                return Ok(());
            }
            NodeType::Symlink => {
                let LowerIno::Layout(slot) = lower else {
                    return Err(FsError::IO);
                };
                let Some(LayoutRowKind::Symlink(target)) = layout.slot(slot).map(|s| &s.kind)
                else {
                    return Err(FsError::IO);
                };
                std::os::unix::fs::symlink(target, &real)?;
            }
            NodeType::File => {
                let LowerIno::Entry(slot, index) = lower else {
                    return Err(FsError::IO);
                };
                let bytes = self.with_entry(layout, slot, index, |archive, entry| {
                    archive
                        .read(&entry)
                        .map(|b| b.into_owned())
                        .map_err(|_| FsError::IO)
                })?;
                let tmp =
                    real.with_file_name(format!(".dx-copyup-{}-{}", std::process::id(), node.ino));
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(u32::from(attr.perm))
                    .open(&tmp)?;
                file.write_all(&bytes)?;
                file.set_permissions(fs::Permissions::from_mode(u32::from(attr.perm)))?;
                drop(file);
                fs::rename(&tmp, &real)?;
            }
        }
        self.overlay.add_upper(&node.path);
        Ok(())
    }

    fn new_child(
        &self,
        parent: u64,
        name: &str,
        make: impl FnOnce(&std::path::Path) -> std::io::Result<()>,
    ) -> Result<NodeAttr, FsError> {
        let _writes = self.locked();
        let layout = self.layout();
        let parent = self.full_node(&layout, parent)?;
        if self.kind_of(&layout, &parent)? != NodeType::Dir {
            return Err(FsError::NOT_DIR);
        }
        if self.existing_child(&layout, &parent, name)?.is_some() {
            return Err(FsError::EXISTS);
        }
        self.ensure_upper_dir(&layout, &parent.path)?;
        let path = super::join(&parent.path, name);
        make(&self.overlay.upper_path(&path))?;
        self.overlay.add_upper(&path);
        self.inodes.forget_path(&path);
        let ino = self.inodes.allocate(&path);
        self.upper_attr(&path, ino)
    }

    /// Creates an empty regular file.
    pub fn create(&self, parent: u64, name: &str, mode: u32) -> Result<NodeAttr, FsError> {
        self.new_child(parent, name, |real| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o7777)
                .open(real)
                .map(drop)
        })
    }

    /// Creates a directory.
    pub fn mkdir(&self, parent: u64, name: &str, mode: u32) -> Result<NodeAttr, FsError> {
        self.new_child(parent, name, |real| {
            fs::create_dir(real)?;
            fs::set_permissions(real, fs::Permissions::from_mode(mode & 0o7777))
        })
    }

    /// Creates a symbolic link.
    pub fn symlink(
        &self,
        parent: u64,
        name: &str,
        target: &std::path::Path,
    ) -> Result<NodeAttr, FsError> {
        self.new_child(parent, name, |real| {
            std::os::unix::fs::symlink(target, real)
        })
    }

    /// Writes `data` at `offset`, copying the file up first if it is read-only.
    pub fn write(&self, ino: u64, offset: u64, data: &[u8]) -> Result<usize, FsError> {
        let _writes = self.locked();
        let layout = self.layout();
        let node = self.full_node(&layout, ino)?;
        if self.kind_of(&layout, &node)? != NodeType::File {
            return Err(FsError::IS_DIR);
        }
        self.copy_up(&layout, &node)?;
        let file = OpenOptions::new()
            .write(true)
            .open(self.overlay.upper_path(&node.path))?;
        file.write_all_at(data, offset)?;
        Ok(data.len())
    }

    /// Changes mode, size or times, copying the node up first if it is read-only.
    pub fn setattr(&self, ino: u64, change: SetAttr) -> Result<NodeAttr, FsError> {
        let _writes = self.locked();
        let layout = self.layout();
        let node = self.full_node(&layout, ino)?;
        if change.mode.is_none()
            && change.size.is_none()
            && change.atime.is_none()
            && change.mtime.is_none()
        {
            return self.attr_of(&layout, &node);
        }
        self.copy_up(&layout, &node)?;
        let real = self.overlay.upper_path(&node.path);
        if let Some(mode) = change.mode {
            fs::set_permissions(&real, fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if let Some(size) = change.size {
            OpenOptions::new().write(true).open(&real)?.set_len(size)?;
        }
        if change.atime.is_some() || change.mtime.is_some() {
            let file = fs::File::options()
                .write(true)
                .open(&real)
                .or_else(|_| fs::File::open(&real))?;
            let mut times = fs::FileTimes::new();
            if let Some(t) = change.atime {
                times = times.set_accessed(t);
            }
            if let Some(t) = change.mtime {
                times = times.set_modified(t);
            }
            file.set_times(times)?;
        }
        self.upper_attr(&node.path, node.ino)
    }

    fn remove(&self, parent: u64, name: &str, want_dir: bool) -> Result<(), FsError> {
        let _writes = self.locked();
        let layout = self.layout();
        let parent = self.full_node(&layout, parent)?;
        let child = self
            .existing_child(&layout, &parent, name)?
            .ok_or(FsError::NOT_FOUND)?;
        let is_dir = self.kind_of(&layout, &child)? == NodeType::Dir;
        match (want_dir, is_dir) {
            (true, false) => return Err(FsError::NOT_DIR),
            (false, true) => return Err(FsError::IS_DIR),
            _ => {}
        }
        if is_dir && !self.readdir(child.ino)?.is_empty() {
            return Err(FsError::NOT_EMPTY);
        }
        if child.lower.is_some() {
            self.overlay.add_whiteout(&child.path).map_err(|e| {
                log::error!("{e}");
                FsError::IO
            })?;
        }
        if child.upper {
            let real = self.overlay.upper_path(&child.path);
            if is_dir {
                fs::remove_dir_all(&real)?
            } else {
                fs::remove_file(&real)?
            }
            self.overlay.remove_upper(&child.path);
        }
        self.inodes.forget_path(&child.path);
        Ok(())
    }

    /// Removes a file or symlink.
    pub fn unlink(&self, parent: u64, name: &str) -> Result<(), FsError> {
        self.remove(parent, name, false)
    }

    /// Removes an empty directory.
    pub fn rmdir(&self, parent: u64, name: &str) -> Result<(), FsError> {
        self.remove(parent, name, true)
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing the target unless
    /// `no_replace`. Read-only directories cannot move (EXDEV, as overlayfs answers).
    pub fn rename(
        &self,
        parent: u64,
        name: &str,
        new_parent: u64,
        new_name: &str,
        no_replace: bool,
    ) -> Result<(), FsError> {
        let _writes = self.locked();
        let layout = self.layout();
        let parent = self.full_node(&layout, parent)?;
        let new_parent = self.full_node(&layout, new_parent)?;
        let src = self
            .existing_child(&layout, &parent, name)?
            .ok_or(FsError::NOT_FOUND)?;
        let src_kind = self.kind_of(&layout, &src)?;
        if src_kind == NodeType::Dir && src.lower.is_some() {
            return Err(FsError::CROSS_DEVICE);
        }
        let dst_path = super::join(&new_parent.path, new_name);
        if dst_path == src.path {
            return Ok(());
        }
        if dst_path.starts_with(&format!("{}/", src.path)) {
            return Err(FsError::INVALID);
        }
        if let Some(dst) = self.existing_child(&layout, &new_parent, new_name)? {
            if no_replace {
                return Err(FsError::EXISTS);
            }
            let dst_kind = self.kind_of(&layout, &dst)?;
            match (src_kind == NodeType::Dir, dst_kind == NodeType::Dir) {
                (true, false) => return Err(FsError::NOT_DIR),
                (false, true) => return Err(FsError::IS_DIR),
                (true, true) if !self.readdir(dst.ino)?.is_empty() => {
                    return Err(FsError::NOT_EMPTY);
                }
                _ => {}
            }
            if dst.lower.is_some() {
                self.overlay
                    .add_whiteout(&dst.path)
                    .map_err(|_| FsError::IO)?;
            }
            if dst.upper {
                let real = self.overlay.upper_path(&dst.path);
                if dst_kind == NodeType::Dir {
                    fs::remove_dir_all(&real)?
                } else {
                    fs::remove_file(&real)?
                }
                self.overlay.remove_upper(&dst.path);
            }
            self.inodes.forget_path(&dst.path);
        }
        self.copy_up(&layout, &src)?;
        self.ensure_upper_dir(&layout, &new_parent.path)?;
        fs::rename(
            self.overlay.upper_path(&src.path),
            self.overlay.upper_path(&dst_path),
        )?;
        self.overlay
            .rename_upper(&src.path, &dst_path)
            .map_err(|_| FsError::IO)?;
        if src.lower.is_some() {
            self.overlay
                .add_whiteout(&src.path)
                .map_err(|_| FsError::IO)?;
        }
        self.inodes.rename(src.ino, &src.path, &dst_path);
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), FsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(FsError::INVALID);
    }
    Ok(())
}
