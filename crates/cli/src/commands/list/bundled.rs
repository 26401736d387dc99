//! Packages a dependency ships inside its own tarball (npm's `bundleDependencies`): dx.lock
//! does not hold them (the resolver leaves such edges without a target), so `dx list` and
//! `dx why` read them from the shipping package's archive in the store: every
//! `node_modules/<name>/package.json` (scoped and nested ones included) under it. Only packages
//! with an unresolved required edge are opened, and only their package.json files are read.

use std::collections::BTreeMap;

use dx_formats::dxp::{EntryKind, EntryRef, PackageArchive};
use dx_resolve::{EdgeKind, LockedEdge, LockedPackage, Lockfile};
use dx_store::Store;
use serde_json::Value;

/// A package found inside another package's archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundled {
    /// Its name, version and dependency edges (without targets: Node finds them by walking up
    /// from where the package sits, inside the bundle first). `dev` and `optional` are those
    /// of the package that ships it.
    pub package: LockedPackage,
    /// Where it sits: its location (`node_modules/xo/node_modules/a`).
    pub path: String,
    /// The location of the placed package whose tarball ships it (`node_modules/xo`).
    pub bundled_by: String,
}

/// Whether a placed package may ship bundled dependencies: it has a required edge dx.lock
/// leaves without a target (the resolver's mark of a bundled dependency).
fn may_bundle(package: &LockedPackage) -> bool {
    package
        .dependencies
        .values()
        .any(|e| e.target.is_none() && e.kind == EdgeKind::Normal)
}

/// Whether any placed package may ship bundled dependencies (else the store is not opened).
pub fn any_may_bundle(lock: &Lockfile, placed: &BTreeMap<String, String>) -> bool {
    placed
        .values()
        .any(|key| lock.packages.get(key).is_some_and(may_bundle))
}

/// The bundled packages of every placed package that may have some (`placed`: location ->
/// key), by location (`node_modules/xo/node_modules/eslint-config-xo-typescript`). A location
/// the layout places a package at is left to the placed package (npm never places one where a
/// bundled one is). Packages whose archive the store cannot give are reported in the returned
/// messages and skipped.
pub fn read_bundled(
    store: &Store,
    lock: &Lockfile,
    placed: &BTreeMap<String, String>,
) -> (BTreeMap<String, Bundled>, Vec<String>) {
    let mut found = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, key) in placed {
        let Some(package) = lock.packages.get(key).filter(|p| may_bundle(p)) else {
            continue;
        };
        let read = archive_of(store, key, package).and_then(|stored| {
            let archive = stored
                .archive()
                .map_err(|e| format!("cannot read {key}'s archive: {e}"))?;
            let mut out = Vec::new();
            collect(&archive, "node_modules", &mut out);
            Ok(out)
        });
        match read {
            Ok(list) => {
                for (relative, mut bundled) in list {
                    let at = format!("{path}/{relative}");
                    if placed.contains_key(&at) {
                        continue;
                    }
                    bundled.dev = package.dev;
                    bundled.optional = package.optional;
                    found.insert(
                        at.clone(),
                        Bundled {
                            package: bundled,
                            path: at,
                            bundled_by: path.clone(),
                        },
                    );
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    (found, problems)
}

fn archive_of(
    store: &Store,
    key: &str,
    package: &LockedPackage,
) -> Result<dx_store::StoredArchive, String> {
    let integrity = package
        .integrity
        .as_ref()
        .ok_or_else(|| format!("{key} has no integrity in dx.lock"))?;
    let hash = store
        .lookup_integrity(integrity)
        .map_err(|e| format!("cannot look up {key} in the store: {e}"))?
        .ok_or_else(|| format!("{key} is not in the store (run `dx install`)"))?;
    store
        .get(&hash)
        .map_err(|e| format!("cannot open {key}'s archive: {e}"))?
        .ok_or_else(|| format!("{key} is not in the store (run `dx install`)"))
}

/// Every package directory under the archive directory `dir` (a `node_modules`): each child
/// with a package.json, each `@scope`'s children, and recursively their own `node_modules`.
/// Paths are relative to the package root (`node_modules/@s/a`).
fn collect(archive: &PackageArchive<'_>, dir: &str, out: &mut Vec<(String, LockedPackage)>) {
    let Some(entry) = archive.get(dir).filter(|e| e.kind() == EntryKind::Dir) else {
        return;
    };
    for child in children(archive, &entry) {
        if child.name().starts_with('@') {
            for scoped in children(archive, &child) {
                package_at(archive, &scoped, out);
            }
        } else if !child.name().starts_with('.') {
            package_at(archive, &child, out);
        }
    }
}

fn children<'a>(archive: &PackageArchive<'a>, dir: &EntryRef<'a>) -> Vec<EntryRef<'a>> {
    if dir.kind() != EntryKind::Dir {
        return Vec::new();
    }
    archive
        .children(dir)
        .map(|c| c.filter(|e| e.kind() == EntryKind::Dir).collect())
        .unwrap_or_default()
}

fn package_at(
    archive: &PackageArchive<'_>,
    dir: &EntryRef<'_>,
    out: &mut Vec<(String, LockedPackage)>,
) {
    let Some(manifest) = archive
        .child(dir, "package.json")
        .and_then(|e| archive.read(&e).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
    else {
        return;
    };
    let folder = dir
        .path()
        .rsplit_once("node_modules/")
        .map_or("", |(_, n)| n);
    out.push((dir.path().to_owned(), from_manifest(folder, &manifest)));
    collect(archive, &format!("{}/node_modules", dir.path()), out);
}

/// A bundled package's name, version and edges from its package.json, each name once with
/// npm's precedence (optional over plain, peers only where no other section names them).
fn from_manifest(folder: &str, manifest: &Value) -> LockedPackage {
    let text = |field: &str| {
        manifest
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut dependencies = BTreeMap::new();
    let optional_peer = |name: &str| {
        manifest
            .pointer(&format!(
                "/peerDependenciesMeta/{}/optional",
                name.replace('/', "~1")
            ))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    for (section, kind) in [
        ("peerDependencies", EdgeKind::Peer),
        ("dependencies", EdgeKind::Normal),
        ("optionalDependencies", EdgeKind::Optional),
    ] {
        let Some(Value::Object(entries)) = manifest.get(section) else {
            continue;
        };
        for (name, spec) in entries {
            let kind = if kind == EdgeKind::Peer && optional_peer(name) {
                EdgeKind::OptionalPeer
            } else {
                kind
            };
            let edge = LockedEdge {
                specifier: spec.as_str().unwrap_or_default().to_owned(),
                kind,
                target: None,
            };
            dependencies.insert(name.clone(), edge);
        }
    }
    LockedPackage {
        name: text("name").unwrap_or_else(|| folder.to_owned()),
        version: text("version").unwrap_or_default(),
        dependencies: dependencies.into(),
        ..LockedPackage::default()
    }
}

#[cfg(test)]
mod tests {
    use dx_formats::dxp::{ArchiveBuilder, BuildLimits};

    use super::*;

    #[test]
    fn bundled_packages_are_found_with_their_edges() {
        let mut builder = ArchiveBuilder::new(BuildLimits::default());
        let files: [(&str, &str); 6] = [
            ("package.json", r#"{"name":"xo","version":"1.0.0"}"#),
            (
                "node_modules/a/package.json",
                r#"{"name":"a","version":"2.0.0","dependencies":{"b":"^1","o":"1"},"optionalDependencies":{"o":"^1"},"peerDependencies":{"p":"*","q":"*"},"peerDependenciesMeta":{"q":{"optional":true}}}"#,
            ),
            (
                "node_modules/a/node_modules/b/package.json",
                r#"{"name":"b","version":"1.1.0"}"#,
            ),
            ("node_modules/@s/c/package.json", r#"{"version":"3.0.0"}"#),
            ("node_modules/no-manifest/index.js", ""),
            ("node_modules/.bin/a", ""),
        ];
        for (path, text) in files {
            builder.add_file(path, false, text.as_bytes()).unwrap();
        }
        let built = builder.finish().unwrap();
        let archive = PackageArchive::parse(&built.bytes).unwrap();
        let mut out = Vec::new();
        collect(&archive, "node_modules", &mut out);
        let found: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|(path, p)| (path.as_str(), p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("node_modules/@s/c", "@s/c", "3.0.0"),
                ("node_modules/a", "a", "2.0.0"),
                ("node_modules/a/node_modules/b", "b", "1.1.0"),
            ]
        );
        let a = &out[1].1.dependencies;
        let kinds: Vec<(&str, EdgeKind, &str)> = a
            .iter()
            .map(|(n, e)| (n.as_str(), e.kind, e.specifier.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("b", EdgeKind::Normal, "^1"),
                ("o", EdgeKind::Optional, "^1"),
                ("p", EdgeKind::Peer, "*"),
                ("q", EdgeKind::OptionalPeer, "*"),
            ]
        );
    }
}
