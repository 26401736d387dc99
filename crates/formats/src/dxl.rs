//! DXL: `dx.lock` compiled together with the planned `node_modules` layout, in one binary file
//! that a mount opens with a single mmap.
//!
//! Invariants:
//! - [`DxlBuilder::finish`] is deterministic: the same packages, placements and links give the
//!   same bytes whatever order they were added in.
//! - [`Dxl::parse`] is O(1): it checks the header and that every table lies inside the buffer,
//!   and allocates nothing whatever the counts say. Accessors never panic and never read out
//!   of bounds; a record whose own offsets are bad reads as empty. [`Dxl::verify`] checks the
//!   xxh3-128 checksum and every record, once, for files that may have been damaged.
//! - Paths are relative to the project's `node_modules` (`react`, `@babel/core`,
//!   `a/node_modules/b`, `.bin/tsc`); the root (`""`) is node 0; nodes are sorted by path, so
//!   node indices are stable for a given layout (the FUSE layer uses them as inode numbers).
//!
//! The byte layout is specified in `docs/dxl.md`.

mod builder;
mod layout;
mod verify;

#[cfg(test)]
mod tests;

pub use builder::DxlBuilder;

use crate::hash::{ContentHash, Integrity, IntegrityAlgorithm};
use layout::*;

/// A package as the DXL records it: enough to find its archive in the store and to check it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DxlPackage {
    /// The package's real name (not an alias).
    pub name: String,
    /// The resolved version (or source string for non-registry packages).
    pub version: String,
    /// The BLAKE3 of the package's DXP archive: its key in the store.
    pub content_hash: ContentHash,
    /// The tarball integrity from `dx.lock`, when known.
    pub integrity: Option<Integrity>,
    /// Whether the package has install scripts to run (if trusted) after linking.
    pub has_install_script: bool,
}

/// A handle to a package added to a [`DxlBuilder`], for [`DxlBuilder::place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId(pub(crate) u32);

/// Errors from building or reading a DXL; each names the section, path or package at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DxlError {
    /// Shorter than the 128-byte header.
    #[error("DXL is {len} bytes, shorter than its 128-byte header")]
    TooShort {
        /// The buffer length.
        len: usize,
    },
    /// The first four bytes are not `DXL\0`.
    #[error("not a DXL file (bad magic)")]
    BadMagic,
    /// A format version this dx cannot read; the store rebuilds it from `dx.lock`.
    #[error("DXL format version {found} is not supported (this dx reads version {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
    },
    /// The header's file length differs from the buffer's (a truncated or appended file).
    #[error("DXL header says {header} bytes but the file has {actual}")]
    LengthMismatch {
        /// Length recorded in the header.
        header: u64,
        /// Length of the buffer.
        actual: usize,
    },
    /// A table's offset and size reach outside the file or into the header.
    #[error("DXL {section} table lies outside the file")]
    SectionOutOfBounds {
        /// Which table.
        section: &'static str,
    },
    /// A hash table whose slot count is not a power of two (or empty where keys exist).
    #[error("DXL {table} hash table has {slots} slots, not a power of two")]
    BadHashTable {
        /// Which table.
        table: &'static str,
        /// Its slot count.
        slots: u32,
    },
    /// The platform tag is out of bounds or not UTF-8.
    #[error("DXL platform tag is out of bounds or not UTF-8")]
    BadPlatform,
    /// The xxh3-128 over the file does not match: the file is damaged.
    #[error("DXL checksum mismatch: the file is damaged")]
    ChecksumMismatch,
    /// A record failed [`Dxl::verify`]'s structural checks.
    #[error("corrupt DXL: {what}")]
    Corrupt {
        /// The record and what is wrong with it.
        what: String,
    },
    /// A layout path that is empty, absolute, or has empty, `.` or `..` components or NULs.
    #[error("invalid layout path `{path}`: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Something is already placed at this path.
    #[error("layout path `{path}` is already taken by {existing}")]
    PathTaken {
        /// The path given.
        path: String,
        /// What occupies it: "a package", "a bin link" or "a directory".
        existing: &'static str,
    },
    /// A path would go through a bin link, which cannot hold children.
    #[error("layout path `{path}` lies under the bin link `{link}`")]
    UnderLink {
        /// The path given.
        path: String,
        /// The link in the way.
        link: String,
    },
    /// A symlink target that is empty, absolute or contains NUL.
    #[error("bin link `{path}` has an invalid target `{target}`: it must be a relative path")]
    InvalidLinkTarget {
        /// The link path.
        path: String,
        /// The target given.
        target: String,
    },
    /// A [`PackageId`] from another builder.
    #[error("package id {id} does not belong to this DXL builder")]
    UnknownPackage {
        /// The id given.
        id: u32,
    },
    /// The layout would not fit the format's 32-bit offsets (4 GiB).
    #[error("DXL would exceed 4 GiB at `{path}`")]
    TooLarge {
        /// The path whose addition overflowed.
        path: String,
    },
}

/// A byte range inside the file, from the header.
fn section<'a>(
    bytes: &'a [u8],
    header_field: usize,
    record_len: usize,
    name: &'static str,
) -> Result<(&'a [u8], u32), DxlError> {
    let off = u32_at(bytes, header_field) as u64;
    let count = u32_at(bytes, header_field + 4);
    let len = count as u64 * record_len as u64;
    let end = off
        .checked_add(len)
        .ok_or(DxlError::SectionOutOfBounds { section: name })?;
    if off < HEADER_LEN as u64 || end > bytes.len() as u64 {
        return Err(DxlError::SectionOutOfBounds { section: name });
    }
    // In range of a `usize` buffer, checked just above.
    Ok((&bytes[off as usize..end as usize], count))
}

/// Bytes `off..off+len` of the string table; `None` when out of bounds.
fn blob_at(strings: &[u8], off: u32, len: u32) -> Option<&[u8]> {
    let start = off as usize;
    strings.get(start..start.checked_add(len as usize)?)
}

/// A UTF-8 string of the string table; empty when out of bounds or not UTF-8
/// ([`Dxl::verify`] reports those).
fn str_at(strings: &[u8], off: u32, len: u32) -> &str {
    blob_at(strings, off, len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// A DXL opened over a byte buffer (normally an mmap). Cheap to copy: a set of slices.
#[derive(Clone, Copy, Debug)]
pub struct Dxl<'a> {
    bytes: &'a [u8],
    platform: &'a str,
    strings: &'a [u8],
    packages: &'a [u8],
    package_count: u32,
    nodes: &'a [u8],
    node_count: u32,
    children: &'a [u8],
    name_slots: &'a [u8],
    name_slot_count: u32,
    path_slots: &'a [u8],
    path_slot_count: u32,
}

/// A package record of a DXL.
#[derive(Clone, Copy, Debug)]
pub struct PackageView<'a> {
    strings: &'a [u8],
    record: &'a [u8],
    index: u32,
}

/// One entry of the layout: a package root, a virtual directory or a `.bin` link.
#[derive(Clone, Copy, Debug)]
pub struct LayoutNode<'a> {
    strings: &'a [u8],
    packages: &'a [u8],
    record: &'a [u8],
    index: u32,
}

/// What a [`LayoutNode`] is.
#[derive(Clone, Copy, Debug)]
pub enum NodeKind<'a> {
    /// A package root: its files come from the package's DXP; it may also have layout
    /// children (its own `node_modules`), which the filesystem merges with those files.
    Package(PackageView<'a>),
    /// A virtual directory: the root, `@scope`, `.bin`, `<pkg>/node_modules`, and so on. Inside
    /// a package, the filesystem merges it with the package's own directory at that place
    /// (the `node_modules` of bundled dependencies), layout children winning on a name.
    Dir,
    /// A `.bin` link and its relative target.
    Symlink(&'a str),
}

impl<'a> PackageView<'a> {
    /// The package's name.
    pub fn name(&self) -> &'a str {
        str_at(
            self.strings,
            u32_at(self.record, P_NAME),
            u32_at(self.record, P_NAME + 4),
        )
    }

    /// The package's version (or source string).
    pub fn version(&self) -> &'a str {
        str_at(
            self.strings,
            u32_at(self.record, P_VERSION),
            u32_at(self.record, P_VERSION + 4),
        )
    }

    /// The BLAKE3 of its DXP archive: where the store keeps it.
    pub fn content_hash(&self) -> ContentHash {
        let mut hash = [0u8; 32];
        if let Some(b) = self.record.get(P_CONTENT_HASH..P_CONTENT_HASH + 32) {
            hash.copy_from_slice(b);
        }
        ContentHash(hash)
    }

    /// The tarball integrity, if recorded (and in bounds).
    pub fn integrity(&self) -> Option<Integrity> {
        let (algorithm, len) = match self.record.get(P_INTEGRITY_ALG).copied()? {
            ALG_SHA1 => (IntegrityAlgorithm::Sha1, 20),
            ALG_SHA512 => (IntegrityAlgorithm::Sha512, 64),
            _ => return None,
        };
        let digest = blob_at(self.strings, u32_at(self.record, P_INTEGRITY_OFF), len)?;
        Integrity::from_digest(algorithm, digest).ok()
    }

    /// Whether the package has install scripts.
    pub fn has_install_script(&self) -> bool {
        self.record
            .get(P_FLAGS)
            .is_some_and(|f| f & FLAG_INSTALL_SCRIPT != 0)
    }

    /// The package's index in the package table (sorted by name, then version).
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl<'a> LayoutNode<'a> {
    /// The path relative to `node_modules` (`""` for the root).
    pub fn path(&self) -> &'a str {
        str_at(
            self.strings,
            u32_at(self.record, N_PATH),
            u32_at(self.record, N_PATH + 4),
        )
    }

    /// The last component of the path (`core` for `@babel/core`; `""` for the root).
    pub fn name(&self) -> &'a str {
        let path = self.path();
        path.rsplit_once('/').map_or(path, |(_, name)| name)
    }

    /// The node's index: stable for a given layout, so usable as an inode number.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The index of the parent node (the root is its own parent).
    pub fn parent_index(&self) -> u32 {
        u32_at(self.record, N_PARENT)
    }

    /// Whether this is a package, a directory or a link. A package record whose index is out
    /// of bounds reads as a directory ([`Dxl::verify`] rejects such files).
    pub fn kind(&self) -> NodeKind<'a> {
        let value = u32_at(self.record, N_VALUE);
        match self.record.get(N_KIND).copied() {
            Some(KIND_PACKAGE) => package_view(self.strings, self.packages, value)
                .map_or(NodeKind::Dir, NodeKind::Package),
            Some(KIND_SYMLINK) => NodeKind::Symlink(str_at(
                self.strings,
                value,
                u32_at(self.record, N_VALUE_LEN),
            )),
            _ => NodeKind::Dir,
        }
    }

    /// The package placed here, if this is a package root.
    pub fn package(&self) -> Option<PackageView<'a>> {
        match self.kind() {
            NodeKind::Package(p) => Some(p),
            _ => None,
        }
    }
}

fn package_view<'a>(strings: &'a [u8], packages: &'a [u8], index: u32) -> Option<PackageView<'a>> {
    let start = (index as usize).checked_mul(PACKAGE_LEN)?;
    let record = packages.get(start..start + PACKAGE_LEN)?;
    Some(PackageView {
        strings,
        record,
        index,
    })
}

impl<'a> Dxl<'a> {
    /// Opens a DXL: checks the header and that every table lies inside `bytes`. O(1), no
    /// allocation; does not check the checksum (see [`Dxl::verify`]).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DxlError> {
        if bytes.len() < HEADER_LEN {
            return Err(DxlError::TooShort { len: bytes.len() });
        }
        if bytes[..4] != MAGIC {
            return Err(DxlError::BadMagic);
        }
        let version = u32_at(bytes, H_VERSION);
        if version != FORMAT_VERSION {
            return Err(DxlError::UnsupportedVersion { found: version });
        }
        let file_len = u64_at(bytes, H_FILE_LEN);
        if file_len != bytes.len() as u64 {
            return Err(DxlError::LengthMismatch {
                header: file_len,
                actual: bytes.len(),
            });
        }
        let (strings, _) = section(bytes, H_STRINGS, 1, "string")?;
        let (packages, package_count) = section(bytes, H_PACKAGES, PACKAGE_LEN, "package")?;
        let (nodes, node_count) = section(bytes, H_NODES, NODE_LEN, "node")?;
        let (children, _) = section(bytes, H_CHILDREN, CHILD_LEN, "children")?;
        let (name_slots, name_slot_count) = section(bytes, H_NAME_SLOTS, SLOT_LEN, "name")?;
        let (path_slots, path_slot_count) = section(bytes, H_PATH_SLOTS, SLOT_LEN, "path")?;
        if node_count == 0 {
            return Err(DxlError::Corrupt {
                what: "no root node".into(),
            });
        }
        for (table, slots) in [("name", name_slot_count), ("path", path_slot_count)] {
            if !slots.is_power_of_two() {
                return Err(DxlError::BadHashTable { table, slots });
            }
        }
        let platform = blob_at(
            strings,
            u32_at(bytes, H_PLATFORM),
            u32_at(bytes, H_PLATFORM + 4),
        )
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or(DxlError::BadPlatform)?;
        Ok(Self {
            bytes,
            platform,
            strings,
            packages,
            package_count,
            nodes,
            node_count,
            children,
            name_slots,
            name_slot_count,
            path_slots,
            path_slot_count,
        })
    }

    /// Checks the xxh3-128 checksum, then every record: offsets, UTF-8, the sort orders the
    /// lookups rely on, the children tables and the hash tables. O(size of the file).
    pub fn verify(&self) -> Result<(), DxlError> {
        verify::verify(self)
    }

    /// The digest of the `dx.lock` text this DXL was compiled from: a DXL whose digest differs
    /// from the current lock's is stale.
    pub fn lock_digest(&self) -> [u8; 16] {
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&self.bytes[H_LOCK_DIGEST..H_LOCK_DIGEST + 16]);
        digest
    }

    /// The platform tag the layout was planned for (os, cpu, libc decide optional packages).
    pub fn platform(&self) -> &'a str {
        self.platform
    }

    /// How many packages the DXL holds.
    pub fn package_count(&self) -> u32 {
        self.package_count
    }

    /// How many layout nodes (including the root) the DXL holds.
    pub fn node_count(&self) -> u32 {
        self.node_count
    }

    /// The package at `index`, if in range.
    pub fn package(&self, index: u32) -> Option<PackageView<'a>> {
        package_view(self.strings, self.packages, index)
    }

    /// The layout node at `index` (as from [`LayoutNode::index`]), if in range.
    pub fn node(&self, index: u32) -> Option<LayoutNode<'a>> {
        let start = (index as usize).checked_mul(NODE_LEN)?;
        let record = self.nodes.get(start..start + NODE_LEN)?;
        Some(LayoutNode {
            strings: self.strings,
            packages: self.packages,
            record,
            index,
        })
    }

    /// Every package, sorted by name then version.
    pub fn packages(&self) -> impl Iterator<Item = PackageView<'a>> + use<'a> {
        let dxl = *self;
        (0..self.package_count).filter_map(move |i| dxl.package(i))
    }

    /// Every package called `name` (several versions may be installed): one hash probe, then
    /// a contiguous run of the sorted package table.
    pub fn packages_named(&self, name: &str) -> impl Iterator<Item = PackageView<'a>> + use<'a> {
        let dxl = *self;
        let (first, count) = self.find_name(name).unwrap_or((0, 0));
        let end = first.saturating_add(count).min(self.package_count);
        (first..end).filter_map(move |i| dxl.package(i))
    }

    /// The layout node at `path` (`""` is the root), by one hash probe.
    pub fn lookup(&self, path: &str) -> Option<LayoutNode<'a>> {
        let hash = key_hash(path);
        self.probe(self.path_slots, self.path_slot_count, hash, |slot| {
            let node = u32_at(slot, 8);
            if node == 0 {
                return Probe::Empty;
            }
            match self.node(node - 1) {
                Some(n) if u64_at(slot, 0) == hash && n.path() == path => Probe::Found(n),
                _ => Probe::Next,
            }
        })
    }

    /// The `node_modules` directory itself.
    pub fn root(&self) -> LayoutNode<'a> {
        // `parse` checked that the node table is non-empty and in bounds.
        let record = &self.nodes[..NODE_LEN];
        LayoutNode {
            strings: self.strings,
            packages: self.packages,
            record,
            index: 0,
        }
    }

    /// The parent of `node` (`None` for the root).
    pub fn parent(&self, node: LayoutNode<'a>) -> Option<LayoutNode<'a>> {
        if node.index == 0 {
            None
        } else {
            self.node(node.parent_index())
        }
    }

    /// The layout children of `dir`, sorted by name, read from its children table (no scan).
    /// For a package node these are only its layout children (its `node_modules`).
    pub fn children(&self, dir: LayoutNode<'a>) -> impl Iterator<Item = LayoutNode<'a>> + use<'a> {
        let dxl = *self;
        let start = u32_at(dir.record, N_CHILDREN) as usize;
        let count = u32_at(dir.record, N_CHILDREN + 4) as usize;
        let total = self.children.len() / CHILD_LEN;
        let start = start.min(total);
        let end = start.saturating_add(count).min(total);
        (start..end).filter_map(move |i| dxl.node(u32_at(dxl.children, i * CHILD_LEN)))
    }

    /// Every node, root first, in path order.
    pub fn nodes(&self) -> impl Iterator<Item = LayoutNode<'a>> + use<'a> {
        let dxl = *self;
        (0..self.node_count).filter_map(move |i| dxl.node(i))
    }

    fn find_name(&self, name: &str) -> Option<(u32, u32)> {
        let hash = key_hash(name);
        self.probe(self.name_slots, self.name_slot_count, hash, |slot| {
            let (first, count) = (u32_at(slot, 8), u32_at(slot, 12));
            if count == 0 {
                return Probe::Empty;
            }
            match self.package(first) {
                Some(p) if u64_at(slot, 0) == hash && p.name() == name => {
                    Probe::Found((first, count))
                }
                _ => Probe::Next,
            }
        })
    }

    /// Linear probing from `hash`, at most `slots` steps (a hostile table may have no
    /// empty slot).
    fn probe<T>(
        &self,
        table: &'a [u8],
        slots: u32,
        hash: u64,
        mut check: impl FnMut(&'a [u8]) -> Probe<T>,
    ) -> Option<T> {
        if slots == 0 {
            return None;
        }
        let mask = slots as u64 - 1;
        let mut i = hash & mask;
        for _ in 0..slots {
            let start = i as usize * SLOT_LEN;
            let slot = table.get(start..start + SLOT_LEN)?;
            match check(slot) {
                Probe::Found(t) => return Some(t),
                Probe::Empty => return None,
                Probe::Next => i = (i + 1) & mask,
            }
        }
        None
    }
}

enum Probe<T> {
    Found(T),
    Empty,
    Next,
}
