//! The registry server over HTTP on 127.0.0.1: packuments (both forms), scoped names, tarballs,
//! ETags, dist-tags, advisories, faults and the caching proxy.

use dx_formats::hash::Integrity;
use dx_net::{Fault, FaultRule, ServerConfig, TestRegistry, write_test_package};
use serde_json::{Value, json};

const ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

fn get(url: &str, accept: Option<&str>) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.get(url);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.bytes().await.unwrap().to_vec(), headers)
    })
}

fn get_json(url: &str, accept: Option<&str>) -> Value {
    let (status, body, _) = get(url, accept);
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn fixture() -> (tempfile::TempDir, TestRegistry) {
    let dir = tempfile::tempdir().unwrap();
    write_test_package(
        dir.path(),
        "left-pad",
        "1.0.0",
        json!({}),
        &[("index.js", b"module.exports = 1;")],
    );
    write_test_package(
        dir.path(),
        "left-pad",
        "1.10.0",
        json!({ "dependencies": { "x": "^1" }, "scripts": { "postinstall": "node i.js", "test": "t" }, "readme": "long" }),
        &[],
    );
    write_test_package(dir.path(), "left-pad", "2.0.0-beta.1", json!({}), &[]);
    write_test_package(
        dir.path(),
        "@scope/pkg",
        "3.1.4",
        json!({ "bin": { "p": "cli.js" } }),
        &[("cli.js", b"#!/usr/bin/env node")],
    );
    let registry = TestRegistry::start(dir.path());
    (dir, registry)
}

#[test]
fn abbreviated_and_full_packuments_differ_as_npm_does() {
    let (_dir, registry) = fixture();
    let url = format!("{}/left-pad", registry.url());
    let abbreviated = get_json(&url, Some(ABBREVIATED));
    let full = get_json(&url, None);
    assert_eq!(
        abbreviated["dist-tags"]["latest"], "1.10.0",
        "highest non-prerelease, numerically"
    );
    let v = &abbreviated["versions"]["1.10.0"];
    assert_eq!(v["dependencies"]["x"], "^1");
    assert_eq!(v["hasInstallScript"], true);
    assert!(
        v.get("scripts").is_none() && v.get("readme").is_none(),
        "abbreviated drops scripts/readme: {v}"
    );
    assert!(abbreviated.get("time").is_none());
    assert_eq!(full["versions"]["1.10.0"]["readme"], "long");
    assert_eq!(full["versions"]["1.10.0"]["_id"], "left-pad@1.10.0");
    assert!(full["time"]["1.0.0"].is_string());
    assert_eq!(full["versions"].as_object().unwrap().len(), 3);
}

#[test]
fn tarball_url_and_integrity_point_back_at_the_server() {
    let (_dir, registry) = fixture();
    let doc = get_json(&format!("{}/left-pad", registry.url()), Some(ABBREVIATED));
    let dist = &doc["versions"]["1.0.0"]["dist"];
    let tarball = dist["tarball"].as_str().unwrap();
    assert_eq!(
        tarball,
        format!("{}/left-pad/-/left-pad-1.0.0.tgz", registry.url())
    );
    let (status, bytes, _) = get(tarball, None);
    assert_eq!(status, 200);
    let integrity: Integrity = dist["integrity"].as_str().unwrap().parse().unwrap();
    assert!(integrity.matches(&bytes));
    let sha1 = Integrity::from_sha1_hex(dist["shasum"].as_str().unwrap()).unwrap();
    assert!(sha1.matches(&bytes));
}

#[test]
fn scoped_names_work_escaped_and_not() {
    let (_dir, registry) = fixture();
    for path in ["@scope%2fpkg", "@scope%2Fpkg", "@scope/pkg"] {
        let doc = get_json(&format!("{}/{path}", registry.url()), Some(ABBREVIATED));
        assert_eq!(doc["name"], "@scope/pkg");
        assert_eq!(doc["versions"]["3.1.4"]["bin"]["p"], "cli.js");
    }
    let doc = get_json(&format!("{}/@scope%2fpkg", registry.url()), None);
    let tarball = doc["versions"]["3.1.4"]["dist"]["tarball"]
        .as_str()
        .unwrap();
    assert!(
        tarball.ends_with("/@scope/pkg/-/pkg-3.1.4.tgz"),
        "{tarball}"
    );
    assert_eq!(get(tarball, None).0, 200);
    assert_eq!(
        get_json(&format!("{}/@scope/pkg/latest", registry.url()), None)["version"],
        "3.1.4"
    );
}

#[test]
fn etag_revalidation_answers_304() {
    let (_dir, registry) = fixture();
    let url = format!("{}/left-pad", registry.url());
    let (_, _, headers) = get(&url, Some(ABBREVIATED));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let r = reqwest::Client::new()
            .get(&url)
            .header("accept", ABBREVIATED)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    });
    assert_eq!(status, 304);
    // The full document is a different representation with its own tag.
    let (_, _, full_headers) = get(&url, None);
    assert_ne!(full_headers["etag"], etag.as_str());
}

#[test]
fn dist_tag_overrides_and_unknown_packages() {
    let dir = tempfile::tempdir().unwrap();
    write_test_package(dir.path(), "a", "1.0.0", json!({}), &[]);
    write_test_package(dir.path(), "a", "2.0.0", json!({}), &[]);
    std::fs::write(
        dir.path().join("dist-tags.json"),
        r#"{ "a": { "latest": "1.0.0", "next": "2.0.0" } }"#,
    )
    .unwrap();
    let registry = TestRegistry::start(dir.path());
    let doc = get_json(&format!("{}/a", registry.url()), None);
    assert_eq!(
        doc["dist-tags"],
        json!({ "latest": "1.0.0", "next": "2.0.0" })
    );
    assert_eq!(get(&format!("{}/nope", registry.url()), None).0, 404);
    assert_eq!(
        get(&format!("{}/a/-/a-9.9.9.tgz", registry.url()), None).0,
        404
    );
    // A package written after start is found on the first miss.
    write_test_package(dir.path(), "late", "0.1.0", json!({}), &[]);
    assert_eq!(
        get_json(&format!("{}/late", registry.url()), None)["dist-tags"]["latest"],
        "0.1.0"
    );
}

#[test]
fn advisories_bulk_answers_for_the_packages_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("advisories.json"),
        r#"{ "a": [{ "id": 1, "severity": "high", "vulnerable_versions": "<2" }], "b": [{ "id": 2 }] }"#,
    )
    .unwrap();
    let registry = TestRegistry::start(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer: Value = runtime.block_on(async {
        let url = format!("{}/-/npm/v1/security/advisories/bulk", registry.url());
        let r = reqwest::Client::new()
            .post(url)
            .body(r#"{ "a": ["1.0.0"], "c": ["1.0.0"] }"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    });
    assert_eq!(
        answer,
        json!({ "a": [{ "id": 1, "severity": "high", "vulnerable_versions": "<2" }] })
    );
}

#[test]
fn faults_fire_the_configured_number_of_times_and_requests_are_logged() {
    let (_dir, registry) = fixture();
    registry.faults().add(
        FaultRule::new(Fault::Status(503))
            .on_path_containing("/left-pad")
            .times(2),
    );
    let url = format!("{}/left-pad", registry.url());
    assert_eq!(get(&url, None).0, 503);
    assert_eq!(get(&url, None).0, 503);
    assert_eq!(get(&url, None).0, 200);
    registry.faults().add(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_secs: 7,
        })
        .times(1),
    );
    let (status, _, headers) = get(&url, None);
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "7")
    );
    let log = registry.requests().snapshot();
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 503, 200, 429]
    );
    assert!(
        log.iter()
            .all(|r| r.method == "GET" && r.path == "/left-pad")
    );
}

#[test]
fn corrupt_body_keeps_length_but_fails_integrity() {
    let (_dir, registry) = fixture();
    let tarball = format!("{}/left-pad/-/left-pad-1.0.0.tgz", registry.url());
    let (_, good, _) = get(&tarball, None);
    registry
        .faults()
        .add(FaultRule::new(Fault::CorruptBody).times(1));
    let (status, bad, _) = get(&tarball, None);
    assert_eq!(status, 200);
    assert_eq!(bad.len(), good.len());
    assert_ne!(bad, good);
}

#[test]
fn caching_proxy_stores_what_it_fetches() {
    let (_upstream_dir, upstream) = fixture();
    let proxy_dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(proxy_dir.path());
    config.upstream = Some(upstream.url().to_owned());
    let proxy = TestRegistry::try_start(config).unwrap();
    let doc = get_json(&format!("{}/@scope%2fpkg", proxy.url()), Some(ABBREVIATED));
    let tarball = doc["versions"]["3.1.4"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tarball.starts_with(proxy.url()),
        "rewritten to the proxy: {tarball}"
    );
    let (status, bytes, _) = get(&tarball, None);
    assert_eq!(status, 200);
    let integrity: Integrity = doc["versions"]["3.1.4"]["dist"]["integrity"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(integrity.matches(&bytes));
    assert!(proxy_dir.path().join("@scope/pkg/pkg-3.1.4.tgz").is_file());
    drop(upstream);
    // Upstream gone: the stored tarball and the last packument are still served.
    assert_eq!(get(&tarball, None).0, 200);
    assert_eq!(
        get_json(&format!("{}/@scope%2fpkg", proxy.url()), Some(ABBREVIATED))["name"],
        "@scope/pkg"
    );
}
