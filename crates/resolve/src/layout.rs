//! The layout planner: a [`Lockfile`] (from the resolver or from dx.lock) back into npm's
//! hoisted node_modules tree and its `.bin` links, for one platform. No network: every choice
//! is the locked one, and placement reruns the same arborist algorithm the resolver used.
//!
//! Platform-mismatched packages are planned (so the rest of the tree is where npm puts it on
//! every platform) and then left out, with everything only they needed; so are dev packages
//! under `omit_dev`.

/// The layout planner's revision: bump it whenever the planner could place a package
/// differently for the same dx.lock, so layouts compiled by an older planner are not reused.
pub const LAYOUT_PLANNER_REVISION: &str = "2";

use std::collections::{BTreeMap, HashSet};

use dx_formats::lockfile::{EdgeKind, Lockfile};

use crate::overrides::Overrides;
use crate::platform::Platform;
use crate::resolver::{ResolveError, ResolveWarning};
use crate::tree::package::{Dep, Packages, PkgIdx, PkgInfo};
use crate::tree::{Choice, Chooser, NodeIdx, ROOT, Tree, TreeBuilder};

/// Why planning failed (only an inconsistent resolution can make it fail).
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The resolution refers to something it does not contain.
    #[error("the resolution is inconsistent: {0}")]
    Inconsistent(#[from] ResolveError),
}

/// What to plan for.
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    /// The machine the tree is for.
    pub platform: Platform,
    /// `--production`: leave out packages only devDependencies need.
    pub omit_dev: bool,
    /// Leave out every optional package.
    pub omit_optional: bool,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions {
            platform: Platform::current(),
            omit_dev: false,
            omit_optional: false,
        }
    }
}

/// One package at one install path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedPackage {
    /// Relative to node_modules: `a`, `@s/b`, `a/node_modules/b`.
    pub install_path: String,
    /// The package key in the resolution.
    pub package_key: String,
}

/// One `.bin` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinLink {
    /// Relative to node_modules: `.bin/x` or `a/node_modules/.bin/x`.
    pub link_path: String,
    /// Relative to the link's directory: `../a/cli.js`.
    pub target: String,
    /// The package the command belongs to.
    pub package_key: String,
}

/// A directory symlink in node_modules: a workspace member (`a` -> `../packages/a`) or a
/// `file:`/`link:` directory dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirLink {
    /// Relative to node_modules: `a`, `@s/b`.
    pub install_path: String,
    /// Relative to the link's directory: `../packages/a`.
    pub target: String,
    /// The package (or [`workspace_key`](dx_formats::lockfile::workspace_key)) it stands for.
    pub package_key: String,
}

/// What goes into a workspace member's own `node_modules`: the versions that could not be
/// hoisted to the root (npm's layout), and their `.bin` links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceLayout {
    /// The member's directory, root-relative (`packages/a`).
    pub path: String,
    /// Packages, install paths relative to `<path>/node_modules`.
    pub nodes: Vec<PlacedPackage>,
    /// `.bin` links, relative to `<path>/node_modules`.
    pub bin_links: Vec<BinLink>,
    /// Directory links, relative to `<path>/node_modules`.
    pub links: Vec<DirLink>,
}

impl WorkspaceLayout {
    /// Whether the member needs no node_modules of its own.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.bin_links.is_empty() && self.links.is_empty()
    }
}

/// Why a planned package is not installed here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Its `os`/`cpu`/`libc` does not fit this platform.
    Platform,
    /// Only devDependencies need it and they are omitted.
    Dev,
    /// Optional and optional packages are omitted.
    Optional,
    /// Only needed by a package that is left out.
    Unreachable,
}

/// A package left out of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPackage {
    /// Where it would have gone.
    pub install_path: String,
    /// Its key.
    pub package_key: String,
    /// Why.
    pub reason: SkipReason,
    /// True when a non-optional package does not fit the platform (npm fails with
    /// EBADPLATFORM there; dx reports it).
    pub required: bool,
}

/// The planned tree, deterministic for a given resolution and platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutPlan {
    /// Packages, shallowest first, then in npm's path order.
    pub nodes: Vec<PlacedPackage>,
    /// `.bin` links, sorted by link path.
    pub bin_links: Vec<BinLink>,
    /// Packages planned but not installed here.
    pub skipped: Vec<SkippedPackage>,
    /// Directory symlinks (workspace members, `file:`/`link:` directories), by install path.
    pub links: Vec<DirLink>,
    /// Every workspace member's own node_modules, by path (members that need none included,
    /// with nothing in them, so a stale one is removed).
    pub workspaces: Vec<WorkspaceLayout>,
}

/// Plans the node_modules tree of `resolution` for `options.platform`.
pub fn plan_layout(
    resolution: &Lockfile,
    options: &LayoutOptions,
) -> Result<LayoutPlan, LayoutError> {
    let overrides = Overrides::from_flat(&resolution.root.overrides);
    let mut chooser = LockChooser {
        resolution,
        overrides: &overrides,
    };
    let root = PkgInfo::root_from_edges(&resolution.root.edges);
    let members = resolution
        .workspaces
        .iter()
        .map(|(path, ws)| PkgInfo::member_from_lock(path, ws, &overrides))
        .collect();
    let (tree, _warnings) = TreeBuilder::new(root, members, &mut chooser).build()?;
    Ok(plan_from_tree(&tree, options))
}

/// Which node_modules a location is in: `None` for the root's, else the member's path, with
/// the location relative to that node_modules.
fn split_location<'a>(tree: &Tree, location: &'a str) -> (Option<&'a str>, &'a str) {
    if let Some(rest) = location.strip_prefix("node_modules/") {
        return (None, rest);
    }
    for &m in &tree.members {
        let path = tree.nodes[m].location.as_str();
        if let Some(rest) = location
            .strip_prefix(path)
            .and_then(|r| r.strip_prefix("/node_modules/"))
        {
            return (Some(&location[..path.len()]), rest);
        }
    }
    (None, location)
}

/// The target of a directory link at `install_path` (relative to the node_modules in
/// `member`, or the root's) pointing at `dir` (root-relative, or absolute).
fn link_target(member: Option<&str>, install_path: &str, dir: &str) -> String {
    if dir.starts_with('/') {
        return dir.to_owned();
    }
    let dir = dir.trim_start_matches("./");
    // node_modules itself, its scope and nesting directories, then the member's own depth.
    let mut ups = 1 + install_path.matches('/').count();
    if let Some(m) = member {
        ups += 1 + m.matches('/').count();
    }
    let mut out = "../".repeat(ups);
    out.push_str(dir);
    out
}

fn plan_from_tree(tree: &Tree, options: &LayoutOptions) -> LayoutPlan {
    let order = tree.ordered_nodes();
    let mut excluded: Vec<Option<SkipReason>> = vec![None; tree.nodes.len()];
    let optional_only =
        tree.reach(|n, kind| !kind.is_optional() && (tree.is_importer(n) || kind != EdgeKind::Dev));
    for &n in &order {
        let info = &tree.pkgs.list[tree.nodes[n].pkg];
        if tree.is_member(n) {
            continue;
        }
        if !options.platform.accepts(&info.os, &info.cpu, &info.libc) {
            excluded[n] = Some(SkipReason::Platform);
        } else if options.omit_optional && !optional_only[n] {
            excluded[n] = Some(SkipReason::Optional);
        }
    }
    let kept = reach_excluding(tree, &excluded, options.omit_dev);
    let with_dev = reach_excluding(tree, &excluded, false);
    let mut plan = LayoutPlan::default();
    let mut members: BTreeMap<&str, WorkspaceLayout> = tree
        .members
        .iter()
        .map(|&m| {
            let path = tree.nodes[m].location.as_str();
            (
                path,
                WorkspaceLayout {
                    path: path.to_owned(),
                    ..WorkspaceLayout::default()
                },
            )
        })
        .collect();
    for &n in &order {
        let node = &tree.nodes[n];
        let info = &tree.pkgs.list[node.pkg];
        if let Some(path) = &info.workspace {
            plan.links.push(DirLink {
                install_path: node.name.clone(),
                target: link_target(None, &node.name, path),
                package_key: info.key.clone(),
            });
            continue;
        }
        let (member, path) = split_location(tree, &node.location);
        let path = path.to_string();
        if kept[n] {
            let placed = PlacedPackage {
                install_path: path,
                package_key: info.key.clone(),
            };
            let link = info.link.then(|| {
                let origin = info.origin.as_deref().unwrap_or(&info.version);
                let dir = origin
                    .strip_prefix("file:")
                    .or_else(|| origin.strip_prefix("link:"))
                    .unwrap_or(origin);
                DirLink {
                    target: link_target(member, &placed.install_path, dir),
                    install_path: placed.install_path.clone(),
                    package_key: placed.package_key.clone(),
                }
            });
            match (member.and_then(|m| members.get_mut(m)), link) {
                (Some(ws), Some(link)) => ws.links.push(link),
                (Some(ws), None) => ws.nodes.push(placed),
                (None, Some(link)) => plan.links.push(link),
                (None, None) => plan.nodes.push(placed),
            }
            continue;
        }
        let reason = excluded[n].clone().unwrap_or(if with_dev[n] {
            SkipReason::Dev
        } else {
            SkipReason::Unreachable
        });
        let required = reason == SkipReason::Platform && optional_only[n];
        plan.skipped.push(SkippedPackage {
            install_path: match member {
                Some(m) => format!("../{m}/node_modules/{path}"),
                None => path,
            },
            package_key: info.key.clone(),
            reason,
            required,
        });
    }
    for (member, link) in bin_links(tree, &order, &kept) {
        match member.and_then(|m| members.get_mut(m)) {
            Some(ws) => ws.bin_links.push(link),
            None => plan.bin_links.push(link),
        }
    }
    plan.links
        .sort_by(|a, b| a.install_path.cmp(&b.install_path));
    plan.workspaces = members.into_values().collect();
    plan
}

fn reach_excluding(tree: &Tree, excluded: &[Option<SkipReason>], omit_dev: bool) -> Vec<bool> {
    let mut reached = vec![false; tree.nodes.len()];
    reached[ROOT] = true;
    let mut stack = vec![ROOT];
    for &m in &tree.members {
        reached[m] = true;
        stack.push(m);
    }
    while let Some(n) = stack.pop() {
        for d in tree.pkgs.list[tree.nodes[n].pkg].deps.iter() {
            if d.bundled || (tree.is_importer(n) && omit_dev && d.kind == EdgeKind::Dev) {
                continue;
            }
            if let Some(t) = tree.resolve(n, &d.name)
                && tree.nodes[t].alive
                && excluded[t].is_none()
                && !reached[t]
            {
                reached[t] = true;
                stack.push(t);
            }
        }
    }
    reached
}

/// Every kept package's commands go into the `.bin` of the node_modules that holds it (a
/// member's own node_modules for what is nested there: the member's path comes with each). When
/// two packages there claim one command, a direct dependency of that directory's owner wins,
/// else the first in npm's order.
fn bin_links<'t>(
    tree: &'t Tree,
    order: &[NodeIdx],
    kept: &[bool],
) -> Vec<(Option<&'t str>, BinLink)> {
    let mut links: BTreeMap<(Option<&str>, String), (bool, BinLink)> = BTreeMap::new();
    for &n in order {
        if !kept[n] {
            continue;
        }
        let node = &tree.nodes[n];
        let info = &tree.pkgs.list[node.pkg];
        let Some(parent) = node.parent else { continue };
        let (member, bin_dir) = if parent == ROOT {
            (None, ".bin".to_string())
        } else if tree.is_member(parent) {
            (
                Some(tree.nodes[parent].location.as_str()),
                ".bin".to_string(),
            )
        } else {
            let (member, dir) = split_location(tree, &tree.nodes[parent].location);
            (member, format!("{dir}/node_modules/.bin"))
        };
        let direct = tree.pkgs.list[tree.nodes[parent].pkg]
            .deps
            .iter()
            .any(|d| d.name == node.name);
        for (command, path) in &info.bin {
            let link = BinLink {
                link_path: format!("{bin_dir}/{command}"),
                target: format!("../{}/{path}", node.name),
                package_key: info.key.clone(),
            };
            let slot = (member, link.link_path.clone());
            match links.get(&slot) {
                Some((existing_direct, _)) if *existing_direct || !direct => {}
                _ => {
                    links.insert(slot, (direct, link));
                }
            }
        }
    }
    links
        .into_iter()
        .map(|((member, _), (_, l))| (member, l))
        .collect()
}

struct LockChooser<'a> {
    resolution: &'a Lockfile,
    overrides: &'a Overrides,
}

impl Chooser for LockChooser<'_> {
    fn choose(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        _advisory: Option<&Dep>,
    ) -> Result<Choice, ResolveError> {
        let from_key = &pkgs.list[from].key;
        let edge = self
            .resolution
            .edges_of(from_key)
            .and_then(|edges| edges.get(&dep.name));
        let Some(target) = edge.and_then(|e| e.target.as_ref()) else {
            return Ok(Choice::Skip(None));
        };
        if let Some(&i) = pkgs.by_key.get(target) {
            return Ok(Choice::Known(i));
        }
        let Some(p) = self.resolution.packages.get(target) else {
            return Ok(Choice::Skip(Some(ResolveWarning::OptionalSkipped {
                dependent: from_key.clone(),
                name: dep.name.clone(),
                specifier: dep.raw.clone(),
                reason: format!("the lock names {target}, which it does not contain"),
            })));
        };
        Ok(Choice::New(Box::new(PkgInfo::from_resolved(
            target,
            p,
            self.overrides,
        ))))
    }

    fn tag_target(&self, _name: &str, _tag: &str) -> Option<String> {
        None
    }

    fn locked_target<'p>(&'p self, pkgs: &Packages, from: PkgIdx, dep: &Dep) -> Option<&'p str> {
        let edge = self
            .resolution
            .edges_of(&pkgs.list[from].key)?
            .get(&dep.name)?;
        let target = edge.target.as_deref()?;
        // Only a target the lock holds: a dangling one is left to the ranges.
        (self.resolution.packages.contains_key(target)
            || dx_formats::lockfile::workspace_path(target).is_some())
        .then_some(target)
    }
}

/// Names of every package in a plan (for quick checks in tests and tools).
pub fn planned_keys(plan: &LayoutPlan) -> HashSet<&str> {
    plan.nodes.iter().map(|n| n.package_key.as_str()).collect()
}
