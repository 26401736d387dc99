//! Conversions between the resolution graph and `dx.lock` ([`dx_formats::lockfile::Lockfile`]),
//! so an install from a lock re-plans its layout without the network.
//!
//! dx.lock keeps the root's specifiers but not which package each root edge resolved to; on
//! the way back the target is the locked package that satisfies the specifier, the highest
//! when several do (what npm's hoisting leaves at the top in all but contrived graphs).

use std::collections::BTreeMap;

use dx_formats::lockfile::{EdgeKind, LockedEdge, LockedPackage, Lockfile, RootSpecs};

use crate::graph::{DepKind, Resolution, ResolvedEdge, ResolvedPackage};
use crate::manifest::PackageJson;
use crate::overrides::Overrides;
use crate::semver::Version;
use crate::spec::DependencySpec;

/// Why a resolution cannot be written as a lockfile.
#[derive(Debug, thiserror::Error)]
pub enum LockConversionError {
    /// The registry gave an integrity string that does not parse.
    #[error("package {package} has an unreadable integrity {value:?}")]
    Integrity {
        /// Package key.
        package: String,
        /// The value.
        value: String,
    },
}

/// The root manifest's specifiers as dx.lock records them (for staleness checks).
pub fn root_specs(pj: &PackageJson) -> RootSpecs {
    // A name listed in several sections is one edge, from the section npm reads last (peer,
    // prod, optional, dev): the lock records it there only, so compare it there only.
    let without = |section: &BTreeMap<String, String>, later: &[&BTreeMap<String, String>]| {
        section
            .iter()
            .filter(|(name, _)| !later.iter().any(|l| l.contains_key(*name)))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect()
    };
    let (prod, optional, dev) = (
        &pj.dependencies,
        &pj.optional_dependencies,
        &pj.dev_dependencies,
    );
    RootSpecs {
        dependencies: without(prod, &[optional, dev]),
        dev_dependencies: dev.clone(),
        optional_dependencies: without(optional, &[dev]),
        peer_dependencies: without(&pj.peer_dependencies, &[prod, optional, dev]),
        overrides: Overrides::from_manifest(pj).to_flat(),
    }
}

fn edge_kind(kind: DepKind) -> EdgeKind {
    match kind {
        DepKind::Prod | DepKind::Dev => EdgeKind::Normal,
        DepKind::Optional => EdgeKind::Optional,
        DepKind::Peer => EdgeKind::Peer,
        DepKind::OptionalPeer => EdgeKind::OptionalPeer,
    }
}

fn dep_kind(kind: EdgeKind) -> DepKind {
    match kind {
        EdgeKind::Normal => DepKind::Prod,
        EdgeKind::Optional => DepKind::Optional,
        EdgeKind::Peer => DepKind::Peer,
        EdgeKind::OptionalPeer => DepKind::OptionalPeer,
    }
}

/// The lockfile for a resolution.
pub fn to_lockfile(resolution: &Resolution) -> Result<Lockfile, LockConversionError> {
    let mut root = RootSpecs {
        overrides: resolution.overrides.clone(),
        ..RootSpecs::default()
    };
    for (name, edge) in &resolution.root {
        let section = match edge.kind {
            DepKind::Prod => &mut root.dependencies,
            DepKind::Dev => &mut root.dev_dependencies,
            DepKind::Optional => &mut root.optional_dependencies,
            DepKind::Peer | DepKind::OptionalPeer => &mut root.peer_dependencies,
        };
        section.insert(name.clone(), edge.specifier.clone());
    }
    let mut packages = BTreeMap::new();
    for (key, p) in &resolution.packages {
        let integrity = match &p.integrity {
            None => None,
            Some(value) => Some(value.parse().map_err(|_| LockConversionError::Integrity {
                package: key.clone(),
                value: value.clone(),
            })?),
        };
        let dependencies = p
            .dependencies
            .iter()
            .map(|(name, e)| {
                (
                    name.clone(),
                    LockedEdge {
                        specifier: e.specifier.clone(),
                        kind: edge_kind(e.kind),
                        target: e.target.clone(),
                    },
                )
            })
            .collect();
        packages.insert(
            key.clone(),
            LockedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                resolved: p.resolved.clone(),
                integrity,
                dependencies,
                os: p.os.clone(),
                cpu: p.cpu.clone(),
                libc: p.libc.clone(),
                bin: p.bin.clone(),
                has_install_script: p.has_install_script,
                deprecated: p.deprecated.clone(),
                optional: p.optional,
                dev: p.dev,
            },
        );
    }
    Ok(Lockfile { root, packages })
}

/// The resolution a lockfile records (root targets inferred, see the module docs).
pub fn from_lockfile(lock: &Lockfile) -> Resolution {
    let packages: BTreeMap<String, ResolvedPackage> = lock
        .packages
        .iter()
        .map(|(key, p)| {
            let link = p.version.starts_with("link:")
                || (p.version.starts_with("file:") && !is_tarball_path(&p.version));
            let dependencies = p
                .dependencies
                .iter()
                .map(|(name, e)| {
                    (
                        name.clone(),
                        ResolvedEdge {
                            specifier: e.specifier.clone(),
                            kind: dep_kind(e.kind),
                            target: e.target.clone(),
                        },
                    )
                })
                .collect();
            let package = ResolvedPackage {
                name: p.name.clone(),
                version: p.version.clone(),
                resolved: p.resolved.clone(),
                integrity: p.integrity.as_ref().map(ToString::to_string),
                dependencies,
                os: p.os.clone(),
                cpu: p.cpu.clone(),
                libc: p.libc.clone(),
                bin: p.bin.clone(),
                has_install_script: p.has_install_script,
                deprecated: p.deprecated.clone(),
                optional: p.optional,
                dev: p.dev,
                link,
            };
            (key.clone(), package)
        })
        .collect();
    let mut root = BTreeMap::new();
    let sections = [
        (&lock.root.dependencies, DepKind::Prod),
        (&lock.root.dev_dependencies, DepKind::Dev),
        (&lock.root.optional_dependencies, DepKind::Optional),
        (&lock.root.peer_dependencies, DepKind::Peer),
    ];
    for (section, kind) in sections {
        for (name, specifier) in section {
            // npm's precedence: a name in several sections is the first kind seen.
            if root.contains_key(name) {
                continue;
            }
            let target = infer_root_target(&packages, name, specifier);
            root.insert(
                name.clone(),
                ResolvedEdge {
                    specifier: specifier.clone(),
                    kind,
                    target,
                },
            );
        }
    }
    Resolution {
        root,
        overrides: lock.root.overrides.clone(),
        packages,
    }
}

fn is_tarball_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    lower.ends_with(".tgz") || lower.ends_with(".tar.gz") || lower.ends_with(".tar")
}

fn infer_root_target(
    packages: &BTreeMap<String, ResolvedPackage>,
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
