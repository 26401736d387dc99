//! npm's package-lock.json / npm-shrinkwrap.json: lockfileVersion 2 and 3 (`packages`, keyed
//! by install path) and 1 (nested `dependencies` with `requires`).

use dx_formats::lockfile::{EdgeKind, LockedPackage};
use serde_json::Value;

use crate::placed::{DeclaredDep, PlacedNode, PlacedTree, bins, declared, integrity, string_list};
use crate::{Format, ImportOptions, Imported, MigrateError};

/// Reads a package-lock.json.
pub fn import(
    file: &str,
    text: &str,
    format: Format,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        MigrateError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        }
    })?;
    let invalid = |message: String| MigrateError::Invalid {
        file: file.to_owned(),
        message,
    };
    if !doc.is_object() {
        return Err(invalid("the top level must be an object".into()));
    }
    let mut tree = PlacedTree::default();
    match doc.get("packages").and_then(Value::as_object) {
        Some(packages) => {
            for (path, entry) in packages {
                if path.is_empty() {
                    continue;
                }
                let Some(names) = install_names(path) else {
                    // A workspace member's folder (`packages/a`): an importer.
                    if !path.contains("node_modules") {
                        let name = entry
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let version = entry
                            .get("version")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        tree.members.insert(
                            path.trim_start_matches("./").to_owned(),
                            (name.to_owned(), version.to_owned(), declared(entry, true)),
                        );
                    }
                    continue;
                };
                if entry.get("link").and_then(Value::as_bool) == Some(true) {
                    if let Some(dir) = entry.get("resolved").and_then(Value::as_str) {
                        tree.links
                            .insert(names, dir.trim_start_matches("./").to_owned());
                    }
                    continue;
                }
                let fallback = names.last().cloned().unwrap_or_default();
                let name = entry
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or(fallback, str::to_owned);
                let version = entry
                    .get("version")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(format!("packages[\"{path}\"] has no version")))?;
                let deps = declared(entry, false);
                tree.nodes
                    .insert(names, node(file, &name, version, entry, deps)?);
            }
        }
        None => {
            let version = doc
                .get("lockfileVersion")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            if version >= 2 {
                return Err(invalid(format!(
                    "lockfileVersion {version} without a `packages` object"
                )));
            }
            if let Some(deps) = doc.get("dependencies") {
                walk_v1(&mut tree, &[], deps, file)?;
            }
        }
    }
    let (resolution, versions) = tree.into_resolution(options.root_manifest);
    Ok(Imported {
        format,
        resolution,
        versions,
        complete_metadata: doc.get("packages").is_some(),
    })
}

/// `node_modules/a/node_modules/@s/b` → `["a", "@s/b"]`, `packages/a/node_modules/x` →
/// `[member_root("packages/a"), "x"]`; `None` for a workspace folder itself.
fn install_names(path: &str) -> Option<Vec<String>> {
    let (member, rest) = match path.strip_prefix("node_modules/") {
        Some(rest) => (None, rest),
        None => {
            let (dir, rest) = path.split_once("/node_modules/")?;
            (Some(crate::placed::member_root(dir)), rest)
        }
    };
    let placed: Vec<String> = rest.split("/node_modules/").map(str::to_owned).collect();
    let valid = placed.iter().all(|n| match n.strip_prefix('@') {
        Some(scoped) => scoped.split('/').count() == 2 && scoped.split('/').all(|p| !p.is_empty()),
        None => !n.is_empty() && !n.contains('/'),
    });
    valid.then(|| member.into_iter().chain(placed).collect())
}

fn node(
    file: &str,
    name: &str,
    version: &str,
    entry: &Value,
    deps: Vec<DeclaredDep>,
) -> Result<PlacedNode, MigrateError> {
    let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
    let flag = |key: &str| entry.get(key).and_then(Value::as_bool).unwrap_or(false);
    let integrity = integrity(
        file,
        &format!("{name}@{version}"),
        entry.get("integrity").and_then(Value::as_str),
        None,
    )?;
    let package = LockedPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        resolved: text("resolved"),
        integrity,
        bin: bins(name, entry),
        os: string_list(entry, "os"),
        cpu: string_list(entry, "cpu"),
        libc: string_list(entry, "libc"),
        has_install_script: flag("hasInstallScript"),
        deprecated: text("deprecated"),
        dev: flag("dev"),
        optional: flag("optional"),
        ..LockedPackage::default()
    };
    Ok(PlacedNode { package, deps })
}

/// lockfileVersion 1: `dependencies: { name: { version, resolved, integrity, requires, dependencies } }`.
fn walk_v1(
    tree: &mut PlacedTree,
    parent: &[String],
    deps: &Value,
    file: &str,
) -> Result<(), MigrateError> {
    let Some(map) = deps.as_object() else {
        return Err(MigrateError::Invalid {
            file: file.to_owned(),
            message: "`dependencies` must be an object".into(),
        });
    };
    for (install_name, entry) in map {
        let Some(raw_version) = entry.get("version").and_then(Value::as_str) else {
            continue;
        };
        // An alias records `npm:real@1.2.3`; git, file and URL versions are re-resolved.
        let (name, version) = match raw_version.strip_prefix("npm:") {
            Some(aliased) => match aliased.rfind('@').filter(|i| *i > 0) {
                Some(i) => (aliased[..i].to_owned(), aliased[i + 1..].to_owned()),
                None => continue,
            },
            None if raw_version.contains(':') || raw_version.contains('/') => continue,
            None => (install_name.clone(), raw_version.to_owned()),
        };
        let requires = entry
            .get("requires")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        Some(DeclaredDep {
                            name: k.clone(),
                            spec: v.as_str()?.to_owned(),
                            kind: EdgeKind::Normal,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut path = parent.to_vec();
        path.push(install_name.clone());
        tree.nodes
            .insert(path.clone(), node(file, &name, &version, entry, requires)?);
        if let Some(nested) = entry.get("dependencies") {
            walk_v1(tree, &path, nested, file)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(file: &str, text: &str, format: Format) -> Result<Imported, MigrateError> {
        let root: Value = serde_json::from_str(text)
            .ok()
            .and_then(|d: Value| d.pointer("/packages/").cloned())
            .unwrap_or(Value::Null);
        super::import(
            file,
            text,
            format,
            &ImportOptions {
                root_manifest: &root,
                tarball_url: &|_, _| String::new(),
                members: &[],
            },
        )
    }

    #[test]
    fn reads_v3_with_nesting_aliases_and_bins() {
        let text = r#"{
          "name": "app", "lockfileVersion": 3, "requires": true,
          "packages": {
            "": { "name": "app", "dependencies": { "a": "^1.0.0", "b": "^1.0.0", "al": "npm:b@^2" }, "devDependencies": { "d": "1" } },
            "node_modules/a": { "version": "1.0.0", "resolved": "http://r/a-1.0.0.tgz", "integrity": "sha512-H0D8ktokFpR1CXnubPWC8tXX0o4YM13gWrxU0FYOD1MChgxlK/CNVgJSql50IQVG82n7u86MEs/HlXsmUv6adQ==", "dependencies": { "b": "^2.0.0" }, "bin": { "a": "./cli.js" } },
            "node_modules/a/node_modules/b": { "version": "2.0.0", "resolved": "http://r/b-2.0.0.tgz", "integrity": "sha512-6iYiiYvODBC48h3m+gDQlmJ9Z8opjGSb1B9+FoqaPcgq8zCvv+povY/5bhaHUoKZDMYwAEv/Hnr6KZE2GapsUQ==" },
            "node_modules/b": { "version": "1.0.0", "resolved": "http://r/b-1.0.0.tgz", "integrity": "sha512-PX6FGwMeIxc7Ifl7XRSdRrKT1tkBgu1ethVHLAMQM5jMQOGuXwf2I+DGH9D6WRF4z/HJBXlYep3nx4dvzKvuZg==" },
            "node_modules/al": { "name": "b", "version": "2.0.0", "resolved": "http://r/b-2.0.0.tgz", "integrity": "sha512-6iYiiYvODBC48h3m+gDQlmJ9Z8opjGSb1B9+FoqaPcgq8zCvv+povY/5bhaHUoKZDMYwAEv/Hnr6KZE2GapsUQ==" },
            "node_modules/d": { "version": "1.0.0", "dev": true, "resolved": "http://r/d.tgz", "integrity": "sha512-SPsQsV89RKCdyC0CsGWB4MDGlHjJ/Sz4+Qk2WQGaFoe67NuzjJ5ysSFp3EFIaQ+HRn+RVPWTHF32ZcZJbL/V9Q==" },
            "packages/ws": { "version": "0.0.0" },
            "node_modules/ws": { "resolved": "packages/ws", "link": true }
          }
        }"#;
        let imported = import("package-lock.json", text, Format::PackageLock).expect("imports");
        let r = &imported.resolution;
        assert_eq!(imported.versions.len(), 4, "{:?}", imported.versions);
        assert_eq!(r.root.edges["al"].target.as_deref(), Some("b@2.0.0"));
        assert_eq!(r.root.edges["al"].specifier, "npm:b@^2");
        assert_eq!(r.root.edges["d"].kind, EdgeKind::Dev);
        assert_eq!(
            r.packages["a@1.0.0"].dependencies["b"].target.as_deref(),
            Some("b@2.0.0")
        );
        assert_eq!(r.packages["a@1.0.0"].bin["a"], "cli.js");
        assert!(r.packages["d@1.0.0"].dev);
    }

    #[test]
    fn reads_v1_nested_dependencies() {
        let text = r#"{ "lockfileVersion": 1, "dependencies": {
            "a": { "version": "1.0.0", "resolved": "http://r/a.tgz", "integrity": "sha512-H0D8ktokFpR1CXnubPWC8tXX0o4YM13gWrxU0FYOD1MChgxlK/CNVgJSql50IQVG82n7u86MEs/HlXsmUv6adQ==", "requires": { "b": "^2" },
                   "dependencies": { "b": { "version": "2.0.0", "resolved": "http://r/b2.tgz", "integrity": "sha512-6iYiiYvODBC48h3m+gDQlmJ9Z8opjGSb1B9+FoqaPcgq8zCvv+povY/5bhaHUoKZDMYwAEv/Hnr6KZE2GapsUQ==" } } },
            "b": { "version": "1.0.0", "resolved": "http://r/b1.tgz", "integrity": "sha512-PX6FGwMeIxc7Ifl7XRSdRrKT1tkBgu1ethVHLAMQM5jMQOGuXwf2I+DGH9D6WRF4z/HJBXlYep3nx4dvzKvuZg==" },
            "g": { "version": "github:x/y#abc" },
            "al": { "version": "npm:b@2.0.0" }
        } }"#;
        let imported = import("package-lock.json", text, Format::PackageLock).expect("imports");
        assert!(!imported.complete_metadata);
        let a = &imported.resolution.packages["a@1.0.0"];
        assert_eq!(a.dependencies["b"].target.as_deref(), Some("b@2.0.0"));
        assert_eq!(a.dependencies["b"].specifier, "^2");
        assert_eq!(imported.versions.len(), 3);
    }

    #[test]
    fn broken_files_name_the_problem() {
        let err = import("package-lock.json", "{", Format::PackageLock).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("package-lock.json is not valid JSON"),
            "{err}"
        );
        let err = import(
            "x.json",
            r#"{"packages": {"node_modules/a": {}}}"#,
            Format::PackageLock,
        )
        .unwrap_err();
        assert!(err.to_string().contains("node_modules/a"), "{err}");
        assert!(import("x.json", "[]", Format::PackageLock).is_err());
    }
}
