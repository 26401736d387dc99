//! Packages that ship their own `node_modules` (npm's `bundleDependencies`): the bundled files
//! sit inside the package directory as npm places them, beside packages the layout nests there,
//! identically on the mount and in the materialized tree; `dx ls` and `dx why` know them.
//!
//! The fixture: `bundler@1.0.0` bundles `inner` (which needs `deep`, bundled too, hoisted
//! within the bundle) and `@bs/scoped`, and needs `shared@^1` while the project wants
//! `shared@^2`, so the layout nests `bundler/node_modules/shared` next to the bundled packages.
//! `inner`, `deep` and `@bs/scoped` are not published: only the tarball has them.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::fixtures::Package;
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, assert_same_tree, describe, fuse_available, is_mountpoint};

fn bundler() -> Package {
    Package::new("bundler", "1.0.0")
        .manifest(json!({
            "dependencies": { "inner": "^1.0.0", "@bs/scoped": "^1.0.0", "shared": "^1.0.0" },
            "bundleDependencies": ["inner", "@bs/scoped"],
        }))
        .file(
            "index.js",
            "module.exports = require('inner') + ' ' + require('shared');\n",
        )
        .file(
            "node_modules/inner/package.json",
            r#"{ "name": "inner", "version": "1.2.0", "dependencies": { "deep": "^1.0.0" } }"#,
        )
        .file(
            "node_modules/inner/index.js",
            "module.exports = 'inner+' + require('deep');\n",
        )
        .file(
            "node_modules/deep/package.json",
            r#"{ "name": "deep", "version": "1.0.3" }"#,
        )
        .file("node_modules/deep/index.js", "module.exports = 'deep';\n")
        .file(
            "node_modules/@bs/scoped/package.json",
            r#"{ "name": "@bs/scoped", "version": "1.1.0" }"#,
        )
        .file("node_modules/@bs/scoped/lib/a.js", "module.exports = 1;\n")
}

fn context() -> TestContext {
    TestContext::builder()
        .package(bundler())
        .package(Package::new("shared", "1.0.0").exporting("shared 1"))
        .package(Package::new("shared", "2.0.0").exporting("shared 2"))
        .build()
}

fn project(ctx: &TestContext) {
    ctx.package_json(json!({
        "name": "app",
        "version": "1.0.0",
        "dependencies": { "bundler": "^1.0.0", "shared": "^2.0.0" },
    }));
}

/// Every path under `root` with its type (`f`, `d`, `l`), sorted.
fn listing(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(root)
        .args(["-mindepth", "1", "-printf", "%P %y\n"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What both trees must hold inside `bundler`: the bundled files and the nested `shared`.
fn assert_bundled_files(node_modules: &Path) {
    let inner = node_modules.join("bundler/node_modules");
    assert_eq!(names(&inner), ["@bs", "deep", "inner", "shared"]);
    assert_eq!(names(&inner.join("@bs")), ["scoped"]);
    assert_eq!(
        std::fs::read_to_string(inner.join("inner/index.js")).unwrap(),
        "module.exports = 'inner+' + require('deep');\n"
    );
    assert_eq!(
        std::fs::read_to_string(inner.join("@bs/scoped/lib/a.js")).unwrap(),
        "module.exports = 1;\n"
    );
    assert_eq!(
        std::fs::read_to_string(inner.join("shared/index.js")).unwrap(),
        "module.exports = 'shared 1';\n",
        "the nested shared is the placed 1.0.0"
    );
    assert_eq!(
        std::fs::read_to_string(node_modules.join("shared/index.js")).unwrap(),
        "module.exports = 'shared 2';\n"
    );
    assert!(
        !node_modules.join("inner").exists(),
        "a bundled package is not hoisted"
    );
}

#[test]
fn bundled_files_are_served_inside_their_package_when_materialized() {
    let ctx = context();
    project(&ctx);
    ctx.dx_ok(&["install", "--materialize"]);
    assert_bundled_files(&ctx.path("node_modules"));
    let lock = ctx.read("dx.lock");
    assert!(
        lock.contains("  dependency inner ^1.0.0\n"),
        "a bundled edge has no target: {lock}"
    );
    assert!(!lock.contains("package inner@"), "{lock}");
}

#[test]
fn list_and_why_show_bundled_packages_like_npm() {
    let ctx = context();
    project(&ctx);
    ctx.dx_ok(&["install", "--lockfile-only"]);
    // Without an install, the archive is not in the store: the tree shows what dx.lock has.
    let before = ctx.dx(&["ls", "--all"]);
    assert!(
        !before.stdout_text().contains("inner"),
        "{}",
        before.render()
    );
    ctx.dx_ok(&["install", "--materialize"]);
    assert_dx_snapshot!("list_all", ctx.dx(&["ls", "--all"]).assert_code(0));
    assert_dx_snapshot!("why_inner", ctx.dx(&["why", "inner"]).assert_code(0));
    assert_dx_snapshot!("why_deep", ctx.dx(&["why", "deep"]).assert_code(0));

    let json: Value = serde_json::from_str(&ctx.dx_ok(&["ls", "--all", "--json"])).unwrap();
    let bundler = &json["dependencies"]["bundler"];
    assert_eq!(bundler.get("inBundle"), None, "{json}");
    let inner = &bundler["dependencies"]["inner"];
    assert_eq!(inner["version"], "1.2.0", "{json}");
    assert_eq!(inner["inBundle"], true, "{json}");
    assert_eq!(inner["dependencies"]["deep"]["inBundle"], true, "{json}");
    assert_eq!(bundler["dependencies"]["@bs/scoped"]["inBundle"], true);
    assert_eq!(bundler["dependencies"]["shared"]["version"], "1.0.0");
    assert_eq!(bundler["dependencies"]["shared"].get("inBundle"), None);

    let why: Value = serde_json::from_str(&ctx.dx_ok(&["why", "inner", "--json"])).unwrap();
    assert_eq!(why[0]["bundled"], true, "{why}");
    assert_eq!(
        why[0]["locations"],
        json!(["node_modules/bundler/node_modules/inner"])
    );
    assert_eq!(why[0]["dependents"][0]["bundled"], true, "{why}");
    assert_eq!(why[0]["dependents"][0]["from"]["name"], "bundler");
}

#[test]
fn mounted_and_materialized_trees_hold_the_same_bundled_files() {
    if !fuse_available("mounted_and_materialized_trees_hold_the_same_bundled_files") {
        return;
    }
    let mounted = context();
    project(&mounted);
    let out = mounted.dx(&["install"]);
    assert!(out.stdout_text().contains("mounted"), "{}", out.render());
    assert!(is_mountpoint(&mounted.path("node_modules")));
    assert_bundled_files(&mounted.path("node_modules"));

    let disk = TestContext::new().with_registry(mounted.registry_url());
    project(&disk);
    disk.dx_ok(&["install", "--materialize"]);
    std::fs::remove_file(disk.path("node_modules/.dx-layout")).unwrap();
    assert_eq!(
        listing(&mounted.path("node_modules")),
        listing(&disk.path("node_modules"))
    );
    assert_same_tree(
        &mounted.path("node_modules"),
        &disk.path("node_modules"),
        "after install",
    );
}
