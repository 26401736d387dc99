//! `dx add`, `dx remove` and `dx update` end to end: package.json edited as npm edits it,
//! dx.lock and node_modules following, and nothing changed when the command fails.

use std::path::Path;

use dx_net::{TestRegistry, write_test_package};
use serde_json::{Value, json};

use crate::support::{TestContext, describe};

fn index(text: &str) -> Vec<(&'static str, &'static [u8])> {
    vec![(
        "index.js",
        Box::leak(format!("module.exports = '{text}';\n").into_boxed_str()).as_bytes(),
    )]
}

/// `pad` 1.0.0, 1.1.0 and a `next`-tagged 2.0.0-beta.1; `util` 3.0.0 with a bin.
fn registry(dir: &Path) -> TestRegistry {
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1"] {
        write_test_package(
            dir,
            "pad",
            v,
            json!({ "main": "index.js" }),
            &index(&format!("pad {v}")),
        );
    }
    std::fs::write(
        dir.join("dist-tags.json"),
        r#"{ "pad": { "next": "2.0.0-beta.1" } }"#,
    )
    .unwrap();
    write_test_package(
        dir,
        "util",
        "3.0.0",
        json!({ "main": "index.js", "bin": { "util": "cli.js" } }),
        &[
            ("index.js", b"module.exports = 'util';\n"),
            ("cli.js", b"#!/usr/bin/env node\n"),
        ],
    );
    TestRegistry::start(dir)
}

fn manifest(ctx: &TestContext) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ctx.path("package.json")).unwrap()).unwrap()
}

fn context() -> (TestContext, TestRegistry) {
    let ctx = TestContext::new();
    let registry = registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        "{\n    \"name\": \"app\",\n    \"version\": \"1.0.0\"\n}\n",
    );
    (ctx, registry)
}

#[test]
fn add_saves_caret_latest_exact_tags_aliases_and_sections() {
    let (ctx, _registry) = context();
    let out = ctx.dx_ok(&["add", "pad", "--materialize"]);
    assert!(out.contains("+ pad 1.1.0"), "{out}");
    let pj = manifest(&ctx);
    assert_eq!(pj["dependencies"]["pad"], "^1.1.0");
    let text = std::fs::read_to_string(ctx.path("package.json")).unwrap();
    assert!(
        text.starts_with("{\n    \"name\""),
        "indentation kept:\n{text}"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/pad/index.js")).unwrap(),
        "module.exports = 'pad 1.1.0';\n"
    );

    ctx.dx_ok(&["add", "-D", "-E", "util", "--materialize"]);
    ctx.dx_ok(&["add", "alias@npm:pad@next", "--materialize"]);
    let pj = manifest(&ctx);
    assert_eq!(pj["devDependencies"]["util"], "3.0.0", "{pj}");
    assert_eq!(pj["dependencies"]["alias"], "npm:pad@^2.0.0-beta.1", "{pj}");
    assert!(
        ctx.path("node_modules/.bin/util")
            .symlink_metadata()
            .is_ok()
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/alias/index.js")).unwrap(),
        "module.exports = 'pad 2.0.0-beta.1';\n"
    );

    // Moving a package between sections, as npm does.
    ctx.dx_ok(&["add", "util@^3", "--materialize"]);
    let pj = manifest(&ctx);
    assert_eq!(pj["dependencies"]["util"], "^3");
    assert!(
        pj.get("devDependencies")
            .and_then(|d| d.get("util"))
            .is_none(),
        "{pj}"
    );
    // dx.lock matches the written package.json: a frozen install accepts it.
    ctx.dx_ok(&["install", "--frozen-lockfile", "--materialize"]);
}

#[test]
fn failed_add_changes_nothing() {
    let (ctx, _registry) = context();
    ctx.dx_ok(&["add", "pad@1.0.0", "--materialize"]);
    let pj_before = std::fs::read(ctx.path("package.json")).unwrap();
    let lock_before = std::fs::read(ctx.path("dx.lock")).unwrap();
    for args in [
        &["add", "no-such-package"][..],
        &["add", "pad@^9"],
        &["add", "Bad_Name"],
        &["add", "pad@nope-tag"],
    ] {
        let out = ctx.dx(args);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            describe(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_eq!(
            std::fs::read(ctx.path("package.json")).unwrap(),
            pj_before,
            "{args:?} changed package.json"
        );
        assert_eq!(
            std::fs::read(ctx.path("dx.lock")).unwrap(),
            lock_before,
            "{args:?} changed dx.lock"
        );
    }
    let stderr = String::from_utf8_lossy(&ctx.dx(&["add", "no-such-package"]).stderr).into_owned();
    assert!(
        stderr.contains("package no-such-package not found in registry http://127.0.0.1"),
        "{stderr}"
    );
    // A typo gets the registry search's closest name.
    let stderr = String::from_utf8_lossy(&ctx.dx(&["add", "padd"]).stderr).into_owned();
    assert!(stderr.contains("(did you mean `pad`?)"), "{stderr}");
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "utill": "^3" } }"#,
    );
    let stderr =
        String::from_utf8_lossy(&ctx.dx(&["install", "--materialize"]).stderr).into_owned();
    assert!(
        stderr.contains("package utill not found in registry http://127.0.0.1"),
        "{stderr}"
    );
}

#[test]
fn remove_takes_packages_out_of_package_json_lock_and_tree() {
    let (ctx, _registry) = context();
    ctx.dx_ok(&["add", "pad", "util", "--materialize"]);
    assert!(ctx.path("node_modules/util").exists());
    let out = ctx.dx_ok(&["remove", "util", "--materialize"]);
    assert!(out.contains("- util 3.0.0"), "{out}");
    let pj = manifest(&ctx);
    assert!(pj["dependencies"].get("util").is_none(), "{pj}");
    assert!(!ctx.path("node_modules/util").exists());
    assert!(
        !std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("util@")
    );
    assert!(ctx.path("node_modules/pad").exists());

    let out = ctx.dx(&["remove", "util"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot remove util"),
        "{}",
        describe(&out)
    );
}

#[test]
fn update_moves_within_ranges_and_latest_rewrites_them() {
    let (ctx, registry) = context();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "pad": "^1.0.0", "util": "^3.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    let dir = ctx.home.join("registry");
    write_test_package(
        &dir,
        "util",
        "3.1.0",
        json!({ "main": "index.js" }),
        &index("util 3.1.0"),
    );
    registry.rescan().unwrap();
    // The lock pins util 3.0.0: install keeps it, update moves it within its range.
    ctx.dx_ok(&["install", "--materialize"]);
    assert!(
        std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("package util@3.0.0")
    );
    let out = ctx.dx_ok(&["update", "util", "--materialize"]);
    assert!(out.contains("~ util 3.0.0 → 3.1.0"), "{out}");
    assert_eq!(
        manifest(&ctx)["dependencies"]["util"],
        "^3.0.0",
        "update keeps the range"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/util/index.js")).unwrap(),
        "module.exports = 'util 3.1.0';\n"
    );

    // A new major: plain update stays in range; --latest moves to it, rewriting the range.
    write_test_package(
        &dir,
        "pad",
        "2.0.0",
        json!({ "main": "index.js" }),
        &index("pad 2.0.0"),
    );
    registry.rescan().unwrap();
    ctx.dx_ok(&["update", "--materialize"]);
    assert!(
        std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("package pad@1.1.0")
    );
    let out = ctx.dx_ok(&["update", "--latest", "--materialize"]);
    assert!(out.contains("~ pad 1.1.0 → 2.0.0"), "{out}");
    let pj = manifest(&ctx);
    assert_eq!(pj["dependencies"]["pad"], "^2.0.0");
    assert_eq!(pj["dependencies"]["util"], "^3.1.0");
    ctx.dx_ok(&["install", "--frozen-lockfile", "--materialize"]);

    let out = ctx.dx(&["update", "nothing-like-this"]);
    assert!(!out.status.success(), "{}", describe(&out));
}
