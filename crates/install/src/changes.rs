//! What an `add` / `remove` / `update` changed among the project's direct dependencies, as npm
//! and Bun report it (`+ react 18.3.1`, `- lodash 4.17.21`, `~ a 1.0.0 → 1.2.0`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use dx_formats::lockfile::Lockfile;

use crate::error::Result;
use crate::project::Project;

/// One direct dependency that an edit added, moved or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectChange {
    /// Newly a direct dependency, at this version.
    Added {
        /// Name as in package.json.
        name: String,
        /// Resolved version.
        version: String,
    },
    /// Resolved to another version.
    Changed {
        /// Name as in package.json.
        name: String,
        /// Version before.
        from: String,
        /// Version now.
        to: String,
    },
    /// No longer a direct dependency.
    Removed {
        /// Name as in package.json.
        name: String,
        /// Version before.
        version: String,
    },
}

/// The direct dependencies' versions recorded in dx.lock at one moment.
#[derive(Debug)]
pub struct DirectChanges {
    lock_path: PathBuf,
    before: BTreeMap<String, String>,
    focus: Option<String>,
}

impl DirectChanges {
    /// Records the versions dx.lock holds now (none without a dx.lock).
    pub fn snapshot(project: &Project) -> Result<Self> {
        let focus = project.focus.clone();
        let before = project
            .read_lockfile_merging()?
            .map(|read| direct_versions(&read.lock, focus.as_deref()))
            .unwrap_or_default();
        Ok(Self {
            lock_path: project.lockfile_path(),
            before,
            focus,
        })
    }

    /// What changed between the snapshot and dx.lock as it is now (nothing when dx.lock is
    /// gone or unreadable).
    pub fn against_disk(&self) -> Vec<DirectChange> {
        let Ok(text) = std::fs::read_to_string(&self.lock_path) else {
            return Vec::new();
        };
        let Ok(lock) = dx_resolve::lockfile::parse(&text) else {
            return Vec::new();
        };
        diff(&self.before, &direct_versions(&lock, self.focus.as_deref()))
    }
}

/// Direct dependency name → the version dx.lock resolved it to, for the root or the member
/// at `focus`.
fn direct_versions(lock: &Lockfile, focus: Option<&str>) -> BTreeMap<String, String> {
    let edges = match focus {
        Some(path) => match lock.workspaces.get(path) {
            Some(ws) => &ws.importer.edges,
            None => return BTreeMap::new(),
        },
        None => &lock.root.edges,
    };
    edges
        .iter()
        .filter_map(|(name, edge)| {
            let target = edge.target.as_ref()?;
            Some((name.clone(), lock.packages.get(target)?.version.clone()))
        })
        .collect()
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<DirectChange> {
    let mut changes = Vec::new();
    for (name, version) in after {
        match before.get(name) {
            None => changes.push(DirectChange::Added {
                name: name.clone(),
                version: version.clone(),
            }),
            Some(old) if old != version => changes.push(DirectChange::Changed {
                name: name.clone(),
                from: old.clone(),
                to: version.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, version) in before {
        if !after.contains_key(name) {
            changes.push(DirectChange::Removed {
                name: name.clone(),
                version: version.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_added_changed_and_removed() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let before = map(&[("a", "1.0.0"), ("b", "1.0.0"), ("c", "2.0.0")]);
        let after = map(&[("a", "1.0.0"), ("b", "1.1.0"), ("d", "3.0.0")]);
        let s = |x: &str| x.to_string();
        assert_eq!(
            diff(&before, &after),
            vec![
                DirectChange::Changed {
                    name: s("b"),
                    from: s("1.0.0"),
                    to: s("1.1.0")
                },
                DirectChange::Added {
                    name: s("d"),
                    version: s("3.0.0")
                },
                DirectChange::Removed {
                    name: s("c"),
                    version: s("2.0.0")
                },
            ]
        );
    }
}
