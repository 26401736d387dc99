//! `dx audit` and `dx outdated` end to end against dx's registry server, which serves the bulk
//! advisory endpoint from `advisories.json` in its directory.

use serde_json::{Value, json};

use crate::fixtures::Package;
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe};

/// A version of a fixture package with `deps`, as the standard fixtures publish them.
fn version(name: &str, version: &str, deps: Value) -> Package {
    Package::new(name, version)
        .manifest(json!({ "dependencies": deps }))
        .file("index.js", "module.exports = 1;\n")
}

/// Installed from the standard fixtures: `dep` depends on `vuln@^1.0.0` (only vuln 1.0.0
/// exists at first, and an advisory covers it); `ok` is clean.
fn context() -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "dep": "^1.0.0", "ok": "^1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    ctx
}

#[test]
fn audit_reports_by_severity_with_paths_and_fix_updates() {
    let ctx = context();
    let out = ctx.dx(&["audit"]);
    let stdout = out.stdout_text();
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
    assert_dx_snapshot!("audit", out);

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
    ctx.publish(version("vuln", "1.0.1", json!({})));
    let out = ctx.dx(&["audit", "fix", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_dx_snapshot!("audit_fix", out);
    let stdout = out.stdout_text();
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
    let ctx = context();
    let out = ctx.dx(&["audit", "--registry", "http://127.0.0.1:9/"]);
    assert!(!out.status.success());
    assert_dx_snapshot!("audit_endpoint_down", out);
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("cannot fetch security advisories"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let out = ctx.dx(&["audit", "--audit-level", "severe"]);
    assert!(
        !out.status.success() && out.stderr_text().contains("--audit-level"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("audit_unknown_level", out);
}

#[test]
fn outdated_lists_current_wanted_latest_and_exits_1() {
    let ctx = context();
    let out = ctx.dx(&["outdated"]);
    assert!(
        out.status.success(),
        "nothing outdated yet: {}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));

    ctx.publish(version("dep", "1.1.0", json!({ "vuln": "^1.0.0" })));
    ctx.publish(version("dep", "2.0.0", json!({})));
    let out = ctx.dx(&["outdated"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_dx_snapshot!("outdated", out);
    let stdout = out.stdout_text();
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
        out.stderr_text().contains("not a direct dependency"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("outdated_not_a_dependency", out);
}
