//! `dx list` (`ls`): the installed tree as `npm ls` prints it, read from dx.lock and the layout
//! planned from it, so it works before node_modules exists (or while it is not mounted).
//!
//! Each dependency is found where Node would find it: in the dependent's own node_modules,
//! then in each enclosing one up to the top. As in npm, a package met again after the
//! (breadth-first) first time it is shown is marked `deduped` and not expanded, and children
//! are sorted as npm sorts them.
//!
//! `--json` prints npm's shape: `{version, name, dependencies: {<name>: {version, resolved,
//! dependencies}}}`, a deduped package without `dependencies`, and a dependency that is not
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

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::process::ExitCode;

use anyhow::Context as _;
use dx_resolve::collate::locale_compare;
use dx_resolve::semver::{Range, Version};
use dx_resolve::{EdgeKind, LayoutOptions, LayoutPlan, LockedEdge, LockedPackage, Lockfile};
use serde_json::{Map, Value, json};

use crate::cli::{ListArgs, OmitKind};
use crate::printer::Printer;
use dx_install::Project;

mod bundled;

pub use bundled::Bundled;

/// The prefix of the key [`InstalledTree`] gives a bundled package: `bundled:<install path>`
/// (no dx.lock key contains `:` before its `@`, so the two never meet).
const BUNDLED_KEY_PREFIX: &str = "bundled:";

/// The key of the bundled package at install path `path`.
pub fn bundled_key(path: &str) -> String {
    format!("{BUNDLED_KEY_PREFIX}{path}")
}

/// A package Node finds: where, its key and what it is.
#[derive(Clone, Copy, Debug)]
pub struct Found<'t> {
    /// Its install path (relative to node_modules).
    pub path: &'t str,
    /// Its key: a dx.lock key, or [`bundled_key`] for a bundled package.
    pub key: &'t str,
    /// The package.
    pub package: &'t LockedPackage,
    /// Whether it comes from another package's tarball rather than from dx.lock.
    pub bundled: bool,
}

/// dx.lock read and laid out: what is installed, where.
pub struct InstalledTree {
    /// The project.
    pub project: Project,
    /// The lock's graph.
    pub resolution: Lockfile,
    /// Install path (relative to node_modules: `a`, `a/node_modules/b`) → package key, for
    /// every package installed on this platform.
    pub placed: BTreeMap<String, String>,
    /// Bundled packages by [`bundled_key`]: read from the archives of placed packages that
    /// ship some (see [`bundled`]).
    pub bundled: BTreeMap<String, Bundled>,
    /// Whether dx.lock has edges to packages it does not hold (each was warned about).
    pub incomplete: bool,
}

impl InstalledTree {
    /// Reads dx.lock of the project in the current directory and plans its layout. Fails when
    /// there is no dx.lock; warns when package.json changed since it was written, and for each
    /// edge to a package dx.lock does not hold.
    pub fn load(printer: &Printer) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let project = Project::open_current()?;
        let (_, lock) = project.require_lockfile()?;
        if let Some(difference) =
            lock.is_stale_for(&dx_resolve::manifest_importer(&project.manifest))
        {
            printer.warn(format!("dx.lock does not match package.json ({difference}); showing dx.lock (run `dx install`)"));
        }
        let mut incomplete = false;
        for dangling in lock.dangling_edges() {
            printer.warn(format!(
                "dx.lock is incomplete: {dangling} (run `dx install` to repair it)"
            ));
            incomplete = true;
        }
        let resolution = lock;
        let read = started.elapsed();
        let plan: LayoutPlan = dx_resolve::plan_layout(&resolution, &LayoutOptions::default())
            .context("cannot plan node_modules from dx.lock")?;
        printer.verbose(format!(
            "read dx.lock ({} packages) in {} ms, planned node_modules in {} ms",
            resolution.packages.len(),
            read.as_millis(),
            (started.elapsed() - read).as_millis()
        ));
        let placed: BTreeMap<String, String> = plan
            .nodes
            .into_iter()
            .map(|n| (n.install_path, n.package_key))
            .collect();
        let bundled = if bundled::any_may_bundle(&resolution, &placed) {
            let started = std::time::Instant::now();
            let (found, problems) = match dx_install::open_store() {
                Ok(store) => bundled::read_bundled(&store, &resolution, &placed),
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
            found
                .into_iter()
                .map(|(path, b)| (bundled_key(&path), b))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(Self {
            project,
            resolution,
            placed,
            bundled,
            incomplete,
        })
    }

    /// Where Node finds `name` when required from the package at `from` (`""`: the project):
    /// in `from`'s own node_modules, then each enclosing one, a placed package before a
    /// bundled one at the same place.
    pub fn find(&self, from: &str, name: &str) -> Option<Found<'_>> {
        let mut dir = from;
        loop {
            let candidate = if dir.is_empty() {
                name.to_owned()
            } else {
                format!("{dir}/node_modules/{name}")
            };
            if let Some((path, key)) = self.placed.get_key_value(&candidate) {
                if let Some(package) = self.package(key) {
                    return Some(Found {
                        path,
                        key,
                        package,
                        bundled: false,
                    });
                }
            }
            if let Some((key, b)) = self.bundled.get_key_value(&bundled_key(&candidate)) {
                return Some(Found {
                    path: &key[BUNDLED_KEY_PREFIX.len()..],
                    key,
                    package: &b.package,
                    bundled: true,
                });
            }
            if dir.is_empty() {
                return None;
            }
            dir = dir.rfind("/node_modules/").map_or("", |i| &dir[..i]);
        }
    }

    /// The package with key `key`: a dx.lock package, or a bundled one ([`bundled_key`]).
    pub fn package(&self, key: &str) -> Option<&LockedPackage> {
        match key.strip_prefix(BUNDLED_KEY_PREFIX) {
            Some(_) => self.bundled.get(key).map(|b| &b.package),
            None => self.resolution.packages.get(key),
        }
    }

    /// The package installed at `path`, placed or bundled.
    pub fn package_at(&self, path: &str) -> Option<&LockedPackage> {
        match self.placed.get(path) {
            Some(key) => self.package(key),
            None => self.bundled.get(&bundled_key(path)).map(|b| &b.package),
        }
    }

    /// The project's name and version as npm shows them: `name@version`.
    pub fn root_label(&self) -> String {
        let manifest = &self.project.manifest;
        let name = manifest.name.clone().unwrap_or_else(|| {
            self.project
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        match &manifest.version {
            Some(version) => format!("{name}@{version}"),
            None => name,
        }
    }
}

/// `name@version` as npm shows a package installed under `installed_as` (an alias shows
/// `alias@npm:real@version`).
pub fn package_label(installed_as: &str, package: &LockedPackage) -> String {
    if installed_as == package.name {
        format!("{}@{}", package.name, package.version)
    } else {
        format!("{installed_as}@npm:{}@{}", package.name, package.version)
    }
}

/// Runs `dx list`.
pub fn run(args: &ListArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let tree = InstalledTree::load(printer)?;
    let filter = EdgeFilter::from_args(args);
    let max_depth = if args.all { usize::MAX } else { args.depth };
    let shown = build(&tree, &filter, max_depth);
    if printer.json() {
        let mut root = Map::new();
        if let Some(version) = &tree.project.manifest.version {
            root.insert("version".into(), json!(version));
        }
        root.insert(
            "name".into(),
            json!(tree.project.manifest.name.clone().unwrap_or_default()),
        );
        if let Some(deps) = json_children(&shown, 0) {
            root.insert("dependencies".into(), deps);
        }
        printer.json_value(&Value::Object(root));
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

/// Which edges `--prod`, `--dev` and `--omit` keep.
struct EdgeFilter {
    root_dev: bool,
    root_non_dev: bool,
    optional: bool,
    peer: bool,
}

impl EdgeFilter {
    fn from_args(args: &ListArgs) -> Self {
        let omitted = |kind| args.omit.contains(&kind);
        Self {
            root_dev: !args.prod && !omitted(OmitKind::Dev),
            root_non_dev: !args.dev,
            optional: !omitted(OmitKind::Optional),
            peer: !omitted(OmitKind::Peer),
        }
    }

    fn keeps(&self, edge: &LockedEdge, at_root: bool) -> bool {
        if at_root
            && !(if edge.kind == EdgeKind::Dev {
                self.root_dev
            } else {
                self.root_non_dev
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
    /// What is printed: `a@1.0.0`, `a@1.0.0 deduped`, `UNMET OPTIONAL DEPENDENCY a@^1`.
    label: String,
    version: Option<String>,
    resolved: Option<String>,
    /// For a dependency that is not installed: its specifier, and whether it is optional.
    missing: Option<(String, bool)>,
    /// Shipped inside its dependent's tarball.
    in_bundle: bool,
    children: Vec<usize>,
}

/// A dependency about to be shown.
struct Child<'t> {
    /// `name@version` (`name@specifier` when missing): what npm sorts by.
    id: String,
    name: &'t String,
    edge: &'t LockedEdge,
    /// Where it is installed, when it is.
    found: Option<Found<'t>>,
}

/// The tree to print, breadth first so the shallowest occurrence of a package is the one
/// expanded; entry 0 is the project.
fn build(tree: &InstalledTree, filter: &EdgeFilter, max_depth: usize) -> Vec<Shown> {
    let mut shown = vec![Shown {
        name: String::new(),
        label: String::new(),
        version: None,
        resolved: None,
        missing: None,
        in_bundle: false,
        children: Vec::new(),
    }];
    let mut expanded: HashSet<String> = HashSet::new();
    // (index in `shown`, install path, depth of its children)
    let mut queue = VecDeque::from([(0usize, String::new(), 0usize)]);
    while let Some((index, path, depth)) = queue.pop_front() {
        let edges = if path.is_empty() {
            &tree.resolution.root.edges
        } else {
            match tree.package_at(&path) {
                Some(package) => &package.dependencies,
                None => continue,
            }
        };
        // A bundled package's edges have no targets: Node finds them from where it sits.
        let in_bundle = tree.bundled.contains_key(&bundled_key(&path));
        // npm orders each package's children by `name@version` in English collation.
        let mut children: Vec<Child> = Vec::new();
        for (name, edge) in edges {
            if !filter.keeps(edge, path.is_empty()) {
                continue;
            }
            // The project bundles nothing: a required edge of its own without a target is
            // missing (a lost `package` block), not bundled.
            let required_at_root =
                path.is_empty() && matches!(edge.kind, EdgeKind::Normal | EdgeKind::Dev);
            match (edge.target.as_ref(), tree.find(&path, name)) {
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
                (None, _) if !edge.kind.is_optional() && !required_at_root => {}
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
        children.sort_by(|a, b| locale_compare(&a.id, &b.id));
        for Child {
            id: label,
            name,
            edge,
            found,
        } in children
        {
            let child = match found {
                Some(Found {
                    path: child_path,
                    package,
                    bundled,
                    ..
                }) => {
                    let first = expanded.insert(child_path.to_owned());
                    if first && depth < max_depth {
                        queue.push_back((shown.len(), child_path.to_owned(), depth + 1));
                    }
                    let mut label = if first {
                        label
                    } else {
                        format!("{label} deduped")
                    };
                    if !satisfied(&edge.specifier, &package.version) {
                        let from = if path.is_empty() {
                            "the root project".to_owned()
                        } else {
                            format!("node_modules/{path}")
                        };
                        label.push_str(&format!(" invalid: {:?} from {from}", edge.specifier));
                    }
                    Shown {
                        name: name.clone(),
                        label,
                        version: Some(package.version.clone()),
                        resolved: package.resolved.clone(),
                        missing: None,
                        in_bundle: bundled,
                        children: Vec::new(),
                    }
                }
                None => Shown {
                    name: name.clone(),
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
/// not a range (a tag, a URL, a path) counts as met, as dx.lock chose for it.
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
                object.insert("version".into(), json!(version));
                if let Some(resolved) = &entry.resolved {
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
