//! [`LayoutPlan`]: the DXL layout turned into the work of building it, with every path checked
//! so nothing is written outside `node_modules`.

use dx_formats::dxl::{Dxl, NodeKind};
use dx_formats::hash::ContentHash;

use crate::error::LinkError;

/// Everything a materialization creates, in an order that creates parents first.
#[derive(Debug)]
pub(crate) struct LayoutPlan<'a> {
    /// Layout directories and package roots (not the root itself), parents before children.
    pub(crate) dirs: Vec<&'a str>,
    /// One job per placed package: its files are placed in parallel with the others'.
    pub(crate) packages: Vec<PackageJob<'a>>,
    /// `.bin` links: (path, relative target).
    pub(crate) symlinks: Vec<(&'a str, &'a str)>,
    /// Top-level layout directories (`@scope`, `.bin`) whose mtimes the marker fingerprints.
    pub(crate) watched: Vec<String>,
}

/// One package root to fill with the package's files.
#[derive(Clone, Debug)]
pub(crate) struct PackageJob<'a> {
    /// Where it goes, relative to `node_modules`.
    pub(crate) path: &'a str,
    /// Its archive in the store.
    pub(crate) hash: ContentHash,
    /// `name@version`, for messages.
    pub(crate) display: String,
    /// Layout nodes inside this package (relative to it), which take precedence over the
    /// package's own files: (path, whether the node replaces the whole subtree — a nested
    /// package or link — rather than merging with it as a directory does).
    pub(crate) shadows: Vec<(&'a str, bool)>,
}

impl PackageJob<'_> {
    /// Whether the archive entry at `path` is hidden by a layout node.
    pub(crate) fn is_shadowed(&self, path: &str, is_file: bool) -> bool {
        self.shadows.iter().any(|&(shadow, replaces)| {
            if path == shadow {
                return is_file || replaces;
            }
            replaces
                && path
                    .strip_prefix(shadow)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }
}

impl<'a> LayoutPlan<'a> {
    /// Plans the layout of `dxl`. Nodes come in path order, so a parent always precedes its
    /// children; a node that claims otherwise, or any unsafe path or link target, is refused.
    pub(crate) fn from_dxl(dxl: &Dxl<'a>) -> Result<LayoutPlan<'a>, LinkError> {
        let count = dxl.node_count() as usize;
        // For each node, the job index of the package it lies in (if any).
        let mut owner: Vec<Option<usize>> = Vec::with_capacity(count);
        let mut plan = LayoutPlan {
            dirs: Vec::new(),
            packages: Vec::new(),
            symlinks: Vec::new(),
            watched: Vec::new(),
        };
        for node in dxl.nodes() {
            let index = node.index() as usize;
            if index != owner.len() {
                return Err(corrupt(node.path(), "node table out of order"));
            }
            if index == 0 {
                owner.push(None);
                continue;
            }
            let path = node.path();
            check_relative_path(path)?;
            let parent = node.parent_index() as usize;
            if parent >= index {
                return Err(corrupt(path, "parent listed after child"));
            }
            let parent_node = dxl
                .node(parent as u32)
                .ok_or_else(|| corrupt(path, "missing parent"))?;
            let expected_prefix = if parent == 0 {
                String::new()
            } else {
                format!("{}/", parent_node.path())
            };
            if !path.starts_with(&expected_prefix) || path[expected_prefix.len()..].contains('/') {
                return Err(corrupt(path, "path is not inside its parent"));
            }
            let inherited = owner[parent];
            let kind = node.kind();
            if let Some(job) = inherited {
                let package = &mut plan.packages[job];
                let relative = &path[package.path.len() + 1..];
                package
                    .shadows
                    .push((relative, !matches!(kind, NodeKind::Dir)));
            }
            match kind {
                NodeKind::Dir => {
                    plan.dirs.push(path);
                    if parent == 0 {
                        plan.watched.push(path.to_owned());
                    }
                    owner.push(inherited);
                }
                NodeKind::Package(package) => {
                    plan.dirs.push(path);
                    owner.push(Some(plan.packages.len()));
                    plan.packages.push(PackageJob {
                        path,
                        hash: package.content_hash(),
                        display: format!("{}@{}", package.name(), package.version()),
                        shadows: Vec::new(),
                    });
                }
                NodeKind::Symlink(target) => {
                    check_link_target(path, target)?;
                    plan.symlinks.push((path, target));
                    owner.push(inherited);
                }
            }
        }
        Ok(plan)
    }
}

impl<'a> LayoutPlan<'a> {
    /// The part of this plan inside `units` (see `update`), with the containers above them
    /// (`ancestors`, parents first) as its first directories: what building those units
    /// beside the tree takes.
    pub(crate) fn within(&self, units: &[&str], ancestors: &[&'a str]) -> LayoutPlan<'a> {
        let units: std::collections::HashSet<&str> = units.iter().copied().collect();
        let inside = |path: &str| super::update::unit_of(path, &units).is_some();
        let mut dirs: Vec<&'a str> = ancestors.to_vec();
        dirs.extend(self.dirs.iter().copied().filter(|dir| inside(dir)));
        LayoutPlan {
            dirs,
            packages: self
                .packages
                .iter()
                .filter(|job| inside(job.path))
                .cloned()
                .collect(),
            symlinks: self
                .symlinks
                .iter()
                .copied()
                .filter(|(link, _)| inside(link))
                .collect(),
            watched: self.watched.clone(),
        }
    }
}

fn corrupt(path: &str, reason: &str) -> LinkError {
    LinkError::LayoutConflict {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Refuses paths that could leave the tree: empty, absolute, `.`/`..`/empty components, NUL.
pub(crate) fn check_relative_path(path: &str) -> Result<(), LinkError> {
    if is_plain_relative(path) {
        Ok(())
    } else {
        Err(LinkError::UnsafePath {
            path: path.to_owned(),
            origin: "the layout".to_owned(),
        })
    }
}

/// Whether `path` is a non-empty relative path of plain components.
pub(crate) fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// A `.bin` link's target must be relative and, resolved from the link's directory, stay
/// inside `node_modules` (`../typescript/bin/tsc` from `.bin/tsc` is fine; `../../etc` is not):
/// command names and paths come from packages. A link in a package's place (`a`, `@s/b`) is a
/// directory link that dx.lock asked for — a workspace member (`../packages/a`) or a
/// `file:`/`link:` directory, which npm links wherever the project says — and must only be
/// relative.
fn check_link_target(link: &str, target: &str) -> Result<(), LinkError> {
    let unsafe_target = || LinkError::UnsafePath {
        path: format!("{link} -> {target}"),
        origin: "the layout".to_owned(),
    };
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return Err(unsafe_target());
    }
    let in_bin_dir = link
        .rsplit_once('/')
        .is_some_and(|(dir, _)| dir == ".bin" || dir.ends_with("/.bin"));
    if !in_bin_dir {
        return Ok(());
    }
    let mut depth = link.split('/').count() - 1;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1).ok_or_else(unsafe_target)?,
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_must_stay_inside_node_modules() {
        assert!(check_link_target(".bin/tsc", "../typescript/bin/tsc").is_ok());
        assert!(check_link_target("a/node_modules/.bin/x", "../b/cli.js").is_ok());
        assert!(check_link_target(".bin/x", "../../etc/passwd").is_err());
        assert!(check_link_target(".bin/x", "/etc/passwd").is_err());
        assert!(check_link_target(".bin/x", "").is_err());
        assert!(check_link_target("a/node_modules/.bin/x", "../../../../x").is_err());
        // Directory links in a package's place (members, `file:` directories) may leave.
        assert!(check_link_target("a", "../packages/a").is_ok());
        assert!(check_link_target("@s/c", "../../../lib").is_ok());
        assert!(check_link_target("@s/c", "/lib").is_err());
    }

    #[test]
    fn layout_nodes_shadow_package_files() {
        let job = PackageJob {
            path: "a",
            hash: ContentHash([0; 32]),
            display: "a@1.0.0".into(),
            shadows: vec![("node_modules", false), ("node_modules/b", true)],
        };
        assert!(
            !job.is_shadowed("node_modules", false),
            "a directory merges with the layout's"
        );
        assert!(
            job.is_shadowed("node_modules", true),
            "a file cannot sit where the layout has a directory"
        );
        assert!(job.is_shadowed("node_modules/b/index.js", true));
        assert!(!job.is_shadowed("node_modules/bc/index.js", true));
        assert!(!job.is_shadowed("index.js", true));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for bad in ["", "/abs", "a/../b", "a//b", ".", "a/./b", "a\0b"] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative_path("@scope/pkg/node_modules/x").is_ok());
    }
}
