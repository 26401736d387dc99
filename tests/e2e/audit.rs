//! `dx audit` and `dx outdated` end to end against dx's registry server, which serves the bulk
//! advisory endpoint from `advisories.json` in its directory.

use std::path::Path;

use dx_net::{TestRegistry, write_test_package};
use serde_json::{Value, json};

use crate::support::{TestContext, describe};

fn publish(dir: &Path, name: &str, version: &str, deps: Value) {
    write_test_package(
        dir,
        name,
        version,
        json!({ "dependencies": deps }),
        &[("index.js", b"module.exports = 1;\n")],
    );
}

/// `dep` depends on `vuln@^1.0.0`; only vuln 1.0.0 exists at first; `ok` is clean.
fn context() -> (TestContext, TestRegistry) {
    let ctx = TestContext::new();
    let dir = ctx.home.join("registry");
    publish(&dir, "vuln", "1.0.0", json!({}));
    publish(&dir, "dep", "1.0.0", json!({ "vuln": "^1.0.0" }));
    publish(&dir, "ok", "1.0.0", json!({}));
    std::fs::write(
        dir.join("advisories.json"),
        serde_json::to_string(&json!({
            "vuln": [{ "id": 1001, "url": "https://example.invalid/advisories/1001", "title": "Prototype pollution",
                       "severity": "high", "vulnerable_versions": "<1.0.1", "cwe": [], "cvss": {} }],
            "ok": [{ "id": 1002, "url": "https://example.invalid/advisories/1002", "title": "Old bug",
                     "severity": "critical", "vulnerable_versions": "<0.5.0" }]
        }))
        .unwrap(),
    )
    .unwrap();
    let registry = TestRegistry::start(&dir);
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "dep": "^1.0.0", "ok": "^1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    (ctx, registry)
}

#[test]
fn audit_reports_by_severity_with_paths_and_fix_updates() {
    let (ctx, registry) = context();
    let out = ctx.dx(&["audit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stdout.contains("high      vuln@1.0.0  Prototype pollution"),
        "{stdout}"
    );
    assert!(stdout.contains("path: dep > vuln"), "{stdout}");
    assert!(stdout.contains("1 vulnerabilities (1 high)"), "{stdout}");
    assert!(
        !stdout.contains("Old bug"),
        "an advisory for other versions is not reported: {stdout}"
    );

    assert!(
        ctx.dx(&["audit", "--audit-level", "critical"])
            .status
            .success()
    );
    let json: Value = serde_json::from_slice(&ctx.dx(&["audit", "--json"]).stdout).unwrap();
    assert_eq!(json["total"], 1);
    assert_eq!(json["vulnerabilities"][0]["path"], json!(["dep", "vuln"]));
    assert_eq!(json["counts"]["high"], 1);

    // A fixed version appears; `audit fix` moves to it within dep's range.
    publish(&ctx.home.join("registry"), "vuln", "1.0.1", json!({}));
    registry.rescan().unwrap();
    let out = ctx.dx(&["audit", "fix", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fixed 1 of 1 vulnerabilities")
            && stdout.contains("found 0 vulnerabilities"),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(ctx.path("dx.lock"))
            .unwrap()
            .contains("package vuln@1.0.1")
    );
}

#[test]
fn audit_fails_clearly_when_the_endpoint_is_down() {
    let (ctx, _registry) = context();
    let out = ctx.dx(&["audit", "--registry", "http://127.0.0.1:9/"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot fetch security advisories"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let out = ctx.dx(&["audit", "--audit-level", "severe"]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--audit-level"),
        "{}",
        describe(&out)
    );
}

#[test]
fn outdated_lists_current_wanted_latest_and_exits_1() {
    let (ctx, registry) = context();
    let out = ctx.dx(&["outdated"]);
    assert!(
        out.status.success(),
        "nothing outdated yet: {}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    let dir = ctx.home.join("registry");
    publish(&dir, "dep", "1.1.0", json!({ "vuln": "^1.0.0" }));
    publish(&dir, "dep", "2.0.0", json!({}));
    registry.rescan().unwrap();
    let out = ctx.dx(&["outdated"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Package", "Current", "Wanted", "Latest", "Type"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["dep", "1.0.0", "1.1.0", "2.0.0", "dependencies"]
    );
    assert_eq!(lines.len(), 2, "{stdout}");

    let json: Value = serde_json::from_slice(&ctx.dx(&["outdated", "--json"]).stdout).unwrap();
    assert_eq!(
        json["dep"],
        json!({ "current": "1.0.0", "wanted": "1.1.0", "latest": "2.0.0", "type": "dependencies" })
    );
    let out = ctx.dx(&["outdated", "nope"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a direct dependency"),
        "{}",
        describe(&out)
    );
}
