//! `dx.lock`: the text lockfile users commit.
//!
//! Invariants:
//! - [`Lockfile::to_text`] is deterministic: packages, edges, bins and root specifiers come out
//!   sorted (they live in `BTreeMap`s), lists keep their order, every string that a reader could
//!   misread (spaces, quotes, `#`, backslashes, control characters, the empty string) is quoted.
//! - `Lockfile::parse(&l.to_text()) == Ok(l)` for every `l`, and
//!   `parse(s).to_text() == s` for every `s` that `to_text` produced.
//! - The parser never panics; every error names the line (`dx.lock:LINE: message`).
//!
//! The format is specified in `docs/dx-lock.md`. One package per block, separated by blank
//! lines, so two branches that add different packages merge without conflicts.

mod parse;
mod token;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::hash::Integrity;

/// The version written on the `dx-lock` header line; a reader refuses newer versions rather
/// than guess at fields it does not know.
pub const LOCKFILE_VERSION: u32 = 1;

/// A parsed `dx.lock`: the root manifest's specifiers plus every resolved package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lockfile {
    /// The specifiers of the root `package.json` the lock was resolved for; compared against
    /// the current manifest to detect a stale lock.
    pub root: RootSpecs,
    /// Every resolved package, keyed by [`package_key`] (`name@version`, or `name@<source>`
    /// for tarball URL, `file:`, `link:` and git sources).
    pub packages: BTreeMap<String, LockedPackage>,
}

/// The dependency specifiers of the root manifest, as written in `package.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootSpecs {
    /// `dependencies`: name -> specifier.
    pub dependencies: BTreeMap<String, String>,
    /// `devDependencies`: name -> specifier.
    pub dev_dependencies: BTreeMap<String, String>,
    /// `optionalDependencies`: name -> specifier.
    pub optional_dependencies: BTreeMap<String, String>,
    /// `peerDependencies`: name -> specifier.
    pub peer_dependencies: BTreeMap<String, String>,
    /// `overrides`, flattened to selector -> specifier (e.g. `"a>b" -> "1.0.0"`).
    pub overrides: BTreeMap<String, String>,
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
    pub dependencies: BTreeMap<String, LockedEdge>,
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

/// One dependency edge of a locked package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedEdge {
    /// The specifier as the dependent wrote it (`^1.2.0`, `npm:y@^2`, `file:../x`).
    pub specifier: String,
    /// Normal, optional, peer or optional peer.
    pub kind: EdgeKind,
    /// The key of the package it resolved to; `None` for an unmet optional or peer edge.
    pub target: Option<String>,
}

/// How a package depends on another; decides whether a missing target is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `dependencies`: must be installed.
    Normal,
    /// `optionalDependencies`: may fail to install (wrong platform, build failure).
    Optional,
    /// `peerDependencies`: provided by the dependent's parent.
    Peer,
    /// A peer marked optional in `peerDependenciesMeta`.
    OptionalPeer,
}

impl EdgeKind {
    /// Every kind, in the order edges of the same name would be listed.
    pub const ALL: [EdgeKind; 4] = [Self::Normal, Self::Optional, Self::Peer, Self::OptionalPeer];

    /// The keyword that introduces an edge of this kind in `dx.lock`.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Normal => "dependency",
            Self::Optional => "optional-dependency",
            Self::Peer => "peer-dependency",
            Self::OptionalPeer => "optional-peer-dependency",
        }
    }

    /// The kind a `dx.lock` keyword stands for.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.keyword() == word)
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
        "dx.lock:{line}: lockfile version {found} is not supported (this dx reads version {LOCKFILE_VERSION}); upgrade dx"
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
    /// Reads `dx.lock` text. Accepts `\r\n` line ends, comments (`#` lines), blank lines and
    /// blocks in any order; rejects unknown fields, duplicates and newer versions.
    pub fn parse(text: &str) -> Result<Self, LockfileError> {
        parse::parse(text)
    }

    /// Writes `dx.lock` text: sorted, one block per package, deterministic.
    pub fn to_text(&self) -> String {
        write::write(self)
    }

    /// Whether this lock was resolved for a different root manifest than `root`; returns a
    /// one-line description of the first difference, for `--frozen-lockfile` errors.
    pub fn is_stale_for(&self, root: &RootSpecs) -> Option<String> {
        type Section<'s> = (
            &'static str,
            &'s BTreeMap<String, String>,
            &'s BTreeMap<String, String>,
        );
        let sections: [Section<'_>; 5] = [
            ("dependencies", &self.root.dependencies, &root.dependencies),
            (
                "devDependencies",
                &self.root.dev_dependencies,
                &root.dev_dependencies,
            ),
            (
                "optionalDependencies",
                &self.root.optional_dependencies,
                &root.optional_dependencies,
            ),
            (
                "peerDependencies",
                &self.root.peer_dependencies,
                &root.peer_dependencies,
            ),
            ("overrides", &self.root.overrides, &root.overrides),
        ];
        sections
            .into_iter()
            .find_map(|(section, locked, wanted)| first_difference(section, locked, wanted))
    }
}

/// The first name (in sorted order) whose specifier differs between the lock and the manifest.
fn first_difference(
    section: &str,
    locked: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Option<String> {
    let mut names: Vec<&String> = locked.keys().chain(wanted.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .find_map(|name| match (locked.get(name), wanted.get(name)) {
            (Some(l), Some(w)) if l != w => Some(format!(
                "{section}: `{name}` is `{w}` in package.json but `{l}` in dx.lock"
            )),
            (None, Some(w)) => Some(format!(
                "{section}: `{name}@{w}` is in package.json but not in dx.lock"
            )),
            (Some(l), None) => Some(format!(
                "{section}: `{name}@{l}` is in dx.lock but no longer in package.json"
            )),
            _ => None,
        })
}
