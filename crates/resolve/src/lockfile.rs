//! dx.lock as the resolver reads it: the importer a package.json asks for (to tell a stale lock),
//! and version 1 locks, which did not record the root's targets, brought up to the current model.
//!
//! The lock model itself is [`dx_formats::lockfile::Lockfile`]; the resolver produces it and the
//! layout planner reads it, with nothing converted in between.

use std::collections::BTreeMap;

use dx_formats::lockfile::{Importer, LockedEdge, LockedPackage, Lockfile, LockfileError};

use crate::manifest::PackageJson;
use crate::overrides::Overrides;
use crate::semver::Version;
use crate::spec::DependencySpec;
use crate::tree::package::PkgInfo;

/// Reads dx.lock text for planning or installing: [`Lockfile::parse`], then, for a version 1
/// file, the root's targets inferred ([`infer_root_targets`]). Every reader of dx.lock goes
/// through here, so no caller sees a version 1 root without targets.
pub fn parse(text: &str) -> Result<Lockfile, LockfileError> {
    let (mut lock, version) = Lockfile::parse_versioned(text)?;
    if version < 2 {
        infer_root_targets(&mut lock);
    }
    Ok(lock)
}

/// The importer `pj` asks for: its edges (specifiers as written, kinds by npm's precedence when
/// a name is in several sections, no targets) and flattened overrides. A lock is stale for `pj`
/// when [`Lockfile::is_stale_for`] finds a difference; a fresh lock's root is this importer
/// with targets, by construction (the resolver builds both from the same edges).
pub fn manifest_importer(pj: &PackageJson) -> Importer {
    let edges = PkgInfo::root(pj)
        .deps
        .iter()
        .map(|d| {
            let edge = LockedEdge {
                specifier: d.raw.clone(),
                kind: d.kind,
                target: None,
            };
            (d.name.clone(), edge)
        })
        .collect();
    Importer {
        edges,
        overrides: Overrides::from_manifest(pj).to_flat(),
    }
}

/// The importer a workspace member's package.json asks for: [`manifest_importer`] without
/// overrides (npm reads them from the root only).
pub fn member_importer(pj: &PackageJson) -> Importer {
    Importer {
        overrides: BTreeMap::new(),
        ..manifest_importer(pj)
    }
}

/// Fills in each root edge's target that a version 1 lock did not record: the locked package
/// that satisfies the specifier, the highest when several do (what npm's hoisting leaves at
/// the top in all but contrived graphs). An edge nothing satisfies keeps no target (an unmet
/// optional, or a lock that lost the package's block: [`Lockfile::dangling_edges`] names it).
pub fn infer_root_targets(lock: &mut Lockfile) {
    for (name, edge) in &mut lock.root.edges {
        if edge.target.is_none() {
            edge.target = infer_root_target(&lock.packages, name, &edge.specifier);
        }
    }
}

fn infer_root_target(
    packages: &BTreeMap<String, LockedPackage>,
    name: &str,
    specifier: &str,
) -> Option<String> {
    let spec = DependencySpec::parse(name, specifier).ok()?;
    let Some(request) = spec.registry_request() else {
        let source = spec.to_string();
        return packages
            .iter()
            .find(|(_, p)| p.version == source)
            .map(|(k, _)| k.clone());
    };
    let real = spec.registry_name(name);
    packages
        .iter()
        .filter(|(_, p)| p.name == real)
        .filter_map(|(k, p)| Version::parse(&p.version).ok().map(|v| (k, v)))
        .filter(|(_, v)| match request {
            DependencySpec::Range(r) => r.is_any() || r.satisfies(v),
            _ => true,
        })
        .max_by(|a, b| a.1.cmp(&b.1))
        .map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use dx_formats::lockfile::EdgeKind;

    use super::*;

    fn manifest(json: &str) -> PackageJson {
        PackageJson::parse(json).expect("valid package.json")
    }

    #[test]
    fn the_manifest_importer_takes_npms_precedence_between_sections() {
        let pj = manifest(
            r#"{ "dependencies": { "a": "^1", "b": "^1" }, "devDependencies": { "b": "^2" },
                 "optionalDependencies": { "c": "^3" }, "peerDependencies": { "a": "*", "p": "1" },
                 "peerDependenciesMeta": { "p": { "optional": true }, "q": { "optional": true } },
                 "overrides": { "x": "1.0.0" } }"#,
        );
        let importer = manifest_importer(&pj);
        let kinds: Vec<(&str, &str, EdgeKind)> = importer
            .edges
            .iter()
            .map(|(n, e)| (n.as_str(), e.specifier.as_str(), e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a", "^1", EdgeKind::Normal),
                ("b", "^2", EdgeKind::Dev),
                ("c", "^3", EdgeKind::Optional),
                ("p", "1", EdgeKind::OptionalPeer),
                ("q", "*", EdgeKind::OptionalPeer),
            ]
        );
        assert!(importer.edges.values().all(|e| e.target.is_none()));
        assert_eq!(importer.overrides["x"], "1.0.0");
    }

    #[test]
    fn version_1_root_targets_are_inferred_and_version_2_ones_are_kept() {
        let v1 = "dx-lock 1\nroot\n  dependency a ^1.0.0\n  dependency al npm:b@^2\n  dependency l link:./l\n  optional-dependency gone ^1\npackage a@1.0.0\npackage a@1.5.0\npackage a@2.0.0\npackage b@2.1.0\npackage l@link:./l\n";
        let lock = parse(v1).unwrap();
        let target = |n: &str| lock.root.edges[n].target.as_deref();
        assert_eq!(target("a"), Some("a@1.5.0"), "the highest satisfying");
        assert_eq!(
            target("al"),
            Some("b@2.1.0"),
            "an alias finds the real name"
        );
        assert_eq!(target("l"), Some("l@link:./l"), "a source matches its key");
        assert_eq!(target("gone"), None);

        // Version 2 records targets; an unmet one is not guessed.
        let v2 = "dx-lock 2\nroot\n  dependency a ^1.0.0 a@1.0.0\n  optional-dependency b ^2\npackage a@1.0.0\npackage a@1.5.0\npackage b@2.1.0\n";
        let lock = parse(v2).unwrap();
        assert_eq!(lock.root.edges["a"].target.as_deref(), Some("a@1.0.0"));
        assert_eq!(lock.root.edges["b"].target, None);
    }
}
