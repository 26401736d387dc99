//! The install engine's contract seen from the command line: `--offline` never downloads, the
//! linker choice is remembered per project, a failed edit changes nothing whatever step failed,
//! and `--json` prints exactly one JSON document for every command and every path.

use serde_json::Value;

use crate::support::{TestContext, describe, fuse_available, is_mountpoint};

/// A project on the shared fixtures (`pad`, `util`, `dep` → `vuln` with an advisory).
fn context(manifest: &str) -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.write("package.json", manifest);
    ctx
}

/// Parses `stdout` as exactly one JSON document.
fn one_document(args: &[&str], stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("dx {args:?} --json: not JSON ({e}): {text}"));
    assert_eq!(
        docs.len(),
        1,
        "dx {args:?} --json printed {}: {text}",
        docs.len()
    );
    docs.into_iter().next().unwrap()
}

/// Runs `dx <args> --json` (success expected unless `ok` is false) and returns its document.
fn json_of(ctx: &TestContext, args: &[&str], ok: bool) -> Value {
    let mut full = args.to_vec();
    full.push("--json");
    let out = ctx.dx(&full);
    assert_eq!(out.status.success(), ok, "dx {full:?}: {}", describe(&out));
    one_document(args, &out.stdout)
}

fn keys(doc: &Value, expected: &[&str], what: &str) {
    for key in expected {
        assert!(doc.get(key).is_some(), "{what}: no `{key}` in {doc}");
    }
}

#[test]
fn offline_with_an_empty_store_fails_naming_the_first_missing_package() {
    let ctx = context(r#"{ "name": "app", "dependencies": { "pad": "^1.0.0" } }"#);
    ctx.dx_ok(&["install", "--lockfile-only"]);
    let out = ctx.dx(&["install", "--offline", "--materialize"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("--offline: pad@1.1.0 is not in the store"),
        "{stderr}"
    );
    assert!(!ctx.path("node_modules/pad").exists(), "nothing installed");
    // Online it installs; offline again it then works from the store.
    ctx.dx_ok(&["install", "--materialize"]);
    std::fs::remove_dir_all(ctx.path("node_modules")).unwrap();
    ctx.dx_ok(&["install", "--offline", "--materialize"]);
    assert!(ctx.path("node_modules/pad/index.js").is_file());
}

#[test]
fn a_materialized_project_stays_materialized_on_the_next_add_and_install() {
    if !fuse_available("a_materialized_project_stays_materialized_on_the_next_add_and_install") {
        return;
    }
    let ctx = context(r#"{ "name": "app", "dependencies": { "pad": "^1.0.0" } }"#);
    ctx.dx_ok(&["install", "--materialize=copy"]);
    let nm = ctx.path("node_modules");
    assert!(!is_mountpoint(&nm));
    let doc = json_of(&ctx, &["add", "util@3.0.0"], true);
    assert_eq!(doc["node_modules"], "materialized", "{doc}");
    assert_eq!(doc["linkMode"], "copy", "{doc}");
    assert!(
        !is_mountpoint(&nm),
        "dx add switched the project to a mount"
    );
    assert!(ctx.path("node_modules/util/index.js").is_file());
    let doc = json_of(&ctx, &["install"], true);
    assert_eq!(doc["node_modules"], "materialized", "{doc}");
    // Asked otherwise, it mounts, and that choice is remembered in turn.
    let doc = json_of(&ctx, &["install", "--no-materialize"], true);
    assert_eq!(doc["node_modules"], "mounted", "{doc}");
    assert!(is_mountpoint(&nm));
    let doc = json_of(&ctx, &["remove", "util"], true);
    assert_eq!(doc["node_modules"], "mounted", "{doc}");
    ctx.dx_ok(&["unmount"]);
}

#[test]
fn a_failed_lifecycle_script_during_add_leaves_package_json_and_dx_lock_as_they_were() {
    let ctx = context(
        r#"{ "name": "app", "scripts": { "postinstall": "test -f allowed" }, "dependencies": { "pad": "1.0.0" } }"#,
    );
    ctx.write("allowed", "");
    ctx.dx_ok(&["install", "--materialize"]);
    let pj = std::fs::read(ctx.path("package.json")).unwrap();
    let lock = std::fs::read(ctx.path("dx.lock")).unwrap();
    std::fs::remove_file(ctx.path("allowed")).unwrap();
    for args in [
        &["add", "util"][..],
        &["remove", "pad"],
        &["update", "pad", "--latest"],
    ] {
        let out = ctx.dx(args);
        assert!(!out.status.success(), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("postinstall script failed"), "{stderr}");
        assert_eq!(
            std::fs::read(ctx.path("package.json")).unwrap(),
            pj,
            "{args:?}"
        );
        assert_eq!(
            std::fs::read(ctx.path("dx.lock")).unwrap(),
            lock,
            "{args:?}"
        );
    }
}

#[test]
fn every_command_prints_one_json_document_on_every_path() {
    let ctx = context(
        r#"{ "name": "app", "version": "1.0.0", "scripts": { "hello": "echo hi" }, "dependencies": { "pad": "1.0.0", "dep": "1.0.0" } }"#,
    );
    let install = [
        "path",
        "packages",
        "resolved",
        "downloaded",
        "node_modules",
        "milliseconds",
    ];
    let doc = json_of(&ctx, &["install", "--lockfile-only"], true);
    keys(&doc, &install, "lockfile-only");
    assert_eq!(doc["path"], "lockfile-only");
    assert_eq!(doc["node_modules"], Value::Null);
    let doc = json_of(&ctx, &["install", "--materialize"], true);
    keys(&doc, &install, "full install");
    assert_eq!(doc["path"], "full");
    assert_eq!(doc["node_modules"], "materialized");
    let doc = json_of(&ctx, &["install", "--materialize"], true);
    assert_eq!(
        doc["path"], "up-to-date",
        "the no-op prints its document too: {doc}"
    );
    let doc = json_of(&ctx, &["add", "util@3.0.0"], true);
    keys(&doc, &install, "add");
    assert_eq!(doc["changes"][0]["name"], "util", "{doc}");
    let doc = json_of(&ctx, &["update", "pad"], true);
    keys(&doc, &install, "update");
    let doc = json_of(&ctx, &["remove", "util"], true);
    assert_eq!(doc["changes"][0]["change"], "removed", "{doc}");
    keys(
        &json_of(&ctx, &["list"], true),
        &["name", "dependencies"],
        "list",
    );
    assert!(json_of(&ctx, &["why", "pad"], true).is_array());
    json_of(&ctx, &["outdated"], false);
    keys(
        &json_of(&ctx, &["audit"], false),
        &["vulnerabilities", "counts", "total"],
        "audit",
    );
    let doc = json_of(&ctx, &["audit", "fix", "--audit-level", "none"], true);
    keys(&doc, &["vulnerabilities", "fix"], "audit fix");
    keys(&doc["fix"]["install"], &install, "audit fix's install");
    keys(&json_of(&ctx, &["trust"], true), &["untrusted"], "trust");
    keys(&json_of(&ctx, &["run"], true), &["hello"], "run");
    keys(
        &json_of(&ctx, &["cache", "dir"], true),
        &["dir"],
        "cache dir",
    );
    keys(
        &json_of(&ctx, &["cache", "verify"], true),
        &["clean"],
        "cache verify",
    );
    // An error prints no document on stdout, only the one-line error on stderr.
    let out = ctx.dx(&["why", "no-such", "--json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    if fuse_available("every_command_prints_one_json_document_on_every_path") {
        keys(
            &json_of(&ctx, &["mount"], true),
            &["node_modules", "reloaded"],
            "mount",
        );
        keys(
            &json_of(&ctx, &["install"], true),
            &install,
            "install on the mount",
        );
        keys(&json_of(&ctx, &["unmount"], true), &["unmount"], "unmount");
    }
    keys(
        &json_of(&ctx, &["cache", "clean"], true),
        &["archivesRemoved"],
        "cache clean",
    );
    std::fs::write(ctx.path("package-lock.json"), r#"{ "name": "app", "lockfileVersion": 3, "packages": { "": { "dependencies": { "pad": "1.0.0" } }, "node_modules/pad": { "version": "1.0.0" } } }"#).unwrap();
    keys(
        &json_of(&ctx, &["migrate", "--force"], true),
        &["from", "packages", "kept", "dropped", "added"],
        "migrate",
    );
    let other = TestContext::new();
    keys(
        &json_of(&other, &["init"], true),
        &["name", "version"],
        "init",
    );
}
