//! `dx list` (`ls`): the installed tree as `npm ls` prints it, read from dx.lock and its layout
//! (the one `dx install` compiled into the store, else planned again from dx.lock:
//! [`dx_install::load_layout`]), so it works before node_modules exists (or while it is not
//! mounted).
//!
//! Each dependency is found where Node would find it: in the dependent's own node_modules,
//! then in each enclosing one up to the top ([`InstalledTree::find`]). As in npm, a package met
//! again after the (breadth-first) first time it is shown is marked `deduped` and not expanded,
//! and children are sorted as npm sorts them.
//!
//! In a workspace, each member is a child of the project beside the project's own
//! dependencies, shown as npm shows a link: `b@1.0.0 -> ./packages/b`, its own dependencies
//! (dev ones included) under it at the depth of the project's, and the packages it could not
//! share with the root found in its own `node_modules` first. A member met again under another
//! member is `b@1.0.0 deduped -> ./packages/b`.
//!
//! `--json` prints npm's shape: `{version, name, dependencies: {<name>: {version, resolved,
//! dependencies}}}` (a member's `resolved` is `file:` and its link's target,
//! `file:../packages/b`), a deduped package as `{version}` only, and a dependency that is not
//! installed as `{required: <specifier>, missing: true}` (plus `optional: true` when it may be
//! missing, such as a package for another platform).
//!
//! Packages a dependency ships in its own tarball (npm's `bundleDependencies`) are read from
//! its archive ([`bundled`]) and shown where they sit, as `npm ls` shows them; `--json` marks
//! them `"inBundle": true` (package-lock.json's word for them).
//!
//! A dx.lock whose edges lead to packages it does not hold (a lost `package` block) is shown
//! as far as it goes, with each missing package on stderr, and `dx list` exits 1, as `npm ls`
//! does for a missing dependency.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::process::ExitCode;

use dx_resolve::collate::locale_compare;
use dx_resolve::semver::{Range, Version};
use dx_resolve::{EdgeKind, LockedEdge};
use serde_json::{Map, Value, json};

use crate::cli::{ListArgs, OmitKind};
use crate::printer::Printer;
use dx_install::{LayoutSource, Project};

mod bundled;
mod tree;
#[cfg(test)]
pub(crate) mod workspace_tests;

pub use tree::{BUNDLED_KEY_PREFIX, Found, InstalledTree, bundled_key, package_label};

/// Reads dx.lock of the project in the current directory and its layout (from the store, or
/// planned when the store has none for this dx.lock). Fails when there is no dx.lock; warns when package.json changed since it was written, and for each
/// edge to a package dx.lock does not hold.
pub fn load(printer: &Printer) -> anyhow::Result<InstalledTree> {
    let started = std::time::Instant::now();
    let project = Project::open_current()?;
    let (text, lock) = project.require_lockfile()?;
    let stale = lock
        .is_stale_for(&dx_resolve::manifest_importer(&project.manifest))
        .or_else(|| lock.stale_members(&project.member_workspaces()));
    if let Some(difference) = stale {
        printer.warn(format!(
            "dx.lock does not match package.json ({difference}); showing dx.lock (run `dx install`)"
        ));
    }
    let mut incomplete = false;
    for dangling in lock.dangling_edges() {
        printer.warn(format!(
            "dx.lock is incomplete: {dangling} (run `dx install` to repair it)"
        ));
        incomplete = true;
    }
    let read = started.elapsed();
    // The layout `dx install` compiled into the store (only read: the store is opened below
    // if bundled packages need it), else planned again.
    let store_root = dx_install::store_root().ok();
    let layout = dx_install::load_layout(store_root.as_deref(), &text, &lock)?;
    let how = match &layout.source {
        LayoutSource::Store => "read node_modules from the store".to_owned(),
        LayoutSource::Planned(why) => format!("planned node_modules ({why})"),
    };
    printer.verbose(format!(
        "read dx.lock ({} packages, {} workspace members) in {} ms, {how} in {} ms",
        lock.packages.len(),
        lock.workspaces.len(),
        read.as_millis(),
        (started.elapsed() - read).as_millis()
    ));
    let plan = layout.plan;
    let mut tree = InstalledTree::new(project, lock, plan);
    tree.incomplete = incomplete;
    if bundled::any_may_bundle(&tree.resolution, &tree.placed) {
        let started = std::time::Instant::now();
        let (found, problems) = match dx_install::open_store() {
            Ok(store) => bundled::read_bundled(&store, &tree.resolution, &tree.placed),
            Err(e) => (BTreeMap::new(), vec![format!("{e:#}")]),
        };
        for problem in problems {
            printer.verbose(format!("bundled dependencies not shown: {problem}"));
        }
        printer.verbose(format!(
            "read {} bundled packages from the store in {} ms",
            found.len(),
            started.elapsed().as_millis()
        ));
        tree.bundled = found
            .into_iter()
            .map(|(path, b)| (bundled_key(&path), b))
            .collect();
    }
    Ok(tree)
}

/// Runs `dx list`.
pub fn run(args: &ListArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let tree = load(printer)?;
    let mut filter = EdgeFilter::from_args(args);
    filter.members = selected_members(&tree.project, &args.workspaces)?;
    let max_depth = if args.all { usize::MAX } else { args.depth };
    let shown = build(&tree, &filter, max_depth);
    if printer.json() {
        printer.json_value(&json_tree(&tree, &shown));
    } else {
        printer.answer(render(
            &shown,
            &format!("{} {}", tree.root_label(), tree.project.dir.display()),
        ));
    }
    Ok(if tree.incomplete {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The members `-w` names (by name or directory), or the one the command runs in; `None`:
/// the whole workspace.
fn selected_members(
    project: &dx_install::Project,
    named: &[String],
) -> anyhow::Result<Option<BTreeSet<String>>> {
    if named.is_empty() {
        return Ok(project.focus.clone().map(|p| BTreeSet::from([p])));
    }
    let mut paths = BTreeSet::new();
    for wanted in named {
        let wanted_path = wanted.trim_start_matches("./").trim_end_matches('/');
        let found = project
            .members
            .iter()
            .find(|m| m.manifest.name.as_deref() == Some(wanted.as_str()) || m.path == wanted_path);
        match found {
            Some(m) => {
                paths.insert(m.path.clone());
            }
            None => anyhow::bail!("no workspace member is named or found at {wanted}"),
        }
    }
    Ok(Some(paths))
}

/// Which edges `--prod`, `--dev` and `--omit` keep, and which members are shown.
struct EdgeFilter {
    /// Only these workspace members (by path) under the project, and none of the project's
    /// own dependencies, as `npm ls -w <member>` shows; `None`: everything.
    members: Option<BTreeSet<String>>,
    importer_dev: bool,
    importer_non_dev: bool,
    optional: bool,
    peer: bool,
}

impl EdgeFilter {
    fn from_args(args: &ListArgs) -> Self {
        let omitted = |kind| args.omit.contains(&kind);
        Self {
            members: None,
            importer_dev: !args.prod && !omitted(OmitKind::Dev),
            importer_non_dev: !args.dev,
            optional: !omitted(OmitKind::Optional),
            peer: !omitted(OmitKind::Peer),
        }
    }

    /// Whether to show `edge` of a package, or of an importer (the project or a member, whose
    /// dev and non-dev edges `--prod` and `--dev` choose between).
    fn keeps(&self, edge: &LockedEdge, of_importer: bool) -> bool {
        if of_importer
            && !(if edge.kind == EdgeKind::Dev {
                self.importer_dev
            } else {
                self.importer_non_dev
            })
        {
            return false;
        }
        match edge.kind {
            EdgeKind::Optional => self.optional,
            EdgeKind::Peer => self.peer,
            EdgeKind::OptionalPeer => self.optional && self.peer,
            EdgeKind::Normal | EdgeKind::Dev => true,
        }
    }
}

/// One line of the printed tree.
struct Shown {
    /// The name the dependent requires (the folder name).
    name: String,
    /// What is printed: `a@1.0.0`, `a@1.0.0 deduped`, `UNMET OPTIONAL DEPENDENCY a@^1`,
    /// `b@1.0.0 -> ./packages/b`.
    label: String,
    version: Option<String>,
    resolved: Option<String>,
    /// For a dependency that is not installed: its specifier, and whether it is optional.
    missing: Option<(String, bool)>,
    /// Shipped inside its dependent's tarball.
    in_bundle: bool,
    /// Shown expanded elsewhere (npm's `--json` then gives only its version).
    deduped: bool,
    children: Vec<usize>,
}

/// A dependency about to be shown.
struct Child<'t> {
    /// `name@version` (`name@specifier` when missing): what npm sorts by.
    id: String,
    name: &'t str,
    edge: &'t LockedEdge,
    /// Where it is installed, when it is.
    found: Option<Found<'t>>,
}

/// The dependencies shown under the package (or member, or the project: `""`) at `path`, in
/// npm's order (`name@version` in English collation); `None` when nothing is installed there.
fn children_of<'t>(
    tree: &'t InstalledTree,
    filter: &EdgeFilter,
    path: &str,
) -> Option<Vec<Child<'t>>> {
    let member = tree.member_at(path);
    let importer = path.is_empty() || member.is_some();
    let edges = if path.is_empty() {
        &tree.resolution.root.edges
    } else {
        &tree.package_at(path)?.dependencies
    };
    // A bundled package's edges have no targets: Node finds them from where it sits.
    let in_bundle = tree.bundled.contains_key(&bundled_key(path));
    let mut children: Vec<Child> = Vec::new();
    let only_members = path.is_empty() && filter.members.is_some();
    for (name, edge) in edges {
        if only_members || !filter.keeps(edge, importer) {
            continue;
        }
        // An importer bundles nothing: a required edge of its own without a target is
        // missing (a lost `package` block), not bundled.
        let required_of_importer =
            importer && matches!(edge.kind, EdgeKind::Normal | EdgeKind::Dev);
        match (edge.target.as_ref(), tree.find(path, name)) {
            (Some(_), Some(found)) => children.push(Child {
                id: package_label(name, found.package),
                name,
                edge,
                found: Some(found),
            }),
            // A dependency the dependent ships (or, inside a bundle, one Node finds).
            (None, Some(found)) if found.bundled || in_bundle => children.push(Child {
                id: package_label(name, found.package),
                name,
                edge,
                found: Some(found),
            }),
            // A required edge the lock leaves unresolved is bundled inside its dependent
            // (whose archive is not in the store, when it is not found).
            (None, _) if !edge.kind.is_optional() && !required_of_importer => {}
            // npm shows what is missing: an optional dependency that failed or does not fit
            // this platform, an optional peer nobody brings.
            _ => children.push(Child {
                id: format!("{name}@{}", edge.specifier),
                name,
                edge,
                found: None,
            }),
        }
    }
    // The project's workspace members, each where its link leads (a root dependency on a
    // member is that same child once).
    if path.is_empty() {
        for member in tree.members.values() {
            let shown_already = children
                .iter()
                .any(|c| c.found.is_some_and(|f| f.key == member.key));
            let selected = filter
                .members
                .as_ref()
                .is_none_or(|only| only.contains(&member.path));
            if shown_already || !selected {
                continue;
            }
            let link = tree.find("", &member.package.name);
            let found = link.filter(|f| f.key == member.key).or_else(|| {
                Some(Found {
                    path: &member.path,
                    key: &member.key,
                    package: &member.package,
                    bundled: false,
                    linked: Some(&member.path),
                })
            });
            children.push(Child {
                id: package_label(&member.package.name, &member.package),
                name: &member.package.name,
                edge: &member.edge,
                found,
            });
        }
    }
    children.sort_by(|a, b| locale_compare(&a.id, &b.id));
    Some(children)
}

/// The tree to print, breadth first so the shallowest occurrence of a package is the one
/// expanded; entry 0 is the project. A member's children are at the depth of the project's
/// (npm counts depth from each workspace).
fn build(tree: &InstalledTree, filter: &EdgeFilter, max_depth: usize) -> Vec<Shown> {
    let mut shown = vec![Shown {
        name: String::new(),
        label: String::new(),
        version: None,
        resolved: None,
        missing: None,
        in_bundle: false,
        deduped: false,
        children: Vec::new(),
    }];
    let mut expanded: HashSet<String> = HashSet::new();
    // (index in `shown`, location, depth of its children)
    let mut queue = VecDeque::from([(0usize, String::new(), 0usize)]);
    while let Some((index, path, depth)) = queue.pop_front() {
        let Some(children) = children_of(tree, filter, &path) else {
            continue;
        };
        for Child {
            id: label,
            name,
            edge,
            found,
        } in children
        {
            let child = match found {
                Some(found) => {
                    let is_member = tree.members.contains_key(found.key);
                    let first = expanded.insert(found.path.to_owned());
                    if first && (is_member || depth < max_depth) {
                        let below = if is_member { depth } else { depth + 1 };
                        queue.push_back((shown.len(), found.path.to_owned(), below));
                    }
                    let mut label = if first {
                        label
                    } else {
                        format!("{label} deduped")
                    };
                    if !satisfied(&edge.specifier, &found.package.version) {
                        let from = if path.is_empty() {
                            "the root project"
                        } else {
                            &path
                        };
                        label.push_str(&format!(" invalid: {:?} from {from}", edge.specifier));
                    }
                    if let Some(member) = found.linked {
                        label.push_str(&format!(" -> ./{member}"));
                    }
                    Shown {
                        name: name.to_owned(),
                        label,
                        version: Some(found.package.version.clone()),
                        resolved: found.package.resolved.clone(),
                        missing: None,
                        in_bundle: found.bundled,
                        deduped: !first,
                        children: Vec::new(),
                    }
                }
                None => Shown {
                    name: name.to_owned(),
                    label: format!(
                        "UNMET {}DEPENDENCY {label}",
                        if edge.kind.is_optional() {
                            "OPTIONAL "
                        } else {
                            ""
                        }
                    ),
                    version: None,
                    resolved: None,
                    missing: Some((edge.specifier.clone(), edge.kind.is_optional())),
                    in_bundle: false,
                    deduped: false,
                    children: Vec::new(),
                },
            };
            let child_index = shown.len();
            shown[index].children.push(child_index);
            shown.push(child);
        }
    }
    shown
}

/// Whether `version` meets `specifier` (an `npm:` alias's range included); a specifier that is
/// not a range (a tag, a URL, a path, `workspace:`) counts as met, as dx.lock chose for it.
fn satisfied(specifier: &str, version: &str) -> bool {
    let range = match specifier.strip_prefix("npm:") {
        Some(aliased) => dx_resolve::spec::split_name_spec(aliased).1,
        None => specifier,
    };
    match (Range::parse(range), Version::parse(version)) {
        (Ok(range), Ok(version)) => range.satisfies(&version),
        _ => true,
    }
}

/// The tree as `npm ls` draws it.
fn render(shown: &[Shown], root_label: &str) -> String {
    let mut out = root_label.to_owned();
    if shown[0].children.is_empty() {
        out.push_str("\n└── (empty)");
    }
    draw(shown, 0, "", &mut out);
    out
}

fn draw(shown: &[Shown], index: usize, prefix: &str, out: &mut String) {
    let children = &shown[index].children;
    for (i, &child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let branch = if last { "└─" } else { "├─" };
        let tee = if shown[child].children.is_empty() {
            "─"
        } else {
            "┬"
        };
        out.push_str(&format!("\n{prefix}{branch}{tee} {}", shown[child].label));
        let deeper = format!("{prefix}{}", if last { "  " } else { "│ " });
        draw(shown, child, &deeper, out);
    }
}

/// The whole `npm ls --json` document.
fn json_tree(tree: &InstalledTree, shown: &[Shown]) -> Value {
    let mut root = Map::new();
    if let Some(version) = &tree.project.manifest.version {
        root.insert("version".into(), json!(version));
    }
    root.insert(
        "name".into(),
        json!(tree.project.manifest.name.clone().unwrap_or_default()),
    );
    if let Some(deps) = json_children(shown, 0) {
        root.insert("dependencies".into(), deps);
    }
    Value::Object(root)
}

/// `dependencies` of `npm ls --json` for entry `index`; `None` when it has none.
fn json_children(shown: &[Shown], index: usize) -> Option<Value> {
    let children = &shown[index].children;
    if children.is_empty() {
        return None;
    }
    let mut map = Map::new();
    for &child in children {
        let entry = &shown[child];
        let mut object = Map::new();
        match &entry.version {
            Some(version) => {
                // A member without a version has none in npm's output either.
                if !version.is_empty() {
                    object.insert("version".into(), json!(version));
                }
                if let Some(resolved) = entry.resolved.as_ref().filter(|_| !entry.deduped) {
                    object.insert("resolved".into(), json!(resolved));
                }
                if entry.in_bundle {
                    object.insert("inBundle".into(), json!(true));
                }
            }
            None => {
                if let Some((specifier, optional)) = &entry.missing {
                    object.insert("required".into(), json!(specifier));
                    object.insert("missing".into(), json!(true));
                    if *optional {
                        object.insert("optional".into(), json!(true));
                    }
                }
            }
        }
        if let Some(deps) = json_children(shown, child) {
            object.insert("dependencies".into(), deps);
        }
        map.insert(entry.name.clone(), Value::Object(object));
    }
    Some(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(label: &str, children: Vec<usize>) -> Shown {
        Shown {
            name: label.split('@').next().unwrap().to_owned(),
            label: label.to_owned(),
            version: None,
            resolved: None,
            missing: None,
            in_bundle: false,
            deduped: false,
            children,
        }
    }

    #[test]
    fn invalid_means_the_installed_version_misses_the_range() {
        assert!(satisfied("^1.0.0", "1.2.0"));
        assert!(!satisfied("^15.0.0 || ^16.0.0", "18.3.1"));
        assert!(satisfied("npm:real@^2", "2.1.0"));
        assert!(!satisfied("npm:@s/real@^2", "3.0.0"));
        assert!(
            satisfied("latest", "1.0.0"),
            "a tag is whatever the lock chose"
        );
        assert!(satisfied("file:../x", "file:../x"));
    }

    #[test]
    fn draws_npm_ls_branches() {
        // app ─┬ b ─┬ a ── c deduped
        //      │    └ c@2
        //      └ c@1
        let tree = vec![
            shown("", vec![1, 2]),
            shown("b@2.0.0", vec![3, 4]),
            shown("c@1.0.0", vec![]),
            shown("a@1.0.0", vec![5]),
            shown("c@2.0.0", vec![]),
            shown("c@1.0.0 deduped", vec![]),
        ];
        let expected = "app@1.0.0 /p\n├─┬ b@2.0.0\n│ ├─┬ a@1.0.0\n│ │ └── c@1.0.0 deduped\n│ └── c@2.0.0\n└── c@1.0.0";
        assert_eq!(render(&tree, "app@1.0.0 /p"), expected);
        assert_eq!(
            render(&[shown("", vec![])], "app /p"),
            "app /p\n└── (empty)"
        );
    }
}
