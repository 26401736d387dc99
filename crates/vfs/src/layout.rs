//! The layout part of the tree: node_modules' directories, package roots and `.bin` links, as
//! the DXL describes them, held in slots that survive live reloads.
//!
//! Invariants:
//! - a slot number never changes meaning while the daemon lives: a reload keeps the slot of
//!   every path whose kind (and parent slot) is unchanged and appends new slots for the rest,
//!   so inode numbers of unchanged files stay valid and open files of replaced ones keep
//!   working (their slot is retired, not reused);
//! - slot 0 is the root (the node_modules directory itself, FUSE inode 1);
//! - building a table reads the layout only, never a package archive: archives are opened on
//!   first use (see [`crate::archives`]);
//! - a layout directory inside a package merges with the package's own directory at that
//!   place (npm's bundled dependencies under `<pkg>/node_modules`), layout children winning
//!   on a name both have, as the materialized tree does ([`LayoutSlot::owner`]).

mod dxl;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use dx_formats::hash::ContentHash;

use crate::archives::LoadedArchive;

pub use dxl::rows_from_dxl;

/// A layout slot number (index into [`LayoutTable`]'s slots).
pub(crate) type Slot = u32;

/// One node of a layout as the table builder takes it: the DXL reader produces these, and
/// tests or other front ends can build them directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRow {
    /// Path relative to node_modules, `/`-separated, no leading or trailing slash
    /// (`react`, `@babel/core`, `a/node_modules/b`, `.bin/tsc`).
    pub path: String,
    /// What sits at that path.
    pub kind: LayoutRowKind,
}

/// What a layout node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutRowKind {
    /// A directory that exists only in the layout (`@scope`, `.bin`, `pkg/node_modules`).
    Dir,
    /// A package root whose files come from the DXP archive with this content hash.
    Package {
        /// The archive in the store.
        content_hash: ContentHash,
        /// `name@version`, for error messages and logs.
        label: String,
    },
    /// A symbolic link (`.bin` entries) with a relative target.
    Symlink(String),
}

/// One slot: a layout node plus its lazily opened archive.
#[derive(Debug)]
pub(crate) struct LayoutSlot {
    /// Path relative to node_modules ("" for the root).
    pub path: Box<str>,
    /// The parent's slot (the root is its own parent).
    pub parent: Slot,
    /// What the node is.
    pub kind: LayoutRowKind,
    /// The package's archive, set on first lookup inside it (packages only).
    pub archive: OnceLock<Arc<LoadedArchive>>,
    /// For a directory inside a package (`xo/node_modules`, `xo/node_modules/@scope`): the
    /// slot of the nearest package above it, whose archive may hold a directory at the same
    /// place (files the package ships there, npm's bundled dependencies) that this directory
    /// merges with. `None` for everything else.
    pub owner: Option<Slot>,
    /// The index of that archive directory in the owner's archive (`None`: there is none),
    /// found on first use.
    pub backing: OnceLock<Option<u32>>,
}

impl LayoutSlot {
    /// The last path component ("" for the root).
    pub fn name(&self) -> &str {
        self.path
            .rsplit_once('/')
            .map_or(&*self.path, |(_, name)| name)
    }
}

/// An immutable snapshot of the layout; a reload builds a new one sharing the old slots.
#[derive(Debug, Default)]
pub(crate) struct LayoutTable {
    slots: Vec<Arc<LayoutSlot>>,
    live: HashMap<Box<str>, Slot>,
    children: HashMap<Slot, Vec<(Box<str>, Slot)>>,
}

/// What a reload changed, as the kernel invalidations it needs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LayoutChanges {
    /// Directory entries (parent slot, name) whose cached dentry (positive or negative) is
    /// now wrong.
    pub entries: Vec<(Slot, String)>,
    /// Directories whose listing changed.
    pub listings: Vec<Slot>,
}

impl LayoutTable {
    /// Builds a table from layout rows, reusing `previous`'s slots for unchanged paths.
    pub fn build(
        rows: Vec<LayoutRow>,
        previous: Option<&LayoutTable>,
    ) -> (LayoutTable, LayoutChanges) {
        // Sorted by path, every parent comes before its children; fill in missing ancestors.
        let mut by_path: BTreeMap<String, LayoutRowKind> = BTreeMap::new();
        for row in rows {
            let path = row.path.trim_matches('/').to_owned();
            if path.is_empty() {
                continue;
            }
            let mut ancestor = path.as_str();
            while let Some((parent, _)) = ancestor.rsplit_once('/') {
                by_path
                    .entry(parent.to_owned())
                    .or_insert(LayoutRowKind::Dir);
                ancestor = parent;
            }
            by_path.insert(path, row.kind);
        }

        let mut slots = previous.map(|p| p.slots.clone()).unwrap_or_default();
        let mut live: HashMap<Box<str>, Slot> = HashMap::with_capacity(by_path.len() + 1);
        let mut children: HashMap<Slot, Vec<(Box<str>, Slot)>> = HashMap::new();
        if slots.is_empty() {
            slots.push(Arc::new(LayoutSlot {
                path: "".into(),
                parent: 0,
                kind: LayoutRowKind::Dir,
                archive: OnceLock::new(),
                owner: None,
                backing: OnceLock::new(),
            }));
        }
        live.insert("".into(), 0);

        for (path, kind) in by_path {
            let (parent_path, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            // A parent is always inserted before its children (BTreeMap order, ancestors added).
            let Some(&parent) = live.get(parent_path) else {
                continue;
            };
            let reused = previous.and_then(|p| {
                let slot = *p.live.get(path.as_str())?;
                let old = p.slots.get(slot as usize)?;
                (old.kind == kind && old.parent == parent).then_some(slot)
            });
            let slot = match reused {
                Some(slot) => slot,
                None => {
                    // The owner follows from the parent chain, which a reused slot shares.
                    let above = &slots[parent as usize];
                    let owner = match (&kind, &above.kind) {
                        (LayoutRowKind::Dir, LayoutRowKind::Package { .. }) => Some(parent),
                        (LayoutRowKind::Dir, LayoutRowKind::Dir) => above.owner,
                        _ => None,
                    };
                    let slot = slots.len() as Slot;
                    slots.push(Arc::new(LayoutSlot {
                        path: path.as_str().into(),
                        parent,
                        kind,
                        archive: OnceLock::new(),
                        owner,
                        backing: OnceLock::new(),
                    }));
                    slot
                }
            };
            children
                .entry(parent)
                .or_default()
                .push((name.into(), slot));
            live.insert(path.into_boxed_str(), slot);
        }
        for list in children.values_mut() {
            list.sort_by(|a, b| a.0.cmp(&b.0));
        }

        let table = LayoutTable {
            slots,
            live,
            children,
        };
        let changes = previous.map(|p| table.changes_since(p)).unwrap_or_default();
        (table, changes)
    }

    fn changes_since(&self, old: &LayoutTable) -> LayoutChanges {
        let mut changes = LayoutChanges::default();
        for (path, &old_slot) in &old.live {
            if path.is_empty() || self.live.get(path) == Some(&old_slot) {
                continue;
            }
            let parent = old.slots[old_slot as usize].parent;
            let name = old.slots[old_slot as usize].name().to_owned();
            changes.entries.push((parent, name));
        }
        let old_slots: HashSet<Slot> = old.live.values().copied().collect();
        for (path, &slot) in &self.live {
            if path.is_empty() || old_slots.contains(&slot) {
                continue;
            }
            let parent = self.slots[slot as usize].parent;
            changes
                .entries
                .push((parent, self.slots[slot as usize].name().to_owned()));
        }
        let mut dirs: HashSet<Slot> = old.children.keys().copied().collect();
        dirs.extend(self.children.keys().copied());
        for dir in dirs {
            if old.children.get(&dir) != self.children.get(&dir) {
                changes.listings.push(dir);
            }
        }
        changes.entries.sort();
        changes.entries.dedup();
        changes.listings.sort_unstable();
        changes
    }

    /// The slot, live or retired.
    pub fn slot(&self, slot: Slot) -> Option<&Arc<LayoutSlot>> {
        self.slots.get(slot as usize)
    }

    /// The live slot at a path.
    #[cfg(test)]
    pub fn lookup(&self, path: &str) -> Option<Slot> {
        self.live.get(path).copied()
    }

    /// The layout child of a live node with this name.
    pub fn child(&self, parent: Slot, name: &str) -> Option<Slot> {
        let list = self.children.get(&parent)?;
        list.binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| list[i].1)
    }

    /// The layout children of a node, sorted by name.
    pub fn children(&self, parent: Slot) -> &[(Box<str>, Slot)] {
        self.children.get(&parent).map_or(&[], |v| v.as_slice())
    }
}

#[cfg(test)]
mod tests;
