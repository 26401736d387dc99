//! Checks of a lock against itself (edges that lead nowhere) and against the manifest it was
//! resolved for (staleness).

use std::collections::BTreeMap;
use std::fmt;

use super::{
    EdgeKind, Importer, LockedEdge, Lockfile, Workspace, split_package_key, workspace_path,
};

/// Where a [`DanglingEdge`] leaves from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dependent<'l> {
    /// The root project.
    Root,
    /// The workspace member at this path (a key of [`Lockfile::workspaces`]).
    Workspace(&'l str),
    /// The package with this key (a key of [`Lockfile::packages`]).
    Package(&'l str),
}

/// An edge whose target is not in the lock (see [`Lockfile::dangling_edges`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DanglingEdge<'l> {
    /// The importer or package the edge leaves.
    pub dependent: Dependent<'l>,
    /// The name the edge requires.
    pub name: &'l str,
    /// The edge: specifier, kind and the target the lock lacks (`None`: a required importer
    /// edge recorded without one).
    pub edge: &'l LockedEdge,
}

impl fmt::Display for DanglingEdge<'_> {
    /// One line naming the dependent, the edge and the missing target, e.g.
    /// ``a@1.0.0 depends on `b` (^2.0.0), locked to `b@2.0.0`, which has no `package` block``
    /// or ``the workspace `packages/a` depends on `c` (workspace:*), locked to
    /// `c@workspace:packages/c`, which is not a workspace member of that name``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dependent {
            Dependent::Root => f.write_str("the root project")?,
            Dependent::Workspace(path) => write!(f, "the workspace `{path}`")?,
            Dependent::Package(key) => write!(f, "{key}")?,
        }
        write!(f, " depends on `{}` ({})", self.name, self.edge.specifier)?;
        match &self.edge.target {
            Some(target) if workspace_path(target).is_some() => write!(
                f,
                ", locked to `{target}`, which is not a workspace member of that name"
            ),
            Some(target) => write!(f, ", locked to `{target}`, which has no `package` block"),
            None => f.write_str(", which no `package` block provides"),
        }
    }
}

/// Whether `target` names something in `lock`: a [`super::workspace_key`] resolves to the member
/// at its path if that member has its name; any other key to a package block.
fn resolves(lock: &Lockfile, target: &str) -> bool {
    match workspace_path(target) {
        Some(path) => lock.workspaces.get(path).is_some_and(|member| {
            split_package_key(target).is_some_and(|(name, _)| name == member.name)
        }),
        None => lock.packages.contains_key(target),
    }
}

fn missing(lock: &Lockfile, edge: &LockedEdge) -> bool {
    edge.target.as_ref().is_some_and(|t| !resolves(lock, t))
}

/// An importer's dangling edges: its Normal and Dev edges must be installed, so they need a
/// target.
fn importer_dangling<'l>(
    lock: &'l Lockfile,
    dependent: Dependent<'l>,
    importer: &'l Importer,
) -> impl Iterator<Item = DanglingEdge<'l>> {
    importer.edges.iter().filter_map(move |(name, edge)| {
        let required = matches!(edge.kind, EdgeKind::Normal | EdgeKind::Dev);
        (missing(lock, edge) || (required && edge.target.is_none())).then_some(DanglingEdge {
            dependent,
            name,
            edge,
        })
    })
}

pub(super) fn dangling_edges(lock: &Lockfile) -> impl Iterator<Item = DanglingEdge<'_>> {
    let root = importer_dangling(lock, Dependent::Root, &lock.root);
    let members = lock.workspaces.iter().flat_map(move |(path, member)| {
        importer_dangling(lock, Dependent::Workspace(path), &member.importer)
    });
    let packages = lock.packages.iter().flat_map(move |(key, package)| {
        package
            .dependencies
            .iter()
            .filter(move |(_, edge)| missing(lock, edge))
            .map(move |(name, edge)| DanglingEdge {
                dependent: Dependent::Package(key),
                name,
                edge,
            })
    });
    root.chain(members).chain(packages)
}

/// The specifiers of one package.json section, from an importer's edges.
fn section<'i>(importer: &'i Importer, section: &str) -> BTreeMap<&'i str, &'i str> {
    importer
        .edges
        .iter()
        .filter(|(_, e)| e.kind.manifest_section() == section)
        .map(|(name, e)| (name.as_str(), e.specifier.as_str()))
        .collect()
}

/// The package.json sections an importer's edges come from, in the order differences are
/// reported.
const SECTIONS: [&str; 4] = [
    "dependencies",
    "devDependencies",
    "optionalDependencies",
    "peerDependencies",
];

/// The first difference between two importers' edges, section by section.
fn first_stale_edge(locked: &Importer, manifest: &Importer) -> Option<String> {
    SECTIONS
        .into_iter()
        .find_map(|name| first_difference(name, &section(locked, name), &section(manifest, name)))
}

pub(super) fn first_stale(locked: &Importer, manifest: &Importer) -> Option<String> {
    first_stale_edge(locked, manifest).or_else(|| {
        first_difference(
            "overrides",
            &borrowed(&locked.overrides),
            &borrowed(&manifest.overrides),
        )
    })
}

fn borrowed(map: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The first name (in sorted order) whose specifier differs between the lock and the manifest.
fn first_difference(
    section: &str,
    locked: &BTreeMap<&str, &str>,
    wanted: &BTreeMap<&str, &str>,
) -> Option<String> {
    let mut names: Vec<&str> = locked.keys().chain(wanted.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .find_map(|name| match (locked.get(name), wanted.get(name)) {
            (Some(l), Some(w)) if l != w => Some(format!(
                "{section}: `{name}` is `{w}` in package.json but `{l}` in dx.lock"
            )),
            (None, Some(w)) => Some(format!(
                "{section}: `{name}@{w}` is in package.json but not in dx.lock"
            )),
            (Some(l), None) => Some(format!(
                "{section}: `{name}@{l}` is in dx.lock but no longer in package.json"
            )),
            _ => None,
        })
}

/// The first difference, in path order, between the lock's members and the project's: `members`
/// yields each current member's path, its whole manifest when name, version and bins are to be
/// compared too, and its importer (edges only are compared).
pub(super) fn first_stale_member<'m>(
    locked: &BTreeMap<String, Workspace>,
    members: impl Iterator<Item = (&'m String, Option<&'m Workspace>, &'m Importer)>,
) -> Option<String> {
    let members: BTreeMap<&str, (Option<&Workspace>, &Importer)> = members
        .map(|(path, member, importer)| (path.as_str(), (member, importer)))
        .collect();
    let mut paths: Vec<&str> = locked
        .keys()
        .map(String::as_str)
        .chain(members.keys().copied())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    paths
        .into_iter()
        .find_map(|path| match (locked.get(path), members.get(path)) {
            (None, Some(_)) => Some(format!(
                "workspace `{path}` is in the project but not in dx.lock"
            )),
            (Some(_), None) => Some(format!(
                "workspace `{path}` is in dx.lock but no longer in the project"
            )),
            (Some(lock), Some((member, importer))) => member
                .and_then(|member| first_stale_identity(lock, member))
                .or_else(|| first_stale_edge(&lock.importer, importer))
                .map(|difference| format!("workspace `{path}`: {difference}")),
            (None, None) => None,
        })
}

/// A difference in what a member's package.json says about itself: name, version, bins.
fn first_stale_identity(locked: &Workspace, member: &Workspace) -> Option<String> {
    if locked.name != member.name {
        return Some(format!(
            "`name` is `{}` in package.json but `{}` in dx.lock",
            member.name, locked.name
        ));
    }
    if locked.version != member.version {
        return Some(format!(
            "`version` is `{}` in package.json but `{}` in dx.lock",
            member.version, locked.version
        ));
    }
    first_difference("bin", &borrowed(&locked.bin), &borrowed(&member.bin))
}
