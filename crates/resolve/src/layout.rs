//! The layout planner: a [`Lockfile`] (from the resolver or from dx.lock) back into npm's
//! hoisted node_modules tree and its `.bin` links, for one platform. No network: every choice
//! is the locked one, and placement reruns the same arborist algorithm the resolver used.
//!
//! Platform-mismatched packages are planned (so the rest of the tree is where npm puts it on
//! every platform) and then left out, with everything only they needed; so are dev packages
//! under `omit_dev`.

/// The layout planner's revision: bump it whenever the planner could place a package
/// differently for the same dx.lock, so layouts compiled by an older planner are not reused.
pub const LAYOUT_PLANNER_REVISION: &str = "1";

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
    let (tree, _warnings) = TreeBuilder::new(root, &mut chooser).build()?;
    Ok(plan_from_tree(&tree, options))
}

fn install_path(location: &str) -> &str {
    location.strip_prefix("node_modules/").unwrap_or(location)
}

fn plan_from_tree(tree: &Tree, options: &LayoutOptions) -> LayoutPlan {
    let order = tree.ordered_nodes();
    let mut excluded: Vec<Option<SkipReason>> = vec![None; tree.nodes.len()];
    let optional_only =
        tree.reach(|n, kind| !kind.is_optional() && (n == ROOT || kind != EdgeKind::Dev));
    for &n in &order {
        let info = &tree.pkgs.list[tree.nodes[n].pkg];
        if !options.platform.accepts(&info.os, &info.cpu, &info.libc) {
            excluded[n] = Some(SkipReason::Platform);
        } else if options.omit_optional && !optional_only[n] {
            excluded[n] = Some(SkipReason::Optional);
        }
    }
    let kept = reach_excluding(tree, &excluded, options.omit_dev);
    let with_dev = reach_excluding(tree, &excluded, false);
    let mut plan = LayoutPlan::default();
    for &n in &order {
        let node = &tree.nodes[n];
        let info = &tree.pkgs.list[node.pkg];
        let path = install_path(&node.location).to_string();
        if kept[n] {
            plan.nodes.push(PlacedPackage {
                install_path: path,
                package_key: info.key.clone(),
            });
            continue;
        }
        let reason = excluded[n].clone().unwrap_or(if with_dev[n] {
            SkipReason::Dev
        } else {
            SkipReason::Unreachable
        });
        let required = reason == SkipReason::Platform && optional_only[n];
        plan.skipped.push(SkippedPackage {
            install_path: path,
            package_key: info.key.clone(),
            reason,
            required,
        });
    }
    plan.bin_links = bin_links(tree, &order, &kept);
    plan
}

fn reach_excluding(tree: &Tree, excluded: &[Option<SkipReason>], omit_dev: bool) -> Vec<bool> {
    let mut reached = vec![false; tree.nodes.len()];
    reached[ROOT] = true;
    let mut stack = vec![ROOT];
    while let Some(n) = stack.pop() {
        for d in &tree.pkgs.list[tree.nodes[n].pkg].deps {
            if d.bundled || (n == ROOT && omit_dev && d.kind == EdgeKind::Dev) {
                continue;
            }
            if let Some(t) = tree.resolve(n, &d.name) {
                if tree.nodes[t].alive && excluded[t].is_none() && !reached[t] {
                    reached[t] = true;
                    stack.push(t);
                }
            }
        }
    }
    reached
}

/// Every kept package's commands go into the `.bin` of the node_modules that holds it. When two
/// packages there claim one command, a direct dependency of that directory's owner wins, else
/// the first in npm's order.
fn bin_links(tree: &Tree, order: &[NodeIdx], kept: &[bool]) -> Vec<BinLink> {
    let mut links: BTreeMap<String, (bool, BinLink)> = BTreeMap::new();
    for &n in order {
        if !kept[n] {
            continue;
        }
        let node = &tree.nodes[n];
        let info = &tree.pkgs.list[node.pkg];
        let Some(parent) = node.parent else { continue };
        let bin_dir = if parent == ROOT {
            ".bin".to_string()
        } else {
            format!(
                "{}/node_modules/.bin",
                install_path(&tree.nodes[parent].location)
            )
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
            match links.get(&link.link_path) {
                Some((existing_direct, _)) if *existing_direct || !direct => {}
                _ => {
                    links.insert(link.link_path.clone(), (direct, link));
                }
            }
        }
    }
    links.into_values().map(|(_, l)| l).collect()
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
        let edge = if from_key.is_empty() {
            self.resolution.root.edges.get(&dep.name)
        } else {
            self.resolution
                .packages
                .get(from_key)
                .and_then(|p| p.dependencies.get(&dep.name))
        };
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
}

/// Names of every package in a plan (for quick checks in tests and tools).
pub fn planned_keys(plan: &LayoutPlan) -> HashSet<&str> {
    plan.nodes.iter().map(|n| n.package_key.as_str()).collect()
}
