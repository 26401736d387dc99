//! `dx migrate` end to end: package-lock.json, bun.lock and yarn.lock written for dx's test
//! registry are imported with their (older than newest) versions kept, then installed frozen.

use std::path::{Path, PathBuf};

use dx_formats::hash::{IntegrityAlgorithm, IntegrityHasher};
use dx_net::{TestRegistry, write_test_package};
use serde_json::json;

use crate::support::{TestContext, describe};

struct Published {
    integrity: String,
    url: String,
}

/// `a` 1.0.0 and 1.1.0 (each depending on `b@^1`), `b` 1.0.0 and 1.5.0: a fresh resolution
/// picks a@1.1.0 and b@1.5.0; the lockfiles below pin a@1.0.0 and b@1.0.0.
fn registry(dir: &Path) -> (TestRegistry, impl Fn(&str, &str) -> Published + use<>) {
    let mut paths: Vec<(String, PathBuf)> = Vec::new();
    for v in ["1.0.0", "1.1.0"] {
        let path = write_test_package(
            dir,
            "a",
            v,
            json!({ "dependencies": { "b": "^1.0.0" }, "bin": { "a": "a.js" } }),
            &[("a.js", b"#!/usr/bin/env node\n")],
        );
        paths.push((format!("a@{v}"), path));
    }
    for v in ["1.0.0", "1.5.0"] {
        let path = write_test_package(
            dir,
            "b",
            v,
            json!({}),
            &[("index.js", format!("module.exports = '{v}';\n").as_bytes())],
        );
        paths.push((format!("b@{v}"), path));
    }
    let registry = TestRegistry::start(dir);
    let base = registry.url().trim_end_matches('/').to_owned();
    let published = move |name: &str, version: &str| {
        let key = format!("{name}@{version}");
        let path = &paths.iter().find(|(k, _)| *k == key).expect("published").1;
        let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
        hasher.update(&std::fs::read(path).unwrap());
        Published {
            integrity: hasher.finish().to_string(),
            url: format!("{base}/{name}/-/{name}-{version}.tgz"),
        }
    };
    (registry, published)
}

fn context() -> (TestContext, TestRegistry, impl Fn(&str, &str) -> Published) {
    let ctx = TestContext::new();
    let (registry, published) = registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "a": "^1.0.0" } }"#,
    );
    (ctx, registry, published)
}

fn assert_pinned_and_installs(ctx: &TestContext, from: &str) {
    let out = ctx.dx_ok(&["migrate"]);
    assert!(
        out.contains(&format!(
            "dx.lock written from {from}: 2 packages, 2 of 2 versions kept"
        )),
        "{out}"
    );
    let lock = std::fs::read_to_string(ctx.path("dx.lock")).unwrap();
    assert!(
        lock.contains("package a@1.0.0") && lock.contains("package b@1.0.0"),
        "{lock}"
    );
    ctx.dx_ok(&["install", "--frozen-lockfile", "--materialize"]);
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/b/index.js")).unwrap(),
        "module.exports = '1.0.0';\n"
    );
    assert!(
        ctx.path("node_modules/.bin/a").symlink_metadata().is_ok(),
        "bin linked"
    );
}

#[test]
fn migrates_package_lock_keeping_versions() {
    let (ctx, _registry, published) = context();
    let (a, b) = (published("a", "1.0.0"), published("b", "1.0.0"));
    let lock = json!({
        "name": "app", "lockfileVersion": 3, "requires": true,
        "packages": {
            "": { "name": "app", "dependencies": { "a": "^1.0.0" } },
            "node_modules/a": { "version": "1.0.0", "resolved": a.url, "integrity": a.integrity, "dependencies": { "b": "^1.0.0" }, "bin": { "a": "a.js" } },
            "node_modules/b": { "version": "1.0.0", "resolved": b.url, "integrity": b.integrity }
        }
    });
    ctx.write(
        "package-lock.json",
        &serde_json::to_string_pretty(&lock).unwrap(),
    );
    assert_pinned_and_installs(&ctx, "package-lock.json");

    // An existing dx.lock is not replaced without --force.
    let out = ctx.dx(&["migrate"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        describe(&out)
    );
    ctx.dx_ok(&["migrate", "--force"]);
}

#[test]
fn migrates_bun_lock_and_yarn_lock() {
    let (ctx, _registry, published) = context();
    let (a, b) = (published("a", "1.0.0"), published("b", "1.0.0"));
    ctx.write(
        "bun.lock",
        &format!(
            "{{\n  \"lockfileVersion\": 1,\n  \"workspaces\": {{ \"\": {{ \"name\": \"app\", \"dependencies\": {{ \"a\": \"^1.0.0\", }}, }}, }},\n  \"packages\": {{\n    \"a\": [\"a@1.0.0\", \"{}\", {{ \"dependencies\": {{ \"b\": \"^1.0.0\" }}, \"bin\": {{ \"a\": \"a.js\" }} }}, \"{}\"],\n    \"b\": [\"b@1.0.0\", \"\", {{}}, \"{}\"],\n  }}\n}}\n",
            a.url, a.integrity, b.integrity
        ),
    );
    assert_pinned_and_installs(&ctx, "bun.lock");

    std::fs::remove_file(ctx.path("bun.lock")).unwrap();
    std::fs::remove_file(ctx.path("dx.lock")).unwrap();
    ctx.write(
        "yarn.lock",
        &format!(
            "# yarn lockfile v1\n\n\na@^1.0.0:\n  version \"1.0.0\"\n  resolved \"{}\"\n  integrity {}\n  dependencies:\n    b \"^1.0.0\"\n\nb@^1.0.0:\n  version \"1.0.0\"\n  resolved \"{}\"\n  integrity {}\n",
            a.url, a.integrity, b.url, b.integrity
        ),
    );
    assert_pinned_and_installs(&ctx, "yarn.lock");
}

#[test]
fn migrate_refuses_what_it_cannot_read() {
    let (ctx, _registry, _published) = context();
    let out = ctx.dx(&["migrate"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no lockfile to migrate"),
        "{}",
        describe(&out)
    );

    ctx.write("pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    let out = ctx.dx(&["migrate"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pnpm-lock.yaml"),
        "{}",
        describe(&out)
    );

    ctx.write(
        "package-lock.json",
        "{ \"lockfileVersion\": 3, \"packages\": ",
    );
    let out = ctx.dx(&["migrate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("package-lock.json is not valid JSON"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!ctx.path("dx.lock").exists(), "nothing written");
}
