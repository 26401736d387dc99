//! `dx add`, `dx remove` and `dx update` end to end: package.json edited as npm edits it,
//! dx.lock and node_modules following, and nothing changed when the command fails.

use serde_json::{Value, json};

use crate::fixtures::Package;
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe};

fn manifest(ctx: &TestContext) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ctx.path("package.json")).unwrap()).unwrap()
}

/// The standard registry (`pad` 1.0.0, 1.1.0 and a `next`-tagged 2.0.0-beta.1; `util` 3.0.0
/// with a bin) and a package.json indented by four spaces.
fn context() -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        "{\n    \"name\": \"app\",\n    \"version\": \"1.0.0\"\n}\n",
    );
    ctx
}

#[test]
fn add_saves_caret_latest_exact_tags_aliases_and_sections() {
    let ctx = context();
    let out = ctx.dx(&["add", "pad", "--materialize"]);
    assert!(
        out.stdout_text().contains("+ pad 1.1.0"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("add_latest", out);
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

    assert_dx_snapshot!(
        "add_exact_dev",
        ctx.dx(&["add", "-D", "-E", "util", "--materialize"])
            .assert_code(0)
    );
    assert_dx_snapshot!(
        "add_alias_of_a_tag",
        ctx.dx(&["add", "alias@npm:pad@next", "--materialize"])
            .assert_code(0)
    );
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
    assert_dx_snapshot!(
        "add_moves_between_sections",
        ctx.dx(&["add", "util@^3", "--materialize"]).assert_code(0)
    );
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
    let ctx = context();
    ctx.dx_ok(&["add", "pad@1.0.0", "--materialize"]);
    let pj_before = std::fs::read(ctx.path("package.json")).unwrap();
    let lock_before = std::fs::read(ctx.path("dx.lock")).unwrap();
    for (name, args) in [
        ("add_unknown_package", &["add", "no-such-package"][..]),
        ("add_unsatisfiable_range", &["add", "pad@^9"]),
        ("add_invalid_name", &["add", ".bad"]),
        ("add_unknown_tag", &["add", "pad@nope-tag"]),
    ] {
        let out = ctx.dx(args);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            describe(&out)
        );
        let stderr = out.stderr_text();
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_dx_snapshot!(name, out);
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
    let stderr = ctx.dx(&["add", "no-such-package"]).stderr_text();
    assert!(
        stderr.contains("package no-such-package not found in registry http://127.0.0.1"),
        "{stderr}"
    );
    // A typo gets the registry search's closest name.
    let out = ctx.dx(&["add", "padd"]);
    assert!(
        out.stderr_text().contains("(did you mean `pad`?)"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("add_typo", out);
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "utill": "^3" } }"#,
    );
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(
        out.stderr_text()
            .contains("package utill not found in registry http://127.0.0.1"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("install_typo", out);
}

#[test]
fn remove_takes_packages_out_of_package_json_lock_and_tree() {
    let ctx = context();
    assert_dx_snapshot!(
        "add_two",
        ctx.dx(&["add", "pad", "util", "--materialize"])
            .assert_code(0)
    );
    assert!(ctx.path("node_modules/util").exists());
    let out = ctx.dx(&["remove", "util", "--materialize"]);
    assert!(
        out.stdout_text().contains("- util 3.0.0"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("remove", out);
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
        out.stderr_text().contains("cannot remove util"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("remove_missing", out);
}

#[test]
fn update_moves_within_ranges_and_latest_rewrites_them() {
    let ctx = context();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "pad": "^1.0.0", "util": "^3.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    ctx.publish(
        Package::new("util", "3.1.0")
            .manifest(json!({ "main": "index.js" }))
            .exporting("util 3.1.0"),
    );
    // The lock pins util 3.0.0: install keeps it, update moves it within its range.
    ctx.dx_ok(&["install", "--materialize"]);
    assert!(
        std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("package util@3.0.0")
    );
    let out = ctx.dx(&["update", "util", "--materialize"]);
    assert!(
        out.stdout_text().contains("~ util 3.0.0 → 3.1.0"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("update_within_range", out);
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
    ctx.publish(
        Package::new("pad", "2.0.0")
            .manifest(json!({ "main": "index.js" }))
            .exporting("pad 2.0.0"),
    );
    ctx.dx_ok(&["update", "--materialize"]);
    assert!(
        std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("package pad@1.1.0")
    );
    let out = ctx.dx(&["update", "--latest", "--materialize"]);
    assert!(
        out.stdout_text().contains("~ pad 1.1.0 → 2.0.0"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("update_latest", out);
    let pj = manifest(&ctx);
    assert_eq!(pj["dependencies"]["pad"], "^2.0.0");
    assert_eq!(pj["dependencies"]["util"], "^3.1.0");
    ctx.dx_ok(&["install", "--frozen-lockfile", "--materialize"]);

    let out = ctx.dx(&["update", "nothing-like-this"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_dx_snapshot!("update_unknown", out);
}
