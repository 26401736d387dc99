//! Workspaces: which directories are members of a project, as npm, Yarn and Bun read the root
//! package.json's `workspaces` (an array of globs, or an object with `packages`) and as pnpm
//! reads pnpm-workspace.yaml's `packages`; their catalogs (`catalog:` specifiers); and the
//! selection of members for `--filter`, `-w` and `-r` ([`filter`]).
//!
//! When both files exist, pnpm-workspace.yaml's `packages` wins (pnpm ignores the package.json
//! field); catalogs are merged from both, pnpm-workspace.yaml first.

mod catalog;
mod config;
pub mod filter;
mod pattern;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use catalog::{
    CatalogFile, Catalogs, DEFAULT_CATALOG, catalog_name, rewrite_catalog_entry,
    write_catalog_entry,
};
pub use config::PNPM_WORKSPACE_FILE;

use crate::error::{Error, Result};
use config::WorkspaceConfig;
use pattern::Patterns;

/// A workspace: its root directory, its members and its catalogs.
#[derive(Debug, Clone)]
pub struct WorkspaceSet {
    /// The root directory (the one with the workspaces config).
    pub root: PathBuf,
    /// The members, sorted by path.
    pub members: Vec<Member>,
    /// The catalogs of `catalog:` specifiers.
    pub catalogs: Catalogs,
}

/// One workspace member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Root-relative, '/'-separated, without `./` (`packages/a`).
    pub path: String,
    /// Its directory (`root` joined with `path`).
    pub dir: PathBuf,
    /// Its package.json `name`.
    pub name: String,
    /// Its package.json `version` (empty when it has none).
    pub version: String,
    /// Its package.json text, as read.
    pub manifest_text: String,
}

impl WorkspaceSet {
    /// Reads the workspace rooted at `root_dir`: `None` when neither its package.json has a
    /// `workspaces` field nor a pnpm-workspace.yaml exists. Errors name the file: an unreadable
    /// config, a pattern that matches no directory with a package.json, a member package.json
    /// without `name` (or unparsable), two members with one name, a member outside the root.
    pub fn discover(root_dir: &Path) -> Result<Option<WorkspaceSet>> {
        let Some(config) = WorkspaceConfig::read(root_dir)? else {
            return Ok(None);
        };
        let patterns = Patterns::compile(&config.patterns, &config.patterns_file)?;
        let paths = patterns.expand(root_dir, &config.patterns_file)?;
        let canonical_root = root_dir.canonicalize().map_err(|e| Error::Context {
            context: format!("cannot resolve {}", root_dir.display()),
            source: Box::new(e),
        })?;
        let mut members = Vec::with_capacity(paths.len());
        let mut by_name: BTreeMap<String, String> = BTreeMap::new();
        for path in paths {
            let dir = root_dir.join(&path);
            if !dir
                .canonicalize()
                .is_ok_and(|real| real.starts_with(&canonical_root))
            {
                return Err(Error::WorkspaceMemberOutsideRoot {
                    dir,
                    root: root_dir.to_path_buf(),
                });
            }
            let member = read_member(path, dir)?;
            if let Some(first) = by_name.insert(member.name.clone(), member.path.clone()) {
                return Err(Error::WorkspaceDuplicateName {
                    name: member.name,
                    first,
                    second: member.path,
                });
            }
            members.push(member);
        }
        Ok(Some(WorkspaceSet {
            root: root_dir.to_path_buf(),
            members,
            catalogs: config.catalogs,
        }))
    }

    /// The member named `name`.
    pub fn member_by_name(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The member at the root-relative `path` (`./` and a trailing `/` are ignored).
    pub fn member_by_path(&self, path: &str) -> Option<&Member> {
        let path = normalize_rel(path);
        self.members.iter().find(|m| m.path == path)
    }
}

/// `./packages/a/` → `packages/a`.
fn normalize_rel(path: &str) -> String {
    path.replace('\\', "/")
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn read_member(path: String, dir: PathBuf) -> Result<Member> {
    let manifest = dir.join("package.json");
    let bad = |reason: String| Error::WorkspaceMemberManifest {
        manifest: manifest.clone(),
        reason,
    };
    let manifest_text =
        std::fs::read_to_string(&manifest).map_err(|e| bad(format!("cannot read: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(manifest_text.trim_start_matches('\u{feff}'))
            .map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let name = match value.get("name").and_then(|n| n.as_str()) {
        Some(name) if !name.trim().is_empty() => name.to_owned(),
        _ => return Err(bad("a workspace member has no `name`".into())),
    };
    let version = value
        .get("version")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(Member {
        path,
        dir,
        name,
        version,
        manifest_text,
    })
}

/// Walks up from `start` (a package directory, usually the nearest one holding a package.json)
/// to the nearest ancestor (or `start` itself) whose workspaces config includes `start`, as npm
/// and pnpm find the workspace of a member. Returns that root and `start`'s member path
/// (`None` when `start` is the root itself); `None` when no ancestor's workspace includes it.
///
/// Cheap: only the package.json and pnpm-workspace.yaml of each ancestor are read, and only the
/// patterns of an ancestor with a workspaces config are matched against `start`'s relative
/// path (no directory walk).
pub fn find_workspace_root(start: &Path) -> Result<Option<(PathBuf, Option<String>)>> {
    let start = if start.is_absolute() {
        start.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::Context {
                context: "cannot read the current directory".into(),
                source: Box::new(e),
            })?
            .join(start)
    };
    for ancestor in start.ancestors() {
        let config = match WorkspaceConfig::read(ancestor) {
            Ok(Some(config)) => config,
            Ok(None) => continue,
            // An unrelated broken package.json above the project (one that does not even
            // mention `workspaces`) does not stop the search; a broken workspace config does.
            Err(Error::WorkspaceConfig { file, .. })
                if ancestor != start
                    && file.ends_with("package.json")
                    && !std::fs::read_to_string(&file)
                        .is_ok_and(|text| text.contains("\"workspaces\"")) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(rel) = start.strip_prefix(ancestor) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if rel.is_empty() {
            return Ok(Some((ancestor.to_path_buf(), None)));
        }
        let patterns = Patterns::compile(&config.patterns, &config.patterns_file)?;
        if patterns.includes(&rel) && start.join("package.json").is_file() {
            return Ok(Some((ancestor.to_path_buf(), Some(rel))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
