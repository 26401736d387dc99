//! `dx list` in a workspace, against npm's own output for the same workspace
//! (`npm-workspace.txt`, recorded by hand from npm 11; its header says how).

use std::path::PathBuf;

use dx_install::Project;
use dx_resolve::{LayoutOptions, Lockfile};
use serde_json::Value;

use super::*;
use crate::cli::ListArgs;

/// npm's recorded output.
const NPM: &str = include_str!("npm-workspace.txt");
/// npm's recorded output for [`SCOPED_LOCK`].
const NPM_SCOPED: &str = include_str!("npm-workspace-scoped.txt");

/// The recorded project's directory (npm prints it on the first line).
pub(crate) const PROJECT_DIR: &str = "/tmp/listws/work/proj";
/// The directory npm-workspace-scoped.txt was recorded in.
const SCOPED_DIR: &str = "/tmp/listws/work2/proj";

/// The dx.lock of the workspace npm-workspace-scoped.txt was recorded from.
const SCOPED_LOCK: &str = r#"dx-lock 3

root

workspace libs/util
  name @s/util

workspace tools/cli
  name cli
  version 0.1.0
  dependency @s/util * @s/util@workspace:libs/util
  dependency x ^1.0.0 x@1.0.0

package x@1.0.0
  resolved http://127.0.0.1:PORT/x/-/x-1.0.0.tgz
"#;

/// The dx.lock of the workspace npm-workspace.txt was recorded from, written by hand.
pub(crate) const LOCK: &str = r#"dx-lock 3

root
  dependency x ^1.0.0 x@1.0.0

workspace packages/a
  name a
  version 1.0.0
  dependency b ^1.0.0 b@workspace:packages/b
  dependency y ^1.0.0 y@1.0.0

workspace packages/b
  name b
  version 1.0.0
  dependency x ^2.0.0 x@2.0.0
  dev-dependency z ^1.0.0 z@1.0.0

package x@1.0.0
  resolved http://127.0.0.1:37047/x/-/x-1.0.0.tgz

package x@2.0.0
  resolved http://127.0.0.1:37047/x/-/x-2.0.0.tgz
  dependency y ^1.0.0 y@1.0.0

package y@1.0.0
  resolved http://127.0.0.1:37047/y/-/y-1.0.0.tgz

package z@1.0.0
  resolved http://127.0.0.1:37047/z/-/z-1.0.0.tgz
  dev
"#;

/// The installed tree of `lock` (dx.lock text) for a project named `ws-root@1.0.0` at
/// [`PROJECT_DIR`], laid out by the real planner.
pub(crate) fn tree_of(lock: &str) -> InstalledTree {
    tree_in(lock, PROJECT_DIR)
}

fn tree_in(lock: &str, dir: &str) -> InstalledTree {
    let lock = Lockfile::parse(lock).expect("the test lock parses");
    let plan =
        dx_resolve::plan_layout(&lock, &LayoutOptions::default()).expect("the test lock lays out");
    let manifest_text = r#"{"name":"ws-root","version":"1.0.0","workspaces":["packages/*"]}"#;
    let project = Project::from_text(&PathBuf::from(dir), manifest_text.to_owned())
        .expect("the test manifest parses");
    InstalledTree::new(project, lock, plan)
}

/// The stdout npm printed for `$ npm <command>`.
pub(crate) fn npm(command: &str) -> &'static str {
    recorded(NPM, command)
}

fn recorded(file: &'static str, command: &str) -> &'static str {
    let marker = format!("\n$ npm {command}\n");
    let start = file.find(&marker).expect("a recorded command") + marker.len();
    let rest = &file[start..];
    rest[..rest.find("\n$ npm ").unwrap_or(rest.len())].trim_end()
}

fn args(all: bool) -> ListArgs {
    ListArgs {
        depth: 0,
        all,
        prod: false,
        dev: false,
        omit: Vec::new(),
        workspaces: Vec::new(),
    }
}

fn text(tree: &InstalledTree, args: &ListArgs) -> String {
    let max_depth = if args.all { usize::MAX } else { args.depth };
    let shown = build(tree, &EdgeFilter::from_args(args), max_depth);
    render(
        &shown,
        &format!("{} {}", tree.root_label(), tree.project.dir.display()),
    )
}

/// npm's `--json` without the `overridden` fields dx does not write (dx has no overrides
/// marker in `ls`).
fn without_overridden(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.remove("overridden");
        for v in map.values_mut() {
            *v = without_overridden(v.take());
        }
    }
    value
}

#[test]
fn the_lock_lays_out_as_npm_installed_it() {
    let tree = tree_of(LOCK);
    let placed: Vec<(&str, &str)> = tree
        .placed
        .iter()
        .map(|(l, k)| (l.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("node_modules/x", "x@1.0.0"),
            ("node_modules/y", "y@1.0.0"),
            ("node_modules/z", "z@1.0.0"),
            ("packages/a", "a@workspace:packages/a"),
            ("packages/b", "b@workspace:packages/b"),
            ("packages/b/node_modules/x", "x@2.0.0"),
        ]
    );
    let links: Vec<(&str, &str)> = tree
        .links
        .iter()
        .map(|(l, m)| (l.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            ("node_modules/a", "packages/a"),
            ("node_modules/b", "packages/b")
        ]
    );
    // Node's lookup: a member's own node_modules first, then the root's (through the link).
    let found = |from, name| tree.find(from, name).map(|f| (f.path, f.linked.is_some()));
    assert_eq!(
        found("packages/b", "x"),
        Some(("packages/b/node_modules/x", false))
    );
    assert_eq!(found("packages/a", "x"), Some(("node_modules/x", false)));
    assert_eq!(found("packages/a", "b"), Some(("packages/b", true)));
    assert_eq!(
        found("packages/b/node_modules/x", "y"),
        Some(("node_modules/y", false))
    );
    assert_eq!(found("", "nothing"), None);
    assert_eq!(
        tree.members["b@workspace:packages/b"]
            .package
            .resolved
            .as_deref(),
        Some("file:../packages/b")
    );
}

#[test]
fn npm_workspace_fixture_ls_text_is_npms() {
    let tree = tree_of(LOCK);
    assert_eq!(text(&tree, &args(false)), npm("ls"));
    assert_eq!(text(&tree, &args(true)), npm("ls --all"));
}

#[test]
fn npm_workspace_fixture_ls_json_is_npms() {
    let tree = tree_of(LOCK);
    for (all, command) in [(false, "ls --json"), (true, "ls --all --json")] {
        let args = args(all);
        let max_depth = if all { usize::MAX } else { 0 };
        let shown = build(&tree, &EdgeFilter::from_args(&args), max_depth);
        let npm: Value = serde_json::from_str(npm(command)).unwrap();
        assert_eq!(
            json_tree(&tree, &shown),
            without_overridden(npm),
            "{command}"
        );
    }
}

#[test]
fn members_edges_follow_prod_and_dev_like_the_roots() {
    let tree = tree_of(LOCK);
    let prod = ListArgs {
        prod: true,
        ..args(true)
    };
    let expected = "ws-root@1.0.0 /tmp/listws/work/proj
├─┬ a@1.0.0 -> ./packages/a
│ ├── b@1.0.0 deduped -> ./packages/b
│ └── y@1.0.0
├─┬ b@1.0.0 -> ./packages/b
│ └─┬ x@2.0.0
│   └── y@1.0.0 deduped
└── x@1.0.0";
    assert_eq!(text(&tree, &prod), expected);
    let dev = ListArgs {
        dev: true,
        ..args(false)
    };
    let expected = "ws-root@1.0.0 /tmp/listws/work/proj
├── a@1.0.0 -> ./packages/a
└─┬ b@1.0.0 -> ./packages/b
  └── z@1.0.0";
    assert_eq!(text(&tree, &dev), expected);
}

#[test]
fn a_member_edge_the_lock_lost_shows_what_node_finds_or_unmet() {
    // packages/b's x lost its package block: Node finds the root's x@1.0.0 from packages/b,
    // which misses b's range, so it is invalid there.
    let lock = LOCK.replace("x ^2.0.0 x@2.0.0", "x ^2.0.0 x@2.0.1");
    let out = text(&tree_of(&lock), &args(false));
    assert!(
        out.contains(
            "├─┬ b@1.0.0 -> ./packages/b\n│ ├── x@1.0.0 deduped invalid: \"^2.0.0\" from packages/b\n"
        ),
        "{out}"
    );
    // A lost name nothing else provides is missing under the member that needs it.
    let lock = LOCK.replace(
        "  dependency y ^1.0.0 y@1.0.0\n\nworkspace packages/b",
        "  dependency w ^1.0.0 w@1.0.0\n  dependency y ^1.0.0 y@1.0.0\n\nworkspace packages/b",
    );
    let out = text(&tree_of(&lock), &args(false));
    assert!(
        out.contains("├─┬ a@1.0.0 -> ./packages/a\n│ ├── b@1.0.0 deduped -> ./packages/b\n│ ├── UNMET DEPENDENCY w@^1.0.0\n"),
        "{out}"
    );
}

#[test]
fn npm_workspace_fixture_scoped_member_without_a_version_is_npms() {
    let tree = tree_in(SCOPED_LOCK, SCOPED_DIR);
    assert_eq!(text(&tree, &args(false)), recorded(NPM_SCOPED, "ls"));
    let shown = build(&tree, &EdgeFilter::from_args(&args(false)), 0);
    let npm: Value = serde_json::from_str(recorded(NPM_SCOPED, "ls --json")).unwrap();
    assert_eq!(json_tree(&tree, &shown), without_overridden(npm));
    assert_eq!(
        tree.members["@s/util@workspace:libs/util"]
            .package
            .resolved
            .as_deref(),
        Some("file:../../libs/util"),
        "the link's own target, from node_modules/@s"
    );
}

#[test]
fn npm_workspace_fixture_one_member_is_npms_ls_w() {
    // What `dx ls -w b` is to show once the flag exists: only the member, and y expanded
    // under x@2.0.0 since nothing else shows it.
    let tree = tree_of(LOCK);
    let mut filter = EdgeFilter::from_args(&args(true));
    filter.members = Some(["packages/b".to_owned()].into());
    let shown = build(&tree, &filter, usize::MAX);
    let out = render(&shown, &format!("{} {PROJECT_DIR}", tree.root_label()));
    assert_eq!(out, npm("ls -w b --all"));
}

#[test]
fn a_root_dependency_on_a_member_is_the_member_once() {
    let lock = LOCK.replace(
        "root\n  dependency x ^1.0.0 x@1.0.0\n",
        "root\n  dev-dependency a workspace:* a@workspace:packages/a\n  dependency x ^1.0.0 x@1.0.0\n",
    );
    let tree = tree_of(&lock);
    let out = text(&tree, &args(false));
    assert_eq!(out.matches("a@1.0.0 -> ./packages/a").count(), 1, "{out}");
    // --prod leaves the dev edge out, not the member.
    let prod = ListArgs {
        prod: true,
        ..args(false)
    };
    let out = text(&tree, &prod);
    assert!(out.contains("├─┬ a@1.0.0 -> ./packages/a\n"), "{out}");
}
