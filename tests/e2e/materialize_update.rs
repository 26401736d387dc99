//! A materialized node_modules changed in place by `dx add`, `update` and `remove` (only the
//! packages that changed are placed) stays equal to the tree the mount serves for the same
//! dx.lock: after an add, a version update, a package moving from nested to hoisted and back,
//! and a whole scope removed.

use std::path::Path;
use std::process::Command;

use crate::support::{TestContext, assert_same_tree, fuse_available};

fn project(ctx: &TestContext, deps: &str) {
    ctx.write(
        "package.json",
        &format!(r#"{{ "name": "app", "version": "1.0.0", "dependencies": {deps} }}"#),
    );
}

/// Mounts, in `mounted`, the dx.lock and package.json `disk` has, and asserts that the two
/// node_modules are the same tree (paths, bytes, links, executable bits).
fn assert_same_as_mount(disk: &TestContext, mounted: &TestContext, step: &str) {
    for file in ["package.json", "dx.lock"] {
        std::fs::copy(disk.path(file), mounted.path(file)).unwrap();
    }
    mounted.dx_ok(&["install", "--frozen-lockfile", "--no-materialize"]);
    assert_same_tree(
        &mounted.path("node_modules"),
        &disk.path("node_modules"),
        &format!("after {step}"),
    );
    assert_eq!(
        exec_bits(&mounted.path("node_modules")),
        exec_bits(&disk.path("node_modules")),
        "after {step}: executable bits differ"
    );
}

/// Every entry with its type and whether it is executable, sorted.
fn exec_bits(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(root)
        .args(["-not", "-name", ".dx-layout", "-printf", "%P %y %m\n"])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (entry, mode) = line.rsplit_once(' ').unwrap();
            let executable = u32::from_str_radix(mode, 8).unwrap() & 0o111 != 0;
            format!("{entry} {executable}")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn in_place_changes_keep_the_materialized_tree_equal_to_the_mount() {
    if !fuse_available("in_place_changes_keep_the_materialized_tree_equal_to_the_mount") {
        return;
    }
    let disk = TestContext::with_fixtures();
    let mounted = TestContext::new().with_registry(disk.registry_url());
    // `a` needs `b@^2` while the root wants `b@^1`: `a/node_modules/b` nests.
    project(
        &disk,
        r#"{ "a": "^1.0.0", "b": "^1.0.0", "@scope/c": "^3.0.0" }"#,
    );
    let out = disk.dx_ok(&["install", "--materialize"]);
    assert!(out.contains("added"), "{out}");
    assert!(disk.path("node_modules/a/node_modules/b").is_dir());
    assert_same_as_mount(&disk, &mounted, "the first install");

    let steps: [(&str, &[&str], &str); 5] = [
        ("an add", &["add", "pad@1.0.0"], "node_modules/pad/index.js"),
        (
            "a version update",
            &["add", "pad@1.1.0"],
            "node_modules/pad/index.js",
        ),
        // Without the root's `b@^1`, `a`'s `b@2` is hoisted: nested → top level.
        (
            "a removal that hoists",
            &["remove", "b"],
            "node_modules/b/package.json",
        ),
        // And back: `b@1` at the top, `b@2` nested under `a` again.
        (
            "an add that nests",
            &["add", "b@^1.0.0"],
            "node_modules/a/node_modules/b/package.json",
        ),
        (
            "a whole scope removed",
            &["remove", "@scope/c"],
            "node_modules/a/package.json",
        ),
    ];
    for (step, args, present) in steps {
        let out = disk.dx_ok(args);
        assert!(
            out.contains("node_modules updated in place"),
            "{step} must update the tree in place: {out}"
        );
        assert!(
            disk.path(present).exists(),
            "after {step}: {present} is missing"
        );
        assert_same_as_mount(&disk, &mounted, step);
    }
    assert!(!disk.path("node_modules/@scope").exists());
}
