//! The everyday commands end to end: `dx run` (and `dx <script>`), `dx exec`, `dx init`,
//! `dx list` and `dx why`, including their failure paths.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::fixtures::{Package, other_os};
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe, make_writable_and_remove};

/// A project depending on `dep-b@^2` and `dep-c@^1`, with `hello` as a devDependency, and
/// `scripts`. In the standard fixtures `dep-b` needs `dep-c@^2` and `dep-a@^1`, and `dep-a` needs
/// `dep-c@^1`, so npm's layout nests `dep-c@2` under `dep-b`; `hello` has a `hello-tool` command.
fn project_with_registry(scripts: Value) -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({
        "name": "app",
        "version": "1.0.0",
        "scripts": scripts,
        "dependencies": { "dep-b": "^2.0.0", "dep-c": "^1.0.0" },
        "devDependencies": { "hello": "^1.0.0" },
    }));
    ctx
}

/// A project with only `scripts` (no dependencies, no registry).
fn project(scripts: Value) -> TestContext {
    let ctx = TestContext::new();
    let manifest = json!({ "name": "app", "version": "1.0.0", "scripts": scripts });
    ctx.write(
        "package.json",
        &serde_json::to_string_pretty(&manifest).unwrap(),
    );
    ctx
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` failed with `code` and its stderr mentions every one of `needles`.
fn assert_fails(out: &Output, code: i32, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    for needle in needles {
        assert!(
            stderr(out).contains(needle),
            "stderr lacks {needle:?}:\n{}",
            describe(out)
        );
    }
}

#[test]
fn run_runs_pre_main_post_in_order_with_arguments_appended() {
    let ctx = project(json!({
        "prebuild": "echo pre >> order.txt",
        "build": "echo main >> order.txt && printf '[%s]'",
        "postbuild": "echo post >> order.txt",
    }));
    let out = ctx.dx_ok(&["run", "build", "--", "a b", "--flag", "it's"]);
    assert_eq!(out, "[a b][--flag][it's]");
    assert_eq!(
        std::fs::read_to_string(ctx.path("order.txt")).unwrap(),
        "pre\nmain\npost\n"
    );

    // Without `--`, and as `dx <script>` (Bun's shorthand); the arguments go to the script only.
    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    assert_eq!(ctx.dx_ok(&["run", "build", "--watch"]), "[--watch]");
    assert_eq!(ctx.dx_ok(&["build", "x", "--json"]), "[x][--json]");
    assert_eq!(
        std::fs::read_to_string(ctx.path("order.txt")).unwrap(),
        "pre\nmain\npost\npre\nmain\npost\n"
    );

    // --ignore-scripts skips the hooks.
    std::fs::remove_file(ctx.path("order.txt")).unwrap();
    ctx.dx_ok(&["run", "--ignore-scripts", "build"]);
    assert_eq!(
        std::fs::read_to_string(ctx.path("order.txt")).unwrap(),
        "main\n"
    );
}

#[test]
fn run_alone_lists_the_scripts() {
    let ctx = project(json!({ "test": "vitest", "build": "tsc -p ." }));
    let out = ctx.dx_ok(&["run"]);
    assert_eq!(
        out,
        "Lifecycle scripts included in app@1.0.0:\n  test\n    vitest\navailable via `dx run`:\n  build\n    tsc -p .\n"
    );
    let json: Value = serde_json::from_str(&ctx.dx_ok(&["run", "--json"])).unwrap();
    assert_eq!(json, json!({ "test": "vitest", "build": "tsc -p ." }));
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "scripts": { "build": "tsc" } }"#,
    );
    assert_eq!(
        ctx.dx_ok(&["run"]),
        "Scripts available in app@1.0.0 via `dx run`:\n  build\n    tsc\n"
    );
}

#[test]
fn run_sets_npms_environment_and_runs_in_the_package_directory() {
    let ctx = project(json!({
        "show": "printf '%s\\n' \"$npm_lifecycle_event\" \"$npm_lifecycle_script\" \"$npm_package_name\" \"$npm_package_version\" \"$npm_package_json\" \"$npm_config_user_agent\" \"$INIT_CWD\" \"$npm_execpath\" \"$(pwd)\"",
    }));
    std::fs::create_dir_all(ctx.path("src/deep")).unwrap();
    let out = ctx.dx_with(&["run", "show"], |cmd| {
        cmd.current_dir(ctx.path("src/deep"));
    });
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let project = std::fs::canonicalize(&ctx.project).unwrap();
    assert_eq!(lines[0], "show");
    assert!(
        lines[1].starts_with("printf '%s\\n' \"$npm_lifecycle_event\""),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "app");
    assert_eq!(lines[3], "1.0.0");
    assert_eq!(Path::new(lines[4]), project.join("package.json"));
    assert!(
        lines[5].starts_with(&format!("dx/{} ", env!("CARGO_PKG_VERSION"))),
        "{}",
        lines[5]
    );
    assert_eq!(
        Path::new(lines[6]),
        project.join("src/deep"),
        "INIT_CWD is where dx was started"
    );
    assert_eq!(
        std::fs::canonicalize(lines[7]).unwrap(),
        std::fs::canonicalize(env!("CARGO_BIN_EXE_dx")).unwrap()
    );
    assert_eq!(
        Path::new(lines[8]),
        project,
        "scripts run in the package's directory"
    );
}

#[test]
fn run_passes_the_exit_code_through_and_stops_at_a_failing_pre_script() {
    let ctx = project(json!({
        "fail": "exit 3",
        "prestop-early": "exit 4",
        "stop-early": "echo main-ran",
        "postfail": "echo post-ran",
    }));
    let out = ctx.dx(&["run", "fail"]);
    assert_fails(&out, 3, &["script `fail` exited with code 3"]);
    assert!(
        !stdout(&out).contains("post-ran"),
        "post runs only after success:\n{}",
        describe(&out)
    );
    assert_eq!(
        ctx.dx(&["fail"]).status.code(),
        Some(3),
        "the same through `dx <script>`"
    );

    let out = ctx.dx(&["run", "stop-early"]);
    assert_fails(&out, 4, &["script `prestop-early` exited with code 4"]);
    assert!(!stdout(&out).contains("main-ran"), "{}", describe(&out));
}

#[test]
fn unknown_scripts_and_commands_fail_with_a_suggestion() {
    let ctx = project(json!({ "build": "true", "lint": "true" }));
    let out = ctx.dx(&["run", "biuld"]);
    assert_fails(&out, 1, &["no script `biuld`", "did you mean `build`?"]);
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one line:\n{}",
        describe(&out)
    );
    assert_dx_snapshot!("run_unknown_script", out);

    // Neither a command nor a script: a usage error, as any unknown command.
    let out = ctx.dx(&["biuld"]);
    assert_fails(
        &out,
        2,
        &[
            "`biuld` is neither a dx command nor a script",
            "did you mean `build`?",
        ],
    );
    assert_dx_snapshot!("unknown_command_like_a_script", out);
    let out = ctx.dx(&["instal"]);
    assert_fails(
        &out,
        2,
        &[
            "neither a dx command nor a script",
            "did you mean `install`?",
        ],
    );
    assert_dx_snapshot!("unknown_command_like_a_command", out);
    let out = ctx.dx(&["zzzzzzzz"]);
    assert_fails(&out, 2, &["neither a dx command nor a script"]);
    assert!(!stderr(&out).contains("did you mean"), "{}", describe(&out));
    assert_dx_snapshot!("unknown_command_like_nothing", out);

    // --if-present: a missing script is fine.
    ctx.dx_ok(&["run", "--if-present", "deploy"]);
    // No package.json at all.
    std::fs::remove_file(ctx.path("package.json")).unwrap();
    assert_fails(
        &ctx.dx(&["run", "build"]),
        1,
        &["no package.json", "dx init"],
    );
}

#[test]
fn installed_bins_are_on_path_for_scripts_and_exec() {
    let ctx = project_with_registry(json!({ "greet": "hello-tool from-script" }));
    ctx.dx_ok(&["install", "--materialize"]);
    assert_eq!(
        ctx.dx_ok(&["run", "greet"]),
        "hello-tool says: from-script\n"
    );

    // A nested package without its own node_modules finds the project's .bin, as under npm.
    ctx.write(
        "packages/sub/package.json",
        r#"{ "name": "sub", "scripts": { "t": "hello-tool nested" } }"#,
    );
    let out = ctx.dx_with(&["run", "t"], |cmd| {
        cmd.current_dir(ctx.path("packages/sub"));
    });
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "hello-tool says: nested\n");

    assert_eq!(
        ctx.dx_ok(&["exec", "hello-tool", "a b", "--flag"]),
        "hello-tool says: a b --flag\n"
    );
    assert_eq!(
        ctx.dx_ok(&["x", "hello-tool", "--", "short"]),
        "hello-tool says: short\n"
    );
    // The command's exit status is dx's.
    let out = ctx.dx_with(&["exec", "hello-tool"], |cmd| {
        cmd.env("HELLO_EXIT", "7");
    });
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
}

#[test]
fn exec_of_a_missing_command_says_what_to_do() {
    let ctx = project_with_registry(json!({}));
    ctx.dx_ok(&["install", "--materialize"]);
    let out = ctx.dx(&["exec", "tsc"]);
    assert_fails(&out, 1, &["`tsc` is not installed", "dx add -D"]);
    assert_dx_snapshot!("exec_not_installed", out);
    let out = ctx.dx(&["exec", "helo-tool"]);
    assert_fails(&out, 1, &["did you mean `hello-tool`?"]);
    assert_dx_snapshot!("exec_typo", out);
    let out = ctx.dx(&["exec", "../x"]);
    assert_fails(&out, 1, &["not a command name"]);
    assert_dx_snapshot!("exec_not_a_name", out);
    // In dx.lock but node_modules is gone: install, do not download.
    make_writable_and_remove(&ctx.path("node_modules"));
    let out = ctx.dx(&["exec", "hello-tool"]);
    assert_fails(
        &out,
        1,
        &[
            "`hello-tool` comes from hello@1.0.0 in dx.lock",
            "dx install",
        ],
    );
    assert_dx_snapshot!("exec_without_node_modules", out);
}

#[test]
fn init_writes_npms_package_json_and_never_overwrites() {
    let ctx = TestContext::new();
    let dir = ctx.path("My Cool_App");
    std::fs::create_dir_all(&dir).unwrap();
    let out = ctx.dx_with(&["init"], |cmd| {
        cmd.current_dir(&dir);
    });
    assert!(out.status.success(), "{}", describe(&out));
    // Byte for byte what `npm init -y` (npm 10/11) writes in a directory of that name.
    let expected = "{\n  \"name\": \"my-cool_app\",\n  \"version\": \"1.0.0\",\n  \"description\": \"\",\n  \"main\": \"index.js\",\n  \"scripts\": {\n    \"test\": \"echo \\\"Error: no test specified\\\" && exit 1\"\n  },\n  \"keywords\": [],\n  \"author\": \"\",\n  \"license\": \"ISC\",\n  \"type\": \"commonjs\"\n}\n";
    assert_eq!(
        std::fs::read_to_string(dir.join("package.json")).unwrap(),
        expected
    );
    assert!(stdout(&out).starts_with("Wrote to "), "{}", describe(&out));

    // A second init (with or without -y) refuses and leaves the file alone.
    std::fs::write(dir.join("package.json"), "{ \"name\": \"mine\" }\n").unwrap();
    let out = ctx.dx_with(&["init", "-y"], |cmd| {
        cmd.current_dir(&dir);
    });
    assert_fails(&out, 1, &["already exists", "never overwrites"]);
    assert_dx_snapshot!("init_refuses_to_overwrite", out);
    assert_eq!(
        std::fs::read_to_string(dir.join("package.json")).unwrap(),
        "{ \"name\": \"mine\" }\n"
    );

    // --json prints the written manifest.
    let out = ctx.dx_ok(&["init", "--yes", "--json"]);
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["name"], "project");
    assert_eq!(json["type"], "commonjs");
}

#[test]
fn list_prints_the_tree_like_npm_ls() {
    let ctx = project_with_registry(json!({}));
    // From dx.lock alone: no node_modules.
    ctx.dx_ok(&["install", "--lockfile-only"]);
    assert!(!ctx.path("node_modules").exists());
    // Each tree is exact: the root line (`app@1.0.0 [CTX]/project`), then npm's drawing.
    let root = format!("app@1.0.0 {}", ctx.project.display());
    for (name, args) in [
        ("list", &["list"][..]),
        ("list_all", &["ls", "--all"]),
        ("list_depth_1_prod", &["ls", "--depth", "1", "--prod"]),
        ("list_dev", &["ls", "--dev"]),
        ("list_omit_dev", &["ls", "--omit", "dev"]),
    ] {
        let out = ctx.dx(args);
        assert!(
            out.stdout_text().starts_with(&format!("{root}\n")),
            "{}",
            out.render()
        );
        assert_dx_snapshot!(name, out.assert_code(0));
    }

    let json: Value = serde_json::from_str(&ctx.dx_ok(&["ls", "--all", "--json"])).unwrap();
    assert_eq!(json["name"], "app");
    assert_eq!(json["version"], "1.0.0");
    let dep_b = &json["dependencies"]["dep-b"];
    assert_eq!(dep_b["version"], "2.0.0");
    assert!(
        dep_b["resolved"]
            .as_str()
            .unwrap()
            .starts_with(ctx.registry_url()),
        "{json}"
    );
    assert_eq!(dep_b["dependencies"]["dep-c"]["version"], "2.0.0");
    assert_eq!(
        dep_b["dependencies"]["dep-a"]["dependencies"]["dep-c"]["version"],
        "1.0.0"
    );
    assert!(json["dependencies"]["dep-c"].get("dependencies").is_none());
    let shallow: Value = serde_json::from_str(&ctx.dx_ok(&["ls", "--json"])).unwrap();
    assert!(
        shallow["dependencies"]["dep-b"]
            .get("dependencies")
            .is_none(),
        "depth 0 by default: {shallow}"
    );
}

#[test]
fn list_shows_an_optional_package_of_another_platform_as_unmet() {
    let ctx = TestContext::builder()
        .package(
            Package::new("native", "1.0.0")
                .manifest(json!({ "os": [other_os()] }))
                .file("index.js", ""),
        )
        .build();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "dep-c": "^1.0.0" }, "optionalDependencies": { "native": "^1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--lockfile-only"]);
    let root = format!("app@1.0.0 {}", ctx.project.display());
    assert_eq!(
        ctx.dx_ok(&["ls"]),
        format!("{root}\n├── dep-c@1.0.0\n└── UNMET OPTIONAL DEPENDENCY native@^1.0.0\n")
    );
    assert_dx_snapshot!("list_unmet_optional", ctx.dx(&["ls"]));
    assert_eq!(
        ctx.dx_ok(&["ls", "--omit", "optional"]),
        format!("{root}\n└── dep-c@1.0.0\n")
    );
    let json: Value = serde_json::from_str(&ctx.dx_ok(&["ls", "--json"])).unwrap();
    assert_eq!(
        json["dependencies"]["native"],
        json!({ "required": "^1.0.0", "missing": true, "optional": true })
    );
    // Not installed here, so `why` does not know it either.
    let out = ctx.dx(&["why", "native"]);
    assert_fails(&out, 1, &["`native` is not installed"]);
    assert_dx_snapshot!("why_not_installed_optional", out);
}

#[test]
fn list_and_why_need_a_lockfile() {
    let ctx = project_with_registry(json!({}));
    let out = ctx.dx(&["list"]);
    assert_fails(&out, 1, &["no dx.lock", "dx install"]);
    assert_dx_snapshot!("list_without_lockfile", out);
    let out = ctx.dx(&["why", "dep-c"]);
    assert_fails(&out, 1, &["no dx.lock", "dx install"]);
    assert_dx_snapshot!("why_without_lockfile", out);
}

#[test]
fn why_shows_every_path_with_specifiers() {
    let ctx = project_with_registry(json!({}));
    ctx.dx_ok(&["install", "--lockfile-only"]);
    // Every path to each version of `dep-c`, then a dev dependency, then one version by range.
    for (name, args) in [
        ("why_every_version", &["why", "dep-c"][..]),
        ("why_dev", &["why", "hello"]),
        ("why_by_range", &["why", "dep-c@^2"]),
    ] {
        assert_dx_snapshot!(name, ctx.dx(args).assert_code(0));
    }

    let json: Value = serde_json::from_str(&ctx.dx_ok(&["why", "dep-a", "--json"])).unwrap();
    assert_eq!(json[0]["name"], "dep-a");
    assert_eq!(json[0]["locations"], json!(["node_modules/dep-a"]));
    let dependent = &json[0]["dependents"][0];
    assert_eq!(dependent["spec"], "^1.0.0");
    assert_eq!(dependent["from"]["name"], "dep-b");
    assert_eq!(dependent["from"]["dependents"][0]["type"], "prod");

    let out = ctx.dx(&["why", "hellp"]);
    assert_fails(
        &out,
        1,
        &["`hellp` is not installed", "did you mean `hello`?"],
    );
    assert_dx_snapshot!("why_typo", out);
    let out = ctx.dx(&["why", "dep-c@^3"]);
    assert_fails(
        &out,
        1,
        &[
            "no installed version of `dep-c` matches `^3`",
            "1.0.0, 2.0.0",
        ],
    );
    assert_dx_snapshot!("why_no_matching_version", out);
}

#[test]
fn help_shows_examples_and_nothing_unbuilt_as_built() {
    let ctx = TestContext::new();
    for command in [
        "run", "exec", "init", "list", "why", "add", "update", "audit", "outdated", "migrate",
        "trust",
    ] {
        let help = ctx.dx_ok(&[command, "--help"]);
        assert!(help.contains("Examples:"), "dx {command} --help:\n{help}");
    }
    let help = ctx.dx_ok(&["--help"]);
    assert!(help.contains("Examples:"), "{help}");
    assert!(
        !help.contains("not built"),
        "every listed command is built:\n{help}"
    );
}
