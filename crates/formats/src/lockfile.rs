//! `dx.lock`: the text lockfile users commit, and the one model of a resolved graph.
//!
//! [`Lockfile`] is what the resolver produces, what the layout planner reads, what importers of
//! other tools' lockfiles build and what `dx.lock` holds: there is no second copy to convert.
//!
//! Invariants:
//! - [`Lockfile::to_text`] is deterministic: packages, edges, bins and overrides come out
//!   sorted (they live in `BTreeMap`s), lists keep their order, every string that a reader could
//!   misread (spaces, quotes, `#`, backslashes, control characters, the empty string) is quoted.
//! - `Lockfile::parse(&l.to_text()) == Ok(l)` for every `l` whose workspace paths pass
//!   [`check_workspace_path`] and whose members have no overrides (npm reads overrides from the
//!   root only, so a member's are not written), and
//!   `parse(s).to_text() == s` for every `s` that `to_text` produced.
//! - The parser never panics; every error names the line (`dx.lock:LINE: message`).
//! - Writing always writes [`LOCKFILE_VERSION`]; reading accepts every version from
//!   [`OLDEST_LOCKFILE_VERSION`] on. A version 1 file does not record the root's targets:
//!   [`Lockfile::parse_versioned`] says so, and dx-resolve infers them.
//!
//! The format is specified in `docs/dx-lock.md`. One package per block, separated by blank
//! lines, so two branches that add different packages merge without conflicts.

mod check;
mod conflict;
mod edges;
mod parse;
mod token;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::hash::Integrity;

pub use check::{DanglingEdge, Dependent};
pub use conflict::{conflict_marker_line, split_conflict};
pub use edges::Edges;

/// The version written on the `dx-lock` header line; a reader refuses newer versions rather
/// than guess at fields it does not know.
///
/// | version | change |
/// |---|---|
/// | 1 | first version |
/// | 2 | root edges record their targets, like package edges |
/// | 3 | `workspace <path>` blocks: each workspace member's name, version, bins and edges |
pub const LOCKFILE_VERSION: u32 = 3;

/// The first version that may hold `workspace` blocks; an older file that has one is refused.
pub const WORKSPACE_LOCKFILE_VERSION: u32 = 3;

/// The oldest version still read.
pub const OLDEST_LOCKFILE_VERSION: u32 = 1;

/// A resolved dependency graph: the root project's edges plus every resolved package.
///
/// The root is one [`Importer`]; each workspace member is another ([`Workspace`], keyed by its
/// directory), sharing `packages`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// The root project: its edges (specifier, kind and target) and overrides. Compared
    /// against the current manifest to detect a stale lock ([`Lockfile::is_stale_for`]).
    pub root: Importer,
    /// Workspace members by their directory relative to the root, `/`-separated, without
    /// `./` (`packages/a`). An edge that resolved to a member targets [`workspace_key`].
    pub workspaces: BTreeMap<String, Workspace>,
    /// Every resolved package, keyed by [`package_key`] (`name@version`, or `name@<source>`
    /// for tarball URL, `file:`, `link:` and git sources).
    pub packages: BTreeMap<String, LockedPackage>,
}

/// A project whose manifest's dependencies the lock resolves: the root, or a workspace member.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Importer {
    /// The manifest's dependencies by the name they are installed under: the specifier as
    /// written, the kind (the section npm reads the name from, [`EdgeKind::Dev`] included) and
    /// the package it resolved to. A name in several sections is one edge, as in npm.
    pub edges: Edges,
    /// `overrides` (and `resolutions`), flattened to selector -> specifier (`"a>b" -> "1.0.0"`).
    pub overrides: BTreeMap<String, String>,
}

/// A workspace member: a directory of the project with its own package.json, linked into the
/// root node_modules under its name and resolved with the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workspace {
    /// The member's `name` (what `node_modules/<name>` links to it).
    pub name: String,
    /// The member's `version` (what ranges on its name are checked against); empty when the
    /// member has none.
    pub version: String,
    /// The member's own dependencies (dev included, as npm installs them); its `overrides`
    /// stay empty (npm reads overrides from the root only).
    pub importer: Importer,
    /// The member's `bin` entries (linked into the root `node_modules/.bin`).
    pub bin: BTreeMap<String, String>,
}

/// The key an edge targets when it resolved to the workspace member at `path`:
/// `name@workspace:path`.
pub fn workspace_key(name: &str, path: &str) -> String {
    package_key(name, &format!("{WORKSPACE_PREFIX}{path}"))
}

/// The member directory a [`workspace_key`] names, if `key` is one.
pub fn workspace_path(key: &str) -> Option<&str> {
    split_package_key(key).and_then(|(_, v)| v.strip_prefix(WORKSPACE_PREFIX))
}

/// The version prefix of a [`workspace_key`].
pub const WORKSPACE_PREFIX: &str = "workspace:";

/// Checks that `path` is a member directory as [`Lockfile::workspaces`] keys them: relative
/// to the root, `/`-separated, non-empty, no empty, `.` or `..` component (so no `./` prefix
/// and no trailing `/`), no backslash, not absolute (no leading `/`, no drive letter). The
/// error says what is wrong, for a message that names the path.
pub fn check_workspace_path(path: &str) -> Result<(), &'static str> {
    let bytes = path.as_bytes();
    if path.is_empty() {
        return Err("the path is empty");
    }
    if path.contains('\\') {
        return Err("the path contains a backslash (dx.lock paths are `/`-separated)");
    }
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if path.starts_with('/') || drive {
        return Err("the path is absolute (member paths are relative to the root)");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("the path has an empty component (`//` or a trailing `/`)"),
            "." => return Err("the path has a `.` component (write `a/b`, not `./a/b`)"),
            ".." => return Err("the path has a `..` component (members are inside the root)"),
            _ => {}
        }
    }
    Ok(())
}

/// One resolved package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockedPackage {
    /// The package's real name (for an alias, the aliased package's name, not the alias).
    pub name: String,
    /// The resolved version; for a non-registry package, the resolved source string.
    pub version: String,
    /// Where the tarball comes from, when fetched from a URL.
    pub resolved: Option<String>,
    /// The tarball's integrity, when known (`file:`/`link:` sources have none).
    pub integrity: Option<Integrity>,
    /// Dependency edges keyed by the name the package requires them under (the alias name
    /// for `npm:` aliases).
    pub dependencies: Edges,
    /// The `os` field: platforms the package supports (`!`-prefixed entries exclude).
    pub os: Vec<String>,
    /// The `cpu` field.
    pub cpu: Vec<String>,
    /// The `libc` field.
    pub libc: Vec<String>,
    /// `bin` entries: command name -> path inside the package.
    pub bin: BTreeMap<String, String>,
    /// Whether the package declares install scripts (`preinstall`/`install`/`postinstall`,
    /// or a `binding.gyp`); such scripts run only for trusted packages.
    pub has_install_script: bool,
    /// The registry's deprecation message, if any.
    pub deprecated: Option<String>,
    /// Reached only through optional edges: a failure to install it is not fatal.
    pub optional: bool,
    /// Reached only from devDependencies: skipped by `--production`.
    pub dev: bool,
}

impl LockedPackage {
    /// Whether the package is a directory installed as a symlink (`link:`, or `file:` naming a
    /// directory rather than a tarball): no archive, and its own dependencies are not installed.
    pub fn is_link(&self) -> bool {
        let v = &self.version;
        v.starts_with("link:") || (v.starts_with("file:") && !is_tarball_path(v))
    }
}

/// Whether a path names a tarball (`.tgz`, `.tar.gz`, `.tar`, any case).
pub fn is_tarball_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".tgz") || lower.ends_with(".tar.gz") || lower.ends_with(".tar")
}

/// One dependency edge of a locked package or an importer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedEdge {
    /// The specifier as the dependent wrote it, before overrides (`^1.2.0`, `npm:y@^2`,
    /// `file:../x`), so a changed manifest is visible.
    pub specifier: String,
    /// Normal, dev (importers only), optional, peer or optional peer.
    pub kind: EdgeKind,
    /// The key of the package it resolved to; `None` for an unmet optional or peer edge, or
    /// a dependency bundled inside its dependent's tarball.
    pub target: Option<String>,
}

/// How a package depends on another; decides whether a missing target is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `dependencies`: must be installed.
    Normal,
    /// `devDependencies`: an importer's only (a package's are never installed).
    Dev,
    /// `optionalDependencies`: may fail to install (wrong platform, build failure).
    Optional,
    /// `peerDependencies`: provided by the dependent's parent.
    Peer,
    /// A peer marked optional in `peerDependenciesMeta`.
    OptionalPeer,
}

impl EdgeKind {
    /// Every kind, in the order an importer's edges are written.
    pub const ALL: [EdgeKind; 5] = [
        Self::Normal,
        Self::Dev,
        Self::Optional,
        Self::Peer,
        Self::OptionalPeer,
    ];

    /// The keyword that introduces an edge of this kind in `dx.lock`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Normal => "dependency",
            Self::Dev => "dev-dependency",
            Self::Optional => "optional-dependency",
            Self::Peer => "peer-dependency",
            Self::OptionalPeer => "optional-peer-dependency",
        }
    }

    /// The kind a `dx.lock` keyword stands for.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.keyword() == word)
    }

    /// The package.json section an edge of this kind comes from (both peer kinds come from
    /// `peerDependencies`).
    pub fn manifest_section(self) -> &'static str {
        match self {
            Self::Normal => "dependencies",
            Self::Dev => "devDependencies",
            Self::Optional => "optionalDependencies",
            Self::Peer | Self::OptionalPeer => "peerDependencies",
        }
    }

    /// Peer or optional peer.
    pub fn is_peer(self) -> bool {
        matches!(self, Self::Peer | Self::OptionalPeer)
    }

    /// Optional or optional peer.
    pub fn is_optional(self) -> bool {
        matches!(self, Self::Optional | Self::OptionalPeer)
    }
}

/// Errors from reading `dx.lock`. Each names the line, so a bad merge is easy to find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockfileError {
    /// The first non-comment line is not `dx-lock <version>`.
    #[error("dx.lock:{line}: expected the header `dx-lock {LOCKFILE_VERSION}`")]
    MissingHeader {
        /// 1-based line number.
        line: usize,
    },
    /// The header names a version this dx does not know.
    #[error(
        "dx.lock:{line}: lockfile version {found} is not supported (this dx reads versions {OLDEST_LOCKFILE_VERSION} to {LOCKFILE_VERSION}); upgrade dx"
    )]
    UnsupportedVersion {
        /// 1-based line number.
        line: usize,
        /// The version found.
        found: String,
    },
    /// Anything else wrong on one line.
    #[error("dx.lock:{line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the package or field.
        message: String,
    },
}

impl LockfileError {
    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            Self::MissingHeader { line }
            | Self::UnsupportedVersion { line, .. }
            | Self::Syntax { line, .. } => *line,
        }
    }
}

/// The key of a package in [`Lockfile::packages`]: `name@version`; for a non-registry
/// package, `version` is the resolved source (`file:../x`, a tarball URL, a git URL).
pub fn package_key(name: &str, version: &str) -> String {
    let mut key = String::with_capacity(name.len() + 1 + version.len());
    key.push_str(name);
    key.push('@');
    key.push_str(version);
    key
}

/// Splits a key made by [`package_key`] back into name and version.
///
/// The name ends at the first `@` after its first character (a scope's leading `@` belongs to
/// the name; npm names contain no other `@`). `None` when there is no such `@`.
pub fn split_package_key(key: &str) -> Option<(&str, &str)> {
    let at = key.get(1..)?.find('@')? + 1;
    Some((&key[..at], &key[at + 1..]))
}

impl Lockfile {
    /// Reads `dx.lock` text of any supported version. Accepts `\r\n` line ends, comments
    /// (`#` lines), blank lines and blocks in any order; rejects unknown fields, duplicates
    /// and newer versions.
    ///
    /// A version 1 file leaves every root target `None`; a reader that plans or installs
    /// from the lock wants [`Lockfile::parse_versioned`] and dx-resolve's inference instead.
    pub fn parse(text: &str) -> Result<Self, LockfileError> {
        parse::parse(text).map(|(lock, _)| lock)
    }

    /// [`Lockfile::parse`], also returning the version the header named.
    pub fn parse_versioned(text: &str) -> Result<(Self, u32), LockfileError> {
        parse::parse(text)
    }

    /// The recorded edges of the importer or package `key` names: the root for `""`, a member
    /// for a [`workspace_key`], else a package.
    pub fn edges_of(&self, key: &str) -> Option<&Edges> {
        if key.is_empty() {
            return Some(&self.root.edges);
        }
        match workspace_path(key) {
            Some(path) => self.workspaces.get(path).map(|w| &w.importer.edges),
            None => self.packages.get(key).map(|p| &p.dependencies),
        }
    }

    /// Writes `dx.lock` text ([`LOCKFILE_VERSION`]): sorted, one block per package,
    /// deterministic.
    pub fn to_text(&self) -> String {
        write::write(self)
    }

    /// Whether this lock was resolved for a different manifest than `manifest` (the
    /// importer built from the current package.json; its targets are ignored); returns a
    /// one-line description of the first difference, for `--frozen-lockfile` errors.
    pub fn is_stale_for(&self, manifest: &Importer) -> Option<String> {
        check::first_stale(&self.root, manifest)
    }

    /// Whether this lock was resolved for different workspace members than `members` (each
    /// member's importer built from its current package.json, keyed by its directory as in
    /// [`Lockfile::workspaces`]; targets and overrides are ignored). Returns a one-line
    /// description of the first difference in path order: a member in the project but not in
    /// the lock, a member in the lock but no longer in the project, or a member whose edges
    /// differ (compared as [`Lockfile::is_stale_for`] compares the root's, and named by the
    /// member's path). The root is not compared: ask [`Lockfile::is_stale_for`] for it.
    pub fn stale_workspaces(&self, members: &BTreeMap<String, Importer>) -> Option<String> {
        check::first_stale_member(
            &self.workspaces,
            members
                .iter()
                .map(|(path, importer)| (path, None, importer)),
        )
    }

    /// [`Lockfile::stale_workspaces`] for whole members: also a member whose `name`, `version`
    /// or `bin` changed is a difference (the name is what the root `node_modules` links, the
    /// version what ranges on the name are checked against, the bins what `.bin` links). Only
    /// `importer.edges` of each member is compared, as in [`Lockfile::stale_workspaces`].
    pub fn stale_members(&self, members: &BTreeMap<String, Workspace>) -> Option<String> {
        check::first_stale_member(
            &self.workspaces,
            members
                .iter()
                .map(|(path, member)| (path, Some(member), &member.importer)),
        )
    }

    /// Edges that lead nowhere: a target the lock holds no package for (a `package` block
    /// lost in a merge or a truncated file), a [`workspace_key`] target whose path is not in
    /// [`Lockfile::workspaces`] under that name, or an importer's (the root's or a member's)
    /// edge that must be installed ([`EdgeKind::Normal`] or [`EdgeKind::Dev`]) without a
    /// target. Root edges first, by name, then each member's, by path and name, then each
    /// package's, by key and name. Installing from such a lock would leave the tree
    /// incomplete.
    pub fn dangling_edges(&self) -> impl Iterator<Item = DanglingEdge<'_>> {
        check::dangling_edges(self)
    }
}
