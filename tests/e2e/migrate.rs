//! `dx migrate` end to end: package-lock.json, bun.lock and yarn.lock written for dx's test
//! registry are imported with their (older than newest) versions kept, then installed frozen.

use serde_json::json;

use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe};

/// From the standard fixtures: `pinned` 1.0.0 and 1.1.0 (each depending on `pinned-dep@^1`),
/// `pinned-dep` 1.0.0 and 1.5.0: a fresh resolution picks pinned@1.1.0 and pinned-dep@1.5.0;
/// the lockfiles below pin pinned@1.0.0 and pinned-dep@1.0.0.
fn context() -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "pinned": "^1.0.0" } }"#,
    );
    ctx
}

fn assert_pinned_and_installs(ctx: &TestContext, from: &str) {
    let out = ctx.dx(&["migrate"]);
    assert!(
        out.stdout_text().contains(&format!(
            "dx.lock written from {from}: 2 packages, 2 of 2 versions kept"
        )),
        "{}",
        out.render()
    );
    assert_dx_snapshot!(format!("migrate_{}", from.replace(['.', '-'], "_")), out);
    let lock = std::fs::read_to_string(ctx.path("dx.lock")).unwrap();
    assert!(
        lock.contains("package pinned@1.0.0") && lock.contains("package pinned-dep@1.0.0"),
        "{lock}"
    );
    ctx.dx_ok(&["install", "--frozen-lockfile", "--materialize"]);
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/pinned-dep/index.js")).unwrap(),
        "module.exports = '1.0.0';\n"
    );
    assert!(
        ctx.path("node_modules/.bin/pinned")
            .symlink_metadata()
            .is_ok(),
        "bin linked"
    );
}

#[test]
fn migrates_package_lock_keeping_versions() {
    let ctx = context();
    ctx.write("package-lock.json", &pinned_package_lock(&ctx));
    assert_pinned_and_installs(&ctx, "package-lock.json");

    // An existing dx.lock is not replaced without --force.
    let out = ctx.dx(&["migrate"]);
    assert!(
        !out.status.success() && out.stderr_text().contains("--force"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("migrate_over_a_dx_lock", out);
    ctx.dx_ok(&["migrate", "--force"]);
}

#[test]
fn migrates_bun_lock_and_yarn_lock() {
    let ctx = context();
    let (a, b) = (
        ctx.published("pinned", "1.0.0"),
        ctx.published("pinned-dep", "1.0.0"),
    );
    ctx.write(
        "bun.lock",
        &format!(
            "{{\n  \"lockfileVersion\": 1,\n  \"workspaces\": {{ \"\": {{ \"name\": \"app\", \"dependencies\": {{ \"pinned\": \"^1.0.0\", }}, }}, }},\n  \"packages\": {{\n    \"pinned\": [\"pinned@1.0.0\", \"{}\", {{ \"dependencies\": {{ \"pinned-dep\": \"^1.0.0\" }}, \"bin\": {{ \"pinned\": \"pinned.js\" }} }}, \"{}\"],\n    \"pinned-dep\": [\"pinned-dep@1.0.0\", \"\", {{}}, \"{}\"],\n  }}\n}}\n",
            a.url, a.integrity, b.integrity
        ),
    );
    assert_pinned_and_installs(&ctx, "bun.lock");

    std::fs::remove_file(ctx.path("bun.lock")).unwrap();
    std::fs::remove_file(ctx.path("dx.lock")).unwrap();
    ctx.write(
        "yarn.lock",
        &format!(
            "# yarn lockfile v1\n\n\npinned@^1.0.0:\n  version \"1.0.0\"\n  resolved \"{}\"\n  integrity {}\n  dependencies:\n    pinned-dep \"^1.0.0\"\n\npinned-dep@^1.0.0:\n  version \"1.0.0\"\n  resolved \"{}\"\n  integrity {}\n",
            a.url, a.integrity, b.url, b.integrity
        ),
    );
    assert_pinned_and_installs(&ctx, "yarn.lock");
}

#[test]
fn migrate_refuses_what_it_cannot_read() {
    let ctx = context();
    let out = ctx.dx(&["migrate"]);
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("no lockfile to migrate"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("migrate_without_a_lockfile", out);

    ctx.write("pnpm-lock.yaml", "lockfileVersion: '5.4'\n");
    let out = ctx.dx(&["migrate"]);
    assert!(
        out.stderr_text().contains("pnpm-lock.yaml"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("migrate_pnpm_lock", out);

    ctx.write(
        "package-lock.json",
        "{ \"lockfileVersion\": 3, \"packages\": ",
    );
    let out = ctx.dx(&["migrate"]);
    let stderr = out.stderr_text();
    assert!(
        !out.status.success() && stderr.contains("package-lock.json is not valid JSON"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_dx_snapshot!("migrate_broken_package_lock", out);
    assert!(!ctx.path("dx.lock").exists(), "nothing written");
}

/// The package-lock.json of [`context`]'s project, pinning the older versions.
fn pinned_package_lock(ctx: &TestContext) -> String {
    let (a, b) = (
        ctx.published("pinned", "1.0.0"),
        ctx.published("pinned-dep", "1.0.0"),
    );
    let lock = json!({
        "name": "app", "lockfileVersion": 3, "requires": true,
        "packages": {
            "": { "name": "app", "dependencies": { "pinned": "^1.0.0" } },
            "node_modules/pinned": { "version": "1.0.0", "resolved": a.url, "integrity": a.integrity, "dependencies": { "pinned-dep": "^1.0.0" }, "bin": { "pinned": "pinned.js" } },
            "node_modules/pinned-dep": { "version": "1.0.0", "resolved": b.url, "integrity": b.integrity }
        }
    });
    serde_json::to_string_pretty(&lock).unwrap()
}

/// `dx install` in a project with package-lock.json and no dx.lock imports it first, keeping
/// its versions (as Bun does), and says so in one line; frozen too, when it fits package.json.
#[test]
fn install_imports_a_foreign_lockfile_keeping_its_versions() {
    for frozen in [false, true] {
        let ctx = context();
        ctx.write("package-lock.json", &pinned_package_lock(&ctx));
        let mut args = vec!["install", "--materialize"];
        if frozen {
            args.push("--frozen-lockfile");
        }
        let out = ctx.dx(&args);
        assert!(out.success(), "{}", out.render());
        assert!(
            out.stdout_text()
                .contains("imported package-lock.json into dx.lock (2 of 2 versions kept)"),
            "{}",
            out.render()
        );
        assert_eq!(
            std::fs::read_to_string(ctx.path("node_modules/pinned-dep/index.js")).unwrap(),
            "module.exports = '1.0.0';\n",
            "the locked version, not the newest"
        );
        let lock = std::fs::read_to_string(ctx.path("dx.lock")).unwrap();
        assert!(lock.contains("package pinned@1.0.0"), "{lock}");
    }
}

/// Frozen with a foreign lockfile that package.json has moved past: an error naming it, and
/// no dx.lock left behind.
#[test]
fn frozen_install_refuses_a_foreign_lockfile_that_does_not_fit() {
    let ctx = context();
    ctx.write("package-lock.json", &pinned_package_lock(&ctx));
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "pinned": "^1.1.0" } }"#,
    );
    let out = ctx.dx(&["install", "--frozen-lockfile", "--materialize"]);
    assert!(!out.success(), "{}", out.render());
    let err = out.stderr_text();
    assert!(
        err.contains("package-lock.json does not match package.json"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!ctx.path("dx.lock").exists());
    assert!(!ctx.path("node_modules").exists());
}
