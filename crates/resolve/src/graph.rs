//! The resolution graph: every chosen package once (keyed `name@version`), with the edges that
//! lead out of it. This is what dx.lock records; the layout planner turns it back into a tree.

use std::collections::BTreeMap;

/// What kind of dependency an edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DepKind {
    /// `dependencies`.
    Prod,
    /// `devDependencies` (root only).
    Dev,
    /// `optionalDependencies`: failures and platform mismatches are skipped.
    Optional,
    /// `peerDependencies`: installed beside the dependent, shared with its parent.
    Peer,
    /// A peer marked optional in `peerDependenciesMeta`: used only if something brings it.
    OptionalPeer,
}

impl DepKind {
    /// Peer or optional peer.
    pub fn is_peer(self) -> bool {
        matches!(self, DepKind::Peer | DepKind::OptionalPeer)
    }

    /// Optional or optional peer.
    pub fn is_optional(self) -> bool {
        matches!(self, DepKind::Optional | DepKind::OptionalPeer)
    }
}

/// One dependency edge as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedEdge {
    /// The specifier as written by the dependent (before overrides), so staleness is visible.
    pub specifier: String,
    /// Its kind.
    pub kind: DepKind,
    /// The package key it resolved to; `None` when skipped (optional failure, bundled, unmet
    /// optional peer).
    pub target: Option<String>,
}

/// One chosen package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedPackage {
    /// Real package name (an alias's target, not the alias).
    pub name: String,
    /// Version; for a non-registry package, its source (`file:../x`, `link:../x`, a URL), as
    /// dx.lock records it.
    pub version: String,
    /// Tarball URL, or `file:`/`link:` path.
    pub resolved: Option<String>,
    /// SRI integrity string (`sha512-…`, or `sha1-…` built from a legacy shasum).
    pub integrity: Option<String>,
    /// Edges by the name the dependency is installed under.
    pub dependencies: BTreeMap<String, ResolvedEdge>,
    /// `os` filter.
    pub os: Vec<String>,
    /// `cpu` filter.
    pub cpu: Vec<String>,
    /// `libc` filter.
    pub libc: Vec<String>,
    /// Command → path inside the package.
    pub bin: BTreeMap<String, String>,
    /// Has install scripts (only run when trusted).
    pub has_install_script: bool,
    /// Deprecation message.
    pub deprecated: Option<String>,
    /// Reached from the root only through optional edges.
    pub optional: bool,
    /// Reached from the root only through devDependencies.
    pub dev: bool,
    /// `link:` (or `file:` directory): a symlink to a directory, not an archive.
    pub link: bool,
}

/// The whole resolution: the root's own edges and every package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// The root manifest's edges (all four kinds, dev included).
    pub root: BTreeMap<String, ResolvedEdge>,
    /// `overrides` and `resolutions` of the root, flattened (see [`crate::overrides`]).
    pub overrides: BTreeMap<String, String>,
    /// Every package by key.
    pub packages: BTreeMap<String, ResolvedPackage>,
}

pub use dx_formats::lockfile::package_key;
