//! dx's inode numbering: derived from the layout and the archives, so it is stable across
//! requests and across live reloads without any table for the read-only tree.
//!
//! - `slot + 1` for a layout node (the root, slot 0, is FUSE's inode 1);
//! - bit 63 | slot << 32 | entry index for a file or directory inside a package's archive
//!   (entry 0, the package root, is the layout node itself);
//! - bit 62 | counter for what exists only in the writable layer, and a path override for
//!   read-only inodes that were renamed (their number no longer says where they are).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::layout::Slot;

const ENTRY_BIT: u64 = 1 << 63;
const DYNAMIC_BIT: u64 = 1 << 62;

/// Where an inode number points in the read-only tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LowerIno {
    /// A layout node.
    Layout(Slot),
    /// An entry of the package archive of a layout slot.
    Entry(Slot, u32),
}

impl LowerIno {
    pub fn encode(self) -> u64 {
        match self {
            LowerIno::Layout(slot) => u64::from(slot) + 1,
            LowerIno::Entry(slot, 0) => u64::from(slot) + 1,
            LowerIno::Entry(slot, index) => ENTRY_BIT | (u64::from(slot) << 32) | u64::from(index),
        }
    }

    pub fn decode(ino: u64) -> Option<LowerIno> {
        if ino & ENTRY_BIT != 0 {
            let slot = ((ino & !ENTRY_BIT) >> 32) as Slot;
            Some(LowerIno::Entry(slot, ino as u32))
        } else if ino & DYNAMIC_BIT != 0 || ino == 0 {
            None
        } else {
            Slot::try_from(ino - 1).ok().map(LowerIno::Layout)
        }
    }
}

#[derive(Debug, Default)]
struct PathTable {
    by_ino: HashMap<u64, Arc<str>>,
    by_path: HashMap<Arc<str>, u64>,
    next: u64,
}

/// Inodes whose path is not implied by their number.
#[derive(Debug, Default)]
pub(crate) struct InodeTable {
    table: RwLock<PathTable>,
    used: AtomicBool,
}

impl InodeTable {
    /// The path of an inode tracked here.
    pub fn path_of(&self, ino: u64) -> Option<Arc<str>> {
        if !self.used.load(Ordering::Acquire) {
            return None;
        }
        self.read().by_ino.get(&ino).cloned()
    }

    /// The inode tracked for a path.
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        if !self.used.load(Ordering::Acquire) {
            return None;
        }
        self.read().by_path.get(path).copied()
    }

    /// A fresh inode for a path that exists only in the writable layer.
    pub fn allocate(&self, path: &str) -> u64 {
        let mut table = self.write();
        if let Some(&ino) = table.by_path.get(path) {
            return ino;
        }
        table.next += 1;
        let ino = DYNAMIC_BIT | table.next;
        let path: Arc<str> = path.into();
        table.by_ino.insert(ino, path.clone());
        table.by_path.insert(path, ino);
        self.used.store(true, Ordering::Release);
        ino
    }

    /// Forgets the path (it was deleted); the number is not reused.
    pub fn forget_path(&self, path: &str) {
        if !self.used.load(Ordering::Acquire) {
            return;
        }
        let mut table = self.write();
        if let Some(ino) = table.by_path.remove(path) {
            table.by_ino.remove(&ino);
        }
    }

    /// `ino` now lives at `to`, and every tracked path below `from` moves below `to`.
    pub fn rename(&self, ino: u64, from: &str, to: &str) {
        let mut table = self.write();
        if let Some(old) = table.by_path.remove(to) {
            table.by_ino.remove(&old);
        }
        let prefix = format!("{from}/");
        let moved: Vec<(Arc<str>, u64)> = table
            .by_path
            .iter()
            .filter(|(p, _)| &***p == from || p.starts_with(&prefix))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, moved_ino) in moved {
            table.by_path.remove(&old);
            let new: Arc<str> = format!("{to}{}", &old[from.len()..]).into();
            table.by_ino.insert(moved_ino, new.clone());
            table.by_path.insert(new, moved_ino);
        }
        let to: Arc<str> = to.into();
        table.by_ino.insert(ino, to.clone());
        table.by_path.insert(to, ino);
        self.used.store(true, Ordering::Release);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, PathTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, PathTable> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_inodes_round_trip_and_root_is_one() {
        assert_eq!(LowerIno::Layout(0).encode(), 1);
        for ino in [
            LowerIno::Layout(7),
            LowerIno::Entry(3, 9),
            LowerIno::Entry(u32::MAX >> 1, u32::MAX),
        ] {
            assert_eq!(LowerIno::decode(ino.encode()), Some(ino));
        }
        assert_eq!(LowerIno::Entry(5, 0).encode(), LowerIno::Layout(5).encode());
        assert_eq!(LowerIno::decode(DYNAMIC_BIT | 4), None);
    }

    #[test]
    fn renames_move_descendants() {
        let table = InodeTable::default();
        let dir = table.allocate("a");
        let file = table.allocate("a/f");
        table.rename(dir, "a", "b");
        assert_eq!(table.ino_of("b/f"), Some(file));
        assert_eq!(table.path_of(file).as_deref(), Some("b/f"));
        assert_eq!(table.ino_of("a"), None);
    }
}
