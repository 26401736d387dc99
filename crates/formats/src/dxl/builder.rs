//! Building a DXL: collect packages, placements and links in any order, then lay them out
//! sorted so the bytes depend only on the content.

use std::collections::{BTreeMap, HashMap};

use super::layout::*;
use super::{DxlError, DxlPackage, PackageId};
use crate::hash::IntegrityAlgorithm;

/// Everything past this many bytes of strings and records is refused, so every offset fits
/// the format's u32 fields with room for the tables.
const MAX_CONTENT_BYTES: usize = (u32::MAX as usize) / 2;

/// What the builder holds at one layout path.
#[derive(Debug)]
enum PlannedNode {
    /// Created for the path's descendants; becomes a package if one is placed here.
    Dir,
    Package(PackageId),
    Symlink(String),
}

/// Collects a layout and writes it as DXL bytes.
#[derive(Debug)]
pub struct DxlBuilder {
    lock_digest: [u8; 16],
    platform: String,
    packages: Vec<DxlPackage>,
    package_ids: HashMap<DxlPackage, PackageId>,
    nodes: BTreeMap<String, PlannedNode>,
    /// Bytes of strings and records so far, to refuse layouts past 4 GiB before `finish`.
    content_bytes: usize,
}

/// Checks a layout path: relative, `/`-separated, no empty, `.` or `..` components, no NUL.
fn check_path(path: &str) -> Result<(), DxlError> {
    let invalid = |reason| {
        Err(DxlError::InvalidPath {
            path: path.into(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("empty (the root cannot be placed)");
    }
    if path.contains('\0') {
        return invalid("contains NUL");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return invalid("has an empty, `.` or `..` component (or a leading or trailing `/`)");
    }
    Ok(())
}

fn describe(node: &PlannedNode) -> &'static str {
    match node {
        PlannedNode::Dir => "a directory",
        PlannedNode::Package(_) => "a package",
        PlannedNode::Symlink(_) => "a bin link",
    }
}

impl DxlBuilder {
    /// A builder for the layout of a lock whose text hashed to `lock_digest`, planned for
    /// `platform` (for example `linux-x64-glibc`).
    pub fn new(lock_digest: [u8; 16], platform: &str) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(String::new(), PlannedNode::Dir);
        Self {
            lock_digest,
            platform: platform.to_owned(),
            packages: Vec::new(),
            package_ids: HashMap::new(),
            nodes,
            content_bytes: platform.len() + HEADER_LEN + NODE_LEN,
        }
    }

    /// Adds a package (once: adding an equal package again returns the same id).
    pub fn add_package(&mut self, pkg: DxlPackage) -> PackageId {
        if let Some(id) = self.package_ids.get(&pkg) {
            return *id;
        }
        self.content_bytes += PACKAGE_LEN + SLOT_LEN * 2 + pkg.name.len() + pkg.version.len() + 64;
        // A layout with 4 billion packages is refused by `place` long before this wraps.
        let id = PackageId(self.packages.len() as u32);
        self.package_ids.insert(pkg.clone(), id);
        self.packages.push(pkg);
        id
    }

    /// Creates the missing ancestors of `path` as directories; fails if one is a bin link.
    fn make_parents(&mut self, path: &str) -> Result<(), DxlError> {
        // Check every ancestor before inserting any, so a failed call changes nothing.
        let ancestors: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        for ancestor in &ancestors {
            if let Some(PlannedNode::Symlink(_)) = self.nodes.get(*ancestor) {
                return Err(DxlError::UnderLink {
                    path: path.into(),
                    link: (*ancestor).into(),
                });
            }
        }
        for ancestor in ancestors {
            if !self.nodes.contains_key(ancestor) {
                self.content_bytes += NODE_LEN + SLOT_LEN * 2 + CHILD_LEN + ancestor.len();
                self.nodes.insert(ancestor.to_owned(), PlannedNode::Dir);
            }
        }
        Ok(())
    }

    fn reserve(&mut self, path: &str, extra: usize) -> Result<(), DxlError> {
        self.content_bytes += NODE_LEN + SLOT_LEN * 2 + CHILD_LEN + path.len() + extra;
        if self.content_bytes > MAX_CONTENT_BYTES {
            return Err(DxlError::TooLarge { path: path.into() });
        }
        Ok(())
    }

    /// Places `package` at `install_path` (`react`, `@s/b`, `a/node_modules/@s/b`), creating
    /// the directories above it. A path can hold one package; a directory created for deeper
    /// placements becomes the package's root when the package is placed there.
    pub fn place(&mut self, install_path: &str, package: PackageId) -> Result<(), DxlError> {
        check_path(install_path)?;
        if package.0 as usize >= self.packages.len() {
            return Err(DxlError::UnknownPackage { id: package.0 });
        }
        match self.nodes.get(install_path) {
            None | Some(PlannedNode::Dir) => {}
            Some(other) => {
                return Err(DxlError::PathTaken {
                    path: install_path.into(),
                    existing: describe(other),
                });
            }
        }
        self.make_parents(install_path)?;
        self.reserve(install_path, 0)?;
        self.nodes
            .insert(install_path.to_owned(), PlannedNode::Package(package));
        Ok(())
    }

    /// Adds a `.bin` link at `link_path` (`.bin/tsc`, `a/node_modules/.bin/x`) pointing at the
    /// relative `target` (`../typescript/bin/tsc`).
    pub fn add_bin_link(&mut self, link_path: &str, target: &str) -> Result<(), DxlError> {
        check_path(link_path)?;
        if target.is_empty() || target.starts_with('/') || target.contains('\0') {
            return Err(DxlError::InvalidLinkTarget {
                path: link_path.into(),
                target: target.into(),
            });
        }
        if let Some(existing) = self.nodes.get(link_path) {
            return Err(DxlError::PathTaken {
                path: link_path.into(),
                existing: describe(existing),
            });
        }
        self.make_parents(link_path)?;
        self.reserve(link_path, target.len())?;
        self.nodes.insert(
            link_path.to_owned(),
            PlannedNode::Symlink(target.to_owned()),
        );
        Ok(())
    }

    /// Writes the DXL. The bytes depend only on what was added, not on the order.
    pub fn finish(self) -> Vec<u8> {
        let mut strings = StringTable::default();
        let platform = strings.add(self.platform.as_bytes());

        // Packages sorted by content, so ids assigned in insertion order are remapped.
        let mut order: Vec<usize> = (0..self.packages.len()).collect();
        order.sort_by(|&a, &b| self.packages[a].cmp(&self.packages[b]));
        let mut new_index = vec![0u32; self.packages.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = to_u32(new);
        }
        let mut packages = vec![0u8; order.len() * PACKAGE_LEN];
        for (i, &old) in order.iter().enumerate() {
            let pkg = &self.packages[old];
            let rec = &mut packages[i * PACKAGE_LEN..(i + 1) * PACKAGE_LEN];
            let (off, len) = strings.add(pkg.name.as_bytes());
            put_u32(rec, P_NAME, off);
            put_u32(rec, P_NAME + 4, len);
            let (off, len) = strings.add(pkg.version.as_bytes());
            put_u32(rec, P_VERSION, off);
            put_u32(rec, P_VERSION + 4, len);
            rec[P_CONTENT_HASH..P_CONTENT_HASH + 32].copy_from_slice(&pkg.content_hash.0);
            if let Some(integrity) = &pkg.integrity {
                let (off, _) = strings.add(integrity.digest());
                put_u32(rec, P_INTEGRITY_OFF, off);
                rec[P_INTEGRITY_ALG] = match integrity.algorithm() {
                    IntegrityAlgorithm::Sha1 => ALG_SHA1,
                    IntegrityAlgorithm::Sha512 => ALG_SHA512,
                };
            }
            if pkg.has_install_script {
                rec[P_FLAGS] |= FLAG_INSTALL_SCRIPT;
            }
        }

        // Name table: one slot per distinct name -> the run of packages with that name.
        let mut runs: Vec<(&str, u32, u32)> = Vec::new();
        for (i, &old) in order.iter().enumerate() {
            let name = self.packages[old].name.as_str();
            match runs.last_mut() {
                Some((last, _, count)) if *last == name => *count += 1,
                _ => runs.push((name, to_u32(i), 1)),
            }
        }
        let name_slot_count = slot_count(runs.len());
        let mut name_slots = vec![0u8; name_slot_count * SLOT_LEN];
        for (name, first, count) in runs {
            let slot = free_slot(&name_slots, name_slot_count, key_hash(name), 12);
            put_u64(&mut name_slots, slot, key_hash(name));
            put_u32(&mut name_slots, slot + 8, first);
            put_u32(&mut name_slots, slot + 12, count);
        }

        // Nodes in path order (the BTreeMap's), root first since "" sorts first.
        let index_of: HashMap<&str, u32> = self
            .nodes
            .keys()
            .enumerate()
            .map(|(i, p)| (p.as_str(), to_u32(i)))
            .collect();
        let mut child_lists: Vec<Vec<u32>> = vec![Vec::new(); self.nodes.len()];
        let mut parents = vec![0u32; self.nodes.len()];
        for (i, path) in self.nodes.keys().enumerate().skip(1) {
            let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p);
            // `make_parents` inserted every ancestor.
            let parent = index_of.get(parent_path).copied().unwrap_or(0);
            parents[i] = parent;
            // Children of one parent share its prefix, so path order is name order.
            child_lists[parent as usize].push(to_u32(i));
        }
        let mut nodes = vec![0u8; self.nodes.len() * NODE_LEN];
        let mut children = Vec::with_capacity(self.nodes.len() * CHILD_LEN);
        let path_slot_count = slot_count(self.nodes.len());
        let mut path_slots = vec![0u8; path_slot_count * SLOT_LEN];
        for (i, (path, planned)) in self.nodes.iter().enumerate() {
            let rec = &mut nodes[i * NODE_LEN..(i + 1) * NODE_LEN];
            let (off, len) = strings.add(path.as_bytes());
            put_u32(rec, N_PATH, off);
            put_u32(rec, N_PATH + 4, len);
            match planned {
                PlannedNode::Dir => rec[N_KIND] = KIND_DIR,
                PlannedNode::Package(id) => {
                    rec[N_KIND] = KIND_PACKAGE;
                    put_u32(rec, N_VALUE, new_index[id.0 as usize]);
                }
                PlannedNode::Symlink(target) => {
                    rec[N_KIND] = KIND_SYMLINK;
                    let (off, len) = strings.add(target.as_bytes());
                    put_u32(rec, N_VALUE, off);
                    put_u32(rec, N_VALUE_LEN, len);
                }
            }
            put_u32(rec, N_CHILDREN, to_u32(children.len() / CHILD_LEN));
            put_u32(rec, N_CHILDREN + 4, to_u32(child_lists[i].len()));
            put_u32(rec, N_PARENT, parents[i]);
            for child in &child_lists[i] {
                children.extend_from_slice(&child.to_le_bytes());
            }
            let hash = key_hash(path);
            let slot = free_slot(&path_slots, path_slot_count, hash, 8);
            put_u64(&mut path_slots, slot, hash);
            put_u32(&mut path_slots, slot + 8, to_u32(i + 1));
        }

        // Assemble: header, then the tables (8-byte aligned), strings last.
        let mut out = vec![0u8; HEADER_LEN];
        table(&mut out, H_PACKAGES, &packages, order.len());
        table(&mut out, H_NODES, &nodes, self.nodes.len());
        table(&mut out, H_CHILDREN, &children, children.len() / CHILD_LEN);
        table(&mut out, H_NAME_SLOTS, &name_slots, name_slot_count);
        table(&mut out, H_PATH_SLOTS, &path_slots, path_slot_count);
        let strings_len = strings.bytes.len();
        table(&mut out, H_STRINGS, &strings.bytes, strings_len);
        out[..4].copy_from_slice(&MAGIC);
        put_u32(&mut out, H_VERSION, FORMAT_VERSION);
        let file_len = out.len() as u64;
        put_u64(&mut out, H_FILE_LEN, file_len);
        out[H_LOCK_DIGEST..H_LOCK_DIGEST + 16].copy_from_slice(&self.lock_digest);
        put_u32(&mut out, H_PLATFORM, platform.0);
        put_u32(&mut out, H_PLATFORM + 4, platform.1);
        let checksum = xxhash_rust::xxh3::xxh3_128(&out[CHECKSUMMED_FROM..]);
        out[H_CHECKSUM..H_CHECKSUM + 16].copy_from_slice(&checksum.to_le_bytes());
        out
    }
}

/// Appends a table, padded to 8 bytes, and records its offset and count in the header.
fn table(out: &mut Vec<u8>, field: usize, bytes: &[u8], count: usize) {
    let off = out.len();
    out.extend_from_slice(bytes);
    out.resize(out.len().next_multiple_of(8), 0);
    put_u32(out, field, to_u32(off));
    put_u32(out, field + 4, to_u32(count));
}

/// A u32 for an offset or count; `place`/`add_bin_link` refuse layouts that would not fit,
/// so this cannot fail for a builder they accepted.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("DXL offsets fit in u32: the builder refuses larger layouts")
}

/// The byte offset of the first free slot on `hash`'s probe sequence. The table always has
/// more slots than keys, so one is free.
fn free_slot(table: &[u8], slots: usize, hash: u64, occupied_field: usize) -> usize {
    let mask = slots - 1;
    let mut i = hash as usize & mask;
    while u32_at(table, i * SLOT_LEN + occupied_field) != 0 {
        i = (i + 1) & mask;
    }
    i * SLOT_LEN
}

/// Deduplicated byte strings.
#[derive(Default)]
struct StringTable {
    bytes: Vec<u8>,
    seen: HashMap<Vec<u8>, u32>,
}

impl StringTable {
    fn add(&mut self, s: &[u8]) -> (u32, u32) {
        let len = to_u32(s.len());
        if let Some(&off) = self.seen.get(s) {
            return (off, len);
        }
        let off = to_u32(self.bytes.len());
        self.bytes.extend_from_slice(s);
        self.seen.insert(s.to_vec(), off);
        (off, len)
    }
}
