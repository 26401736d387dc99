//! Lockfiles that record where each package sits in node_modules (npm's package-lock.json and
//! Bun's bun.lock) share one model: a tree of placed packages, whose dependency edges are found
//! the way node's `require` finds them — in the dependent's own node_modules, then in each
//! ancestor's.

use std::collections::{BTreeMap, BTreeSet};

use dx_formats::hash::Integrity;
use dx_formats::lockfile::{EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, package_key};

use crate::MigrateError;

/// One dependency as the dependent declares it.
#[derive(Debug, Clone)]
pub struct DeclaredDep {
    /// The name it is installed under (an alias's own name).
    pub name: String,
    /// The specifier as written.
    pub spec: String,
    /// Its kind.
    pub kind: EdgeKind,
}

/// A package at one place in node_modules: what dx.lock records of it (its edges still
/// empty), and its dependencies as declared, to be found from this place.
#[derive(Debug, Clone, Default)]
pub struct PlacedNode {
    /// The package (real name, version, tarball, integrity, bin, platform filters, flags).
    pub package: LockedPackage,
    /// What it depends on.
    pub deps: Vec<DeclaredDep>,
}

/// The placed tree: every package by its path, a list of install names (`["a", "@s/b"]` is
/// `node_modules/a/node_modules/@s/b`).
#[derive(Debug, Default)]
pub struct PlacedTree {
    /// The root project's dependencies (from package.json, see [`PlacedTree::into_resolution`]).
    root_deps: Vec<DeclaredDep>,
    /// Packages by path. A path inside a workspace member's own node_modules starts with
    /// [`member_root`] of the member's directory.
    pub nodes: BTreeMap<Vec<String>, PlacedNode>,
    /// Workspace members by directory: name, version, dependencies (dev included).
    pub members: BTreeMap<String, (String, String, Vec<DeclaredDep>)>,
    /// Directory links by path (`["a"]` → `packages/a`): a member, or a `file:` directory.
    pub links: BTreeMap<Vec<String>, String>,
}

/// The first path element of what sits in the member at `dir`'s own node_modules: resolution
/// from there climbs to the root's node_modules next, as node's does from `<dir>`.
pub fn member_root(dir: &str) -> String {
    format!("\0{dir}")
}

impl PlacedTree {
    /// The key of what `require(name)` finds from the package at `from` (empty: the root): a
    /// placed package, or a member through its link.
    fn find(&self, from: &[String], name: &str) -> Option<String> {
        let mut probe: Vec<String> = from.to_vec();
        loop {
            probe.push(name.to_owned());
            if let Some(node) = self.nodes.get(&probe) {
                return Some(package_key(&node.package.name, &node.package.version));
            }
            if let Some(dir) = self.links.get(&probe) {
                self.members.get(dir)?;
                return Some(dx_formats::lockfile::workspace_key(name, dir));
            }
            probe.pop();
            probe.pop()?;
        }
    }

    fn edges(&self, from: &[String], deps: &[DeclaredDep]) -> BTreeMap<String, LockedEdge> {
        deps.iter()
            .map(|d| {
                let target = self.find(from, &d.name);
                (
                    d.name.clone(),
                    LockedEdge {
                        specifier: d.spec.clone(),
                        kind: d.kind,
                        target,
                    },
                )
            })
            .collect()
    }

    /// The lock the tree records, and every `name@version` in it. A package placed at
    /// several paths is recorded once, with the edges seen from its shallowest place.
    pub fn into_resolution(
        mut self,
        root_manifest: &serde_json::Value,
    ) -> (Lockfile, BTreeSet<String>) {
        self.root_deps = declared(root_manifest, true);
        let mut paths: Vec<&Vec<String>> = self.nodes.keys().collect();
        paths.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        let mut packages = BTreeMap::new();
        for path in paths {
            let node = &self.nodes[path];
            let key = package_key(&node.package.name, &node.package.version);
            if packages.contains_key(&key) {
                continue;
            }
            let package = LockedPackage {
                dependencies: self.edges(path, &node.deps).into(),
                ..node.package.clone()
            };
            packages.insert(key, package);
        }
        let versions = packages.keys().cloned().collect();
        let root = Importer {
            edges: self.edges(&[], &self.root_deps).into(),
            overrides: BTreeMap::new(),
        };
        let workspaces = self
            .members
            .iter()
            .map(|(dir, (name, version, deps))| {
                // npm leaves `name` out of a member's entry: its link in node_modules has it.
                let name = match name.is_empty() {
                    false => name.clone(),
                    true => self
                        .links
                        .iter()
                        .find(|(_, d)| *d == dir)
                        .and_then(|(path, _)| path.last().cloned())
                        .unwrap_or_else(|| dir.rsplit('/').next().unwrap_or(dir).to_owned()),
                };
                let ws = dx_formats::lockfile::Workspace {
                    name: name.clone(),
                    version: version.clone(),
                    importer: Importer {
                        edges: self.edges(&[member_root(dir)], deps).into(),
                        overrides: BTreeMap::new(),
                    },
                    bin: BTreeMap::new(),
                };
                (dir.clone(), ws)
            })
            .collect();
        (
            Lockfile {
                root,
                workspaces,
                packages,
            },
            versions,
        )
    }
}

/// Declared dependencies from a manifest-shaped JSON object: `dependencies`,
/// `devDependencies` (when `with_dev`), `optionalDependencies` (winning over `dependencies`),
/// `peerDependencies` with `peerDependenciesMeta` (or Bun's `optionalPeers` list).
pub fn declared(object: &serde_json::Value, with_dev: bool) -> Vec<DeclaredDep> {
    let map = |key: &str| -> Vec<(String, String)> {
        object
            .get(key)
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let optional_peers: BTreeSet<String> = object
        .get("peerDependenciesMeta")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter(|(_, meta)| meta.get("optional").and_then(|o| o.as_bool()) == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let bun_optional_peers: BTreeSet<String> = object
        .get("optionalPeers")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let optional: BTreeMap<String, String> = map("optionalDependencies").into_iter().collect();
    let mut out = Vec::new();
    for (name, spec) in map("dependencies") {
        if !optional.contains_key(&name) {
            out.push(DeclaredDep {
                name,
                spec,
                kind: EdgeKind::Normal,
            });
        }
    }
    if with_dev {
        for (name, spec) in map("devDependencies") {
            out.push(DeclaredDep {
                name,
                spec,
                kind: EdgeKind::Dev,
            });
        }
    }
    for (name, spec) in optional {
        out.push(DeclaredDep {
            name,
            spec,
            kind: EdgeKind::Optional,
        });
    }
    for (name, spec) in map("peerDependencies") {
        let kind = if optional_peers.contains(&name) || bun_optional_peers.contains(&name) {
            EdgeKind::OptionalPeer
        } else {
            EdgeKind::Peer
        };
        out.push(DeclaredDep { name, spec, kind });
    }
    out
}

/// An integrity as a foreign lockfile records it (`sha512-…`, several hashes, or a legacy hex
/// sha1 `shasum`); one that does not parse is an error naming `file` and the package `what`,
/// never dropped.
pub fn integrity(
    file: &str,
    what: &str,
    sri: Option<&str>,
    sha1_hex: Option<&str>,
) -> Result<Option<Integrity>, MigrateError> {
    let invalid = |e: dx_formats::hash::HashError| MigrateError::Invalid {
        file: file.to_owned(),
        message: format!("{what}: {e}"),
    };
    match (sri, sha1_hex) {
        (Some(sri), _) => sri.parse().map(Some).map_err(invalid),
        (None, Some(hex)) => Integrity::from_sha1_hex(hex).map(Some).map_err(invalid),
        (None, None) => Ok(None),
    }
}

/// A string list field (`os`, `cpu`, `libc`), accepting a lone string.
pub fn string_list(object: &serde_json::Value, key: &str) -> Vec<String> {
    match object.get(key) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// `bin` (string or object) normalized as npm does.
pub fn bins(name: &str, object: &serde_json::Value) -> BTreeMap<String, String> {
    let raw = match object.get("bin") {
        Some(serde_json::Value::String(s)) => dx_resolve::RawBin::Single(s.clone()),
        Some(serde_json::Value::Object(m)) => dx_resolve::RawBin::Map(
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect(),
        ),
        _ => dx_resolve::RawBin::None,
    };
    dx_resolve::bins::normalize_bin(name, &raw)
}

/// Splits a path of names joined by `/` (`a/@s/b/c`) into install names, keeping scopes whole.
pub fn split_names(path: &str) -> Option<Vec<String>> {
    let mut names = Vec::new();
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part.is_empty() {
            return None;
        }
        if part.starts_with('@') {
            let rest = parts.next().filter(|r| !r.is_empty())?;
            names.push(format!("{part}/{rest}"));
        } else {
            names.push(part.to_owned());
        }
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dependencies_like_require() {
        let mut tree = PlacedTree::default();
        let node = |name: &str, version: &str, deps: &[&str]| PlacedNode {
            package: LockedPackage {
                name: name.into(),
                version: version.into(),
                ..LockedPackage::default()
            },
            deps: deps
                .iter()
                .map(|d| DeclaredDep {
                    name: (*d).into(),
                    spec: "*".into(),
                    kind: EdgeKind::Normal,
                })
                .collect(),
        };
        tree.nodes
            .insert(vec!["a".into()], node("a", "1.0.0", &["b", "c"]));
        tree.nodes.insert(vec!["b".into()], node("b", "1.0.0", &[]));
        tree.nodes
            .insert(vec!["a".into(), "b".into()], node("b", "2.0.0", &["c"]));
        tree.nodes.insert(vec!["c".into()], node("c", "1.0.0", &[]));
        let (resolution, versions) =
            tree.into_resolution(&serde_json::json!({ "dependencies": { "a": "^1" } }));
        assert_eq!(versions.len(), 4);
        let a = &resolution.packages["a@1.0.0"];
        assert_eq!(a.dependencies["b"].target.as_deref(), Some("b@2.0.0"));
        assert_eq!(a.dependencies["c"].target.as_deref(), Some("c@1.0.0"));
        assert_eq!(
            resolution.packages["b@2.0.0"].dependencies["c"]
                .target
                .as_deref(),
            Some("c@1.0.0")
        );
        assert_eq!(
            resolution.root.edges["a"].target.as_deref(),
            Some("a@1.0.0")
        );
    }

    #[test]
    fn splits_scoped_paths() {
        assert_eq!(
            split_names("a/@s/b/c"),
            Some(vec!["a".into(), "@s/b".into(), "c".into()])
        );
        assert_eq!(split_names("@s"), None);
        assert_eq!(split_names("a//b"), None);
    }
}
