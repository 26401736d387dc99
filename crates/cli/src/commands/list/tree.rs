//! dx.lock laid out as Node sees it: every package at its location, every workspace member at
//! its directory and the links to it, and where `require` finds a name from a given place.
//!
//! Locations are npm's (package-lock.json's keys): relative to the project root,
//! `/`-separated, `node_modules/a`, `node_modules/a/node_modules/b`, a member's own
//! `packages/b/node_modules/x`, and a member itself at `packages/b`. `""` is the project.

use std::collections::BTreeMap;

use dx_formats::lockfile::workspace_path;
use dx_resolve::{
    DirLink, EdgeKind, LayoutPlan, LockedEdge, LockedPackage, Lockfile, workspace_key,
};

use dx_install::Project;

use super::bundled::Bundled;

/// The prefix of the key [`InstalledTree`] gives a bundled package: `bundled:<location>`
/// (no dx.lock key contains `:` before its `@`, so the two never meet).
pub const BUNDLED_KEY_PREFIX: &str = "bundled:";

/// The key of the bundled package at `location`.
pub fn bundled_key(location: &str) -> String {
    format!("{BUNDLED_KEY_PREFIX}{location}")
}

/// A package Node finds: where, its key and what it is.
#[derive(Clone, Copy, Debug)]
pub struct Found<'t> {
    /// Its location (for a workspace member, the member's directory, not the link to it).
    pub path: &'t str,
    /// Its key: a dx.lock key, a [`workspace_key`], or [`bundled_key`] for a bundled package.
    pub key: &'t str,
    /// The package (a member's as [`Member::package`] describes it).
    pub package: &'t LockedPackage,
    /// Whether it comes from another package's tarball rather than from dx.lock.
    pub bundled: bool,
    /// Set when found through a directory link (`node_modules/b` -> `../packages/b`): the
    /// member directory it leads to, as npm prints it after `->` (`./packages/b`).
    pub linked: Option<&'t str>,
}

/// A workspace member, described as a package so the tree can walk through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its directory (`packages/b`).
    pub path: String,
    /// Its [`workspace_key`].
    pub key: String,
    /// Its name and version (empty when it has none), its importer's edges as dependencies,
    /// and `resolved` as `npm ls --json` gives a workspace: `file:` and the root link's target
    /// (`file:../packages/b`).
    pub package: LockedPackage,
    /// The implicit edge from the project to the member (npm's `workspace` edge): specifier
    /// `file:<path>`, targeting [`Member::key`].
    pub edge: LockedEdge,
}

/// dx.lock read and laid out: what is installed, where.
pub struct InstalledTree {
    /// The project.
    pub project: Project,
    /// The lock's graph.
    pub resolution: Lockfile,
    /// Location → key, for every package installed on this platform and every workspace
    /// member (at its directory, keyed by its [`workspace_key`]).
    pub placed: BTreeMap<String, String>,
    /// Location of a link to a workspace member (`node_modules/b`) → the member's directory.
    pub links: BTreeMap<String, String>,
    /// Workspace members by [`workspace_key`].
    pub members: BTreeMap<String, Member>,
    /// Bundled packages by [`bundled_key`]: read from the archives of placed packages that
    /// ship some (see [`super::bundled`]).
    pub bundled: BTreeMap<String, Bundled>,
    /// Whether dx.lock has edges to packages it does not hold (each was warned about).
    pub incomplete: bool,
}

/// `node_modules` under `dir` (`""`: the project's), with `rest` below it.
fn under_node_modules(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        format!("node_modules/{rest}")
    } else {
        format!("{dir}/node_modules/{rest}")
    }
}

impl InstalledTree {
    /// The tree of `resolution` as `plan` lays it out (the plan made from that resolution);
    /// bundled packages are added afterwards.
    pub fn new(project: Project, resolution: Lockfile, plan: LayoutPlan) -> Self {
        let mut placed = BTreeMap::new();
        let mut links = BTreeMap::new();
        let mut link_targets: BTreeMap<String, String> = BTreeMap::new();
        let mut add_links = |dir: &str, list: Vec<DirLink>, placed: &mut BTreeMap<_, _>| {
            for link in list {
                let location = under_node_modules(dir, &link.install_path);
                match workspace_path(&link.package_key) {
                    Some(member) => {
                        if dir.is_empty() {
                            link_targets.insert(member.to_owned(), link.target.clone());
                        }
                        links.insert(location, member.to_owned());
                    }
                    // A `file:`/`link:` directory: shown where it is linked.
                    None => {
                        placed.insert(location, link.package_key);
                    }
                }
            }
        };
        for node in plan.nodes {
            placed.insert(under_node_modules("", &node.install_path), node.package_key);
        }
        add_links("", plan.links, &mut placed);
        for ws in plan.workspaces {
            for node in ws.nodes {
                placed.insert(
                    under_node_modules(&ws.path, &node.install_path),
                    node.package_key,
                );
            }
            add_links(&ws.path, ws.links, &mut placed);
        }
        let mut members = BTreeMap::new();
        for (path, ws) in &resolution.workspaces {
            let key = workspace_key(&ws.name, path);
            let target = link_targets
                .get(path)
                .cloned()
                .unwrap_or_else(|| format!("../{path}"));
            let package = LockedPackage {
                name: ws.name.clone(),
                version: ws.version.clone(),
                resolved: Some(format!("file:{target}")),
                dependencies: ws.importer.edges.clone(),
                bin: ws.bin.clone(),
                ..LockedPackage::default()
            };
            let edge = LockedEdge {
                specifier: format!("file:{path}"),
                kind: EdgeKind::Normal,
                target: Some(key.clone()),
            };
            placed.insert(path.clone(), key.clone());
            members.insert(
                key.clone(),
                Member {
                    path: path.clone(),
                    key,
                    package,
                    edge,
                },
            );
        }
        Self {
            project,
            resolution,
            placed,
            links,
            members,
            bundled: BTreeMap::new(),
            incomplete: false,
        }
    }

    /// Where Node finds `name` when required from the package at `from` (`""`: the project):
    /// in `from`'s own node_modules, then each enclosing directory's (skipping directories
    /// that are themselves named node_modules, as Node does), a placed package before a link
    /// before a bundled one at the same place.
    pub fn find(&self, from: &str, name: &str) -> Option<Found<'_>> {
        let mut dir = from;
        loop {
            let parent = dir.rfind('/').map_or("", |i| &dir[..i]);
            let base = &dir[dir.rfind('/').map_or(0, |i| i + 1)..];
            if base != "node_modules"
                && let Some(found) = self.found_at(&under_node_modules(dir, name))
            {
                return Some(found);
            }
            if dir.is_empty() {
                return None;
            }
            dir = parent;
        }
    }

    /// What sits at `location`, if anything.
    fn found_at(&self, location: &str) -> Option<Found<'_>> {
        if let Some((path, key)) = self.placed.get_key_value(location)
            && let Some(package) = self.package(key)
        {
            return Some(Found {
                path,
                key,
                package,
                bundled: false,
                linked: None,
            });
        }
        if let Some(member) = self.links.get(location) {
            let (path, key) = self.placed.get_key_value(member.as_str())?;
            return Some(Found {
                path,
                key,
                package: self.package(key)?,
                bundled: false,
                linked: Some(path),
            });
        }
        self.bundled
            .get_key_value(&bundled_key(location))
            .map(|(key, b)| Found {
                path: &key[BUNDLED_KEY_PREFIX.len()..],
                key,
                package: &b.package,
                bundled: true,
                linked: None,
            })
    }

    /// The package with key `key`: a dx.lock package, a member ([`workspace_key`]) or a
    /// bundled one ([`bundled_key`]).
    pub fn package(&self, key: &str) -> Option<&LockedPackage> {
        if key.starts_with(BUNDLED_KEY_PREFIX) {
            return self.bundled.get(key).map(|b| &b.package);
        }
        match self.members.get(key) {
            Some(member) => Some(&member.package),
            None => self.resolution.packages.get(key),
        }
    }

    /// The package installed at `location`, placed, a member or bundled.
    pub fn package_at(&self, location: &str) -> Option<&LockedPackage> {
        match self.placed.get(location) {
            Some(key) => self.package(key),
            None => self.bundled.get(&bundled_key(location)).map(|b| &b.package),
        }
    }

    /// The workspace member at directory `location`, if it is one.
    pub fn member_at(&self, location: &str) -> Option<&Member> {
        self.placed.get(location).and_then(|k| self.members.get(k))
    }

    /// The project's name and version as npm shows them: `name@version`.
    pub fn root_label(&self) -> String {
        let manifest = &self.project.manifest;
        let name = manifest.name.clone().unwrap_or_else(|| {
            self.project
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        match &manifest.version {
            Some(version) => format!("{name}@{version}"),
            None => name,
        }
    }
}

/// `name@version` as npm shows a package installed under `installed_as` (an alias shows
/// `alias@npm:real@version`; a member without a version shows `name@`, as `npm ls` does).
pub fn package_label(installed_as: &str, package: &LockedPackage) -> String {
    if installed_as == package.name {
        format!("{}@{}", package.name, package.version)
    } else {
        format!("{installed_as}@npm:{}@{}", package.name, package.version)
    }
}
