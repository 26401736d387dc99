//! Reading a layout back from the store gives what planning gives, and a layout compiled for
//! another dx.lock, a damaged one or one that maps to no single package is never used.

use std::collections::HashMap;

use dx_formats::hash::ContentHash;
use dx_resolve::{LayoutOptions, Lockfile, plan_layout};
use dx_store::Store;

use super::*;
use crate::prepare::{Tree, compile_dxl};

const ONE: &str = "sha512-AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==";
const TWO: &str = "sha512-AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg==";

/// A lock with nesting, a scoped package, an alias, `.bin` links at the root, under a package
/// and in a member, a `link:` and a `file:` directory (one with a command), a member with its
/// own node_modules linked from the root, a package for another platform, and two packages
/// with one name and version told apart by their integrity.
fn lock_text() -> String {
    format!(
        r#"dx-lock 3

root
  dependency a ^1.0.0 a@1.0.0
  dependency @s/b ^1.0.0 @s/b@1.0.0
  dependency c ^1.0.0 c@1.0.0
  dependency x npm:y@^2 y@2.1.0
  dependency l link:../l l@link:../l
  dependency f file:vendor/f f@file:vendor/f
  dependency m * m@workspace:packages/m
  dependency q ^1.0.0 q@1.0.0
  optional-dependency native ^1.0.0 native@1.0.0

workspace packages/m
  name m
  version 1.0.0
  bin m-cli cli.js
  dependency c ^3.0.0 c@3.0.0

package a@1.0.0
  resolved http://127.0.0.1:1/a/-/a-1.0.0.tgz
  bin a-cli bin/a.js
  dependency c ^2.0.0 c@2.0.0
  dependency q http://127.0.0.1:1/q-1.0.0.tgz "q@http://127.0.0.1:1/q-1.0.0.tgz"

package @s/b@1.0.0
  resolved http://127.0.0.1:1/@s/b/-/b-1.0.0.tgz
  bin b b.js

package c@1.0.0
  resolved http://127.0.0.1:1/c/-/c-1.0.0.tgz

package c@2.0.0
  resolved http://127.0.0.1:1/c/-/c-2.0.0.tgz
  bin c c.js

package c@3.0.0
  resolved http://127.0.0.1:1/c/-/c-3.0.0.tgz
  bin c c.js

package y@2.1.0
  resolved http://127.0.0.1:1/y/-/y-2.1.0.tgz

package l@link:../l

package f@file:vendor/f
  bin f f.js

package q@1.0.0
  resolved http://127.0.0.1:1/q/-/q-1.0.0.tgz
  integrity {ONE}

package "q@http://127.0.0.1:1/q-1.0.0.tgz"
  version 1.0.0
  resolved http://127.0.0.1:1/q-1.0.0.tgz
  integrity {TWO}

package native@1.0.0
  resolved http://127.0.0.1:1/native/-/native-1.0.0.tgz
  os {}
  optional
"#,
        if cfg!(target_os = "linux") {
            "darwin"
        } else {
            "linux"
        }
    )
}

/// Compiles `text`'s layout as `dx install` does (archives stood in for by made-up hashes) and
/// stores it under the key of `key_text`.
fn store_layout(store: &Store, text: &str, key_text: &str) {
    let lock = Lockfile::parse(text).expect("the test lock parses");
    let options = LayoutOptions::default();
    let plan = plan_layout(&lock, &options).expect("the test lock lays out");
    let hashes: HashMap<String, ContentHash> = lock
        .packages
        .keys()
        .enumerate()
        .map(|(i, key)| (key.clone(), ContentHash([i as u8; 32])))
        .collect();
    let key = dxl_key(key_text, &options);
    let compile = |nodes, bin_links, links| {
        let tree = Tree {
            nodes,
            bin_links,
            links,
        };
        compile_dxl(text, &options, &lock, &tree, &hashes).expect("the layout compiles")
    };
    for ws in &plan.workspaces {
        let bytes = compile(&ws.nodes, &ws.bin_links, &ws.links);
        store
            .write_dxl(&member_dxl_key(&key, &ws.path), &bytes)
            .expect("write");
    }
    let bytes = compile(&plan.nodes, &plan.bin_links, &plan.links);
    store.write_dxl(&key, &bytes).expect("write");
}

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    (dir, store)
}

fn planned(text: &str) -> LayoutPlan {
    let lock = Lockfile::parse(text).expect("the test lock parses");
    plan_layout(&lock, &LayoutOptions::default()).expect("the test lock lays out")
}

fn load(store: &Store, text: &str) -> InstalledLayout {
    let lock = Lockfile::parse(text).expect("the test lock parses");
    load_layout(Some(store.root()), text, &lock).expect("a layout")
}

#[test]
fn the_stored_layout_is_the_planned_one() {
    let (_dir, store) = temp_store();
    let text = lock_text();
    store_layout(&store, &text, &text);
    let layout = load(&store, &text);
    assert_eq!(layout.source, LayoutSource::Store);
    let planned = planned(&text);
    assert_eq!(placements(&layout.plan), placements(&planned));
    // The lock's every kind of entry made it through (so the comparison compares something).
    let got = placements(&layout.plan);
    for (entry, key) in [
        ("node a", "a@1.0.0"),
        ("node a/node_modules/c", "c@2.0.0"),
        ("node a/node_modules/q", "q@http://127.0.0.1:1/q-1.0.0.tgz"),
        ("node q", "q@1.0.0"),
        ("node x", "y@2.1.0"),
        ("node @s/b", "@s/b@1.0.0"),
        ("link l -> ../../l", "l@link:../l"),
        ("link f -> ../vendor/f", "f@file:vendor/f"),
        ("link m -> ../packages/m", "m@workspace:packages/m"),
        ("bin .bin/f -> ../f/f.js", "f@file:vendor/f"),
        ("bin .bin/m-cli -> ../m/cli.js", "m@workspace:packages/m"),
        ("bin .bin/b -> ../@s/b/b.js", "@s/b@1.0.0"),
        ("bin a/node_modules/.bin/c -> ../c/c.js", "c@2.0.0"),
        ("packages/m: node c", "c@3.0.0"),
        ("packages/m: bin .bin/c -> ../c/c.js", "c@3.0.0"),
    ] {
        assert_eq!(
            got.get(entry).map(String::as_str),
            Some(key),
            "{entry} in {got:#?}"
        );
    }
    assert!(
        !got.keys().any(|e| e.contains("native")),
        "another platform's package is not installed: {got:#?}"
    );
}

#[test]
fn a_changed_lock_is_planned_again() {
    let (_dir, store) = temp_store();
    let text = lock_text();
    store_layout(&store, &text, &text);
    let changed = text.replace(
        "  dependency c ^2.0.0 c@2.0.0\n",
        "  dependency c ^1.0.0 c@1.0.0\n",
    );
    assert_ne!(changed, text);
    let layout = load(&store, &changed);
    assert_eq!(
        layout.source,
        LayoutSource::Planned(StoredMiss::NotCompiled)
    );
    let plan = placements(&layout.plan);
    assert_eq!(plan, placements(&planned(&changed)));
    assert!(!plan.contains_key("node a/node_modules/c"), "{plan:#?}");
}

#[test]
fn a_layout_of_another_lock_under_this_locks_key_is_stale() {
    let (_dir, store) = temp_store();
    let text = lock_text();
    let changed = text.replace(
        "  dependency c ^2.0.0 c@2.0.0\n",
        "  dependency c ^1.0.0 c@1.0.0\n",
    );
    // The old lock's layout where the new lock's belongs (a copied or tampered store).
    store_layout(&store, &text, &changed);
    let layout = load(&store, &changed);
    assert!(
        matches!(
            layout.source,
            LayoutSource::Planned(StoredMiss::Stale { .. })
        ),
        "{:?}",
        layout.source
    );
    assert_eq!(placements(&layout.plan), placements(&planned(&changed)));
}

#[test]
fn a_damaged_layout_is_planned_again() {
    let (_dir, store) = temp_store();
    let text = lock_text();
    store_layout(&store, &text, &text);
    let path = store.dxl_path(&dxl_key(&text, &LayoutOptions::default()));
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, &bytes).expect("write");
    let layout = load(&store, &text);
    assert!(
        matches!(
            layout.source,
            LayoutSource::Planned(StoredMiss::Damaged { .. })
        ),
        "{:?}",
        layout.source
    );
    assert_eq!(placements(&layout.plan), placements(&planned(&text)));
}

#[test]
fn a_missing_member_layout_is_a_miss() {
    let (_dir, store) = temp_store();
    let text = lock_text();
    store_layout(&store, &text, &text);
    let key = dxl_key(&text, &LayoutOptions::default());
    std::fs::remove_file(store.dxl_path(&member_dxl_key(&key, "packages/m"))).expect("remove");
    let layout = load(&store, &text);
    assert_eq!(
        layout.source,
        LayoutSource::Planned(StoredMiss::NotCompiled)
    );
}

#[test]
fn packages_no_integrity_tells_apart_are_a_miss() {
    let (_dir, store) = temp_store();
    let text = lock_text().replace(TWO, ONE);
    store_layout(&store, &text, &text);
    let layout = load(&store, &text);
    assert!(
        matches!(
            &layout.source,
            LayoutSource::Planned(StoredMiss::Unmatched { path }) if path.ends_with("q")
        ),
        "{:?}",
        layout.source
    );
    assert_eq!(placements(&layout.plan), placements(&planned(&text)));
}

#[test]
fn without_a_store_the_layout_is_planned() {
    let text = lock_text();
    let lock = Lockfile::parse(&text).expect("parses");
    let layout = load_layout(None, &text, &lock).expect("a layout");
    assert_eq!(
        layout.source,
        LayoutSource::Planned(StoredMiss::NotCompiled)
    );
    assert_eq!(placements(&layout.plan), placements(&planned(&text)));
}

#[test]
fn paths_split_and_fold_as_the_planner_writes_them() {
    assert!(is_bin_link(".bin/tsc"));
    assert!(is_bin_link("a/node_modules/.bin/tsc"));
    assert!(!is_bin_link("a"));
    assert!(!is_bin_link("@s/b"));
    assert!(!is_bin_link("x.bin/y"));
    assert_eq!(split_install_path("c"), ("", "c"));
    assert_eq!(split_install_path("@s/b"), ("", "@s/b"));
    assert_eq!(
        split_install_path("a/node_modules/@s/b"),
        ("a/node_modules", "@s/b")
    );
    assert_eq!(
        bin_owner(".bin/b", "../@s/b/bin/b.js").as_deref(),
        Some("@s/b")
    );
    assert_eq!(
        bin_owner("a/node_modules/.bin/c", "../c/c.js").as_deref(),
        Some("a/node_modules/c")
    );
    assert_eq!(bin_owner(".bin/c", "c.js"), None);
    assert_eq!(join_relative("node_modules", "../packages/m"), "packages/m");
    assert_eq!(join_relative("node_modules/@s", "../../../l"), "../l");
    assert_eq!(join_relative("", "./vendor/f/"), "vendor/f");
    assert_eq!(join_relative("", "../l"), "../l");
}
