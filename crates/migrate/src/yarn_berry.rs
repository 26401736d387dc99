//! Yarn 2+ (berry) yarn.lock: YAML whose keys list every descriptor (`name@npm:^1.0.0`) that
//! resolved to an entry, with workspaces (the root `name@workspace:.` and each member
//! `name@workspace:<path>`) as entries of their own:
//!
//! ```text
//! __metadata:
//!   version: 8
//! "x@npm:^1.0.0, x@npm:^1.1.0":
//!   version: 1.2.0
//!   resolution: "x@npm:1.2.0"
//!   dependencies:
//!     z: "npm:^2.0.0"
//!   checksum: 10c0/…
//! ```
//!
//! Berry's `checksum` is a hash of its own zip archives, not the tarball's: dx records no
//! integrity from it (`complete_metadata` is false, so the caller takes the integrity and the
//! tarball URL from the registry). A workspace lists its devDependencies among `dependencies`;
//! specifiers come back without the `npm:` berry adds. Non-registry resolutions (git, `file:`,
//! patches) are resolved again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dx_formats::lockfile::{
    EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, Workspace, package_key, workspace_key,
};
use serde_json::Value;

use crate::placed::declared;
use crate::{Format, ImportOptions, Imported, MigrateError};

/// Reads a Yarn 2+ yarn.lock.
pub fn import(
    file: &str,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| MigrateError::Invalid {
        file: file.to_owned(),
        message: format!(
            "not valid YAML: {}",
            e.to_string().lines().next().unwrap_or_default()
        ),
    })?;
    let Some(entries) = doc.as_object() else {
        return Err(MigrateError::Invalid {
            file: file.to_owned(),
            message: "the top level must be a mapping".into(),
        });
    };
    // Descriptor (`name`, `range` as berry writes it) → what it resolved to.
    let mut by_descriptor: HashMap<(String, String), String> = HashMap::new();
    let mut packages = BTreeMap::new();
    let mut workspaces: BTreeMap<String, (String, &Value)> = BTreeMap::new();
    let mut root_entry = None;
    for (key, entry) in entries {
        if key == "__metadata" {
            continue;
        }
        let resolution = entry["resolution"].as_str().unwrap_or_default();
        let Some((name, locator)) = split_descriptor(resolution) else {
            return Err(MigrateError::Invalid {
                file: file.to_owned(),
                message: format!("entry {key:?} has no resolution"),
            });
        };
        let target = if let Some(path) = locator.strip_prefix("workspace:") {
            if path == "." {
                root_entry = Some(entry);
                continue;
            }
            workspaces.insert(path.to_owned(), (name.to_owned(), entry));
            workspace_key(name, path)
        } else if let Some(version) = locator.strip_prefix("npm:") {
            let key = package_key(name, version);
            packages
                .entry(key.clone())
                .or_insert_with(|| LockedPackage {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    resolved: Some((options.tarball_url)(name, version)),
                    bin: entry["bin"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default(),
                    ..LockedPackage::default()
                });
            key
        } else {
            continue; // git, file:, patch: resolved again
        };
        for descriptor in key.split(", ") {
            if let Some((n, range)) = split_descriptor(descriptor.trim()) {
                by_descriptor.insert((n.to_owned(), range.to_owned()), target.clone());
            }
        }
    }
    // Edges, now that every descriptor is known.
    let edges_of = |entry: &Value, kind_of: &dyn Fn(&str) -> EdgeKind| {
        let mut edges = BTreeMap::new();
        for section in ["dependencies", "optionalDependencies"] {
            for (dep, range) in entry[section].as_object().into_iter().flatten() {
                let Some(range) = range.as_str() else {
                    continue;
                };
                let target = by_descriptor.get(&(dep.clone(), range.to_owned())).cloned();
                let kind = if section == "optionalDependencies" {
                    EdgeKind::Optional
                } else {
                    kind_of(dep)
                };
                edges.insert(
                    dep.clone(),
                    LockedEdge {
                        specifier: range.strip_prefix("npm:").unwrap_or(range).to_owned(),
                        kind,
                        target,
                    },
                );
            }
        }
        edges
    };
    let normal = |_: &str| EdgeKind::Normal;
    for (_key, entry) in entries {
        let resolution = entry["resolution"].as_str().unwrap_or_default();
        let Some((name, locator)) = split_descriptor(resolution) else {
            continue;
        };
        let Some(version) = locator.strip_prefix("npm:") else {
            continue;
        };
        let pkg_key = package_key(name, version);
        let edges = edges_of(entry, &normal);
        if let Some(p) = packages.get_mut(&pkg_key)
            && p.dependencies.is_empty()
        {
            // Specifiers are filled from the manifests (berry keeps its own normalized ones).
            p.dependencies = edges
                .into_iter()
                .map(|(n, e)| {
                    (
                        n,
                        LockedEdge {
                            specifier: String::new(),
                            ..e
                        },
                    )
                })
                .collect();
        }
    }
    // The root: package.json's own specifiers and kinds, targets from the root entry.
    let root_targets = root_entry.map(|e| edges_of(e, &normal)).unwrap_or_default();
    let root = declared(options.root_manifest, true)
        .into_iter()
        .map(|d| {
            let target = root_targets.get(&d.name).and_then(|e| e.target.clone());
            (
                d.name,
                LockedEdge {
                    specifier: d.spec,
                    kind: d.kind,
                    target,
                },
            )
        })
        .collect();
    let workspaces = workspaces
        .into_iter()
        .map(|(path, (name, entry))| {
            let ws = Workspace {
                name,
                importer: Importer {
                    edges: edges_of(entry, &normal).into(),
                    overrides: BTreeMap::new(),
                },
                ..Workspace::default()
            };
            (path, ws)
        })
        .collect();
    let versions: BTreeSet<String> = packages.keys().cloned().collect();
    Ok(Imported {
        format: Format::YarnLock,
        resolution: Lockfile {
            root: Importer {
                edges: root,
                overrides: BTreeMap::new(),
            },
            workspaces,
            packages,
        },
        versions,
        complete_metadata: false,
    })
}

/// `@s/x@npm:^1.0.0` → (`@s/x`, `npm:^1.0.0`).
fn split_descriptor(descriptor: &str) -> Option<(&str, &str)> {
    let at = descriptor.get(1..)?.find('@')? + 1;
    Some((&descriptor[..at], &descriptor[at + 1..]))
}
