//! `dx install` end to end against dx's own registry server on 127.0.0.1.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use dx_net::{Fault, FaultRule, TestRegistry};

use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe, entries_starting_with, exists_no_follow};

/// A registry over `dir` serving the standard fixtures, kept for tests that build their context
/// by hand (`TestContext::new().with_registry(…)`); [`TestContext::with_fixtures`] does the
/// same in one call.
pub(crate) fn conflict_registry(dir: &Path) -> TestRegistry {
    crate::fixtures::write_standard(dir);
    TestRegistry::start(dir)
}

/// The root wants `a@^1` and `b@^1`; `a` needs `b@^2`, so npm nests `a/node_modules/b`.
pub(crate) fn project_json(ctx: &TestContext) {
    ctx.write("package.json", r#"{ "name": "app", "version": "1.0.0", "dependencies": { "a": "^1.0.0", "b": "^1.0.0" } }"#);
}

#[test]
fn install_nests_conflicts_links_bins_and_writes_dx_lock() {
    let ctx = TestContext::with_fixtures();
    project_json(&ctx);

    let out = ctx.dx(&["install", "--materialize"]);
    assert!(
        out.stdout_text().contains("added 3 packages"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("cold_install", out);
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
    let ctx = TestContext::with_fixtures();
    project_json(&ctx);
    ctx.dx_ok(&["install", "--materialize"]);
    let registry = ctx.registry();

    std::fs::remove_dir_all(ctx.path("node_modules")).unwrap();
    registry.requests().clear();
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(
        out.stdout_text().contains("added 3 packages"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("warm_install", out);
    assert_eq!(
        registry.requests().len(),
        0,
        "a warm install must not touch the registry"
    );

    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.stdout_text().contains("up to date"), "{}", out.render());
    assert_dx_snapshot!("repeat_install", out);
    assert_eq!(registry.requests().len(), 0);

    // A package removed by hand is put back by the next install, still without the network.
    crate::support::make_writable_and_remove(&ctx.path("node_modules/b"));
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(
        out.success() && !out.stdout_text().contains("up to date"),
        "a damaged tree is not up to date: {}",
        out.render()
    );
    assert_dx_snapshot!("repair_install", out);
    assert_eq!(
        ctx.read("node_modules/b/index.js"),
        "module.exports = 'b1';\n"
    );
    assert_eq!(registry.requests().len(), 0);
}

#[test]
fn frozen_lockfile_refuses_a_stale_lock() {
    let ctx = TestContext::with_fixtures();
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
    out.assert_code(1);
    let err = out.stderr_text();
    assert!(err.contains("dx.lock does not match package.json"), "{err}");
    assert_dx_snapshot!("frozen_lockfile_refused", out);
    assert_eq!(
        std::fs::read(ctx.path("dx.lock")).unwrap(),
        before,
        "a refused install must not touch dx.lock"
    );

    // CI=true implies --frozen-lockfile.
    let out = ctx.dx_with(&["install", "--materialize"], |cmd| {
        cmd.env("CI", "true");
    });
    out.assert_code(1);
    assert_dx_snapshot!("frozen_lockfile_refused_in_ci", out);
}

#[test]
fn corrupt_tarball_fails_naming_the_package_and_installs_nothing() {
    let ctx = TestContext::with_fixtures();
    ctx.registry()
        .faults()
        .add(FaultRule::new(Fault::CorruptBody).on_path_containing("/b/-/b-2.0.0.tgz"));
    project_json(&ctx);

    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert!(
        err.contains("b@2.0.0"),
        "the error must name the package: {err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_dx_snapshot!("corrupt_tarball", out);
    assert!(
        !exists_no_follow(&ctx.path("node_modules")),
        "nothing may be installed"
    );
}

#[test]
fn an_html_page_as_metadata_is_named_as_html() {
    let ctx = TestContext::with_fixtures();
    ctx.registry()
        .faults()
        .add(FaultRule::new(Fault::HtmlPage).on_path_containing("/b"));
    project_json(&ctx);

    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert!(
        err.contains("package b") && err.contains("HTML page, not JSON"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_dx_snapshot!("html_metadata", out);
    assert!(!exists_no_follow(&ctx.path("node_modules")));
    assert!(!ctx.path("dx.lock").exists());
}

#[test]
fn a_server_that_trickles_is_a_stall_not_a_hang() {
    let ctx = TestContext::with_fixtures();
    // One byte every 50 ms: "progress" on every read, far below 1 KiB per window.
    ctx.registry().faults().add(
        FaultRule::new(Fault::Trickle(std::time::Duration::from_millis(50)))
            .on_path_containing("/b/-/b-2.0.0.tgz"),
    );
    project_json(&ctx);
    ctx.write(
        ".npmrc",
        "fetch-stall-timeout=400\nfetch-retries=1\nfetch-retry-mintimeout=10\n",
    );

    // Without the guard the trickle ends and the install succeeds; with it, each attempt
    // fails after one window.
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert!(err.contains("b@2.0.0") && err.contains("stalled"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!exists_no_follow(&ctx.path("node_modules")));
}

#[test]
fn unknown_package_is_a_one_line_error() {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "no-such-package-here": "^1.0.0" } }"#,
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert!(err.contains("no-such-package-here"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_dx_snapshot!("unknown_package", out);
}

#[test]
fn a_dependency_name_npm_refuses_is_an_error_and_nothing_is_written() {
    let ctx = TestContext::with_fixtures();
    // Each would put a package where node_modules keeps something else.
    for name in [".bin", "node_modules", ".dx-layout", "a b", "../b"] {
        let manifest = serde_json::json!({ "dependencies": { name: "npm:b@^1.0.0" } });
        ctx.package_json(manifest);
        let out = ctx.dx(&["install", "--materialize"]);
        out.assert_code(1);
        let err = out.stderr_text();
        assert!(
            err.contains(&format!("invalid package name {name:?}")),
            "{name}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            !ctx.path("node_modules").exists() && !ctx.path("dx.lock").exists(),
            "{name}: nothing may be written"
        );
        if name == ".bin" {
            assert_dx_snapshot!("invalid_dependency_name", out);
        }
    }
    // An optional dependency with such a name is skipped, as a failing optional one is.
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "b": "^1.0.0" }, "optionalDependencies": { ".bin": "npm:b@^1.0.0" } }"#,
    );
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert!(
        out.stderr_text()
            .contains("skipped optional dependency .bin"),
        "{}",
        out.render()
    );
    assert!(ctx.path("node_modules/b/package.json").exists());
    assert!(!ctx.path("node_modules/.bin/package.json").exists());
}

#[test]
fn broken_lockfile_is_named() {
    let ctx = TestContext::with_fixtures();
    project_json(&ctx);
    ctx.write("dx.lock", "this is not a lockfile\n");
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert!(out.stderr_text().contains("dx.lock"), "{}", out.render());
    assert_dx_snapshot!("broken_lockfile", out);
}

fn which(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tree a materialized install replaces is removed by a detached `dx remove-leftover`,
/// not before the install returns; it goes away on its own, and the command refuses any
/// directory that is not such a tree.
#[test]
fn a_replaced_tree_is_removed_in_the_background() {
    let ctx = TestContext::with_fixtures();
    project_json(&ctx);
    ctx.dx_ok(&["install", "--materialize"]);
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "a": "^1.0.0", "b": "^1.0.0", "solo": "^1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    assert_eq!(ctx.read("node_modules/solo/index.js"), "1");
    let leftovers = || entries_starting_with(&ctx.project, "node_modules.dx-").len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while leftovers() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(leftovers(), 0, "the replaced tree was not removed");

    let victim = ctx.write("keep/me.txt", "x");
    let out = ctx.dx(&[
        "remove-leftover",
        victim.parent().unwrap().to_str().unwrap(),
    ]);
    out.assert_code(1);
    assert!(
        victim.exists(),
        "remove-leftover removed a directory that is not dx's"
    );
}
