//! Selecting workspace members, as pnpm's `--filter`, npm's `-w/--workspace` and `-r` /
//! `--workspaces` do, and ordering them for a run: dependencies first ([`topological_order`]),
//! in [`levels`] whose members are independent of each other.
//!
//! A member depends on another when one of its `dependencies`, `devDependencies` or
//! `optionalDependencies` names it, whatever the specifier (`workspace:*`, a range, a tag), as
//! pnpm's workspace graph counts them.
//!
//! pnpm's selectors ([`Selector::parse`]):
//! - `name`, or a glob on names (`@scope/*`, `*-utils`); an unscoped `name` that matches no
//!   member selects the one scoped member called `@*/name` when exactly one exists, as pnpm does;
//! - `./path`, `../path`, `.` and `{path}`: the members in that directory or below it (relative to
//!   the current directory); a glob (`{packages/*}`, `./apps/**`) selects the members whose
//!   directory matches it; `name{path}` needs both;
//! - `name...` adds its dependencies (transitively), `name^...` only its dependencies;
//!   `...name` adds its dependents, `...^name` only its dependents; `...name...` both;
//! - `!selector` excludes what the selector selects; when only exclusions are given, they
//!   apply to every member.
//!
//! Not supported: pnpm's git-based `[<since>]` selectors and `--filter-prod` (an error says so).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use globset::GlobBuilder;

use super::{Member, WorkspaceSet, normalize_rel};
use crate::error::{Error, Result};

/// The dependency graph of a workspace's members (by index into [`WorkspaceSet::members`]).
#[derive(Debug, Clone)]
pub struct Graph {
    /// For each member, the members it depends on, sorted.
    dependencies: Vec<Vec<usize>>,
    /// For each member, the members that depend on it, sorted.
    dependents: Vec<Vec<usize>>,
}

/// The manifest sections whose entries make a member depend on another.
const SECTIONS: [&str; 3] = ["dependencies", "devDependencies", "optionalDependencies"];

impl Graph {
    /// The graph of `set`'s members, read from their package.json texts (an unparsable one has
    /// no edges; [`WorkspaceSet::discover`] has already rejected those).
    pub fn new(set: &WorkspaceSet) -> Self {
        let by_name: BTreeMap<&str, usize> = set
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        let mut dependencies = vec![Vec::new(); set.members.len()];
        let mut dependents = vec![Vec::new(); set.members.len()];
        for (i, member) in set.members.iter().enumerate() {
            let Ok(manifest) = serde_json::from_str::<serde_json::Value>(
                member.manifest_text.trim_start_matches('\u{feff}'),
            ) else {
                continue;
            };
            let mut deps = BTreeSet::new();
            for section in SECTIONS {
                let Some(entries) = manifest.get(section).and_then(|s| s.as_object()) else {
                    continue;
                };
                for name in entries.keys() {
                    if let Some(&j) = by_name.get(name.as_str())
                        && j != i
                    {
                        deps.insert(j);
                    }
                }
            }
            for &j in &deps {
                dependents[j].push(i);
            }
            dependencies[i] = deps.into_iter().collect();
        }
        for list in &mut dependents {
            list.sort_unstable();
        }
        Graph {
            dependencies,
            dependents,
        }
    }

    /// The members member `i` depends on directly.
    pub fn dependencies(&self, i: usize) -> &[usize] {
        &self.dependencies[i]
    }

    /// The members that depend on member `i` directly.
    pub fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// Everything reachable from `start` along `edges` (dependencies or dependents), without
    /// `start` itself unless a cycle leads back to it.
    fn reachable(&self, start: usize, dependents: bool) -> BTreeSet<usize> {
        let edges = if dependents {
            &self.dependents
        } else {
            &self.dependencies
        };
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = edges[start].clone();
        while let Some(i) = stack.pop() {
            if seen.insert(i) {
                stack.extend(edges[i].iter().copied());
            }
        }
        seen
    }
}

/// One parsed `--filter` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// `!selector`: excludes instead of selecting.
    pub exclude: bool,
    /// A name or a glob on names.
    pub name: Option<String>,
    /// A directory (or a glob on directories), as written (relative to the current directory).
    pub dir: Option<String>,
    /// Add the dependencies (`name...`).
    pub with_dependencies: bool,
    /// Add the dependents (`...name`).
    pub with_dependents: bool,
    /// Leave out the matched members themselves (`^`): only their dependencies / dependents.
    pub exclude_self: bool,
}

fn selector_error(selector: &str, why: &str) -> Error {
    Error::WorkspaceSelector(format!("--filter `{selector}`: {why}"))
}

impl Selector {
    /// Parses a pnpm `--filter` selector (see the module's documentation).
    pub fn parse(text: &str) -> Result<Self> {
        let original = text;
        let mut rest = text.trim();
        let exclude = match rest.strip_prefix('!') {
            Some(r) => {
                rest = r;
                true
            }
            None => false,
        };
        let mut with_dependents = false;
        let mut with_dependencies = false;
        let mut exclude_self = false;
        if let Some(r) = rest.strip_prefix("...") {
            with_dependents = true;
            rest = r;
            if let Some(r) = rest.strip_prefix('^') {
                exclude_self = true;
                rest = r;
            }
        }
        if let Some(r) = rest.strip_suffix("...") {
            with_dependencies = true;
            rest = r;
            if let Some(r) = rest.strip_suffix('^') {
                exclude_self = true;
                rest = r;
            }
        }
        if rest.contains('[') && rest.ends_with(']') {
            return Err(selector_error(
                original,
                "git-based selectors (`[<since>]`) are not supported",
            ));
        }
        let (name, dir) = if rest == "."
            || rest == ".."
            || rest.starts_with("./")
            || rest.starts_with("../")
            || rest.starts_with('/')
        {
            (None, Some(rest.to_owned()))
        } else if let Some(open) = rest.find('{') {
            let Some(inner) = rest[open + 1..].strip_suffix('}') else {
                return Err(selector_error(original, "a `{` without its closing `}`"));
            };
            let name = &rest[..open];
            (
                (!name.is_empty()).then(|| name.to_owned()),
                Some(inner.to_owned()),
            )
        } else {
            (Some(rest.to_owned()), None)
        };
        if name.as_deref().is_none_or(str::is_empty) && dir.as_deref().is_none_or(str::is_empty) {
            return Err(selector_error(
                original,
                "selects nothing: give a name or a directory",
            ));
        }
        Ok(Selector {
            exclude,
            name: name.filter(|n| !n.is_empty()),
            dir: dir.filter(|d| !d.is_empty()),
            with_dependencies,
            with_dependents,
            exclude_self,
        })
    }

    /// The members this selector matches directly (before `...`), by index.
    fn matches(&self, set: &WorkspaceSet, cwd: &Path, original: &str) -> Result<BTreeSet<usize>> {
        let mut matched: BTreeSet<usize> = (0..set.members.len()).collect();
        if let Some(pattern) = &self.name {
            let by_name = names_matching(&set.members, pattern)
                .map_err(|why| selector_error(original, &why))?;
            matched.retain(|i| by_name.contains(i));
        }
        if let Some(dir) = &self.dir {
            let by_dir =
                dirs_matching(set, cwd, dir).map_err(|why| selector_error(original, &why))?;
            matched.retain(|i| by_dir.contains(i));
        }
        Ok(matched)
    }
}

/// The members whose name is `pattern` or matches it as a glob (`*` crosses `/`, so `@s/*`
/// and `*` both work as in pnpm); an unscoped name matching nothing falls back to the one
/// member named `@<scope>/<pattern>`.
fn names_matching(
    members: &[Member],
    pattern: &str,
) -> std::result::Result<BTreeSet<usize>, String> {
    let glob = GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map_err(|e| format!("invalid pattern: {}", e.kind()))?
        .compile_matcher();
    let found: BTreeSet<usize> = members
        .iter()
        .enumerate()
        .filter(|(_, m)| m.name == pattern || glob.is_match(&m.name))
        .map(|(i, _)| i)
        .collect();
    if found.is_empty() && !pattern.contains('/') {
        let scoped: BTreeSet<usize> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.name.starts_with('@')
                    && m.name
                        .split_once('/')
                        .is_some_and(|(_, bare)| glob.is_match(bare))
            })
            .map(|(i, _)| i)
            .collect();
        if scoped.len() == 1 {
            return Ok(scoped);
        }
    }
    Ok(found)
}

/// The members in directory `dir` (relative to `cwd`) or below it; with glob characters, the
/// members whose directory matches the glob.
fn dirs_matching(
    set: &WorkspaceSet,
    cwd: &Path,
    dir: &str,
) -> std::result::Result<BTreeSet<usize>, String> {
    let glob_at = dir.find(['*', '?', '[', '{']);
    let (literal, glob) = match glob_at {
        None => (dir, None),
        Some(at) => {
            let cut = dir[..at].rfind('/').map_or(0, |slash| slash + 1);
            (&dir[..cut], Some(&dir[cut..]))
        }
    };
    let base = root_relative(&set.root, &cwd.join(literal)).ok_or_else(|| {
        format!(
            "{} is outside the workspace {}",
            cwd.join(literal).display(),
            set.root.display()
        )
    })?;
    let matcher = match glob {
        None => None,
        Some(glob) => {
            let full = if base.is_empty() {
                glob.to_owned()
            } else {
                format!("{base}/{glob}")
            };
            let full = normalize_rel(&full);
            Some(
                GlobBuilder::new(&full)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("invalid pattern: {}", e.kind()))?
                    .compile_matcher(),
            )
        }
    };
    Ok(set
        .members
        .iter()
        .enumerate()
        .filter(|(_, m)| match &matcher {
            Some(g) => g.is_match(&m.path),
            None => base.is_empty() || m.path == base || m.path.starts_with(&format!("{base}/")),
        })
        .map(|(i, _)| i)
        .collect())
}

/// `path` relative to `root`, '/'-separated (lexically: `.` and `..` are folded), `None` when it
/// is outside `root`.
fn root_relative(root: &Path, path: &Path) -> Option<String> {
    let fold = |p: &Path| {
        let mut out = PathBuf::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    };
    let (root, path) = (fold(root), fold(path));
    let rel = path.strip_prefix(&root).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Which members a command acts on: the flags of `dx run`, `add`, `remove`, `update`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `-r` / `--workspaces`: every member.
    pub all: bool,
    /// `--filter` selectors (pnpm).
    pub filters: Vec<String>,
    /// `-w/--workspace` values (npm): a member's name, its directory, or a directory holding
    /// members (relative to the current directory).
    pub workspaces: Vec<String>,
}

impl Selection {
    /// Whether no member is selected by flags (the command acts where it runs).
    pub fn is_empty(&self) -> bool {
        !self.all && self.filters.is_empty() && self.workspaces.is_empty()
    }

    /// The selected members, by index into `set.members`, sorted by path. `cwd` is where
    /// relative directories are resolved. A `-w` value or a `--filter` selector that selects no
    /// member is an error naming it (as npm and pnpm's `--fail-if-no-match` do).
    pub fn select(&self, set: &WorkspaceSet, graph: &Graph, cwd: &Path) -> Result<Vec<usize>> {
        let mut selected = BTreeSet::new();
        if self.all {
            selected.extend(0..set.members.len());
        }
        for value in &self.workspaces {
            let found = workspace_flag(set, cwd, value)?;
            selected.extend(found);
        }
        let parsed: Vec<(Selector, &String)> = self
            .filters
            .iter()
            .map(|f| Ok((Selector::parse(f)?, f)))
            .collect::<Result<_>>()?;
        let mut excluded = BTreeSet::new();
        let only_exclusions = !parsed.is_empty()
            && parsed.iter().all(|(s, _)| s.exclude)
            && !self.all
            && self.workspaces.is_empty();
        if only_exclusions {
            selected.extend(0..set.members.len());
        }
        for (selector, original) in &parsed {
            let matched = selector.matches(set, cwd, original)?;
            let mut picked = BTreeSet::new();
            for &i in &matched {
                if !selector.exclude_self {
                    picked.insert(i);
                }
                if selector.with_dependencies {
                    picked.extend(graph.reachable(i, false));
                }
                if selector.with_dependents {
                    picked.extend(graph.reachable(i, true));
                }
                if !selector.with_dependencies && !selector.with_dependents {
                    picked.insert(i);
                }
            }
            if selector.exclude {
                excluded.extend(picked);
                continue;
            }
            if matched.is_empty() {
                return Err(selector_error(
                    original,
                    &format!("matches no workspace member ({})", member_names(set)),
                ));
            }
            selected.extend(picked);
        }
        Ok(selected.difference(&excluded).copied().collect())
    }
}

/// The member names, for errors.
fn member_names(set: &WorkspaceSet) -> String {
    if set.members.is_empty() {
        return "the workspace has none".into();
    }
    let names: Vec<&str> = set.members.iter().map(|m| m.name.as_str()).collect();
    format!("members: {}", names.join(", "))
}

/// npm's `-w <value>`: a member's name, else a directory (relative to `cwd`) that is a member
/// or holds members.
fn workspace_flag(set: &WorkspaceSet, cwd: &Path, value: &str) -> Result<Vec<usize>> {
    if let Some(i) = set.members.iter().position(|m| m.name == value) {
        return Ok(vec![i]);
    }
    let found: Vec<usize> = root_relative(&set.root, &cwd.join(value))
        .map(|base| {
            set.members
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    !base.is_empty() && (m.path == base || m.path.starts_with(&format!("{base}/")))
                })
                .map(|(i, _)| i)
                .collect()
        })
        .unwrap_or_default();
    if found.is_empty() {
        return Err(Error::WorkspaceSelector(format!(
            "-w `{value}`: no workspace member has that name or directory ({})",
            member_names(set)
        )));
    }
    Ok(found)
}

/// `selected` (indices) in topological order: every member after the selected members it
/// depends on, and otherwise in path order (the order of `selected` as given, which
/// [`Selection::select`] sorts by path). Edges to members outside `selected` are ignored.
///
/// A dependency cycle is broken deterministically: when no remaining member has all its
/// dependencies placed, the remaining member that comes first in `selected` is placed next (its
/// dependencies still waiting are treated as placed), and the order continues from there.
pub fn topological_order(graph: &Graph, selected: &[usize]) -> Vec<usize> {
    let position: BTreeMap<usize, usize> =
        selected.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut waiting: Vec<usize> = selected
        .iter()
        .map(|&i| {
            graph
                .dependencies(i)
                .iter()
                .filter(|d| position.contains_key(d))
                .count()
        })
        .collect();
    let mut placed = vec![false; selected.len()];
    let mut ready: BTreeSet<usize> = (0..selected.len()).filter(|&p| waiting[p] == 0).collect();
    let mut order = Vec::with_capacity(selected.len());
    while order.len() < selected.len() {
        let next = match ready.pop_first() {
            Some(p) => p,
            // A cycle: the first remaining member by position goes next.
            None => (0..selected.len())
                .find(|&p| !placed[p])
                .expect("a member remains"),
        };
        if placed[next] {
            continue;
        }
        placed[next] = true;
        order.push(selected[next]);
        for dependent in graph.dependents(selected[next]) {
            if let Some(&p) = position.get(dependent)
                && !placed[p]
            {
                waiting[p] -= 1;
                if waiting[p] == 0 {
                    ready.insert(p);
                }
            }
        }
    }
    order
}

/// For each member of `order` (as [`topological_order`] returns it), the members earlier in
/// `order` it waits for: its dependencies among them. Edges a cycle broke (to a member later in
/// the order) are left out, so running members as soon as what they wait for is done never
/// deadlocks.
pub fn waits_for(graph: &Graph, order: &[usize]) -> Vec<Vec<usize>> {
    let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    order
        .iter()
        .enumerate()
        .map(|(p, &i)| {
            graph
                .dependencies(i)
                .iter()
                .filter_map(|d| position.get(d).copied())
                .filter(|&q| q < p)
                .collect()
        })
        .collect()
}

/// `order` (as [`topological_order`] returns it) in levels: level 0 holds the members that wait
/// for nothing, level n those whose latest dependency is in level n-1. The members of a level
/// are independent of each other and may run at once; each level keeps `order`'s order.
pub fn levels(graph: &Graph, order: &[usize]) -> Vec<Vec<usize>> {
    let waits = waits_for(graph, order);
    let mut level_of = vec![0usize; order.len()];
    let mut levels: Vec<Vec<usize>> = Vec::new();
    for p in 0..order.len() {
        let level = waits[p].iter().map(|&q| level_of[q] + 1).max().unwrap_or(0);
        level_of[p] = level;
        if levels.len() <= level {
            levels.resize_with(level + 1, Vec::new);
        }
        levels[level].push(order[p]);
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace in memory: `(path, name, dependencies)`.
    fn set(members: &[(&str, &str, &[&str])]) -> WorkspaceSet {
        let mut members: Vec<Member> = members
            .iter()
            .map(|(path, name, deps)| {
                let deps: serde_json::Map<String, serde_json::Value> = deps
                    .iter()
                    .map(|d| (d.to_string(), serde_json::Value::from("workspace:*")))
                    .collect();
                Member {
                    path: path.to_string(),
                    dir: Path::new("/w").join(path),
                    name: name.to_string(),
                    version: "1.0.0".into(),
                    manifest_text: serde_json::json!({"name": name, "devDependencies": deps})
                        .to_string(),
                }
            })
            .collect();
        members.sort_by(|a, b| a.path.cmp(&b.path));
        WorkspaceSet {
            root: "/w".into(),
            members,
            catalogs: Default::default(),
        }
    }

    fn names(set: &WorkspaceSet, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|&i| set.members[i].name.clone())
            .collect()
    }

    /// app → ui → utils, app → utils; tool is independent; @s/cfg is used by ui.
    fn sample() -> WorkspaceSet {
        set(&[
            ("apps/app", "app", &["ui", "utils", "react"]),
            ("packages/ui", "ui", &["utils", "@s/cfg"]),
            ("packages/utils", "utils", &[]),
            ("packages/cfg", "@s/cfg", &[]),
            ("tools/tool", "tool", &[]),
        ])
    }

    fn filter(set: &WorkspaceSet, filters: &[&str]) -> Result<Vec<String>> {
        filter_in(set, Path::new("/w"), filters)
    }

    fn filter_in(set: &WorkspaceSet, cwd: &Path, filters: &[&str]) -> Result<Vec<String>> {
        let selection = Selection {
            filters: filters.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let mut out = names(set, &selection.select(set, &Graph::new(set), cwd)?);
        out.sort();
        Ok(out)
    }

    #[test]
    fn the_graph_links_members_named_in_any_section() {
        let s = sample();
        let g = Graph::new(&s);
        let app = s.members.iter().position(|m| m.name == "app").unwrap();
        assert_eq!(names(&s, g.dependencies(app)), ["ui", "utils"]);
        let utils = s.members.iter().position(|m| m.name == "utils").unwrap();
        assert_eq!(names(&s, g.dependents(utils)), ["app", "ui"]);
    }

    #[test]
    fn names_globs_and_the_scope_fallback() {
        let s = sample();
        assert_eq!(filter(&s, &["ui"]).unwrap(), ["ui"]);
        assert_eq!(filter(&s, &["u*"]).unwrap(), ["ui", "utils"]);
        assert_eq!(filter(&s, &["@s/*"]).unwrap(), ["@s/cfg"]);
        assert_eq!(filter(&s, &["cfg"]).unwrap(), ["@s/cfg"]);
        let err = filter(&s, &["nope"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("`nope`: matches no workspace member"),
            "{err}"
        );
    }

    #[test]
    fn dependency_and_dependent_selectors() {
        let s = sample();
        assert_eq!(filter(&s, &["ui..."]).unwrap(), ["@s/cfg", "ui", "utils"]);
        assert_eq!(filter(&s, &["ui^..."]).unwrap(), ["@s/cfg", "utils"]);
        assert_eq!(filter(&s, &["...utils"]).unwrap(), ["app", "ui", "utils"]);
        assert_eq!(filter(&s, &["...^utils"]).unwrap(), ["app", "ui"]);
        assert_eq!(
            filter(&s, &["...ui..."]).unwrap(),
            ["@s/cfg", "app", "ui", "utils"]
        );
    }

    #[test]
    fn directory_selectors_are_relative_to_the_current_directory() {
        let s = sample();
        assert_eq!(
            filter(&s, &["./packages"]).unwrap(),
            ["@s/cfg", "ui", "utils"]
        );
        assert_eq!(filter(&s, &["{packages/u*}"]).unwrap(), ["ui", "utils"]);
        assert_eq!(filter(&s, &["./apps/**"]).unwrap(), ["app"]);
        assert_eq!(filter(&s, &["u*{packages}"]).unwrap(), ["ui", "utils"]);
        let packages = Path::new("/w/packages");
        assert_eq!(filter_in(&s, packages, &["./ui"]).unwrap(), ["ui"]);
        assert_eq!(filter_in(&s, packages, &["../tools"]).unwrap(), ["tool"]);
        assert_eq!(filter_in(&s, &packages.join("ui"), &["."]).unwrap(), ["ui"]);
        assert!(filter(&s, &["../outside"]).is_err());
    }

    #[test]
    fn exclusions() {
        let s = sample();
        assert_eq!(
            filter(&s, &["!ui", "!app"]).unwrap(),
            ["@s/cfg", "tool", "utils"]
        );
        assert_eq!(
            filter(&s, &["./packages", "!@s/*"]).unwrap(),
            ["ui", "utils"]
        );
        assert_eq!(filter(&s, &["app...", "!ui^..."]).unwrap(), ["app", "ui"]);
    }

    #[test]
    fn workspace_flags_take_names_and_directories() {
        let s = sample();
        let g = Graph::new(&s);
        let select = |values: &[&str]| {
            Selection {
                workspaces: values.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            }
            .select(&s, &g, Path::new("/w"))
            .map(|i| names(&s, &i))
        };
        assert_eq!(select(&["ui", "tools/tool"]).unwrap(), ["ui", "tool"]);
        assert_eq!(select(&["./packages"]).unwrap(), ["@s/cfg", "ui", "utils"]);
        let err = select(&["missing"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("-w `missing`: no workspace member"),
            "{err}"
        );
        let all = Selection {
            all: true,
            ..Default::default()
        };
        assert_eq!(all.select(&s, &g, Path::new("/w")).unwrap().len(), 5);
    }

    #[test]
    fn parse_rejects_what_pnpm_rejects_or_dx_lacks() {
        assert!(Selector::parse("...").is_err());
        assert!(Selector::parse("[origin/main]").is_err());
        assert!(Selector::parse("a{packages").is_err());
        let s = Selector::parse("!...^@s/x...").unwrap();
        assert!(s.exclude && s.with_dependents && s.with_dependencies && s.exclude_self);
        assert_eq!(s.name.as_deref(), Some("@s/x"));
    }

    #[test]
    fn topological_order_and_levels() {
        let s = sample();
        let g = Graph::new(&s);
        let all: Vec<usize> = (0..s.members.len()).collect();
        let order = topological_order(&g, &all);
        assert_eq!(names(&s, &order), ["@s/cfg", "utils", "ui", "app", "tool"]);
        let levels: Vec<Vec<String>> = levels(&g, &order).iter().map(|l| names(&s, l)).collect();
        assert_eq!(
            levels,
            [vec!["@s/cfg", "utils", "tool"], vec!["ui"], vec!["app"]]
        );
        // Restricted to a selection, edges to unselected members do not count.
        let app_and_utils: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| ["app", "utils"].contains(&s.members[i].name.as_str()))
            .collect();
        assert_eq!(
            names(&s, &topological_order(&g, &app_and_utils)),
            ["utils", "app"]
        );
    }

    #[test]
    fn a_cycle_is_broken_at_the_first_member_by_path() {
        let s = set(&[
            ("a", "a", &["b"]),
            ("b", "b", &["c"]),
            ("c", "c", &["a"]),
            ("d", "d", &["c"]),
        ]);
        let g = Graph::new(&s);
        let order = topological_order(&g, &[0, 1, 2, 3]);
        assert_eq!(names(&s, &order), ["a", "c", "b", "d"]);
        let waits = waits_for(&g, &order);
        assert_eq!(waits, [vec![], vec![0], vec![1], vec![1]]);
        assert_eq!(levels(&g, &order).len(), 3);
    }
}
