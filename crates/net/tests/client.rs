//! The packument client against the test registry: both forms, the cache and its modes,
//! errors, credentials, retries.

use std::time::Duration;

use dx_net::config::Credential;
use dx_net::{
    CacheMode, Fault, FaultRule, NetError, RegistryClient, RegistryConfig, TestRegistry,
    write_test_package,
};
use serde_json::json;

fn registry_with(packages: &[(&str, &str)]) -> (tempfile::TempDir, TestRegistry) {
    let dir = tempfile::tempdir().unwrap();
    for (name, version) in packages {
        write_test_package(
            dir.path(),
            name,
            version,
            json!({ "dependencies": { "dep": "^1" } }),
            &[],
        );
    }
    let registry = TestRegistry::start(dir.path());
    (dir, registry)
}

/// Fast retries so tests do not wait on production backoff.
fn config(url: &str) -> RegistryConfig {
    let mut config = RegistryConfig::for_registry(url).unwrap();
    config.retry_min_delay = Duration::from_millis(1);
    config.retry_max_delay = Duration::from_millis(20);
    config
}

#[tokio::test]
async fn abbreviated_packument_is_requested_and_parsed() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0"), ("@s/b", "2.0.0")]);
    let client = RegistryClient::new(config(registry.url()), None, CacheMode::Revalidate).unwrap();
    let a = client.packument("a").await.unwrap();
    assert_eq!(a.dist_tags["latest"], "1.0.0");
    assert_eq!(a.manifest("1.0.0").unwrap().dependencies["dep"], "^1");
    assert!(a.manifest("1.0.0").unwrap().dist.integrity.is_some());
    let b = client.packument("@s/b").await.unwrap();
    assert_eq!(b.name, "@s/b");
    let log = registry.requests().snapshot();
    assert!(
        log[0]
            .accept
            .as_deref()
            .unwrap()
            .starts_with("application/vnd.npm.install-v1+json")
    );
    assert_eq!(
        log[1].path, "/@s%2fb",
        "scoped names are escaped as npm does"
    );
    let full = client.full_packument("a").await.unwrap();
    assert!(full["time"].is_object());
}

#[tokio::test]
async fn concurrent_requests_for_one_name_share_one_fetch() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0")]);
    registry
        .faults()
        .add(FaultRule::new(Fault::Latency(Duration::from_millis(30))));
    let client = RegistryClient::new(config(registry.url()), None, CacheMode::Revalidate).unwrap();
    let (x, y, z) = tokio::join!(
        client.packument("a"),
        client.packument("a"),
        client.packument("a")
    );
    assert!(x.is_ok() && y.is_ok() && z.is_ok());
    assert_eq!(registry.requests().len(), 1);
}

#[tokio::test]
async fn cache_is_revalidated_or_trusted_by_mode() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0")]);
    let cache = tempfile::tempdir().unwrap();
    let client = |mode| {
        RegistryClient::new(config(registry.url()), Some(cache.path().to_owned()), mode).unwrap()
    };

    // Offline with an empty cache fails clearly and sends nothing.
    let err = client(CacheMode::Offline).packument("a").await.unwrap_err();
    assert!(matches!(err, NetError::OfflineMiss { .. }), "{err}");
    assert!(err.to_string().contains("--offline"));
    assert!(registry.requests().is_empty());

    let first = client(CacheMode::Revalidate).packument("a").await.unwrap();
    assert_eq!(registry.requests().len(), 1);
    // A new client (a new dx process) revalidates with the ETag and gets 304.
    let second = client(CacheMode::Revalidate).packument("a").await.unwrap();
    assert_eq!(second, first);
    let log = registry.requests().snapshot();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].status, 304);
    // prefer-offline and offline use the cache without a request.
    registry.requests().clear();
    assert_eq!(
        client(CacheMode::PreferOffline)
            .packument("a")
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        client(CacheMode::Offline).packument("a").await.unwrap(),
        first
    );
    assert!(registry.requests().is_empty());
    // A new version published: revalidation sees it.
    write_test_package(_dir.path(), "a", "1.1.0", json!({}), &[]);
    registry.rescan().unwrap();
    let third = client(CacheMode::Revalidate).packument("a").await.unwrap();
    assert_eq!(third.dist_tags["latest"], "1.1.0");
    assert_eq!(registry.requests().snapshot()[0].status, 200);
}

#[tokio::test]
async fn a_fresh_entry_by_max_age_is_used_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    write_test_package(dir.path(), "a", "1.0.0", json!({}), &[]);
    let mut server = dx_net::ServerConfig::new(dir.path());
    server.packument_max_age = Some(300);
    let registry = TestRegistry::try_start(server).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = || {
        RegistryClient::new(
            config(registry.url()),
            Some(cache.path().to_owned()),
            CacheMode::Revalidate,
        )
        .unwrap()
    };
    let first = client().packument("a").await.unwrap();
    assert_eq!(registry.requests().len(), 1);
    // Another process within max-age: no request at all, as npm and Bun do.
    assert_eq!(client().packument("a").await.unwrap(), first);
    assert_eq!(registry.requests().len(), 1);

    // Once stale, the entry is revalidated (304) and fresh again for max-age.
    let path = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    for entry in walk(&path) {
        let file = std::fs::File::options().write(true).open(&entry).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(1))
            .unwrap();
    }
    assert_eq!(client().packument("a").await.unwrap(), first);
    let log = registry.requests().snapshot();
    assert_eq!((log.len(), log[1].status), (2, 304));
    assert_eq!(client().packument("a").await.unwrap(), first);
    assert_eq!(registry.requests().len(), 2);
}

#[tokio::test]
async fn without_cache_control_an_entry_is_fresh_for_the_default_window() {
    let dir = tempfile::tempdir().unwrap();
    write_test_package(dir.path(), "a", "1.0.0", json!({}), &[]);
    let mut server = dx_net::ServerConfig::new(dir.path());
    server.omit_cache_control = true;
    let registry = TestRegistry::try_start(server).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let client = |mode| {
        RegistryClient::new(config(registry.url()), Some(cache.path().to_owned()), mode).unwrap()
    };
    let first = client(CacheMode::Revalidate).packument("a").await.unwrap();
    assert_eq!(registry.requests().len(), 1);
    // The registry said nothing about freshness: trusted for DEFAULT_FRESHNESS, no request.
    let again = client(CacheMode::Revalidate).packument("a").await.unwrap();
    assert_eq!(again, first);
    assert_eq!(registry.requests().len(), 1);
    // --prefer-online asks anyway: a conditional request the server answers with 304.
    let online = client(CacheMode::PreferOnline)
        .packument("a")
        .await
        .unwrap();
    assert_eq!(online, first);
    let log = registry.requests().snapshot();
    assert_eq!((log.len(), log[1].status), (2, 304));
}

#[tokio::test]
async fn no_cache_means_every_load_revalidates() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0")]);
    let cache = tempfile::tempdir().unwrap();
    let client = || {
        RegistryClient::new(
            config(registry.url()),
            Some(cache.path().to_owned()),
            CacheMode::Revalidate,
        )
        .unwrap()
    };
    let first = client().packument("a").await.unwrap();
    assert_eq!(client().packument("a").await.unwrap(), first);
    let log = registry.requests().snapshot();
    assert_eq!(
        (log.len(), log[1].status),
        (2, 304),
        "dx's server sends no-cache"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn not_found_and_auth_errors_name_package_and_registry_without_the_token() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0")]);
    let mut cfg = config(registry.url());
    cfg.set_credential(registry.url(), Credential::Token("SECRET-TOKEN".into()));
    let client = RegistryClient::new(cfg, None, CacheMode::Revalidate).unwrap();
    let err = client.packument("missing").await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!("package missing not found in registry {}", registry.url())
    );
    registry
        .faults()
        .add(FaultRule::new(Fault::Status(401)).times(5));
    let err = client.packument("a").await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, NetError::AuthenticationRequired { status: 401, .. }),
        "{text}"
    );
    assert!(
        text.contains(registry.url()) && text.contains("authentication"),
        "{text}"
    );
    assert!(!text.contains("SECRET-TOKEN") && !format!("{err:?}").contains("SECRET-TOKEN"));
    assert_eq!(registry.requests().len(), 2, "no retry on 401");
}

#[tokio::test]
async fn a_token_for_registry_a_is_never_sent_to_registry_b() {
    let (_dir_a, a) = registry_with(&[("@corp/lib", "1.0.0")]);
    let (_dir_b, b) = registry_with(&[("public", "1.0.0")]);
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join(".npmrc"),
        format!(
            "registry={b}/\n@corp:registry={a}/\n//{a_host}/:_authToken=${{CORP_TOKEN}}\n",
            a = a.url(),
            b = b.url(),
            a_host = a.url().trim_start_matches("http://")
        ),
    )
    .unwrap();
    let inputs = dx_net::config::ConfigInputs {
        env: [("CORP_TOKEN".to_owned(), "tok-A".to_owned())].into(),
        project_dir: Some(project.path().to_owned()),
        ..Default::default()
    };
    let client = RegistryClient::new(
        RegistryConfig::load(&inputs).unwrap(),
        None,
        CacheMode::Revalidate,
    )
    .unwrap();
    client.packument("@corp/lib").await.unwrap();
    client.packument("public").await.unwrap();
    let to_a = a.requests().snapshot();
    let to_b = b.requests().snapshot();
    assert_eq!(to_a.len(), 1);
    assert_eq!(to_a[0].authorization.as_deref(), Some("Bearer tok-A"));
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].authorization, None);
}

#[tokio::test]
async fn transient_failures_are_retried_and_4xx_is_not() {
    let (_dir, registry) = registry_with(&[
        ("a", "1.0.0"),
        ("b", "1.0.0"),
        ("c", "1.0.0"),
        ("d", "1.0.0"),
        ("e", "1.0.0"),
    ]);
    let client = RegistryClient::new(config(registry.url()), None, CacheMode::Revalidate).unwrap();
    let faults = registry.faults();
    faults.add(
        FaultRule::new(Fault::Status(500))
            .on_path_containing("/a")
            .times(2),
    );
    faults.add(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_secs: 0,
        })
        .on_path_containing("/b")
        .times(1),
    );
    faults.add(
        FaultRule::new(Fault::DropConnection)
            .on_path_containing("/c")
            .times(1),
    );
    faults.add(
        FaultRule::new(Fault::TruncateBody)
            .on_path_containing("/d")
            .times(1),
    );
    faults.add(
        FaultRule::new(Fault::Status(400))
            .on_path_containing("/e")
            .times(1),
    );
    for name in ["a", "b", "c", "d"] {
        client
            .packument(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let err = client.packument("e").await.unwrap_err();
    assert!(
        matches!(err, NetError::HttpStatus { status: 400, .. }),
        "{err}"
    );
    let count = |p: &str| {
        registry
            .requests()
            .snapshot()
            .iter()
            .filter(|r| r.path == p)
            .count()
    };
    assert_eq!(
        (
            count("/a"),
            count("/b"),
            count("/c"),
            count("/d"),
            count("/e")
        ),
        (3, 2, 2, 2, 1)
    );
}

#[tokio::test]
async fn retries_give_up_after_fetch_retries() {
    let (_dir, registry) = registry_with(&[("a", "1.0.0")]);
    let mut cfg = config(registry.url());
    cfg.fetch_retries = 2;
    registry.faults().add(FaultRule::new(Fault::Status(502)));
    let client = RegistryClient::new(cfg, None, CacheMode::Revalidate).unwrap();
    let err = client.packument("a").await.unwrap_err();
    assert!(
        matches!(err, NetError::HttpStatus { status: 502, .. }),
        "{err}"
    );
    assert_eq!(registry.requests().len(), 3);
}
