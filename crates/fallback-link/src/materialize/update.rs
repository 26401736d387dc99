//! Updating a materialized tree in place when its layout changed: the old and the new layout
//! are compared unit by unit (a top-level package with everything nested in it, a scoped
//! package, a `.bin` link, or a whole `@scope`/`.bin` directory that only one side has), the
//! units that are new or differ are built in the staging directory, and then moved into
//! `node_modules` by one rename each (an exchange for a unit that replaces an old one), the
//! replaced and removed units going into the staging directory for a removal off the measured
//! path. A one-package `dx add` on a tree of 40,000 files places that package's files and a
//! few links instead of the whole tree.
//!
//! Crashes: everything slow (building the units) happens before `node_modules` changes, so a
//! process killed then leaves the old tree and its marker as they were. The marker is emptied
//! just before the renames and filled after them; a process killed among the renames (a
//! window of one rename per changed unit, microseconds) leaves a tree that no install takes as
//! intact, and the next install rebuilds it whole and swaps it in atomically.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io;
use std::path::Path;

use dx_formats::dxl::{Dxl, NodeKind};
use dx_formats::hash::ContentHash;

use crate::sys;

/// What one layout node contributes to its unit's identity.
#[derive(Debug, PartialEq, Eq)]
struct NodeSig<'a> {
    path: &'a str,
    kind: SigKind<'a>,
}

#[derive(Debug, PartialEq, Eq)]
enum SigKind<'a> {
    Dir,
    /// A package's archive, and whether it is placed as private copies.
    Package(ContentHash, bool),
    Link(&'a str),
}

/// A layout directory outside every package (the root, `@scope`, `.bin`), or a unit.
#[derive(Debug, PartialEq, Eq)]
enum Entry<'a> {
    Container,
    Unit(Vec<NodeSig<'a>>),
}

/// A layout cut into units: each container's children, and each entry by path.
struct Units<'a> {
    /// Container path ("" for the root) → the paths of its children.
    children: BTreeMap<&'a str, Vec<&'a str>>,
    entries: BTreeMap<&'a str, Entry<'a>>,
}

impl<'a> Units<'a> {
    /// Cuts `dxl` (already checked by `LayoutPlan::from_dxl`) into units; `private` says which
    /// install paths are placed as private copies.
    fn of(dxl: &Dxl<'a>, private: &HashSet<&str>) -> Option<Units<'a>> {
        let mut units = Units {
            children: BTreeMap::from([("", Vec::new())]),
            entries: BTreeMap::new(),
        };
        // For each node (by index), the unit it belongs to, if any.
        let mut owner: Vec<Option<&'a str>> = Vec::with_capacity(dxl.node_count() as usize);
        for node in dxl.nodes() {
            if node.index() == 0 {
                owner.push(None);
                continue;
            }
            let path = node.path();
            let kind = match node.kind() {
                NodeKind::Dir => SigKind::Dir,
                NodeKind::Package(package) => {
                    SigKind::Package(package.content_hash(), private.contains(path))
                }
                NodeKind::Symlink(target) => SigKind::Link(target),
            };
            let parent = node.parent_index() as usize;
            match *owner.get(parent)? {
                Some(unit) => {
                    if let Some(Entry::Unit(sigs)) = units.entries.get_mut(unit) {
                        sigs.push(NodeSig { path, kind });
                    }
                    owner.push(Some(unit));
                }
                None => {
                    let container = if parent == 0 {
                        ""
                    } else {
                        dxl.node(parent as u32)?.path()
                    };
                    units.children.get_mut(container)?.push(path);
                    if kind == SigKind::Dir {
                        units.children.insert(path, Vec::new());
                        units.entries.insert(path, Entry::Container);
                        owner.push(None);
                    } else {
                        units
                            .entries
                            .insert(path, Entry::Unit(vec![NodeSig { path, kind }]));
                        owner.push(Some(path));
                    }
                }
            }
        }
        Some(units)
    }
}

/// What differs between an old and a new layout, as unit paths (relative to `node_modules`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct LayoutDiff {
    /// Units only the new layout has.
    pub(crate) added: Vec<String>,
    /// Units both have, with different contents.
    pub(crate) replaced: Vec<String>,
    /// Units only the old layout has.
    pub(crate) removed: Vec<String>,
}

impl LayoutDiff {
    /// Compares two layouts; `None` if either is malformed (the caller rebuilds instead).
    pub(crate) fn between(
        old: &Dxl<'_>,
        old_private: &[String],
        new: &Dxl<'_>,
        new_private: &[String],
    ) -> Option<LayoutDiff> {
        let old_set: HashSet<&str> = old_private.iter().map(String::as_str).collect();
        let new_set: HashSet<&str> = new_private.iter().map(String::as_str).collect();
        let old = Units::of(old, &old_set)?;
        let new = Units::of(new, &new_set)?;
        let mut diff = LayoutDiff::default();
        diff.compare(&old, &new, "");
        Some(diff)
    }

    fn compare(&mut self, old: &Units<'_>, new: &Units<'_>, container: &str) {
        let none = Vec::new();
        let names: BTreeSet<&str> = old
            .children
            .get(container)
            .unwrap_or(&none)
            .iter()
            .chain(new.children.get(container).unwrap_or(&none))
            .copied()
            .collect();
        for path in names {
            match (old.entries.get(path), new.entries.get(path)) {
                (None, Some(_)) => self.added.push(path.to_owned()),
                (Some(_), None) => self.removed.push(path.to_owned()),
                (Some(Entry::Container), Some(Entry::Container)) => self.compare(old, new, path),
                (Some(a), Some(b)) if a == b => {}
                _ => self.replaced.push(path.to_owned()),
            }
        }
    }

    /// Whether the layouts place the same tree.
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }

    /// The units the new layout builds (added and replaced).
    pub(crate) fn built(&self) -> Vec<&str> {
        self.added
            .iter()
            .chain(&self.replaced)
            .map(String::as_str)
            .collect()
    }

    /// The units of the old layout that go (replaced and removed).
    pub(crate) fn gone(&self) -> Vec<&str> {
        self.replaced
            .iter()
            .chain(&self.removed)
            .map(String::as_str)
            .collect()
    }
}

/// The unit a layout path lies in, if it is one of `units`: the path itself or the nearest
/// prefix (at a `/`) that is.
pub(crate) fn unit_of<'p>(path: &'p str, units: &HashSet<&str>) -> Option<&'p str> {
    if units.contains(path) {
        return Some(path);
    }
    path.match_indices('/')
        .map(|(at, _)| &path[..at])
        .find(|prefix| units.contains(prefix))
}

/// The containers above `units` (`@scope` for `@scope/pkg`, `.bin` for `.bin/tsc`), parents
/// first, each once: they exist in both trees, and the staging tree needs them too.
pub(crate) fn ancestors<'p>(units: &[&'p str]) -> Vec<&'p str> {
    let mut seen = BTreeSet::new();
    for unit in units {
        let mut path = *unit;
        while let Some((parent, _)) = path.rsplit_once('/') {
            seen.insert(parent);
            path = parent;
        }
    }
    let mut ordered: Vec<&str> = seen.into_iter().collect();
    ordered.sort_by_key(|path| path.matches('/').count());
    ordered
}

/// Why the renames stopped.
pub(crate) enum CommitError {
    /// Stopped on purpose after this many renames (tests: a process killed midway).
    Interrupted(usize),
    /// A rename failed; the tree is part old, part new, and its marker is empty (the caller
    /// rebuilds it whole, and that says what is wrong if it fails too).
    Failed,
}

/// Moves the built units from `staging` into `node_modules` (added first, then replaced, by
/// exchange where the filesystem has it), then moves the removed ones into
/// `staging/.dx-removed`. Replaced units end up in `staging` where the new ones were.
pub(crate) fn commit(
    staging: &Path,
    node_modules: &Path,
    diff: &LayoutDiff,
    stop_after: Option<usize>,
) -> Result<(), CommitError> {
    let removed_dir = staging.join(".dx-removed");
    fs::create_dir(&removed_dir).map_err(|_| CommitError::Failed)?;
    let mut step = 0;
    let mut tick = || {
        if stop_after == Some(step) {
            return Err(CommitError::Interrupted(step));
        }
        step += 1;
        Ok(())
    };
    let failed = |_: io::Error| CommitError::Failed;
    for unit in &diff.added {
        tick()?;
        let (from, to) = (staging.join(unit), node_modules.join(unit));
        fs::rename(&from, &to).map_err(failed)?;
    }
    for (i, unit) in diff.replaced.iter().enumerate() {
        tick()?;
        let (from, to) = (staging.join(unit), node_modules.join(unit));
        if sys::exchange(&from, &to).is_err() {
            let aside = removed_dir.join(format!("r{i}"));
            fs::rename(&to, &aside).map_err(failed)?;
            fs::rename(&from, &to).map_err(failed)?;
        }
    }
    for (i, unit) in diff.removed.iter().enumerate() {
        tick()?;
        let from = node_modules.join(unit);
        fs::rename(&from, removed_dir.join(format!("d{i}"))).map_err(failed)?;
    }
    tick()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dx_formats::dxl::{DxlBuilder, DxlPackage};

    fn layout(places: &[(&str, u8)], links: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = DxlBuilder::new([0; 16], "linux-x64-glibc");
        for (path, hash) in places {
            let id = builder.add_package(DxlPackage {
                name: path
                    .rsplit("node_modules/")
                    .next()
                    .unwrap_or(path)
                    .to_owned(),
                version: format!("1.0.{hash}"),
                content_hash: ContentHash([*hash; 32]),
                integrity: None,
                has_install_script: false,
            });
            builder.place(path, id).expect("place");
        }
        for (link, target) in links {
            builder.add_bin_link(link, target).expect("link");
        }
        builder.finish()
    }

    fn diff(old: &[u8], new: &[u8]) -> LayoutDiff {
        let (old, new) = (Dxl::parse(old).expect("old"), Dxl::parse(new).expect("new"));
        LayoutDiff::between(&old, &[], &new, &[]).expect("diff")
    }

    #[test]
    fn units_are_top_level_packages_scoped_packages_and_links() {
        let old = layout(
            &[
                ("a", 1),
                ("a/node_modules/b", 2),
                ("@s/x", 3),
                ("@s/y", 4),
                ("c", 5),
            ],
            &[(".bin/a", "../a/cli.js"), (".bin/c", "../c/cli.js")],
        );
        let new = layout(
            &[
                ("a", 1),
                ("a/node_modules/b", 9),
                ("@s/x", 3),
                ("d", 6),
                ("@t/z", 7),
            ],
            &[(".bin/a", "../a/cli.js"), (".bin/d", "../d/cli.js")],
        );
        let found = diff(&old, &new);
        assert_eq!(found.added, [".bin/d", "@t", "d"]);
        assert_eq!(
            found.replaced,
            ["a"],
            "a nested change replaces its top-level package"
        );
        assert_eq!(found.removed, [".bin/c", "@s/y", "c"]);
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn a_package_becoming_a_private_copy_is_replaced() {
        let bytes = layout(&[("a", 1), ("b", 2)], &[]);
        let dxl = Dxl::parse(&bytes).expect("dxl");
        let found = LayoutDiff::between(&dxl, &[], &dxl, &["b".to_owned()]).expect("diff");
        assert_eq!(found.replaced, ["b"]);
        assert!(found.added.is_empty() && found.removed.is_empty());
    }

    #[test]
    fn a_whole_scope_or_bin_directory_is_one_unit() {
        let old = layout(&[("a", 1)], &[(".bin/a", "../a/cli.js")]);
        let new = layout(&[("a", 1), ("@s/x", 2), ("@s/y", 3)], &[]);
        let found = diff(&old, &new);
        assert_eq!(found.added, ["@s"]);
        assert_eq!(found.removed, [".bin"]);
    }

    #[test]
    fn paths_find_their_unit_and_units_their_containers() {
        let units: HashSet<&str> = ["a", "@s/x", ".bin/t"].into_iter().collect();
        assert_eq!(unit_of("a", &units), Some("a"));
        assert_eq!(unit_of("a/node_modules/b", &units), Some("a"));
        assert_eq!(unit_of("@s/x/node_modules/q", &units), Some("@s/x"));
        assert_eq!(unit_of("@s", &units), None);
        assert_eq!(unit_of("ab", &units), None);
        assert_eq!(ancestors(&["@s/x", ".bin/t", "a", "@s/y"]), [".bin", "@s"]);
    }
}
