//! Yarn classic's yarn.lock (v1): blocks keyed by every `name@spec` that resolved to them,
//!
//! ```text
//! "@s/a@^1.0.0", "@s/a@^1.1.0":
//!   version "1.2.0"
//!   resolved "http://r/@s/a/-/a-1.2.0.tgz#<sha1>"
//!   integrity sha512-…
//!   dependencies:
//!     b "^2.0.0"
//! ```
//!
//! Edges are found by the dependent's `name@spec`, so the tree is not needed. Yarn 2+ lockfiles
//! (`__metadata:`) are YAML of another shape and are refused.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dx_formats::lockfile::{EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, package_key};

use crate::placed::{declared, integrity};
use crate::{Format, ImportOptions, Imported, MigrateError};

/// One block: its descriptors and fields.
#[derive(Debug, Default)]
struct Block {
    descriptors: Vec<(String, String)>,
    fields: BTreeMap<String, String>,
    sections: BTreeMap<String, Vec<(String, String)>>,
}

/// Reads a yarn.lock (v1).
pub fn import(
    file: &str,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    let blocks = parse(file, text)?;
    let mut by_descriptor: HashMap<(String, String), String> = HashMap::new();
    let mut packages = BTreeMap::new();
    let mut pending = Vec::new();
    for (line, block) in &blocks {
        let invalid = |message: String| MigrateError::Invalid {
            file: file.to_owned(),
            message: format!("line {line}: {message}"),
        };
        let version = block
            .fields
            .get("version")
            .ok_or_else(|| invalid("block has no version".into()))?;
        let (install_name, first_spec) = block
            .descriptors
            .first()
            .ok_or_else(|| invalid("block has no name".into()))?;
        // `alias@npm:real@^1` resolves the real package; git, file and URL specs are re-resolved.
        let name = match first_spec.strip_prefix("npm:") {
            Some(aliased) => match aliased.get(1..).and_then(|r| r.find('@')) {
                Some(i) => aliased[..i + 1].to_owned(),
                None => aliased.to_owned(),
            },
            None => install_name.clone(),
        };
        let resolved = block.fields.get("resolved").cloned();
        if resolved
            .as_deref()
            .is_some_and(|r| !(r.starts_with("http://") || r.starts_with("https://")))
        {
            continue;
        }
        let (url, sha1) = match resolved.as_deref().and_then(|r| r.split_once('#')) {
            Some((url, hash)) => (Some(url.to_owned()), Some(hash.to_owned())),
            None => (resolved.clone(), None),
        };
        let key = package_key(&name, version);
        // Without an `integrity` field, the sha1 after `#` in `resolved` (npm builds an
        // integrity from a legacy hex sha1 the same way).
        let integrity = integrity(
            file,
            &format!("line {line}: {key}"),
            block.fields.get("integrity").map(String::as_str),
            sha1.as_deref(),
        )?;
        for descriptor in &block.descriptors {
            by_descriptor.insert(descriptor.clone(), key.clone());
        }
        let mut deps = Vec::new();
        for (section, kind) in [
            ("dependencies", EdgeKind::Normal),
            ("optionalDependencies", EdgeKind::Optional),
        ] {
            for (dep, spec) in block.sections.get(section).into_iter().flatten() {
                deps.push((dep.clone(), spec.clone(), kind));
            }
        }
        pending.push((key.clone(), deps));
        packages.entry(key).or_insert(LockedPackage {
            name,
            version: version.clone(),
            resolved: url,
            integrity,
            ..LockedPackage::default()
        });
    }
    for (key, deps) in pending {
        let edges = deps
            .into_iter()
            .map(|(dep, spec, kind)| {
                let target = by_descriptor.get(&(dep.clone(), spec.clone())).cloned();
                (
                    dep,
                    LockedEdge {
                        specifier: spec,
                        kind,
                        target,
                    },
                )
            })
            .collect();
        if let Some(p) = packages.get_mut(&key) {
            p.dependencies = edges;
        }
    }
    // yarn.lock does not record the root: each of package.json's dependencies is found by its
    // `name@spec`, which yarn lists in the block it resolved to.
    let root = declared(options.root_manifest, true)
        .into_iter()
        .map(|d| {
            let target = by_descriptor
                .get(&(d.name.clone(), d.spec.clone()))
                .cloned();
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
    // Nor its members: each member's dependencies are found the same way, by `name@spec`.
    let workspaces = options
        .members
        .iter()
        .map(|(path, manifest)| {
            let edges = declared(manifest, true)
                .into_iter()
                .map(|d| {
                    let target = by_descriptor
                        .get(&(d.name.clone(), d.spec.clone()))
                        .cloned();
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
            let text = |key: &str| manifest[key].as_str().unwrap_or_default().to_owned();
            let ws = dx_formats::lockfile::Workspace {
                name: text("name"),
                version: text("version"),
                importer: Importer {
                    edges,
                    overrides: BTreeMap::new(),
                },
                bin: BTreeMap::new(),
            };
            (path.clone(), ws)
        })
        .collect();
    let versions: BTreeSet<String> = packages.keys().cloned().collect();
    let resolution = Lockfile {
        workspaces,
        root: Importer {
            edges: root,
            overrides: BTreeMap::new(),
        },
        packages,
    };
    Ok(Imported {
        format: Format::YarnLock,
        resolution,
        versions,
        complete_metadata: false,
    })
}

/// Splits the file into blocks, each with the line it starts on.
fn parse(file: &str, text: &str) -> Result<Vec<(usize, Block)>, MigrateError> {
    let mut blocks: Vec<(usize, Block)> = Vec::new();
    let mut section: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let invalid = |message: &str| MigrateError::Invalid {
            file: file.to_owned(),
            message: format!("line {line_no}: {message}"),
        };
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim_start_matches(' ');
        match indent {
            0 => {
                if body.starts_with("__metadata") {
                    return Err(MigrateError::Unsupported {
                        file: file.to_owned(),
                        message: "this is a Yarn 2+ lockfile; dx reads Yarn classic (v1) lockfiles"
                            .into(),
                    });
                }
                let head = body
                    .strip_suffix(':')
                    .ok_or_else(|| invalid("expected `name@spec:`"))?;
                let mut descriptors = Vec::new();
                for item in split_descriptors(head) {
                    let item =
                        unquote(item.trim()).ok_or_else(|| invalid("unterminated string"))?;
                    let at = item
                        .get(1..)
                        .and_then(|r| r.find('@'))
                        .map(|i| i + 1)
                        .ok_or_else(|| invalid("descriptor is not name@spec"))?;
                    descriptors.push((item[..at].to_owned(), item[at + 1..].to_owned()));
                }
                blocks.push((
                    line_no,
                    Block {
                        descriptors,
                        ..Block::default()
                    },
                ));
                section = None;
            }
            2 | 4 => {
                let (_, block) = blocks
                    .last_mut()
                    .ok_or_else(|| invalid("indented line outside a block"))?;
                let (key, value) =
                    split_key_value(body).ok_or_else(|| invalid("unterminated string"))?;
                if indent == 2 {
                    if value.is_empty() && body.ends_with(':') {
                        section = Some(key.clone());
                        block.sections.entry(key).or_default();
                    } else {
                        block.fields.insert(key, value);
                        section = None;
                    }
                } else {
                    let name = section
                        .as_ref()
                        .ok_or_else(|| invalid("nested entry outside a section"))?;
                    block
                        .sections
                        .entry(name.clone())
                        .or_default()
                        .push((key, value));
                }
            }
            _ => return Err(invalid("unexpected indentation")),
        }
    }
    Ok(blocks)
}

/// Splits `a@1, "b@2"` on commas outside quotes.
fn split_descriptors(head: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in head.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&head[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&head[start..]);
    parts
}

/// `key value`, `"key" "value"` or `key:`; quotes removed.
fn split_key_value(body: &str) -> Option<(String, String)> {
    let body = body
        .strip_suffix(':')
        .filter(|b| !b.contains(' '))
        .unwrap_or(body);
    let (key, rest) = if let Some(stripped) = body.strip_prefix('"') {
        let end = stripped.find('"')?;
        (stripped[..end].to_owned(), stripped[end + 1..].trim())
    } else {
        match body.split_once(' ') {
            Some((k, r)) => (k.to_owned(), r.trim()),
            None => (body.to_owned(), ""),
        }
    };
    Some((key, unquote(rest)?))
}

fn unquote(text: &str) -> Option<String> {
    match text.strip_prefix('"') {
        Some(inner) => Some(inner.strip_suffix('"')?.replace("\\\"", "\"")),
        None => Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@s/a@^1.0.0", "@s/a@^1.1.0":
  version "1.2.0"
  resolved "http://r/@s/a/-/a-1.2.0.tgz#2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
  dependencies:
    b "^2.0.0"
  optionalDependencies:
    fsevents "^2"

b@^2.0.0:
  version "2.1.0"
  resolved "http://r/b/-/b-2.1.0.tgz"
  integrity sha512-XtwcakOQB1o8on9NQWHEazdLHDstY/hG22//DFEyA8OsOxSiSm8J2L8hQHpIQhE7XZqjWdJmKZw9bPnpLbZtvg==

al@npm:b@^2:
  version "2.1.0"
  resolved "http://r/b/-/b-2.1.0.tgz"
  integrity sha512-XtwcakOQB1o8on9NQWHEazdLHDstY/hG22//DFEyA8OsOxSiSm8J2L8hQHpIQhE7XZqjWdJmKZw9bPnpLbZtvg==
"#;

    fn import(file: &str, text: &str) -> Result<Imported, MigrateError> {
        let root = serde_json::json!({ "dependencies": { "b": "^2.0.0", "al": "npm:b@^2" } });
        super::import(
            file,
            text,
            &ImportOptions {
                root_manifest: &root,
                tarball_url: &|_, _| String::new(),
                members: &[],
            },
        )
    }

    #[test]
    fn reads_blocks_edges_aliases_and_sha1() {
        let imported = import("yarn.lock", LOCK).expect("imports");
        assert_eq!(imported.versions.len(), 2, "{:?}", imported.versions);
        let a = &imported.resolution.packages["@s/a@1.2.0"];
        assert_eq!(
            a.integrity.as_ref().map(ToString::to_string).as_deref(),
            Some("sha1-L9ThxnotKPzthJ7hu3bnORuT6xI=")
        );
        assert_eq!(a.resolved.as_deref(), Some("http://r/@s/a/-/a-1.2.0.tgz"));
        assert_eq!(a.dependencies["b"].target.as_deref(), Some("b@2.1.0"));
        assert_eq!(a.dependencies["fsevents"].target, None);
        assert_eq!(a.dependencies["fsevents"].kind, EdgeKind::Optional);
        let root = &imported.resolution.root.edges;
        assert_eq!(root["b"].target.as_deref(), Some("b@2.1.0"));
        assert_eq!(root["al"].target.as_deref(), Some("b@2.1.0"));
    }

    #[test]
    fn refuses_yarn_berry_and_garbage() {
        let err = import("yarn.lock", "__metadata:\n  version: 6\n").unwrap_err();
        assert!(err.to_string().contains("Yarn 2+"), "{err}");
        let err = import("yarn.lock", "a@1:\n      version \"1\"\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(import("yarn.lock", "  version \"1\"\n").is_err());
        assert!(import("yarn.lock", "a@1:\n  resolved \"x\"\n").is_err());
        let err = import(
            "yarn.lock",
            "a@^1:\n  version \"1.0.0\"\n  resolved \"http://r/a.tgz#nothex\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "yarn.lock: line 1: a@1.0.0: invalid integrity `nothex`: expected sha512-<base64> or sha1-<base64>"
        );
    }
}
