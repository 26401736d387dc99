//! The tree without FUSE: lookups, listings and reads straight through [`NodeModulesTree`].

use dx_formats::dxp::{ArchiveBuilder, BuildLimits};
use dx_formats::hash::ContentHash;
use dx_store::Store;

use super::*;
use crate::layout::{LayoutRow, LayoutRowKind};

/// A store with one archive per package (files: path -> contents), and the temp dir.
struct Fixture {
    dir: tempfile::TempDir,
    hashes: Vec<ContentHash>,
}

impl Fixture {
    fn new(packages: &[&[(&str, &str)]]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        let hashes = packages
            .iter()
            .map(|files| {
                let mut builder = ArchiveBuilder::new(BuildLimits::default());
                for (path, text) in *files {
                    builder
                        .add_file(path, false, text.as_bytes())
                        .expect("add file");
                }
                let built = builder.finish().expect("archive");
                store.put_archive(&built.bytes, None).expect("put")
            })
            .collect();
        Fixture { dir, hashes }
    }

    fn row(&self, path: &str, package: usize) -> LayoutRow {
        LayoutRow {
            path: path.into(),
            kind: LayoutRowKind::Package {
                content_hash: self.hashes[package],
                label: format!("p{package}"),
            },
        }
    }

    fn tree(&self, rows: Vec<LayoutRow>) -> NodeModulesTree {
        let store = Store::open(self.dir.path().join("store")).expect("store");
        NodeModulesTree::new(rows, store, &self.dir.path().join("overlay")).expect("tree")
    }
}

/// The inode at `path` (from the root), if it exists.
fn ino(tree: &NodeModulesTree, path: &str) -> Option<u64> {
    let mut at = 1;
    for name in path.split('/').filter(|n| !n.is_empty()) {
        at = tree.lookup(at, name).expect("lookup")?.ino;
    }
    Some(at)
}

fn names(tree: &NodeModulesTree, path: &str) -> Vec<String> {
    let dir = ino(tree, path).unwrap_or_else(|| panic!("{path} is missing"));
    tree.readdir(dir)
        .expect("readdir")
        .into_iter()
        .map(|e| e.name)
        .collect()
}

fn text(tree: &NodeModulesTree, path: &str) -> String {
    let file = ino(tree, path).unwrap_or_else(|| panic!("{path} is missing"));
    tree.read(file, 0, 1 << 16, |b| {
        String::from_utf8_lossy(b).into_owned()
    })
    .expect("read")
}

/// `xo` ships `node_modules/{bundled,@ts/parser,.bin/b}` in its archive (npm's
/// bundleDependencies); the layout places `xo/node_modules/{placed,@ts/other}` besides.
fn bundling() -> Fixture {
    Fixture::new(&[
        &[
            (
                "package.json",
                r#"{"name":"xo","bundleDependencies":["bundled","@ts/parser"]}"#,
            ),
            ("index.js", "xo"),
            ("node_modules/bundled/package.json", r#"{"name":"bundled"}"#),
            ("node_modules/bundled/lib/deep.js", "deep"),
            ("node_modules/@ts/parser/index.js", "parser"),
            ("node_modules/.bin/b", "bundled bin"),
        ],
        &[("package.json", r#"{"name":"placed"}"#)],
        &[("index.js", "other")],
        &[("package.json", r#"{"name":"plain"}"#)],
    ])
}

fn bundling_rows(f: &Fixture) -> Vec<LayoutRow> {
    vec![
        f.row("xo", 0),
        f.row("xo/node_modules/placed", 1),
        f.row("xo/node_modules/@ts/other", 2),
        f.row("plain", 3),
        f.row("plain/node_modules/placed", 1),
        f.row("@scope/x", 1),
    ]
}

#[test]
fn bundled_files_merge_with_placed_packages() {
    let f = bundling();
    let tree = f.tree(bundling_rows(&f));
    assert_eq!(
        names(&tree, "xo"),
        ["index.js", "node_modules", "package.json"]
    );
    assert_eq!(
        names(&tree, "xo/node_modules"),
        [".bin", "@ts", "bundled", "placed"]
    );
    assert_eq!(names(&tree, "xo/node_modules/@ts"), ["other", "parser"]);
    assert_eq!(names(&tree, "xo/node_modules/bundled/lib"), ["deep.js"]);
    assert_eq!(text(&tree, "xo/node_modules/bundled/lib/deep.js"), "deep");
    assert_eq!(text(&tree, "xo/node_modules/@ts/parser/index.js"), "parser");
    assert_eq!(text(&tree, "xo/node_modules/@ts/other/index.js"), "other");
    assert_eq!(
        text(&tree, "xo/node_modules/placed/package.json"),
        r#"{"name":"placed"}"#
    );
    assert_eq!(text(&tree, "xo/node_modules/.bin/b"), "bundled bin");
    assert_eq!(ino(&tree, "xo/node_modules/missing"), None);
    assert_eq!(ino(&tree, "xo/node_modules/@ts/missing"), None);
    // A package without bundled files: only the layout's children.
    assert_eq!(names(&tree, "plain/node_modules"), ["placed"]);
    assert_eq!(ino(&tree, "plain/node_modules/bundled"), None);
}

#[test]
fn a_placed_package_replaces_a_bundled_one_of_its_name() {
    // What the materialized tree does too: a layout package at a path replaces the archive's
    // directory there (npm never places one where a bundled one is).
    let f = bundling();
    let mut rows = bundling_rows(&f);
    rows.push(f.row("xo/node_modules/bundled", 3));
    let tree = f.tree(rows);
    assert_eq!(
        names(&tree, "xo/node_modules/bundled"),
        ["package.json"],
        "the placed package's files only"
    );
    assert_eq!(
        text(&tree, "xo/node_modules/bundled/package.json"),
        r#"{"name":"plain"}"#
    );
}

#[test]
fn directories_outside_packages_open_no_archive() {
    let f = bundling();
    let tree = f.tree(bundling_rows(&f));
    assert_eq!(ino(&tree, "@scope/missing"), None);
    assert_eq!(names(&tree, "@scope"), ["x"]);
    assert_eq!(tree.mapped_archives(), 0);
    // A placed package is found without opening its dependent's archive.
    assert!(ino(&tree, "xo/node_modules/placed").is_some());
    assert_eq!(tree.mapped_archives(), 0);
}

#[test]
fn bundled_files_survive_a_reload_and_take_writes() {
    let f = bundling();
    let tree = f.tree(bundling_rows(&f));
    assert_eq!(text(&tree, "xo/node_modules/bundled/lib/deep.js"), "deep");
    let mut rows = bundling_rows(&f);
    rows.retain(|r| r.path != "xo/node_modules/placed");
    tree.reload(rows);
    assert_eq!(names(&tree, "xo/node_modules"), [".bin", "@ts", "bundled"]);
    // Writes into a bundled directory go to the overlay and are listed with the rest.
    let dir = ino(&tree, "xo/node_modules/bundled").unwrap();
    let created = tree.create(dir, "new.js", 0o644).expect("create");
    tree.write(created.ino, 0, b"new").expect("write");
    assert_eq!(
        names(&tree, "xo/node_modules/bundled"),
        ["lib", "new.js", "package.json"]
    );
    assert_eq!(text(&tree, "xo/node_modules/bundled/new.js"), "new");
    assert_eq!(text(&tree, "xo/node_modules/bundled/lib/deep.js"), "deep");
    assert_eq!(names(&tree, "xo/node_modules/@ts"), ["other", "parser"]);
}
