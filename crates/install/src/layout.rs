//! The node_modules layout compiled from dx.lock, as the store keeps it (one DXL file for the
//! project's node_modules and one per workspace member's), and how to read it back.
//!
//! A DXL's store key is the digest of this dx's version, the layout planner's revision, the
//! dx.lock text and the platform ([`dxl_key`]): a changed dx.lock, another dx or another
//! platform never finds a layout compiled for something else. The install path reuses the
//! stored bytes ([`read_stored`]); `dx list` and `dx why` read the placement back from them
//! ([`load_layout`]) instead of planning the layout again, and plan it only when the store has
//! no layout for this dx.lock.
//!
//! A DXL records packages by name, version and integrity, not by dx.lock key, so reading one
//! back maps each placed package to the one key of dx.lock it can be, each directory link to the
//! workspace member or `file:`/`link:` package it leads to, and each `.bin` link to the package
//! it sits beside. Anything that maps to no key or to several makes the stored layout a miss
//! ([`StoredMiss::Unmatched`]), never a guess.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dx_formats::dxl::{Dxl, DxlError, NodeKind, PackageView};
use dx_formats::lockfile::workspace_key;
use dx_resolve::{BinLink, DirLink, LayoutOptions, LayoutPlan, Lockfile, PlacedPackage};
use dx_resolve::{WorkspaceLayout, join_relative, plan_layout};
use dx_store::Store;

use crate::error::{Context as _, Result};

/// What produced a DXL besides its inputs: this dx's version (with the layout planner's
/// revision, [`dx_resolve::LAYOUT_PLANNER_REVISION`]). Part of the DXL's store key, so a layout
/// planned by another dx is never reused.
const DX_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The store key of the DXL compiled from `lock_text` for this platform and options.
pub(crate) fn dxl_key(lock_text: &str, options: &LayoutOptions) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(DX_VERSION.as_bytes());
    hasher.update(b"\0");
    hasher.update(dx_resolve::LAYOUT_PLANNER_REVISION.as_bytes());
    hasher.update(b"\0");
    hasher.update(lock_text.as_bytes());
    hasher.update(platform_tag(options).as_bytes());
    hasher.finalize().to_hex()[..32].to_string()
}

/// The store key of a workspace member's own layout, derived from the root's.
pub(crate) fn member_dxl_key(root_key: &str, path: &str) -> String {
    let digest = blake3::hash(path.as_bytes()).to_hex();
    format!("{root_key}-ws-{}", &digest[..16])
}

/// The platform (and `-prod`) tag a DXL records and its key includes.
pub(crate) fn platform_tag(options: &LayoutOptions) -> String {
    let p = &options.platform;
    format!(
        "{}-{}-{}{}",
        p.os,
        p.cpu,
        p.libc.as_deref().unwrap_or("none"),
        if options.omit_dev { "-prod" } else { "" }
    )
}

/// The digest of dx.lock's text a DXL records ([`Dxl::lock_digest`]).
pub(crate) fn lock_digest(lock_text: &str) -> [u8; 16] {
    blake3::hash(lock_text.as_bytes()).as_bytes()[..16]
        .try_into()
        .expect("16 bytes")
}

/// A member's stored layout: its directory, its DXL's key and bytes.
pub(crate) struct StoredMember {
    /// The member's directory, root-relative.
    pub path: String,
    /// Its DXL's store key ([`member_dxl_key`]).
    pub key: String,
    /// The DXL bytes.
    pub bytes: Vec<u8>,
}

/// The DXL files the store holds for one dx.lock: the project's and each member's.
pub(crate) struct StoredDxls {
    /// The project's node_modules.
    pub root: Vec<u8>,
    /// Each member's own node_modules, in the order asked for.
    pub members: Vec<StoredMember>,
}

/// Reads the DXL stored under `key` and those of the members at `member_paths`, each from the
/// file `dxl_path` names for its key; `None` when any of them is missing (the root's is
/// written last, so its presence means the members' were written before it).
pub(crate) fn read_stored<'p>(
    dxl_path: &dyn Fn(&str) -> PathBuf,
    key: &str,
    member_paths: impl IntoIterator<Item = &'p String>,
) -> Option<StoredDxls> {
    let root = std::fs::read(dxl_path(key)).ok()?;
    let mut members = Vec::new();
    for path in member_paths {
        let key = member_dxl_key(key, path);
        let bytes = std::fs::read(dxl_path(&key)).ok()?;
        members.push(StoredMember {
            path: path.clone(),
            key,
            bytes,
        });
    }
    Some(StoredDxls { root, members })
}

/// Why [`stored_layout`] did not give the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredMiss {
    /// No DXL for this dx.lock in the store (never installed, installed with `--production`
    /// or by another dx, or collected).
    #[error("no layout compiled for this dx.lock in the store")]
    NotCompiled,
    /// A DXL under this dx.lock's key that fails its checks.
    #[error("the stored layout {key} is damaged: {error}")]
    Damaged {
        /// Its store key.
        key: String,
        /// What is wrong with it.
        error: DxlError,
    },
    /// A DXL under this dx.lock's key compiled from another dx.lock or for another platform.
    #[error("the stored layout {key} was compiled from another dx.lock or platform")]
    Stale {
        /// Its store key.
        key: String,
    },
    /// A node of the DXL that maps to no single package of dx.lock.
    #[error("the stored layout's node_modules/{path} matches no single package of dx.lock")]
    Unmatched {
        /// The node's path, relative to the project.
        path: String,
    },
}

/// Where [`load_layout`] found the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutSource {
    /// Read back from the DXL files the store holds for this dx.lock.
    Store,
    /// Planned from dx.lock, because the store's layout could not be used.
    Planned(StoredMiss),
}

/// The project's node_modules as dx.lock lays it out on this platform, devDependencies
/// included (what `dx install` without `--production` compiles).
#[derive(Debug, Clone)]
pub struct InstalledLayout {
    /// Where each package, directory link and `.bin` link is, the project's and each member's.
    /// Read from the store, [`LayoutPlan::skipped`] is empty (a DXL holds only what is
    /// installed) and each list is in path order rather than the planner's order.
    pub plan: LayoutPlan,
    /// Whether it was read from the store or planned.
    pub source: LayoutSource,
}

/// The layout of `lock` (parsed from `lock_text`, dx.lock's exact text): read from the DXL the
/// store at `store_root` holds for it when there is one that is intact and was compiled from
/// this text by this dx's planner for this platform, else planned as `dx install` would plan
/// it. Only reads the store (it is not opened, so nothing is created or locked).
pub fn load_layout(
    store_root: Option<&Path>,
    lock_text: &str,
    lock: &Lockfile,
) -> Result<InstalledLayout> {
    let options = LayoutOptions::default();
    let miss = match store_root.map(|root| stored_layout(root, lock_text, lock, &options)) {
        Some(Ok(plan)) => {
            return Ok(InstalledLayout {
                plan,
                source: LayoutSource::Store,
            });
        }
        Some(Err(miss)) => miss,
        None => StoredMiss::NotCompiled,
    };
    let plan = plan_layout(lock, &options).context("cannot plan node_modules from dx.lock")?;
    Ok(InstalledLayout {
        plan,
        source: LayoutSource::Planned(miss),
    })
}

/// The layout of `lock` for `options`, read back from the DXL files in the store at
/// `store_root` under the key of `lock_text` (checked: checksum, lock digest, platform tag,
/// every node mapped to dx.lock).
pub fn stored_layout(
    store_root: &Path,
    lock_text: &str,
    lock: &Lockfile,
    options: &LayoutOptions,
) -> std::result::Result<LayoutPlan, StoredMiss> {
    let key = dxl_key(lock_text, options);
    let dxl_path = |key: &str| Store::dxl_path_at(store_root, key);
    let stored =
        read_stored(&dxl_path, &key, lock.workspaces.keys()).ok_or(StoredMiss::NotCompiled)?;
    let digest = lock_digest(lock_text);
    let platform = platform_tag(options);
    let root_dxl = checked(&key, &stored.root, &digest, &platform)?;
    let member_dxls = stored
        .members
        .iter()
        .map(|m| checked(&m.key, &m.bytes, &digest, &platform))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let index = LockIndex::new(lock);
    let root = read_tree(&root_dxl, None, &index)?;
    let mut plan = LayoutPlan {
        nodes: root.nodes,
        bin_links: root.bin_links,
        skipped: Vec::new(),
        links: root.links,
        workspaces: Vec::with_capacity(stored.members.len()),
    };
    for (member, dxl) in stored.members.iter().zip(&member_dxls) {
        let tree = read_tree(dxl, Some(&member.path), &index)?;
        plan.workspaces.push(WorkspaceLayout {
            path: member.path.clone(),
            nodes: tree.nodes,
            bin_links: tree.bin_links,
            links: tree.links,
        });
    }
    Ok(plan)
}

/// The DXL stored under `key`, opened and checked: intact (checksum and records), compiled
/// from the dx.lock text whose digest is `digest`, for `platform`.
fn checked<'b>(
    key: &str,
    bytes: &'b [u8],
    digest: &[u8; 16],
    platform: &str,
) -> std::result::Result<Dxl<'b>, StoredMiss> {
    let damaged = |error| StoredMiss::Damaged {
        key: key.to_owned(),
        error,
    };
    let dxl = Dxl::parse(bytes).map_err(damaged)?;
    dxl.verify().map_err(damaged)?;
    if dxl.lock_digest() != *digest || dxl.platform() != platform {
        return Err(StoredMiss::Stale {
            key: key.to_owned(),
        });
    }
    Ok(dxl)
}

/// dx.lock's packages by what a DXL knows of them.
struct LockIndex<'l> {
    lock: &'l Lockfile,
    /// (name, version) → keys, of packages installed from an archive.
    archived: HashMap<(&'l str, &'l str), Vec<&'l str>>,
    /// A `file:`/`link:` directory (root-relative, normalized) → keys of packages linked to it.
    linked: HashMap<String, Vec<&'l str>>,
}

impl<'l> LockIndex<'l> {
    fn new(lock: &'l Lockfile) -> Self {
        let mut archived: HashMap<(&str, &str), Vec<&str>> =
            HashMap::with_capacity(lock.packages.len());
        let mut linked: HashMap<String, Vec<&str>> = HashMap::new();
        for (key, package) in &lock.packages {
            if package.is_link() {
                let version = package.version.as_str();
                let dir = version
                    .strip_prefix("file:")
                    .or_else(|| version.strip_prefix("link:"))
                    .unwrap_or(version);
                linked.entry(join_relative("", dir)).or_default().push(key);
            } else {
                archived
                    .entry((&package.name, &package.version))
                    .or_default()
                    .push(key);
            }
        }
        Self {
            lock,
            archived,
            linked,
        }
    }

    /// The key of the package a DXL records, when one alone fits.
    fn archived(&self, package: &PackageView<'_>) -> Option<&'l str> {
        let keys = self.archived.get(&(package.name(), package.version()))?;
        match keys.as_slice() {
            [key] => Some(key),
            _ => {
                let integrity = package.integrity();
                single(keys.iter().copied().filter(|key| {
                    self.lock.packages[*key].integrity.as_ref() == integrity.as_ref()
                }))
            }
        }
    }

    /// The key a directory link named `name` leading to `dir` (root-relative, normalized or
    /// absolute) stands for: a member's [`workspace_key`], or a `file:`/`link:` package.
    fn linked(&self, name: &str, dir: &str) -> Option<String> {
        if let Some(ws) = self.lock.workspaces.get(dir) {
            return Some(workspace_key(&ws.name, dir));
        }
        let keys = self.linked.get(dir)?;
        match keys.as_slice() {
            [key] => Some((*key).to_owned()),
            _ => single(
                keys.iter()
                    .copied()
                    .filter(|key| self.lock.packages[*key].name == name),
            )
            .map(str::to_owned),
        }
    }
}

/// The only item, if there is exactly one.
fn single<T>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

/// One node_modules read back from its DXL.
struct ReadTree {
    nodes: Vec<PlacedPackage>,
    bin_links: Vec<BinLink>,
    links: Vec<DirLink>,
}

/// The packages and links of one DXL (the project's node_modules, or the member at `member`'s).
fn read_tree(
    dxl: &Dxl<'_>,
    member: Option<&str>,
    index: &LockIndex<'_>,
) -> std::result::Result<ReadTree, StoredMiss> {
    let node_modules = match member {
        Some(m) => format!("{m}/node_modules"),
        None => "node_modules".to_owned(),
    };
    let unmatched = |path: &str| StoredMiss::Unmatched {
        path: match member {
            Some(m) => format!("{m}/node_modules/{path}"),
            None => path.to_owned(),
        },
    };
    let mut tree = ReadTree {
        nodes: Vec::new(),
        bin_links: Vec::new(),
        links: Vec::new(),
    };
    // Bin links, resolved once every package and link is known.
    let mut bins: Vec<(&str, &str)> = Vec::new();
    // Install path → key, of packages and directory links.
    let mut at: HashMap<&str, String> = HashMap::new();
    for node in dxl.nodes().skip(1) {
        let path = node.path();
        match node.kind() {
            NodeKind::Package(package) => {
                let key = index.archived(&package).ok_or_else(|| unmatched(path))?;
                at.insert(path, key.to_owned());
                tree.nodes.push(PlacedPackage {
                    install_path: path.to_owned(),
                    package_key: key.to_owned(),
                });
            }
            NodeKind::Symlink(target) if is_bin_link(path) => bins.push((path, target)),
            NodeKind::Symlink(target) => {
                let name = split_install_path(path).1;
                let dir = if target.starts_with('/') {
                    target.to_owned()
                } else {
                    // Relative to the directory holding the link (`node_modules/@s` for `@s/b`).
                    let location = format!("{node_modules}/{path}");
                    let from = location.rsplit_once('/').map_or("", |(dir, _)| dir);
                    join_relative(from, target)
                };
                let key = index.linked(name, &dir).ok_or_else(|| unmatched(path))?;
                at.insert(path, key.clone());
                tree.links.push(DirLink {
                    install_path: path.to_owned(),
                    target: target.to_owned(),
                    package_key: key,
                });
            }
            NodeKind::Dir => {}
        }
    }
    for (path, target) in bins {
        let key = bin_owner(path, target)
            .and_then(|owner| at.get(owner.as_str()))
            .ok_or_else(|| unmatched(path))?;
        tree.bin_links.push(BinLink {
            link_path: path.to_owned(),
            target: target.to_owned(),
            package_key: key.clone(),
        });
    }
    Ok(tree)
}

/// Whether the DXL path is a `.bin` entry (`.bin/x`, `a/node_modules/.bin/x`); no package is
/// named `.bin` (npm names do not start with a dot).
fn is_bin_link(path: &str) -> bool {
    path.rsplit_once('/')
        .is_some_and(|(dir, _)| dir == ".bin" || dir.ends_with("/node_modules/.bin"))
}

/// The directory part and the package name of an install path: `a/node_modules/@s/b` →
/// (`a/node_modules`, `@s/b`); `c` → (``, `c`).
fn split_install_path(path: &str) -> (&str, &str) {
    let name_start = match path.rfind("node_modules/") {
        Some(i) if i == 0 || path[..i].ends_with('/') => i + "node_modules/".len(),
        _ => 0,
    };
    let parent = path[..name_start].trim_end_matches('/');
    (parent, &path[name_start..])
}

/// The install path of the package a `.bin` link belongs to: the planner links
/// `<dir>/.bin/<command>` to `../<name>/<file>` for the package `<name>` in the same
/// node_modules.
fn bin_owner(link_path: &str, target: &str) -> Option<String> {
    let bin_dir = link_path.rsplit_once('/')?.0;
    let node_modules = bin_dir.strip_suffix(".bin")?;
    let rest = target.strip_prefix("../")?;
    let mut parts = rest.splitn(3, '/');
    let first = parts.next()?;
    let name = if first.starts_with('@') {
        format!("{first}/{}", parts.next()?)
    } else {
        first.to_owned()
    };
    Some(format!("{node_modules}{name}"))
}

/// A plan's placements as one sorted map (`<member>: node <path>` → key, and so on), to
/// compare a stored layout with a planned one whatever order their lists are in.
#[cfg(test)]
pub(crate) fn placements(plan: &LayoutPlan) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut add = |prefix: &str, nodes: &[PlacedPackage], links: &[DirLink], bins: &[BinLink]| {
        for n in nodes {
            out.insert(
                format!("{prefix}node {}", n.install_path),
                n.package_key.clone(),
            );
        }
        for l in links {
            let entry = format!("{prefix}link {} -> {}", l.install_path, l.target);
            out.insert(entry, l.package_key.clone());
        }
        for b in bins {
            let entry = format!("{prefix}bin {} -> {}", b.link_path, b.target);
            out.insert(entry, b.package_key.clone());
        }
    };
    add("", &plan.nodes, &plan.links, &plan.bin_links);
    for ws in &plan.workspaces {
        add(
            &format!("{}: ", ws.path),
            &ws.nodes,
            &ws.links,
            &ws.bin_links,
        );
    }
    out.extend(
        plan.workspaces
            .iter()
            .map(|ws| (format!("{}: member", ws.path), String::new())),
    );
    out
}

#[cfg(test)]
mod tests;
