//! `dx why <pkg>` (`explain`): for each installed version of a package, every chain of
//! dependents back to the project, with the specifier each one wrote, as `npm explain` and
//! `pnpm why` show it. Read from dx.lock, so node_modules need not exist.
//!
//! A dependent whose own chain was already printed for this version is marked `deduped`
//! instead of printed again (every path stays readable, and a cycle cannot loop).
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

use super::list::{InstalledTree, bundled_key};
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
}

/// Runs `dx why`.
pub fn run(args: &WhyArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let tree = InstalledTree::load(printer)?;
    let (name, range) = split_name_spec(&args.package);
    let installed: BTreeSet<&str> = tree
        .placed
        .values()
        .chain(tree.bundled.keys())
        .map(String::as_str)
        .collect();
    // Install path -> key, bundled packages included.
    let locations: Vec<(&str, &str)> = tree
        .placed
        .iter()
        .map(|(path, key)| (path.as_str(), key.as_str()))
        .chain(
            tree.bundled
                .iter()
                .map(|(key, b)| (b.path.as_str(), key.as_str())),
        )
        .collect();
    // A package matches by its own name or by the name it is installed under (an alias).
    let mut named: Vec<&str> = installed
        .iter()
        .copied()
        .filter(|key| {
            tree.package(key).is_some_and(|p| p.name == name)
                || locations
                    .iter()
                    .any(|&(path, k)| k == *key && folder_name(path) == name)
        })
        .collect();
    if named.is_empty() {
        let mut names: Vec<&str> = locations
            .iter()
            .map(|&(path, _)| folder_name(path))
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
    let dependents = dependents_index(&tree, &installed);
    if printer.json() {
        let nodes: Vec<Value> = matching
            .iter()
            .map(|key| json_node(&tree, &locations, &dependents, key))
            .collect();
        printer.json_value(&Value::Array(nodes));
    } else {
        let blocks: Vec<String> = matching
            .iter()
            .map(|key| explain(&tree, &dependents, key))
            .collect();
        printer.answer(blocks.join("\n\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// The last component of an install path: the name the package is installed under.
fn folder_name(path: &str) -> &str {
    path.rfind("/node_modules/")
        .map_or(path, |i| &path[i + "/node_modules/".len()..])
}

/// Target package key → the edges into it, from the project first, then by dependent key.
fn dependents_index<'t>(
    tree: &'t InstalledTree,
    installed: &BTreeSet<&str>,
) -> BTreeMap<&'t str, Vec<Dependent<'t>>> {
    let mut index: BTreeMap<&str, Vec<Dependent>> = BTreeMap::new();
    let root = tree
        .resolution
        .root
        .edges
        .iter()
        .map(|(name, edge)| (None, name, edge));
    let packages = tree
        .resolution
        .packages
        .iter()
        .filter(|(key, _)| installed.contains(key.as_str()))
        .flat_map(|(key, p)| {
            p.dependencies
                .iter()
                .map(move |(name, edge)| (Some(key.as_str()), name, edge))
        });
    for (from, name, edge) in root.chain(packages) {
        if let Some(target) = edge.target.as_deref().filter(|t| installed.contains(t)) {
            index.entry(target).or_default().push(Dependent {
                from,
                name,
                specifier: &edge.specifier,
                kind: edge.kind,
                bundled: false,
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
                });
            }
        }
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

fn key_label(tree: &InstalledTree, key: &str) -> String {
    tree.package(key)
        .map_or_else(|| key.to_owned(), |p| format!("{}@{}", p.name, p.version))
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
        .map(|(path, _)| format!("node_modules/{path}"))
        .collect();
    let mut seen = HashSet::from([key.to_owned()]);
    let mut node = json!({
        "name": package.map(|p| p.name.as_str()),
        "version": package.map(|p| p.version.as_str()),
        "locations": locations,
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
    for dependent in dependents.get(key).map(Vec::as_slice).unwrap_or_default() {
        let from = match dependent.from {
            None => json!({ "location": tree.project.dir.display().to_string() }),
            Some(from) => {
                let package = tree.package(from);
                let (name, version) = (
                    package.map(|p| p.name.as_str()),
                    package.map(|p| p.version.as_str()),
                );
                if seen.insert(from.to_owned()) {
                    json!({ "name": name, "version": version, "dependents": json_dependents(tree, dependents, from, seen) })
                } else {
                    json!({ "name": name, "version": version, "deduped": true })
                }
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
        assert_eq!(folder_name("a"), "a");
        assert_eq!(folder_name("@s/a"), "@s/a");
        assert_eq!(folder_name("b/node_modules/c"), "c");
        assert_eq!(folder_name("@s/b/node_modules/@t/c"), "@t/c");
    }
}
