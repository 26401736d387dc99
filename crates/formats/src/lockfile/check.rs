//! Checks of a lock against itself (edges that lead nowhere) and against the manifest it was
//! resolved for (staleness).

use std::collections::BTreeMap;
use std::fmt;

use super::{EdgeKind, Importer, LockedEdge, Lockfile};

/// An edge whose target is not in the lock (see [`Lockfile::dangling_edges`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DanglingEdge<'l> {
    /// The key of the package the edge leaves; `None` for the root project.
    pub dependent: Option<&'l str>,
    /// The name the edge requires.
    pub name: &'l str,
    /// The edge: specifier, kind and the target the lock lacks (`None`: a required root edge
    /// recorded without one).
    pub edge: &'l LockedEdge,
}

impl fmt::Display for DanglingEdge<'_> {
    /// One line naming the dependent, the edge and the missing target, e.g.
    /// ``a@1.0.0 depends on `b` (^2.0.0), locked to `b@2.0.0`, which has no `package` block``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dependent {
            Some(key) => write!(f, "{key}")?,
            None => f.write_str("the root project")?,
        }
        write!(f, " depends on `{}` ({})", self.name, self.edge.specifier)?;
        match &self.edge.target {
            Some(target) => write!(f, ", locked to `{target}`, which has no `package` block"),
            None => f.write_str(", which no `package` block provides"),
        }
    }
}

pub(super) fn dangling_edges(lock: &Lockfile) -> impl Iterator<Item = DanglingEdge<'_>> {
    let missing = |edge: &LockedEdge| {
        edge.target
            .as_ref()
            .is_some_and(|t| !lock.packages.contains_key(t))
    };
    let root = lock.root.edges.iter().filter_map(move |(name, edge)| {
        let required = matches!(edge.kind, EdgeKind::Normal | EdgeKind::Dev);
        (missing(edge) || (required && edge.target.is_none())).then_some(DanglingEdge {
            dependent: None,
            name,
            edge,
        })
    });
    let packages = lock.packages.iter().flat_map(move |(key, package)| {
        package
            .dependencies
            .iter()
            .filter(move |(_, edge)| missing(edge))
            .map(move |(name, edge)| DanglingEdge {
                dependent: Some(key),
                name,
                edge,
            })
    });
    root.chain(packages)
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

pub(super) fn first_stale(locked: &Importer, manifest: &Importer) -> Option<String> {
    let edges = SECTIONS
        .into_iter()
        .find_map(|name| first_difference(name, &section(locked, name), &section(manifest, name)));
    edges.or_else(|| {
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
