//! `dx ls` and `dx why` read the layout `dx install` compiled into the store instead of planning
//! it again, print exactly what they print from a planned layout, and plan again when dx.lock
//! changed since the layout was compiled.

use serde_json::json;

use crate::support::TestContext;

/// What `-v` says when the layout came from the store, and when it was planned for want of one.
const FROM_STORE: &str = "read node_modules from the store";
const PLANNED: &str = "planned node_modules (no layout compiled for this dx.lock in the store)";

/// A workspace with nesting at the root, under a package and in a member, a scoped member, a
/// dev dependency with a bin, and `file:` directories inside and outside the project.
fn project() -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({
        "name": "app", "version": "1.0.0",
        "workspaces": ["packages/*"],
        "dependencies": {
            "dep-b": "^2.0.0", "dep-c": "^1.0.0", "a": "^1.0.0",
            "lib": "file:./libs/lib", "outside": "file:../outside"
        },
        "devDependencies": { "hello": "^1.0.0" }
    }));
    ctx.write(
        "packages/m/package.json",
        &json!({"name": "m", "version": "1.0.0", "dependencies": {"dep-c": "^2.0.0", "b": "^1.0.0"}})
            .to_string(),
    );
    ctx.write(
        "packages/n/package.json",
        &json!({"name": "@scope/n", "version": "0.1.0", "devDependencies": {"m": "*", "util": "^3.0.0"}})
            .to_string(),
    );
    ctx.write(
        "libs/lib/package.json",
        &json!({"name": "lib", "version": "0.1.0", "dependencies": {"pad": "^1.0.0"}}).to_string(),
    );
    ctx.write(
        "../outside/package.json",
        &json!({"name": "outside", "version": "1.0.0"}).to_string(),
    );
    ctx
}

const COMMANDS: &[&[&str]] = &[
    &["ls"],
    &["ls", "--all"],
    &["ls", "--all", "--json"],
    &["ls", "-w", "m", "--all"],
    &["why", "dep-c"],
    &["why", "dep-c", "--json"],
    &["why", "b"],
    &["why", "pad"],
    &["why", "m"],
    &["why", "hello"],
    &["why", "outside"],
];

/// Each command's stdout, asserting that `-v` says the layout came from where `expected` says.
fn outputs(ctx: &TestContext, expected: &str) -> Vec<String> {
    COMMANDS
        .iter()
        .map(|args| {
            let mut with_v = vec!["-v"];
            with_v.extend_from_slice(args);
            let out = ctx.dx(&with_v);
            assert!(out.success(), "{}", out.render());
            let stderr = out.stderr_text();
            assert!(stderr.contains(expected), "dx {args:?}:\n{}", out.render());
            out.stdout_text()
        })
        .collect()
}

fn remove_compiled_layouts(ctx: &TestContext) -> usize {
    let dir = ctx.store.join("v1/dxl");
    let mut removed = 0;
    for entry in std::fs::read_dir(&dir).expect("the store has a dxl directory") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
        removed += 1;
    }
    removed
}

#[test]
fn list_and_why_print_the_same_from_the_stored_layout_as_from_planning() {
    let ctx = project();
    ctx.dx_ok(&["install", "--materialize"]);
    let stored = outputs(&ctx, FROM_STORE);
    // The tree has what the comparison is about: nesting, members, directory links.
    let all = &stored[1];
    for expected in [
        "dep-c@2.0.0",
        "m@1.0.0 -> ./packages/m",
        "@scope/n@0.1.0 -> ./packages/n",
        "lib@0.1.0 -> ./libs/lib",
        "outside@file:../outside",
        "hello@1.0.0",
    ] {
        assert!(all.contains(expected), "{expected} in {all}");
    }
    assert!(
        remove_compiled_layouts(&ctx) >= 3,
        "the root's and the two members' layouts"
    );
    let planned = outputs(&ctx, PLANNED);
    for ((args, from_store), from_plan) in COMMANDS.iter().zip(&stored).zip(&planned) {
        assert_eq!(from_store, from_plan, "dx {args:?}");
    }
}

#[test]
fn a_layout_compiled_for_an_earlier_lock_is_not_used() {
    let ctx = project();
    ctx.dx_ok(&["install", "--materialize"]);
    outputs(&ctx, FROM_STORE);
    // dx.lock changes (a new dependency) without a layout compiled for it: the old one stays
    // in the store and must not be shown.
    let mut manifest: serde_json::Value = serde_json::from_str(&ctx.read("package.json")).unwrap();
    manifest["dependencies"]["util"] = json!("^3.0.0");
    ctx.package_json(manifest);
    ctx.dx_ok(&["install", "--lockfile-only"]);
    let out = ctx.dx(&["-v", "ls"]);
    assert!(out.success(), "{}", out.render());
    let stderr = out.stderr_text();
    assert!(stderr.contains(PLANNED), "{}", out.render());
    assert!(out.stdout_text().contains("util@3.0.0"), "{}", out.render());
    // Installed again, it is read from the store again, and shows the same.
    let planned = out.stdout_text();
    ctx.dx_ok(&["install", "--materialize"]);
    let out = ctx.dx(&["-v", "ls"]);
    let stderr = out.stderr_text();
    assert!(stderr.contains(FROM_STORE), "{}", out.render());
    assert_eq!(out.stdout_text(), planned);
}
