//! The resolver's working form of a package: one per `name@version`, whatever it came from
//! (a registry manifest, a previous lock, a directory), with its edges already overridden.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dx_formats::hash::Integrity;
use dx_formats::lockfile::{EdgeKind, Edges, LockedPackage, package_key};

use crate::collate::locale_compare;
use crate::manifest::PackageJson;
use crate::overrides::Overrides;
use crate::packument::{PeerDependencyMeta, VersionManifest};
use crate::resolver::ResolveError;
use crate::semver::Version;
use crate::spec::DependencySpec;
use dx_metadata::BundleDependencies;

/// Index of a package in [`Packages`].
pub(crate) type PkgIdx = usize;

/// One dependency edge of a package, before resolution.
#[derive(Debug, Clone)]
pub(crate) struct Dep {
    /// The name it is installed (and `require`d) under.
    pub name: String,
    /// As written by the dependent.
    pub raw: String,
    /// After overrides.
    pub effective: String,
    /// `effective`, parsed; `None` when it does not parse. Shared by every edge that writes
    /// the same specifier ([`DependencySpec::parse_shared`]).
    pub spec: Option<Arc<DependencySpec>>,
    pub kind: EdgeKind,
    /// Comes inside the dependent's tarball: never resolved.
    pub bundled: bool,
}

/// A package as the tree builder sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PkgInfo {
    pub key: String,
    pub name: String,
    pub version: String,
    pub semver: Option<Version>,
    pub resolved: Option<String>,
    pub integrity: Option<Integrity>,
    /// Sorted by name with npm's collation; shared, so the tree builder walks a package's
    /// edges while it adds packages.
    pub deps: Arc<[Dep]>,
    pub bin: BTreeMap<String, String>,
    pub os: Vec<String>,
    pub cpu: Vec<String>,
    pub libc: Vec<String>,
    pub has_install_script: bool,
    pub deprecated: Option<String>,
    /// A directory symlink: its own dependencies are not installed by the tree.
    pub link: bool,
    /// For non-registry packages, the specifier they satisfy (`file:../x`, a URL).
    pub origin: Option<String>,
    /// For a workspace member, its directory relative to the root (`packages/a`).
    pub workspace: Option<String>,
}

/// The raw dependency maps of a manifest, in one place.
pub(crate) struct DepSources<'a> {
    pub prod: &'a BTreeMap<String, String>,
    pub optional: &'a BTreeMap<String, String>,
    pub peer: &'a BTreeMap<String, String>,
    pub peer_meta: &'a BTreeMap<String, PeerDependencyMeta>,
    pub dev: Option<&'a BTreeMap<String, String>>,
    pub bundle: &'a BundleDependencies,
}

impl PkgInfo {
    /// The root project.
    pub fn root(pj: &PackageJson) -> Self {
        let sources = DepSources {
            prod: &pj.dependencies,
            optional: &pj.optional_dependencies,
            peer: &pj.peer_dependencies,
            peer_meta: &pj.peer_dependencies_meta,
            dev: Some(&pj.dev_dependencies),
            bundle: &BundleDependencies::None,
        };
        PkgInfo {
            key: String::new(),
            name: pj.name.clone().unwrap_or_default(),
            version: pj.version.clone().unwrap_or_default(),
            deps: build_deps(&sources, None).into(),
            ..PkgInfo::default()
        }
    }

    /// The workspace member at `path` (root-relative), from its package.json: its devDependencies
    /// are installed as the root's are, and the root's overrides apply to its edges.
    pub fn member(path: &str, pj: &PackageJson, overrides: &Overrides) -> Self {
        let sources = DepSources {
            prod: &pj.dependencies,
            optional: &pj.optional_dependencies,
            peer: &pj.peer_dependencies,
            peer_meta: &pj.peer_dependencies_meta,
            dev: Some(&pj.dev_dependencies),
            bundle: &BundleDependencies::None,
        };
        let name = pj.name.clone().unwrap_or_default();
        let version = pj.version.clone().unwrap_or_default();
        let semver = Version::parse(&version).ok();
        PkgInfo {
            key: dx_formats::lockfile::workspace_key(&name, path),
            deps: rebase_local_specs(
                build_deps(&sources, Some((&name, semver.as_ref(), overrides))),
                path,
            )
            .into(),
            bin: pj.bins(),
            semver,
            name,
            version,
            workspace: Some(path.to_owned()),
            ..PkgInfo::default()
        }
    }

    /// A workspace member as dx.lock recorded it (the planner's input).
    pub fn member_from_lock(
        path: &str,
        ws: &dx_formats::lockfile::Workspace,
        overrides: &Overrides,
    ) -> Self {
        let semver = Version::parse(&ws.version).ok();
        PkgInfo {
            key: dx_formats::lockfile::workspace_key(&ws.name, path),
            deps: rebase_local_specs(
                deps_from_edges(
                    &ws.importer.edges,
                    Some((&ws.name, semver.as_ref(), overrides)),
                ),
                path,
            )
            .into(),
            bin: ws.bin.clone(),
            semver,
            name: ws.name.clone(),
            version: ws.version.clone(),
            workspace: Some(path.to_owned()),
            ..PkgInfo::default()
        }
    }

    /// The root rebuilt from recorded edges (the planner's input).
    pub fn root_from_edges(edges: &Edges) -> Self {
        PkgInfo {
            deps: deps_from_edges(edges, None).into(),
            ..PkgInfo::default()
        }
    }

    /// A registry version; its integrity string is parsed here, and one that does not parse is
    /// an error naming the package (never dropped).
    pub fn from_manifest(m: &VersionManifest, overrides: &Overrides) -> Result<Self, ResolveError> {
        let sources = DepSources {
            prod: &m.dependencies,
            optional: &m.optional_dependencies,
            peer: &m.peer_dependencies,
            peer_meta: &m.peer_dependencies_meta,
            dev: None,
            bundle: &m.bundle_dependencies,
        };
        let semver = Version::parse(&m.version).ok();
        let version = semver
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| m.version.clone());
        let key = package_key(&m.name, &version);
        let unreadable = |value: &str, source| ResolveError::Integrity {
            package: key.clone(),
            value: value.to_owned(),
            source,
        };
        // npm builds an integrity from a legacy hex sha1 `shasum` when there is nothing better.
        let integrity = match (&m.dist.integrity, &m.dist.shasum) {
            (Some(sri), _) => Some(sri.parse().map_err(|e| unreadable(sri, e))?),
            (None, Some(hex)) => {
                Some(Integrity::from_sha1_hex(hex).map_err(|e| unreadable(hex, e))?)
            }
            (None, None) => None,
        };
        Ok(PkgInfo {
            key,
            name: m.name.clone(),
            deps: build_deps(&sources, Some((&m.name, semver.as_ref(), overrides))).into(),
            semver,
            version,
            resolved: m.dist.tarball.clone(),
            integrity,
            bin: m.bins(),
            os: m.os.clone(),
            cpu: m.cpu.clone(),
            libc: m.libc.clone(),
            has_install_script: m.has_install_script,
            deprecated: m.deprecated.clone(),
            link: false,
            origin: None,
            workspace: None,
        })
    }

    /// A package recorded in a previous resolution (no fetch needed).
    pub fn from_resolved(key: &str, p: &LockedPackage, overrides: &Overrides) -> Self {
        let semver = Version::parse(&p.version).ok();
        let deps =
            deps_from_edges(&p.dependencies, Some((&p.name, semver.as_ref(), overrides))).into();
        // Non-registry packages carry their source (`file:../x`, a URL) as their version.
        let origin = semver.is_none().then(|| p.version.clone());
        PkgInfo {
            key: key.to_string(),
            name: p.name.clone(),
            version: p.version.clone(),
            semver,
            resolved: p.resolved.clone(),
            integrity: p.integrity.clone(),
            deps,
            bin: p.bin.clone(),
            os: p.os.clone(),
            cpu: p.cpu.clone(),
            libc: p.libc.clone(),
            has_install_script: p.has_install_script,
            deprecated: p.deprecated.clone(),
            link: p.is_link(),
            origin,
            workspace: None,
        }
    }
}

/// A member's `file:`/`link:` paths are relative to the member; the tree (and dx.lock's keys)
/// take them relative to the root, so `file:../lib` in `packages/a` is the root's
/// `file:packages/lib`. The specifier as written stays the edge's `raw`.
fn rebase_local_specs(mut deps: Vec<Dep>, member: &str) -> Vec<Dep> {
    for dep in &mut deps {
        let rebased = match dep.spec.as_deref() {
            Some(DependencySpec::File(p)) if !p.starts_with('/') => {
                DependencySpec::File(join_relative(member, p))
            }
            Some(DependencySpec::Link(p)) if !p.starts_with('/') => {
                DependencySpec::Link(join_relative(member, p))
            }
            _ => continue,
        };
        dep.effective = rebased.to_string();
        dep.spec = Some(Arc::new(rebased));
    }
    deps
}

/// A root-relative path as member paths are written (`./lib/x/` → `lib/x`).
pub(crate) fn normalize_relative(path: &str) -> String {
    join_relative("", path)
}

/// `base/rel`, with `.` and `..` components folded (a path that climbs above the root keeps
/// its leading `..`s; an empty result is `.`): how dx.lock writes `file:` and `link:`
/// directories relative to the root.
pub fn join_relative(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

type OverrideContext<'a> = Option<(&'a str, Option<&'a Version>, &'a Overrides)>;

fn make_dep(name: &str, raw: &str, kind: EdgeKind, bundled: bool, ctx: OverrideContext<'_>) -> Dep {
    let effective = ctx
        .and_then(|(parent, version, overrides)| overrides.apply(parent, version, name, raw))
        .unwrap_or(raw)
        .to_string();
    let spec = DependencySpec::parse_shared(name, &effective);
    Dep {
        name: name.to_string(),
        raw: raw.to_string(),
        effective,
        spec,
        kind,
        bundled,
    }
}

/// npm's precedence when a name appears in several maps (arborist's `loadDeps`: each later map
/// replaces the edge): peer, then prod, then optional, then (the root's) dev. So a name in both
/// dependencies and devDependencies is a dev dependency with the dev specifier, as in npm.
fn build_deps(s: &DepSources<'_>, ctx: OverrideContext<'_>) -> Vec<Dep> {
    let mut by_name: HashMap<&str, Dep> = HashMap::new();
    for (name, raw) in s.peer {
        let optional = s.peer_meta.get(name).is_some_and(|m| m.optional);
        let kind = if optional {
            EdgeKind::OptionalPeer
        } else {
            EdgeKind::Peer
        };
        by_name.insert(name, make_dep(name, raw, kind, false, ctx));
    }
    // Names only in peerDependenciesMeta are optional peers with any version.
    for (name, meta) in s.peer_meta {
        if meta.optional && !by_name.contains_key(name.as_str()) {
            by_name.insert(
                name,
                make_dep(name, "*", EdgeKind::OptionalPeer, false, ctx),
            );
        }
    }
    for (name, raw) in s.prod {
        let bundled = s.bundle.contains(name, s.prod);
        by_name.insert(name, make_dep(name, raw, EdgeKind::Normal, bundled, ctx));
    }
    for (name, raw) in s.optional {
        by_name.insert(name, make_dep(name, raw, EdgeKind::Optional, false, ctx));
    }
    if let Some(dev) = s.dev {
        for (name, raw) in dev {
            by_name.insert(name, make_dep(name, raw, EdgeKind::Dev, false, ctx));
        }
    }
    let mut deps: Vec<Dep> = by_name.into_values().collect();
    sort_by_name(&mut deps);
    deps
}

fn deps_from_edges(edges: &Edges, ctx: OverrideContext<'_>) -> Vec<Dep> {
    let mut deps: Vec<Dep> = edges
        .iter()
        .map(|(name, e)| {
            // An edge recorded without a target that is not optional was bundled.
            let bundled = e.target.is_none() && !e.kind.is_optional() && e.kind != EdgeKind::Peer;
            make_dep(name, &e.specifier, e.kind, bundled, ctx)
        })
        .collect();
    sort_by_name(&mut deps);
    deps
}

/// Sorts edges by name in npm's collation (names are unique among a package's edges). Most
/// edge lists come from maps already in that order, so they are checked before sorting.
fn sort_by_name(deps: &mut [Dep]) {
    let order = |a: &Dep, b: &Dep| locale_compare(&a.name, &b.name);
    if !deps.is_sorted_by(|a, b| order(a, b).is_le()) {
        deps.sort_unstable_by(order);
    }
}

/// A list stored in fixed-size chunks, indexed as one: pushing never moves what is already
/// stored (a growing `Vec` of the tree's packages, ~400 bytes each, or its nodes copied
/// megabytes on a large tree, every copy into fresh pages).
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

/// Entries per chunk of a [`Chunked`] list.
const CHUNK: usize = 256;

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` at index [`Self::len`].
    pub fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    /// The entries in index order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i / CHUNK][i % CHUNK]
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }
}

/// Interned packages.
#[derive(Debug, Default)]
pub(crate) struct Packages {
    pub list: Chunked<PkgInfo>,
    pub by_key: rustc_hash::FxHashMap<String, PkgIdx>,
}

impl Packages {
    pub fn intern(&mut self, info: PkgInfo) -> PkgIdx {
        if let Some(&i) = self.by_key.get(&info.key) {
            return i;
        }
        let i = self.list.len();
        self.by_key.insert(info.key.clone(), i);
        self.list.push(info);
        i
    }
}

/// Whether package `info`, installed under `dep.name`, satisfies `dep`; `tag` is what a dist-tag
/// specifier resolved to, when known.
pub(crate) fn accepts(info: &PkgInfo, dep: &Dep, tag: Option<&str>) -> bool {
    let Some(spec) = dep.spec.as_deref() else {
        return false;
    };
    match spec {
        // arborist's dep-valid: a `*` range accepts any version, prereleases included.
        DependencySpec::Range(r) if r.is_any() => info.origin.is_none() && info.name == dep.name,
        DependencySpec::Range(_) | DependencySpec::Tag(_) | DependencySpec::Alias { .. } => {
            let Some(v) = &info.semver else { return false };
            info.origin.is_none() && spec.accepts(&dep.name, &info.name, v, tag)
        }
        DependencySpec::Workspace(range) => {
            info.workspace.is_some()
                && info.name == dep.name
                && workspace_range_accepts(range, info)
        }
        // A `file:` directory of the project is built like a member, at its path.
        DependencySpec::File(path) if info.workspace.is_some() => {
            info.workspace.as_deref() == Some(normalize_relative(path).as_str())
        }
        other => info
            .origin
            .as_deref()
            .is_some_and(|o| other.accepts_source(o)),
    }
}

/// Whether the range after `workspace:` accepts member `info`: `*`, `^` and `~` (pnpm's "the
/// member's current version") accept any version; anything else is a semver range the
/// member's version must satisfy (a member without a valid version satisfies only those three).
pub(crate) fn workspace_range_accepts(range: &str, info: &PkgInfo) -> bool {
    if matches!(range, "*" | "^" | "~" | "") {
        return true;
    }
    let Some(version) = &info.semver else {
        return false;
    };
    crate::semver::Range::parse(range).is_ok_and(|r| r.satisfies(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_list_indexes_across_chunks() {
        let mut list = Chunked::default();
        for i in 0..(CHUNK * 2 + 3) {
            list.push(PkgInfo {
                key: format!("p@{i}"),
                ..PkgInfo::default()
            });
        }
        assert_eq!(list.len(), CHUNK * 2 + 3);
        for i in [0, CHUNK - 1, CHUNK, CHUNK * 2 + 2] {
            assert_eq!(list[i].key, format!("p@{i}"));
        }
        list[CHUNK].key = "moved".into();
        assert_eq!(
            list.iter().nth(CHUNK).map(|p| p.key.as_str()),
            Some("moved")
        );
        assert_eq!(list.iter().count(), CHUNK * 2 + 3);
    }
}
