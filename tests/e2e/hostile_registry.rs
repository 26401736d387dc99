//! A hostile or broken registry, through the test registry's fault injection: every failure an
//! install can meet while `dx add pad` extends an installed project. Each case either succeeds
//! (a retry or a redirect carried it) or fails with one line naming what failed, and leaves
//! package.json, dx.lock, node_modules and the store as they were.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use dx_formats::hash::{IntegrityAlgorithm, IntegrityHasher};
use dx_net::{Fault, FaultRule, TestRegistry};
use serde_json::json;

use crate::snapshot::{DxOutput, assert_dx_snapshot};
use crate::support::TestContext;

/// Fast retries and a short stall window, so a failing case takes milliseconds, not minutes.
const NPMRC: &str = "fetch-retries=2\nfetch-retry-mintimeout=10\nfetch-retry-maxtimeout=20\nfetch-stall-timeout=400\n";

/// What a project looked like before the failed command: its files, its tree, its store.
#[derive(Debug, PartialEq, Eq)]
struct State {
    package_json: Vec<u8>,
    lock: Vec<u8>,
    node_modules: BTreeMap<String, String>,
}

impl State {
    fn of(ctx: &TestContext) -> Self {
        let mut node_modules = BTreeMap::new();
        walk(&ctx.path("node_modules"), "", &mut node_modules);
        Self {
            package_json: std::fs::read(ctx.path("package.json")).unwrap(),
            lock: std::fs::read(ctx.path("dx.lock")).unwrap(),
            node_modules,
        }
    }
}

/// Every entry under `dir`: a file by its contents' hash, a link by its target.
fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            out.insert(name, format!("-> {}", target.display()));
        } else if meta.is_dir() {
            out.insert(name.clone(), "dir".into());
            walk(&entry.path(), &format!("{name}/"), out);
        } else {
            let bytes = std::fs::read(entry.path()).unwrap();
            out.insert(name, sha512(&bytes));
        }
    }
}

fn sha512(bytes: &[u8]) -> String {
    let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    hasher.update(bytes);
    hasher.finish().to_string()
}

/// A project depending on `solo`, installed, with fast retries configured.
fn installed_project() -> TestContext {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "solo": "^1.0.0" } }"#,
    );
    ctx.write(".npmrc", NPMRC);
    ctx.dx_ok(&["install"]);
    ctx
}

/// Runs `dx add pad` under `faults`, asserts it failed with one line containing every one of
/// `names`, that nothing changed and that the store verifies clean; returns the output for its
/// snapshot.
#[track_caller]
fn add_fails(ctx: &TestContext, faults: Vec<FaultRule>, names: &[&str]) -> DxOutput {
    let before = State::of(ctx);
    for rule in faults {
        ctx.registry().faults().add(rule);
    }
    let out = ctx.dx(&["add", "pad"]);
    ctx.registry().faults().clear();
    out.assert_code(1);
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for name in names {
        assert!(err.contains(name), "the error must name {name}: {err}");
    }
    assert_eq!(State::of(ctx), before, "a failed add must change nothing");
    ctx.dx_ok(&["cache", "verify"]);
    // Nothing is left that would stop the next attempt (which revalidates the metadata: a
    // lying packument may be cached, as npm's cache would keep it too).
    ctx.dx_ok(&["add", "pad", "--prefer-online"]);
    assert!(ctx.read("package.json").contains("\"pad\""));
    out
}

/// Runs `dx add pad` under `faults` and asserts it succeeded (the faults were survivable).
#[track_caller]
fn add_succeeds(ctx: &TestContext, faults: Vec<FaultRule>) {
    for rule in faults {
        ctx.registry().faults().add(rule);
    }
    let out = ctx.dx(&["add", "pad"]);
    ctx.registry().faults().clear();
    assert!(out.success(), "{}", out.render());
    assert!(ctx.read("package.json").contains("\"pad\""));
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/pad/index.js")).unwrap(),
        "module.exports = 'pad 1.1.0';\n"
    );
    ctx.dx_ok(&["cache", "verify"]);
}

/// The packument's path; a rule on it also matches the tarball's, which contains it.
const PACKUMENT: &str = "/pad";
const TARBALL: &str = "/pad/-/pad-1.1.0.tgz";

fn rule(fault: Fault, path: &str) -> FaultRule {
    FaultRule::new(fault).on_path_containing(path)
}

/// Answer requests for `path` with `body` under `content_type` instead of the route's answer.
fn respond(content_type: &'static str, body: impl Into<Bytes>, path: &str) -> FaultRule {
    rule(
        Fault::Respond {
            content_type,
            body: body.into(),
        },
        path,
    )
}

/// Serve `tarball` as pad 1.1.0's tarball, with a packument whose integrity is right for it:
/// whatever is wrong is inside the tarball. The tarball's rule comes first: the packument's
/// path is part of the tarball's.
fn serve_as_pad(ctx: &TestContext, tarball: Bytes) -> Vec<FaultRule> {
    let url = format!("{}{TARBALL}", ctx.registry_url());
    let packument = lying_packument(&url, &sha512(&tarball));
    vec![
        respond("application/octet-stream", tarball, TARBALL),
        respond("application/json", packument, PACKUMENT),
    ]
}

/// How many requests the registry saw for paths containing `path`.
fn requests_for(registry: &TestRegistry, path: &str) -> usize {
    registry
        .requests()
        .snapshot()
        .iter()
        .filter(|r| r.path.contains(path))
        .count()
}

#[test]
fn server_errors_are_retried_then_named_with_the_registry() {
    for (status, path) in [(500, TARBALL), (502, PACKUMENT), (503, TARBALL)] {
        let ctx = installed_project();
        let out = add_fails(
            &ctx,
            vec![rule(Fault::Status(status), path)],
            &["pad", &status.to_string()],
        );
        assert!(
            out.stderr_text().contains("127.0.0.1"),
            "the registry is named: {}",
            out.stderr_text()
        );
        // The first try and two retries, then the successful add of add_fails' recovery.
        assert!(requests_for(ctx.registry(), path) >= 3, "retried");
        if status == 500 {
            assert_dx_snapshot!("server_error_500", out);
        }
    }
}

/// Transport failures and server errors are retried (as npm retries them); a body that arrived
/// "complete" but wrong (a short length, corrupt bytes, invalid JSON) is not, as in npm: the
/// cases below fail on the first attempt.
#[test]
fn transient_failures_within_the_retries_succeed() {
    for fault in [
        Fault::Status(500),
        Fault::Status(503),
        Fault::DropConnection,
        Fault::TruncateBody,
    ] {
        let ctx = installed_project();
        add_succeeds(&ctx, vec![rule(fault.clone(), TARBALL).times(2)]);
        let ctx = installed_project();
        add_succeeds(&ctx, vec![rule(fault, PACKUMENT).times(1)]);
    }
}

#[test]
fn a_connection_reset_mid_body_fails_naming_the_package() {
    let ctx = installed_project();
    let out = add_fails(
        &ctx,
        vec![rule(Fault::TruncateBody, TARBALL)],
        &["pad@1.1.0"],
    );
    assert_dx_snapshot!("reset_mid_body", out);
}

#[test]
fn a_dropped_connection_fails_naming_the_package() {
    let ctx = installed_project();
    add_fails(
        &ctx,
        vec![rule(Fault::DropConnection, TARBALL)],
        &["pad@1.1.0"],
    );
    let ctx = installed_project();
    add_fails(&ctx, vec![rule(Fault::DropConnection, PACKUMENT)], &["pad"]);
}

#[test]
fn a_wrong_content_length_fails_naming_the_package() {
    let ctx = installed_project();
    let out = add_fails(
        &ctx,
        vec![rule(Fault::ShortContentLength, TARBALL)],
        &["pad@1.1.0"],
    );
    assert_dx_snapshot!("short_content_length", out);
    let ctx = installed_project();
    add_fails(
        &ctx,
        vec![rule(Fault::ShortContentLength, PACKUMENT)],
        &["pad"],
    );
}

#[test]
fn a_slow_server_is_a_timeout_not_a_hang() {
    let ctx = installed_project();
    let every = Duration::from_millis(50);
    add_fails(
        &ctx,
        vec![rule(Fault::Trickle(every), TARBALL)],
        &["pad@1.1.0", "stalled"],
    );
    let ctx = installed_project();
    let out = add_fails(
        &ctx,
        vec![rule(Fault::Trickle(every), PACKUMENT)],
        &["pad", "stalled"],
    );
    assert_dx_snapshot!("stalled_packument", out);
}

#[test]
fn invalid_json_metadata_fails_naming_the_package() {
    let ctx = installed_project();
    let body = Bytes::from_static(br#"{"name":"pad","versions":{"1.1.0":{"#);
    let out = add_fails(
        &ctx,
        vec![respond("application/json", body, PACKUMENT)],
        &["pad"],
    );
    assert_dx_snapshot!("invalid_json", out);
}

#[test]
fn an_html_error_page_fails_naming_the_package() {
    let ctx = installed_project();
    add_fails(
        &ctx,
        vec![rule(Fault::HtmlPage, PACKUMENT)],
        &["pad", "HTML"],
    );
}

/// A packument for `pad` whose only version, 1.1.0, points at `url` with `integrity`.
fn lying_packument(url: &str, integrity: &str) -> Bytes {
    let version = json!({
        "name": "pad", "version": "1.1.0",
        "dist": { "tarball": url, "integrity": integrity }
    });
    let doc = json!({
        "name": "pad",
        "dist-tags": { "latest": "1.1.0" },
        "versions": { "1.1.0": version }
    });
    Bytes::from(doc.to_string())
}

#[test]
fn a_tarball_of_another_package_is_installed_as_npm_does_with_a_warning() {
    // The metadata's integrity is right for the bytes served: only the package inside lies.
    // npm installs it; dx does too, and names the lie in one warning.
    let ctx = installed_project();
    let hello = ctx.published("hello", "1.0.0");
    ctx.registry().faults().add(respond(
        "application/json",
        lying_packument(&hello.url, &hello.integrity),
        PACKUMENT,
    ));
    let out = ctx.dx(&["add", "pad"]);
    ctx.registry().faults().clear();
    assert!(out.success(), "{}", out.render());
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("pad@1.1.0") && err.contains("hello@1.0.0"),
        "{err}"
    );
    assert!(
        ctx.path("node_modules/pad/cli.sh").exists(),
        "hello's files, as npm installs them"
    );
    assert_dx_snapshot!("tarball_of_another_package", out);
    ctx.dx_ok(&["cache", "verify"]);
}

#[test]
fn a_tarball_that_is_not_gzip_is_refused() {
    let ctx = installed_project();
    let garbage =
        Bytes::from_static(b"\x1f\x8b\x08\x00 this is not a deflate stream at all \xff\xfe");
    let out = add_fails(&ctx, serve_as_pad(&ctx, garbage), &["pad@1.1.0"]);
    assert_dx_snapshot!("tarball_not_gzip", out);
}

#[test]
fn a_tarball_that_fails_its_integrity_is_refused() {
    let ctx = installed_project();
    add_fails(
        &ctx,
        vec![respond(
            "application/octet-stream",
            Bytes::from_static(b"not the tarball"),
            TARBALL,
        )],
        &["pad@1.1.0", "integrity"],
    );
}

#[test]
fn redirects_are_followed_and_the_token_stays_with_its_host() {
    let ctx = installed_project();
    let other = TestRegistry::start(ctx.registry_dir());
    let host = ctx.registry_url().trim_start_matches("http://").to_owned();
    ctx.write(
        ".npmrc",
        &format!("{NPMRC}//{host}/:_authToken=secret-token\n"),
    );
    add_succeeds(
        &ctx,
        vec![rule(
            Fault::Redirect {
                status: 302,
                to: other.url().trim_end_matches('/').to_owned(),
            },
            TARBALL,
        )],
    );
    let seen = other.requests().snapshot();
    assert!(
        seen.iter().any(|r| r.path.contains(TARBALL)),
        "followed: {seen:?}"
    );
    assert!(
        seen.iter().all(|r| r.authorization.is_none()),
        "the token went to another host: {seen:?}"
    );
    // The first registry did get it.
    assert!(
        ctx.registry()
            .requests()
            .snapshot()
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer secret-token"))
    );
}

#[test]
fn a_redirect_loop_fails_naming_the_package() {
    let ctx = installed_project();
    let own = ctx.registry_url().trim_end_matches('/').to_owned();
    let out = add_fails(
        &ctx,
        vec![rule(
            Fault::Redirect {
                status: 301,
                to: own,
            },
            TARBALL,
        )],
        &["pad@1.1.0", "redirect"],
    );
    assert_dx_snapshot!("redirect_loop", out);
}

/// A ustar header for `path` claiming `size` bytes.
fn tar_header(path: &str, size: u64) -> [u8; 512] {
    let mut header = [0u8; 512];
    header[..path.len()].copy_from_slice(path.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    header
}

#[test]
fn a_tarball_over_the_size_limit_is_refused_before_it_is_read() {
    // A 900-byte download whose tar header claims a 2 GiB file: refused at the header (the
    // limit is 1 GiB unpacked), not after inflating it.
    let ctx = installed_project();
    let mut tar = tar_header("package/package.json", 2).to_vec();
    tar.extend_from_slice(b"{}");
    tar.resize(1024, 0);
    tar.extend_from_slice(&tar_header("package/zeros.bin", 2 << 30));
    let bomb = Bytes::from(dx_formats::dxp::gzip_stored(&tar));
    let out = add_fails(&ctx, serve_as_pad(&ctx, bomb), &["pad@1.1.0", "zeros.bin"]);
    assert_dx_snapshot!("tarball_over_the_size_limit", out);
}
