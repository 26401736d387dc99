//! `dx install` end to end against dx's own registry server on 127.0.0.1.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use dx_net::{Fault, FaultRule, TestRegistry, write_test_package};
use serde_json::json;

use crate::support::{TestContext, describe, exists_no_follow};

/// A small registry: `a` depends on `b@^2` while the root wants `b@^1`, so npm nests
/// `a/node_modules/b`; `a` has an executable bin.
pub(crate) fn conflict_registry(dir: &Path) -> TestRegistry {
    write_test_package(
        dir,
        "b",
        "1.0.0",
        json!({ "main": "index.js" }),
        &[("index.js", b"module.exports = 'b1';\n")],
    );
    write_test_package(
        dir,
        "b",
        "2.0.0",
        json!({ "main": "index.js" }),
        &[("index.js", b"module.exports = 'b2';\n")],
    );
    write_test_package(
        dir,
        "a",
        "1.0.0",
        json!({ "main": "index.js", "bin": { "a-cli": "cli.js" }, "dependencies": { "b": "^2.0.0" } }),
        &[
            ("index.js", b"module.exports = 'a+' + require('b');\n"),
            (
                "cli.js",
                b"#!/usr/bin/env node\nconsole.log('a-cli ran');\n",
            ),
        ],
    );
    TestRegistry::start(dir)
}

pub(crate) fn project_json(ctx: &TestContext) {
    ctx.write("package.json", r#"{ "name": "app", "version": "1.0.0", "dependencies": { "a": "^1.0.0", "b": "^1.0.0" } }"#);
}

#[test]
fn install_nests_conflicts_links_bins_and_writes_dx_lock() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    project_json(&ctx);

    let out = ctx.dx_ok(&["install", "--materialize"]);
    assert!(out.contains("added 3 packages"), "{out}");
    let nm = ctx.path("node_modules");
    assert_eq!(
        std::fs::read_to_string(nm.join("b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
    assert_eq!(
        std::fs::read_to_string(nm.join("a/node_modules/b/index.js")).unwrap(),
        "module.exports = 'b2';\n"
    );
    let cli = nm.join("a/cli.js");
    assert_ne!(
        std::fs::metadata(&cli).unwrap().permissions().mode() & 0o111,
        0,
        "bin must be executable"
    );
    assert_eq!(
        std::fs::read_link(nm.join(".bin/a-cli")).unwrap(),
        Path::new("../a/cli.js")
    );

    let lock = std::fs::read_to_string(ctx.path("dx.lock")).unwrap();
    for key in ["a@1.0.0", "b@1.0.0", "b@2.0.0"] {
        assert!(
            lock.contains(&format!("package {key}")),
            "dx.lock lacks {key}:\n{lock}"
        );
    }

    if which("node") {
        let out = std::process::Command::new("node")
            .args(["-e", "console.log(require('a'), require('b'))"])
            .current_dir(&ctx.project)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "a+b2 b1",
            "{}",
            describe(&out)
        );
        let out = std::process::Command::new(nm.join(".bin/a-cli"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "a-cli ran",
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn warm_install_makes_no_request_and_repeat_is_a_noop() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    project_json(&ctx);
    ctx.dx_ok(&["install", "--materialize"]);

    std::fs::remove_dir_all(ctx.path("node_modules")).unwrap();
    registry.requests().clear();
    let out = ctx.dx_ok(&["install", "--materialize"]);
    assert!(out.contains("added 3 packages"), "{out}");
    assert_eq!(
        registry.requests().len(),
        0,
        "a warm install must not touch the registry"
    );

    let out = ctx.dx_ok(&["install", "--materialize"]);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(registry.requests().len(), 0);

    // A package removed by hand is put back by the next install, still without the network.
    crate::support::make_writable_and_remove(&ctx.path("node_modules/b"));
    let out = ctx.dx_ok(&["install", "--materialize"]);
    assert!(
        !out.contains("up to date"),
        "a damaged tree is not up to date: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
    assert_eq!(registry.requests().len(), 0);
}

#[test]
fn frozen_lockfile_refuses_a_stale_lock() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    project_json(&ctx);
    ctx.dx_ok(&["install", "--lockfile-only"]);
    assert!(
        !exists_no_follow(&ctx.path("node_modules")),
        "--lockfile-only must not install"
    );
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "a": "^1.0.0" } }"#,
    );
    let before = std::fs::read(ctx.path("dx.lock")).unwrap();

    let out = ctx.dx(&["install", "--frozen-lockfile", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dx.lock does not match package.json"), "{err}");
    assert_eq!(
        std::fs::read(ctx.path("dx.lock")).unwrap(),
        before,
        "a refused install must not touch dx.lock"
    );

    // CI=true implies --frozen-lockfile.
    let out = ctx
        .dx_command(&["install", "--materialize"])
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn corrupt_tarball_fails_naming_the_package_and_installs_nothing() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    registry
        .faults()
        .add(FaultRule::new(Fault::CorruptBody).on_path_containing("/b/-/b-2.0.0.tgz"));
    let ctx = ctx.with_registry(registry.url());
    project_json(&ctx);

    let out = ctx.dx(&["install", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("b@2.0.0"),
        "the error must name the package: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        !exists_no_follow(&ctx.path("node_modules")),
        "nothing may be installed"
    );
}

#[test]
fn unknown_package_is_a_one_line_error() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "no-such-package-here": "^1.0.0" } }"#,
    );
    let out = ctx.dx(&["install", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-package-here"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn broken_lockfile_is_named() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    project_json(&ctx);
    ctx.write("dx.lock", "this is not a lockfile\n");
    let out = ctx.dx(&["install", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dx.lock"),
        "{}",
        describe(&out)
    );
}

fn which(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
