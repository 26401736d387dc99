//! `dx why <pkg>` (`explain`): for each installed version of a package, every chain of
//! dependents back to the project, with the specifier each one wrote, as `npm explain` and
//! `pnpm why` show it. Read from dx.lock, so node_modules need not exist.
//!
//! A dependent whose own chain was already printed for this version is marked `deduped`
//! instead of printed again (every path stays readable, and a cycle cannot loop).
//!
//! In a workspace, a chain through a member ends at the member's link from the project, as
//! `npm explain` ends it: `workspace packages/b from the root project`; `--json` gives the
//! member's `location` and `isWorkspace: true` (npm nests the link's dependents under the
//! member's `linksIn`; dx has one entry per member and gives them as its `dependents`), and a
//! package in a member's own node_modules is at `packages/b/node_modules/x`.
//!
//! A package another ships in its tarball (npm's `bundleDependencies`, read from that
//! package's archive) is its own entry per place, marked `bundled` as `npm explain` marks it,
//! and so is the edge from the package that bundles it (`bundled x@"^1" from xo@0.54.2`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::ExitCode;

use anyhow::bail;
use dx_resolve::EdgeKind;
use dx_resolve::semver::{Version, satisfies};
use dx_resolve::spec::split_name_spec;
use serde_json::{Value, json};

use super::list::{BUNDLED_KEY_PREFIX, InstalledTree, bundled_key};
use crate::cli::WhyArgs;
use crate::printer::Printer;
use dx_install::util as suggest;

/// One edge into a package: who requires it, under which name and specifier.
struct Dependent<'t> {
    /// The dependent's package key; `None` for the project itself.
    from: Option<&'t str>,
    /// The name it requires (an alias for `npm:` specifiers).
    name: &'t str,
    specifier: &'t str,
    kind: EdgeKind,
    /// The dependent ships the package in its own tarball.
    bundled: bool,
    /// The edge is the project's link to the workspace member at this path.
    workspace: Option<&'t str>,
}

/// Runs `dx why`.
pub fn run(args: &WhyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let tree = super::list::load(printer)?;
    match answer(&tree, &args.package, printer.json())? {
        Answer::Text(text) => printer.answer(text),
        Answer::Json(value) => printer.json_value(&value),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `dx why <package>` prints: the text blocks, or the `--json` array.
enum Answer {
    Text(String),
    Json(Value),
}

/// `dx why <package>`'s answer for `tree`; fails (one line) when nothing installed matches.
fn answer(tree: &InstalledTree, package: &str, json: bool) -> anyhow::Result<Answer> {
    let (name, range) = split_name_spec(package);
    let installed: BTreeSet<&str> = tree
        .placed
        .values()
        .chain(tree.bundled.keys())
        .map(String::as_str)
        .collect();
    // Location -> key: placed and bundled packages, members and the links to them.
    let locations: Vec<(&str, &str)> =
        tree.placed
            .iter()
            .map(|(path, key)| (path.as_str(), key.as_str()))
            .chain(
                tree.bundled
                    .iter()
                    .map(|(key, b)| (b.path.as_str(), key.as_str())),
            )
            .chain(tree.links.iter().filter_map(|(link, member)| {
                Some((link.as_str(), tree.placed.get(member)?.as_str()))
            }))
            .collect();
    // A package matches by its own name or by the name it is installed under (an alias).
    let installed_as_name: HashSet<&str> = locations
        .iter()
        .filter(|&&(path, _)| folder_name(path) == Some(name))
        .map(|&(_, key)| key)
        .collect();
    let mut named: Vec<&str> = installed
        .iter()
        .copied()
        .filter(|key| {
            tree.package(key).is_some_and(|p| p.name == name) || installed_as_name.contains(key)
        })
        .collect();
    if named.is_empty() {
        let mut names: Vec<&str> = locations
            .iter()
            .filter_map(|&(path, _)| folder_name(path))
            .collect();
        names.sort_unstable();
        names.dedup();
        let hint = suggest::did_you_mean(name, names.iter().copied());
        bail!("`{name}` is not installed in this project (not in dx.lock){hint}");
    }
    named.sort_by_cached_key(|key| tree.package(key).map(|p| Version::parse(&p.version).ok()));
    let versions: Vec<String> = named
        .iter()
        .filter_map(|key| tree.package(key).map(|p| p.version.clone()))
        .collect();
    let matching: Vec<&str> = named
        .into_iter()
        .filter(|key| {
            range.is_empty()
                || tree
                    .package(key)
                    .is_some_and(|p| satisfies(&p.version, range))
        })
        .collect();
    if matching.is_empty() {
        bail!(
            "no installed version of `{name}` matches `{range}` (installed: {})",
            versions.join(", ")
        );
    }
    let dependents = dependents_index(tree, &installed);
    Ok(if json {
        let nodes: Vec<Value> = matching
            .iter()
            .map(|key| json_node(tree, &locations, &dependents, key))
            .collect();
        Answer::Json(Value::Array(nodes))
    } else {
        let blocks: Vec<String> = matching
            .iter()
            .map(|key| explain(tree, &dependents, key))
            .collect();
        Answer::Text(blocks.join("\n\n"))
    })
}

/// The name a package at `location` is installed under: what follows the last `node_modules/`
/// (`None` for a workspace member's own directory).
fn folder_name(location: &str) -> Option<&str> {
    let at = location.rfind("node_modules/")?;
    (at == 0 || location[..at].ends_with('/')).then(|| &location[at + "node_modules/".len()..])
}

/// Target package key → the edges into it, from the project first, then by dependent key.
fn dependents_index<'t>(
    tree: &'t InstalledTree,
    installed: &BTreeSet<&'t str>,
) -> BTreeMap<&'t str, Vec<Dependent<'t>>> {
    let mut index: BTreeMap<&str, Vec<Dependent>> = BTreeMap::new();
    let root = tree
        .resolution
        .root
        .edges
        .iter()
        .map(|(name, edge)| (None, name, edge));
    // Every installed package's and member's edges (bundled packages' have no targets).
    let packages = installed
        .iter()
        .filter(|key| !key.starts_with(BUNDLED_KEY_PREFIX))
        .filter_map(|&key| Some((key, tree.package(key)?)))
        .flat_map(|(key, p)| {
            p.dependencies
                .iter()
                .map(move |(name, edge)| (Some(key), name, edge))
        });
    for (from, name, edge) in root.chain(packages) {
        if let Some(target) = edge.target.as_deref().filter(|t| installed.contains(t)) {
            index.entry(target).or_default().push(Dependent {
                from,
                name,
                specifier: &edge.specifier,
                kind: edge.kind,
                bundled: false,
                workspace: None,
            });
        }
    }
    // Edges without a target lead into bundles: from the placed package that ships them, and
    // from bundled packages (to what Node finds from where they sit).
    let placed = tree
        .placed
        .iter()
        .filter_map(|(path, key)| Some((path.as_str(), key.as_str(), tree.package(key)?)));
    let bundled = tree
        .bundled
        .iter()
        .map(|(key, b)| (b.path.as_str(), key.as_str(), &b.package));
    let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
    for (path, from, package) in placed.chain(bundled) {
        let in_bundle = tree.bundled.contains_key(&bundled_key(path));
        for (name, edge) in package
            .dependencies
            .iter()
            .filter(|(_, e)| e.target.is_none())
        {
            let Some(found) = tree.find(path, name).filter(|f| f.bundled || in_bundle) else {
                continue;
            };
            // A package placed at several paths bundles the same edge once per copy.
            if seen.insert((found.key, from, name)) {
                index.entry(found.key).or_default().push(Dependent {
                    from: Some(from),
                    name,
                    specifier: &edge.specifier,
                    kind: edge.kind,
                    bundled: found.bundled && !in_bundle,
                    workspace: None,
                });
            }
        }
    }
    // Last, as npm lists it: the project's link to each member.
    for member in tree.members.values() {
        index.entry(&member.key).or_default().push(Dependent {
            from: None,
            name: &member.package.name,
            specifier: &member.edge.specifier,
            kind: EdgeKind::Normal,
            bundled: false,
            workspace: Some(&member.path),
        });
    }
    index
}

/// npm's word for an edge's kind, printed before it (nothing for a plain dependency).
fn kind_word(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Normal => "prod",
        EdgeKind::Dev => "dev",
        EdgeKind::Optional => "optional",
        EdgeKind::Peer => "peer",
        EdgeKind::OptionalPeer => "peerOptional",
    }
}

/// `name@version`; a member without a version by its name alone (npm explain prints
/// `name@undefined`).
fn key_label(tree: &InstalledTree, key: &str) -> String {
    match tree.package(key) {
        Some(p) if p.version.is_empty() => p.name.clone(),
        Some(p) => format!("{}@{}", p.name, p.version),
        None => key.to_owned(),
    }
}

/// The human block for one installed package.
fn explain(tree: &InstalledTree, dependents: &BTreeMap<&str, Vec<Dependent>>, key: &str) -> String {
    let mut out = key_label(tree, key);
    if let Some(package) = tree.package(key) {
        if package.dev {
            out.push_str(" dev");
        }
        if package.optional {
            out.push_str(" optional");
        }
    }
    if tree.bundled.contains_key(key) {
        out.push_str(" bundled");
    }
    let mut seen = HashSet::from([key.to_owned()]);
    explain_dependents(tree, dependents, key, 1, &mut seen, &mut out);
    out
}

fn explain_dependents(
    tree: &InstalledTree,
    dependents: &BTreeMap<&str, Vec<Dependent>>,
    key: &str,
    depth: usize,
    seen: &mut HashSet<String>,
    out: &mut String,
) {
    let indent = "  ".repeat(depth);
    for dependent in dependents.get(key).map(Vec::as_slice).unwrap_or_default() {
        if let Some(path) = dependent.workspace {
            out.push_str(&format!("\n{indent}workspace {path} from the root project"));
            continue;
        }
        let kind = match dependent.kind {
            EdgeKind::Normal => String::new(),
            other => format!("{} ", kind_word(other)),
        };
        let bundled = if dependent.bundled { "bundled " } else { "" };
        let edge = format!(
            "{indent}{kind}{bundled}{}@{:?}",
            dependent.name, dependent.specifier
        );
        match dependent.from {
            None => out.push_str(&format!("\n{edge} from the root project")),
            Some(from) => {
                let first = seen.insert(from.to_owned());
                let deduped = if first { "" } else { " deduped" };
                out.push_str(&format!("\n{edge} from {}{deduped}", key_label(tree, from)));
                if first {
                    explain_dependents(tree, dependents, from, depth + 1, seen, out);
                }
            }
        }
    }
}

/// One installed package in `npm explain --json`'s shape.
fn json_node(
    tree: &InstalledTree,
    locations: &[(&str, &str)],
    dependents: &BTreeMap<&str, Vec<Dependent>>,
    key: &str,
) -> Value {
    let package = tree.package(key);
    let locations: Vec<String> = locations
        .iter()
        .filter(|&&(_, k)| k == key)
        .map(|(path, _)| (*path).to_owned())
        .collect();
    let mut seen = HashSet::from([key.to_owned()]);
    let mut node = json!({
        "name": package.map(|p| p.name.as_str()),
        "version": package.map(|p| p.version.as_str()),
        "locations": locations,
        "isWorkspace": tree.members.contains_key(key),
        "dev": package.is_some_and(|p| p.dev),
        "optional": package.is_some_and(|p| p.optional),
        "dependents": json_dependents(tree, dependents, key, &mut seen),
    });
    if tree.bundled.contains_key(key) {
        node["bundled"] = json!(true);
    }
    node
}

fn json_dependents(
    tree: &InstalledTree,
    dependents: &BTreeMap<&str, Vec<Dependent>>,
    key: &str,
    seen: &mut HashSet<String>,
) -> Vec<Value> {
    let mut list = Vec::new();
    let root = tree.project.dir.display().to_string();
    for dependent in dependents.get(key).map(Vec::as_slice).unwrap_or_default() {
        if let Some(path) = dependent.workspace {
            // npm's spec for the link: `file:` and the member's absolute directory.
            list.push(json!({
                "type": "workspace",
                "name": dependent.name,
                "spec": format!("file:{}", tree.project.dir.join(path).display()),
                "from": { "location": root },
            }));
            continue;
        }
        let from = match dependent.from {
            None => json!({ "location": root }),
            Some(from) => {
                let package = tree.package(from);
                let mut node = json!({
                    "name": package.map(|p| p.name.as_str()),
                    "version": package.map(|p| p.version.as_str()),
                });
                if let Some(member) = tree.members.get(from) {
                    node["location"] = json!(member.path);
                    node["isWorkspace"] = json!(true);
                }
                if seen.insert(from.to_owned()) {
                    node["dependents"] = json!(json_dependents(tree, dependents, from, seen));
                } else {
                    node["deduped"] = json!(true);
                }
                node
            }
        };
        let mut edge = json!({
            "type": kind_word(dependent.kind),
            "name": dependent.name,
            "spec": dependent.specifier,
            "from": from,
        });
        if dependent.bundled {
            edge["bundled"] = json!(true);
        }
        list.push(edge);
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_the_last_install_path_component() {
        assert_eq!(folder_name("node_modules/a"), Some("a"));
        assert_eq!(folder_name("node_modules/@s/a"), Some("@s/a"));
        assert_eq!(folder_name("node_modules/b/node_modules/c"), Some("c"));
        assert_eq!(
            folder_name("node_modules/@s/b/node_modules/@t/c"),
            Some("@t/c")
        );
        assert_eq!(folder_name("packages/b/node_modules/x"), Some("x"));
        assert_eq!(folder_name("packages/b"), None);
        assert_eq!(folder_name("my_node_modules/b"), None);
    }

    use crate::commands::list::workspace_tests::{LOCK, PROJECT_DIR, npm, tree_of};

    fn text(package: &str) -> String {
        match answer(&tree_of(LOCK), package, false).unwrap() {
            Answer::Text(text) => text,
            Answer::Json(_) => unreachable!(),
        }
    }

    fn json(package: &str) -> Value {
        match answer(&tree_of(LOCK), package, true).unwrap() {
            Answer::Json(value) => value,
            Answer::Text(_) => unreachable!(),
        }
    }

    // npm's text for the same workspace is in list/npm-workspace.txt (`npm explain x`, ...):
    // dx prints the same lines without npm's location lines and without the link node npm
    // puts between a member and its dependents (`b@1.0.0` / `node_modules/b`).
    #[test]
    fn why_names_the_member_that_needs_a_package() {
        assert_eq!(
            text("x"),
            r#"x@1.0.0
  x@"^1.0.0" from the root project

x@2.0.0
  x@"^2.0.0" from b@1.0.0
    b@"^1.0.0" from a@1.0.0
      workspace packages/a from the root project
    workspace packages/b from the root project"#
        );
        assert_eq!(
            text("z"),
            r#"z@1.0.0 dev
  dev z@"^1.0.0" from b@1.0.0
    b@"^1.0.0" from a@1.0.0
      workspace packages/a from the root project
    workspace packages/b from the root project"#
        );
        assert_eq!(
            text("y"),
            r#"y@1.0.0
  y@"^1.0.0" from a@1.0.0
    workspace packages/a from the root project
  y@"^1.0.0" from x@2.0.0
    x@"^2.0.0" from b@1.0.0
      b@"^1.0.0" from a@1.0.0 deduped
      workspace packages/b from the root project"#
        );
        // The lines dx prints are npm's, in npm's nesting order.
        let npm_x = npm("explain x");
        for line in text("x").lines().map(str::trim) {
            assert!(
                npm_x.lines().any(|l| l.trim() == line),
                "{line:?} not in npm's output"
            );
        }
    }

    #[test]
    fn why_a_member_shows_who_links_it() {
        assert_eq!(
            text("b"),
            r#"b@1.0.0
  b@"^1.0.0" from a@1.0.0
    workspace packages/a from the root project
  workspace packages/b from the root project"#
        );
        let b = &json("b")[0];
        assert_eq!(b["isWorkspace"], true);
        assert_eq!(b["locations"], json!(["packages/b", "node_modules/b"]));
    }

    #[test]
    fn why_json_gives_member_locations_and_npms_workspace_edges() {
        let x = json("x");
        let npm: Value = serde_json::from_str(npm("explain --json x")).unwrap();
        assert_eq!(x[1]["locations"], json!(["packages/b/node_modules/x"]));
        assert_eq!(npm[1]["location"], "packages/b/node_modules/x");
        let from_b = &x[1]["dependents"][0]["from"];
        let npm_b = &npm[1]["dependents"][0]["from"];
        for field in ["name", "version", "location", "isWorkspace"] {
            assert_eq!(from_b[field], npm_b[field], "{field}");
        }
        // npm gives the member's dependents under its link (`linksIn`); dx gives them directly.
        let dx_edges = from_b["dependents"].as_array().unwrap();
        let npm_edges = npm_b["linksIn"][0]["dependents"].as_array().unwrap();
        assert_eq!(dx_edges.len(), npm_edges.len());
        assert_eq!(dx_edges[1], npm_edges[1], "the project's workspace edge");
        assert_eq!(
            dx_edges[1]["spec"],
            format!("file:{PROJECT_DIR}/packages/b")
        );
        assert_eq!(dx_edges[0]["from"]["location"], "packages/a");
        assert_eq!(dx_edges[0]["spec"], npm_edges[0]["spec"]);
    }
}
