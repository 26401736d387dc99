//! pnpm's `pnpm-lock.yaml`, lockfile versions 6 (`'6.0'`, `'6.1'`) and 9 (`'9.0'`):
//!
//! ```text
//! importers:
//!   .:                                  # the root; other keys are workspace members
//!     dependencies:
//!       react: {specifier: ^18.2.0, version: 18.2.0}
//!       b: {specifier: workspace:*, version: link:../b}
//! packages:                             # v9: metadata only; v6: keys `/name@version`, with
//!   react@18.2.0:                       #     the dependencies below inline
//!     resolution: {integrity: sha512-…}
//! snapshots:                            # v9 only: each variant's resolved dependencies
//!   react-dom@18.2.0(react@18.2.0):
//!     dependencies: {react: 18.2.0, scheduler: 0.23.0}
//! ```
//!
//! Versions carry their peers' versions in parentheses (`18.2.0(react@18.2.0)`): dx keeps one
//! copy per `name@version`, so the suffix is dropped. A dependency's version may be an alias
//! (`real@1.0.0`), a workspace link (`link:../b`) or a non-registry source (`file:`, git, a
//! URL), which the resolver resolves again. pnpm records no ranges for a package's own
//! dependencies: the importer leaves those edges' specifiers empty and `complete_metadata`
//! false, so the caller fills them (with `bin`, `os`, …) from the packuments.

use std::collections::{BTreeMap, BTreeSet};

use dx_formats::lockfile::{
    EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, Workspace, package_key, workspace_key,
};
use serde_json::Value;

use crate::placed::integrity;
use crate::{Format, ImportOptions, Imported, MigrateError};

/// Reads a pnpm-lock.yaml.
pub fn import(
    file: &str,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| MigrateError::Invalid {
        file: file.to_owned(),
        message: format!("not valid YAML: {}", first_line(&e.to_string())),
    })?;
    let version = match &doc["lockfileVersion"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if !(6..=9).contains(&major) || major == 7 || major == 8 {
        return Err(MigrateError::Unsupported {
            file: file.to_owned(),
            message: format!(
                "lockfileVersion {version:?} is not read (dx reads pnpm's versions 6 and 9; run `pnpm install` with pnpm 8 or later to rewrite it)"
            ),
        });
    }
    let v9 = major == 9;
    let meta = doc["packages"].as_object();
    let snapshots = if v9 {
        doc["snapshots"].as_object()
    } else {
        meta
    };
    let mut packages: BTreeMap<String, LockedPackage> = BTreeMap::new();
    for (raw_key, snapshot) in snapshots.into_iter().flatten() {
        let Some((name, version)) = split_key(raw_key) else {
            return Err(MigrateError::Invalid {
                file: file.to_owned(),
                message: format!("package key {raw_key:?} is not name@version"),
            });
        };
        if !is_registry_version(version) {
            continue; // resolved again
        }
        let key = package_key(name, version);
        if packages.contains_key(&key) {
            continue; // another peer variant of the same version
        }
        let info = if v9 {
            meta.and_then(|m| m.get(&format!("{name}@{version}")))
                .unwrap_or(&Value::Null)
        } else {
            snapshot
        };
        let resolution = &info["resolution"];
        let integrity = integrity(file, &key, resolution["integrity"].as_str(), None)?;
        let resolved = resolution["tarball"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some((options.tarball_url)(name, version)));
        let mut dependencies = BTreeMap::new();
        for (section, kind) in [
            ("dependencies", EdgeKind::Normal),
            ("optionalDependencies", EdgeKind::Optional),
        ] {
            for (dep, value) in snapshot[section].as_object().into_iter().flatten() {
                let Some(target) = value.as_str().and_then(|v| dep_target(dep, v)) else {
                    continue;
                };
                dependencies.insert(
                    dep.clone(),
                    LockedEdge {
                        specifier: String::new(),
                        kind,
                        target: Some(target),
                    },
                );
            }
        }
        packages.insert(
            key,
            LockedPackage {
                name: name.to_owned(),
                version: version.to_owned(),
                resolved,
                integrity,
                dependencies: dependencies.into(),
                os: strings(&info["os"]),
                cpu: strings(&info["cpu"]),
                libc: strings(&info["libc"]),
                has_install_script: info["requiresBuild"].as_bool().unwrap_or(false),
                optional: info["optional"].as_bool().unwrap_or(false),
                dev: info["dev"].as_bool().unwrap_or(false),
                ..LockedPackage::default()
            },
        );
    }
    let mut root = Importer::default();
    let mut workspaces = BTreeMap::new();
    for (path, importer) in doc["importers"].as_object().into_iter().flatten() {
        let edges = importer_edges(path, importer);
        if path == "." {
            root.edges = edges.into();
        } else {
            workspaces.insert(
                path.trim_start_matches("./").to_owned(),
                Workspace {
                    importer: Importer {
                        edges: edges.into(),
                        overrides: BTreeMap::new(),
                    },
                    ..Workspace::default()
                },
            );
        }
    }
    // A lockfile of one project (no `importers`, pnpm < 7 style inside v6) lists the root's
    // dependencies at the top level.
    if doc["importers"].is_null() {
        root.edges = importer_edges(".", &doc).into();
    }
    let versions: BTreeSet<String> = packages.keys().cloned().collect();
    Ok(Imported {
        format: Format::PnpmLock,
        resolution: Lockfile {
            root,
            workspaces,
            packages,
        },
        versions,
        complete_metadata: false,
    })
}

/// The edges of one importer (`.` or a member's path): specifiers as written, targets from
/// the recorded versions.
fn importer_edges(path: &str, importer: &Value) -> BTreeMap<String, LockedEdge> {
    let mut edges = BTreeMap::new();
    for (section, kind) in [
        ("dependencies", EdgeKind::Normal),
        ("optionalDependencies", EdgeKind::Optional),
        ("devDependencies", EdgeKind::Dev),
    ] {
        for (dep, entry) in importer[section].as_object().into_iter().flatten() {
            let (specifier, version) = match entry {
                Value::Object(_) => (
                    entry["specifier"].as_str().unwrap_or_default().to_owned(),
                    entry["version"].as_str().unwrap_or_default(),
                ),
                _ => continue,
            };
            let target = match version.strip_prefix("link:") {
                Some(rel) => Some(workspace_key(dep, &join(path, rel))),
                None => dep_target(dep, version),
            };
            edges.insert(
                dep.clone(),
                LockedEdge {
                    specifier,
                    kind,
                    target,
                },
            );
        }
    }
    edges
}

/// `name@version` (a scope's `@` kept, a leading `/` and a peer suffix dropped).
fn split_key(raw: &str) -> Option<(&str, &str)> {
    let key = raw.strip_prefix('/').unwrap_or(raw);
    let key = key.split('(').next().unwrap_or(key);
    let at = key.get(1..)?.rfind('@')? + 1;
    let (name, version) = (&key[..at], &key[at + 1..]);
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// The package key a dependency's recorded version points at (`1.0.0(peer@2)` → `dep@1.0.0`,
/// an alias `real@1.0.0` → `real@1.0.0`); `None` for a link or a non-registry source.
fn dep_target(dep: &str, value: &str) -> Option<String> {
    let value = value.split('(').next().unwrap_or(value);
    if value.starts_with("link:") {
        return None;
    }
    // An alias (`real@1.0.0`, `@s/real@1.0.0`): the version follows the last `@`.
    let (name, version) = match value.get(1..).and_then(|r| r.rfind('@')) {
        Some(i) => (&value[..i + 1], &value[i + 2..]),
        None => (dep, value),
    };
    is_registry_version(version).then(|| package_key(name, version))
}

/// A plain version (not `file:`, `link:`, a git or tarball source).
fn is_registry_version(version: &str) -> bool {
    !version.contains(':') && !version.contains('/')
}

/// A member's link target, relative to the root (`packages/a` + `../b` → `packages/b`).
fn join(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> (serde_json::Value, impl Fn(&str, &str) -> String) {
        (serde_json::json!({}), |n: &str, v: &str| {
            format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz")
        })
    }

    const V9: &str = r#"lockfileVersion: '9.0'

settings:
  autoInstallPeers: true

importers:

  .:
    dependencies:
      react-dom:
        specifier: ^18.2.0
        version: 18.2.0(react@18.2.0)
    devDependencies:
      alias:
        specifier: npm:util@^3.0.0
        version: util@3.0.0

  packages/app:
    dependencies:
      lib:
        specifier: workspace:*
        version: link:../lib
      react:
        specifier: 18.2.0
        version: 18.2.0

packages:

  react-dom@18.2.0:
    resolution: {integrity: sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==}
    peerDependencies:
      react: ^18.2.0

  react@18.2.0:
    resolution: {integrity: sha512-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA==}
    engines: {node: '>=0.10.0'}

  util@3.0.0:
    resolution: {integrity: sha512-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA==}
    hasBin: true

snapshots:

  react-dom@18.2.0(react@18.2.0):
    dependencies:
      react: 18.2.0

  react@18.2.0: {}

  util@3.0.0: {}
"#;

    #[test]
    fn v9_keeps_every_version_with_members_and_aliases() {
        let (root, url) = options();
        let opts = ImportOptions {
            root_manifest: &root,
            tarball_url: &url,
            members: &[],
        };
        let imported = import("pnpm-lock.yaml", V9, &opts).expect("imports");
        let keys: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
        assert_eq!(keys, ["react-dom@18.2.0", "react@18.2.0", "util@3.0.0"]);
        let lock = &imported.resolution;
        assert_eq!(
            lock.root.edges["react-dom"].target.as_deref(),
            Some("react-dom@18.2.0")
        );
        assert_eq!(lock.root.edges["alias"].kind, EdgeKind::Dev);
        assert_eq!(
            lock.root.edges["alias"].target.as_deref(),
            Some("util@3.0.0")
        );
        let app = &lock.workspaces["packages/app"].importer.edges;
        assert_eq!(
            app["lib"].target.as_deref(),
            Some("lib@workspace:packages/lib")
        );
        assert_eq!(app["react"].specifier, "18.2.0");
        assert_eq!(
            lock.packages["react-dom@18.2.0"].dependencies["react"]
                .target
                .as_deref(),
            Some("react@18.2.0")
        );
        assert!(lock.packages["react@18.2.0"].integrity.is_some());
        assert!(
            lock.packages["util@3.0.0"]
                .resolved
                .as_deref()
                .is_some_and(|u| u.ends_with("util-3.0.0.tgz"))
        );
    }

    #[test]
    fn v6_reads_slash_keys_and_inline_dependencies() {
        let v6 = r#"lockfileVersion: '6.0'
dependencies:
  a:
    specifier: ^1.0.0
    version: 1.0.0
packages:
  /a@1.0.0:
    resolution: {integrity: sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==}
    dependencies:
      b: 2.0.0
    dev: false
  /b@2.0.0:
    resolution: {integrity: sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==}
    dev: false
"#;
        let (root, url) = options();
        let opts = ImportOptions {
            root_manifest: &root,
            tarball_url: &url,
            members: &[],
        };
        let imported = import("pnpm-lock.yaml", v6, &opts).expect("imports");
        assert_eq!(imported.versions.len(), 2);
        let lock = &imported.resolution;
        assert_eq!(lock.root.edges["a"].target.as_deref(), Some("a@1.0.0"));
        assert_eq!(
            lock.packages["a@1.0.0"].dependencies["b"].target.as_deref(),
            Some("b@2.0.0")
        );
    }

    #[test]
    fn bad_input_is_an_error_naming_the_file() {
        let (root, url) = options();
        let opts = ImportOptions {
            root_manifest: &root,
            tarball_url: &url,
            members: &[],
        };
        for (text, wanted) in [
            (
                "lockfileVersion: '5.4'\n",
                "lockfileVersion \"5.4\" is not read",
            ),
            ("lockfileVersion: [\n", "not valid YAML"),
            (
                "lockfileVersion: '9.0'\nsnapshots:\n  nover: {}\n",
                "is not name@version",
            ),
        ] {
            let err = import("pnpm-lock.yaml", text, &opts)
                .expect_err(text)
                .to_string();
            assert!(
                err.starts_with("pnpm-lock.yaml: ") && err.contains(wanted),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
}
