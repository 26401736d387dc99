//! Bun's text lockfile, bun.lock (JSONC): `workspaces[""]` holds the root's dependencies;
//! `packages` maps a placement path (`a`, `a/b`, `@s/a/@t/b`) to
//! `["name@version", registry-or-tarball, { dependencies, bin, os, cpu, … }, integrity]`.

use dx_formats::lockfile::LockedPackage;
use dx_formats::registry_url::tarball_url;
use serde_json::Value;

use crate::placed::{PlacedNode, PlacedTree, bins, declared, integrity, split_names, string_list};
use crate::{Format, ImportOptions, Imported, MigrateError};

/// Reads a bun.lock.
pub fn import(
    file: &str,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    let doc: Value = serde_json::from_str(&crate::jsonc::to_json(
        text.trim_start_matches('\u{feff}'),
    ))
    .map_err(|e| MigrateError::Json {
        file: file.to_owned(),
        message: e.to_string(),
    })?;
    let invalid = |message: String| MigrateError::Invalid {
        file: file.to_owned(),
        message,
    };
    match doc.get("lockfileVersion").and_then(Value::as_u64) {
        Some(0..=2) => {}
        Some(v) => {
            return Err(MigrateError::Unsupported {
                file: file.to_owned(),
                message: format!("lockfileVersion {v} is newer than dx reads (0 to 2)"),
            });
        }
        None => return Err(invalid("no lockfileVersion: not a bun.lock".into())),
    }
    let mut tree = PlacedTree::default();
    // Members: `workspaces["packages/a"]` holds their dependencies; `packages["a"]` is
    // `["a@workspace:packages/a"]`, and `packages["a/x"]` sits in the member's own node_modules.
    let mut member_by_name = std::collections::BTreeMap::new();
    for (path, ws) in doc["workspaces"].as_object().into_iter().flatten() {
        if path.is_empty() {
            continue;
        }
        let name = ws["name"].as_str().unwrap_or_default().to_owned();
        let version = ws["version"].as_str().unwrap_or_default().to_owned();
        tree.members
            .insert(path.clone(), (name.clone(), version, declared(ws, true)));
        tree.links.insert(vec![name.clone()], path.clone());
        member_by_name.insert(name, path.clone());
    }
    let packages = doc
        .get("packages")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("no `packages` object".into()))?;
    for (path, entry) in packages {
        let mut names = split_names(path)
            .ok_or_else(|| invalid(format!("packages key `{path}` is not a placement path")))?;
        if names.len() > 1
            && let Some(dir) = member_by_name.get(&names[0])
        {
            names[0] = crate::placed::member_root(dir);
        }
        let Some(items) = entry.as_array() else {
            return Err(invalid(format!("packages[\"{path}\"] must be an array")));
        };
        let ident = items
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("packages[\"{path}\"] has no name@version")))?;
        let at = ident
            .get(1..)
            .and_then(|rest| rest.find('@'))
            .map(|i| i + 1)
            .ok_or_else(|| invalid(format!("`{ident}` is not name@version")))?;
        let (name, version) = (&ident[..at], &ident[at + 1..]);
        // Workspace members, git, file and link packages are re-resolved by dx.
        if version.contains(':') || items.len() < 4 {
            continue;
        }
        let location = items.get(1).and_then(Value::as_str).unwrap_or("");
        let meta = items.get(2).cloned().unwrap_or(Value::Null);
        let sri = items
            .get(3)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let integrity = integrity(file, &format!("packages[\"{path}\"] ({ident})"), sri, None)?;
        let package = LockedPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            resolved: Some(tarball(location, name, version, options)),
            integrity,
            bin: bins(name, &meta),
            os: string_list(&meta, "os"),
            cpu: string_list(&meta, "cpu"),
            libc: string_list(&meta, "libc"),
            ..LockedPackage::default()
        };
        let node = PlacedNode {
            package,
            deps: declared(&meta, false),
        };
        tree.nodes.insert(names, node);
    }
    let (resolution, versions) = tree.into_resolution(options.root_manifest);
    // bun.lock does not say which packages have install scripts.
    Ok(Imported {
        format: Format::BunLock,
        resolution,
        versions,
        complete_metadata: false,
    })
}

/// The tarball URL: recorded in full, or a registry base, or empty for the default registry.
fn tarball(location: &str, name: &str, version: &str, options: &ImportOptions<'_>) -> String {
    if location.is_empty() {
        return (options.tarball_url)(name, version);
    }
    if location.ends_with(".tgz") || location.ends_with(".tar.gz") {
        return location.to_owned();
    }
    tarball_url(location, name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    static ROOT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(
        || serde_json::json!({ "dependencies": { "a": "^1", "@s/b": "^1" } }),
    );

    fn options() -> ImportOptions<'static> {
        ImportOptions {
            root_manifest: &ROOT,
            tarball_url: &|n, v| format!("http://default/{n}/-/{v}.tgz"),
            members: &[],
        }
    }

    #[test]
    fn reads_nested_scoped_and_default_registry_packages() {
        let text = r#"{
          "lockfileVersion": 1,
          "workspaces": { "": { "name": "app", "dependencies": { "a": "^1", "@s/b": "^1", }, }, },
          "packages": {
            "a": ["a@1.0.0", "", { "dependencies": { "@s/b": "^2" }, "bin": { "a": "cli.js" } }, "sha512-H0D8ktokFpR1CXnubPWC8tXX0o4YM13gWrxU0FYOD1MChgxlK/CNVgJSql50IQVG82n7u86MEs/HlXsmUv6adQ=="],
            "@s/b": ["@s/b@1.0.0", "http://r/@s/b/-/b-1.0.0.tgz", {}, "sha512-PX6FGwMeIxc7Ifl7XRSdRrKT1tkBgu1ethVHLAMQM5jMQOGuXwf2I+DGH9D6WRF4z/HJBXlYep3nx4dvzKvuZg=="],
            "a/@s/b": ["@s/b@2.0.0", "http://r/", { "optionalPeers": ["x"], "peerDependencies": { "x": "1" } }, "sha512-6iYiiYvODBC48h3m+gDQlmJ9Z8opjGSb1B9+FoqaPcgq8zCvv+povY/5bhaHUoKZDMYwAEv/Hnr6KZE2GapsUQ=="],
            "ws": ["ws@workspace:packages/ws"],
          },
        }"#;
        let imported = import("bun.lock", text, &options()).expect("imports");
        let r = &imported.resolution;
        assert_eq!(imported.versions.len(), 3);
        assert_eq!(
            r.packages["a@1.0.0"].dependencies["@s/b"].target.as_deref(),
            Some("@s/b@2.0.0")
        );
        assert_eq!(
            r.packages["a@1.0.0"].resolved.as_deref(),
            Some("http://default/a/-/1.0.0.tgz")
        );
        assert_eq!(
            r.packages["@s/b@2.0.0"].resolved.as_deref(),
            Some("http://r/@s/b/-/b-2.0.0.tgz")
        );
        assert_eq!(
            r.packages["@s/b@2.0.0"].dependencies["x"].kind,
            dx_formats::lockfile::EdgeKind::OptionalPeer
        );
        assert_eq!(r.root.edges["@s/b"].target.as_deref(), Some("@s/b@1.0.0"));
    }

    #[test]
    fn rejects_what_is_not_a_bun_lock() {
        assert!(import("bun.lock", "{}", &options()).is_err());
        assert!(
            import(
                "bun.lock",
                r#"{"lockfileVersion": 9, "packages": {}}"#,
                &options()
            )
            .is_err()
        );
        let err = import(
            "bun.lock",
            r#"{"lockfileVersion": 1, "packages": {"a": ["nope"]}}"#,
            &options(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = import(
            "bun.lock",
            r#"{"lockfileVersion": 1, "packages": {"a": ["a@1.0.0", "", {}, "sha512-short"]}}"#,
            &options(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bun.lock: packages[\"a\"] (a@1.0.0): invalid integrity `sha512-short`: expected sha512-<base64> or sha1-<base64>"
        );
    }
}
