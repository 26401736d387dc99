//! `dx run` and `dx exec` across workspace members: `-r`/`--workspaces`, `--filter`, `-w`,
//! `-W`, `--if-present`, a failing member. The workspace has no registry dependencies (members
//! depend on each other by `workspace:*` and a plain range) and no install is needed: the
//! scripts only echo and append to `$INIT_CWD/order.txt`.

use serde_json::json;

use crate::snapshot::assert_dx_snapshot;
use crate::support::TestContext;

/// utils ← ui ← app (app also names utils by a plain range); `docs` depends on nothing and
/// has no `build`. Every `build` appends the member's name to order.txt; `lint` exists in ui
/// and app only; ui's `test` fails with code 3.
fn workspace() -> TestContext {
    let ctx = TestContext::new();
    ctx.package_json(json!({
        "name": "monorepo", "private": true,
        "workspaces": ["packages/*", "apps/*"],
        "scripts": { "build": "echo root >> order.txt" }
    }));
    let member = |path: &str, manifest: serde_json::Value| {
        ctx.write(
            &format!("{path}/package.json"),
            &serde_json::to_string_pretty(&manifest).unwrap(),
        );
    };
    let build = "echo \"building $npm_package_name\" && echo \"$npm_package_name\" >> \"$INIT_CWD/order.txt\"";
    member(
        "packages/utils",
        json!({
            "name": "@demo/utils", "version": "1.0.0",
            "scripts": {
                "build": build,
                "test": "echo \"$npm_package_name\" >> \"$INIT_CWD/tested.txt\"",
                // Waits (up to 5 s) for ui's `dev`, which depends on it: only --parallel
                // runs both at once.
                "dev": "i=0; while [ ! -f \"$INIT_CWD/ui-started\" ]; do i=$((i+1)); [ $i -gt 100 ] && exit 9; sleep 0.05; done; echo saw ui"
            }
        }),
    );
    member(
        "packages/ui",
        json!({
            "name": "@demo/ui", "version": "1.0.0",
            "dependencies": { "@demo/utils": "workspace:*" },
            "scripts": {
                "prebuild": "echo \"prebuild of $npm_package_name\"",
                "build": build,
                "lint": "echo linted ui",
                "dev": "touch \"$INIT_CWD/ui-started\"",
                "test": "echo ui fails >&2; exit 3"
            }
        }),
    );
    member(
        "apps/app",
        json!({
            "name": "app", "version": "1.0.0",
            "dependencies": { "@demo/ui": "workspace:^" },
            "devDependencies": { "@demo/utils": "^1.0.0" },
            "scripts": {
                "build": build,
                "lint": "echo linted app",
                "test": "echo \"$npm_package_name\" >> \"$INIT_CWD/tested.txt\""
            }
        }),
    );
    ctx
}

fn lines(ctx: &TestContext, rel: &str) -> Vec<String> {
    std::fs::read_to_string(ctx.path(rel))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn run_recursive_goes_in_topological_order_with_prefixed_output() {
    let ctx = workspace();
    let out = ctx.dx(&["run", "build", "-r"]);
    out.assert_code(0);
    assert_dx_snapshot!("run_build_recursive", out);
    // Dependencies first; the root's own `build` is not a member's.
    assert_eq!(lines(&ctx, "order.txt"), ["@demo/utils", "@demo/ui", "app"]);

    // The flags may come before the script too, and --workspaces is npm's spelling.
    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    ctx.dx(&["run", "--workspaces", "build"]).assert_code(0);
    assert_eq!(lines(&ctx, "order.txt"), ["@demo/utils", "@demo/ui", "app"]);
}

#[test]
fn filter_selectors_pick_members_and_their_dependencies_or_dependents() {
    let ctx = workspace();
    let out = ctx.dx(&["run", "build", "--filter", "@demo/ui..."]);
    out.assert_code(0);
    assert_eq!(lines(&ctx, "order.txt"), ["@demo/utils", "@demo/ui"]);
    assert!(
        out.stdout_text().contains("@demo/ui: building @demo/ui\n"),
        "{}",
        out.render()
    );

    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    ctx.dx(&["run", "build", "--filter", "...^@demo/utils"])
        .assert_code(0);
    assert_eq!(lines(&ctx, "order.txt"), ["@demo/ui", "app"]);

    // One member runs as a plain `dx run` does: no prefix.
    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    let out = ctx.dx(&["run", "build", "--filter", "./apps/app"]);
    out.assert_code(0);
    assert_eq!(out.stdout_text(), "building app\n");
    assert_eq!(lines(&ctx, "order.txt"), ["app"]);

    let out = ctx.dx(&["run", "build", "--filter", "nothing-here"]);
    out.assert_code(1);
    assert_dx_snapshot!("run_filter_matches_nothing", out);
}

#[test]
fn a_missing_script_is_an_error_unless_if_present() {
    let ctx = workspace();
    let out = ctx.dx(&["run", "lint", "-r"]);
    out.assert_code(1);
    assert_dx_snapshot!("run_missing_script_in_a_member", out);
    assert!(
        out.stdout_text().is_empty(),
        "nothing ran: {}",
        out.render()
    );

    let out = ctx.dx(&["run", "lint", "-r", "--if-present"]);
    out.assert_code(0);
    assert_eq!(out.stdout_text(), "@demo/ui: linted ui\napp: linted app\n");
}

#[test]
fn a_failing_member_stops_the_run_with_its_exit_code() {
    let ctx = workspace();
    let out = ctx.dx(&["run", "test", "-r"]);
    out.assert_code(3);
    assert_dx_snapshot!("run_failing_member", out);
    // utils ran before ui failed; app, which depends on ui, never started.
    assert_eq!(lines(&ctx, "tested.txt"), ["@demo/utils"]);
}

#[test]
fn members_are_selected_by_name_directory_and_the_root_by_w() {
    let ctx = workspace();
    ctx.dx(&["run", "build", "-w", "app", "-w", "packages/utils"])
        .assert_code(0);
    assert_eq!(lines(&ctx, "order.txt"), ["@demo/utils", "app"]);

    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    ctx.dx(&["run", "build", "-W"]).assert_code(0);
    assert_eq!(lines(&ctx, "order.txt"), ["root"]);

    // In a member's directory, `dx run` is the member's script; -W is the root's from there.
    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    let member = ctx.path("packages/ui");
    let out = ctx.dx_with(&["run", "build"], |c| {
        c.current_dir(&member);
    });
    out.assert_code(0);
    assert_eq!(
        out.stdout_text(),
        "prebuild of @demo/ui\nbuilding @demo/ui\n"
    );
    let out = ctx.dx_with(&["run", "build", "-W"], |c| {
        c.current_dir(&member);
    });
    out.assert_code(0);
    // INIT_CWD stays where dx started: the member's build wrote there, the root's in the root.
    assert_eq!(lines(&ctx, "packages/ui/order.txt"), ["@demo/ui"]);
    assert_eq!(lines(&ctx, "order.txt"), ["root"]);
}

#[test]
fn exec_in_a_member_finds_its_bins_then_the_roots() {
    use std::os::unix::fs::PermissionsExt as _;
    let ctx = workspace();
    let bin = |rel: &str, text: &str| {
        let path = ctx.write(
            rel,
            &format!("#!/bin/sh\necho {text} \"$(basename \"$PWD\")\" \"$@\"\n"),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    bin("node_modules/.bin/hello", "root-hello");
    bin("packages/ui/node_modules/.bin/tool", "ui-tool");
    bin("node_modules/.bin/tool", "root-tool");
    let member = ctx.path("packages/ui");
    let out = ctx.dx_with(&["exec", "hello", "x"], |c| {
        c.current_dir(&member);
    });
    out.assert_code(0);
    assert_eq!(out.stdout_text(), "root-hello ui x\n");
    let out = ctx.dx_with(&["exec", "tool"], |c| {
        c.current_dir(&member);
    });
    assert_eq!(out.stdout_text(), "ui-tool ui\n");

    // With a selection, in each member, prefixed, dependencies first.
    let out = ctx.dx(&["exec", "-r", "hello"]);
    out.assert_code(0);
    assert_eq!(
        out.stdout_text(),
        "@demo/utils: root-hello utils\n@demo/ui: root-hello ui\napp: root-hello app\n"
    );
}

#[test]
fn parallel_starts_every_member_at_once() {
    let ctx = workspace();
    let out = ctx.dx(&["run", "dev", "-r", "--parallel", "--if-present"]);
    out.assert_code(0);
    assert!(
        out.stdout_text().contains("@demo/utils: saw ui\n"),
        "{}",
        out.render()
    );
}

#[test]
fn a_selection_that_matches_nothing_edits_nothing() {
    let ctx = workspace();
    let before = ctx.read("packages/ui/package.json");
    let out = ctx.dx(&["add", "-w", "missing", "left-pad"]);
    out.assert_code(1);
    assert_dx_snapshot!("add_to_a_missing_member", out);
    let out = ctx.dx(&["remove", "--filter", "./nowhere", "@demo/utils"]);
    out.assert_code(1);
    assert!(
        out.stderr_text()
            .contains("--filter `./nowhere`: matches no workspace member"),
        "{}",
        out.render()
    );
    assert_eq!(ctx.read("packages/ui/package.json"), before);

    // Outside a workspace, the flags are an error saying so.
    let solo = TestContext::new();
    solo.package_json(json!({"name": "solo", "scripts": {"build": "echo hi"}}));
    let out = solo.dx(&["run", "build", "-r"]);
    out.assert_code(1);
    assert!(
        out.stderr_text()
            .contains("-r/--workspaces needs a workspace"),
        "{}",
        out.render()
    );
}
