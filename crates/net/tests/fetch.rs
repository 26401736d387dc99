//! Tarballs into the store through the test registry: streaming import, integrity, retries,
//! concurrency limits and concurrent installs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dx_formats::dxp::BuildLimits;
use dx_net::{
    CacheMode, Fault, FaultRule, NetError, ProgressEvent, RegistryClient, RegistryConfig,
    TarballFetcher, TarballRequest, TestRegistry, write_test_package,
};
use dx_store::Store;
use serde_json::json;

struct Fixture {
    _packages: tempfile::TempDir,
    store_dir: tempfile::TempDir,
    registry: TestRegistry,
}

fn fixture(count: usize) -> Fixture {
    let packages = tempfile::tempdir().unwrap();
    for i in 0..count {
        let body = format!("module.exports = {i};").repeat(200);
        write_test_package(
            packages.path(),
            &format!("pkg{i}"),
            "1.0.0",
            json!({}),
            &[("index.js", body.as_bytes())],
        );
    }
    let registry = TestRegistry::start(packages.path());
    Fixture {
        _packages: packages,
        store_dir: tempfile::tempdir().unwrap(),
        registry,
    }
}

fn client(url: &str, concurrency: usize) -> RegistryClient {
    let mut config = RegistryConfig::for_registry(url).unwrap();
    config.retry_min_delay = Duration::from_millis(1);
    config.retry_max_delay = Duration::from_millis(20);
    config.network_concurrency = concurrency;
    RegistryClient::new(config, None, CacheMode::Revalidate).unwrap()
}

async fn requests(
    client: &RegistryClient,
    names: impl IntoIterator<Item = String>,
) -> Vec<TarballRequest> {
    let mut out = Vec::new();
    for name in names {
        let packument = client.packument(&name).await.unwrap();
        let version = packument.manifest("1.0.0").unwrap();
        out.push(TarballRequest {
            package: format!("{name}@1.0.0"),
            url: version.dist.tarball.clone().unwrap(),
            integrity: version.dist.integrity.as_deref().unwrap().parse().unwrap(),
        });
    }
    out
}

fn fetcher(client: &RegistryClient, store_dir: &std::path::Path) -> (TarballFetcher, Arc<Store>) {
    let store = Arc::new(Store::open(store_dir).unwrap());
    (
        TarballFetcher::new(client.clone(), store.clone(), BuildLimits::default()),
        store,
    )
}

#[tokio::test]
async fn tarballs_are_stored_once_and_never_downloaded_again() {
    let f = fixture(5);
    let bytes_seen = Arc::new(AtomicU64::new(0));
    let seen = bytes_seen.clone();
    let client = client(f.registry.url(), 64).with_progress(Arc::new(move |event| {
        if let ProgressEvent::DownloadBytes { bytes, .. } = event {
            seen.fetch_add(bytes, Ordering::SeqCst);
        }
    }));
    let wanted = requests(&client, (0..5).map(|i| format!("pkg{i}"))).await;
    let (fetcher, store) = fetcher(&client, f.store_dir.path());
    let stored: Vec<_> = fetcher
        .fetch_all(wanted.clone())
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let total: u64 = stored.iter().map(|s| s.downloaded_bytes).sum();
    assert!(total > 0);
    assert_eq!(bytes_seen.load(Ordering::SeqCst), total);
    for (s, r) in stored.iter().zip(&wanted) {
        assert!(!s.already_stored);
        assert_eq!(store.lookup_integrity(&r.integrity).unwrap(), Some(s.hash));
        let archive = store.get(&s.hash).unwrap().unwrap();
        assert!(archive.archive().is_ok());
    }
    f.registry.requests().clear();
    let again = fetcher.fetch_all(wanted).await;
    assert!(again.iter().all(|r| r.as_ref().unwrap().already_stored));
    assert!(
        f.registry.requests().is_empty(),
        "no request for a package already in the store"
    );
}

#[tokio::test]
async fn integrity_mismatch_fails_naming_the_package_and_stores_nothing() {
    let f = fixture(1);
    let client = client(f.registry.url(), 4);
    let wanted = requests(&client, ["pkg0".to_owned()]).await;
    f.registry
        .faults()
        .add(FaultRule::new(Fault::CorruptBody).on_path_containing("/-/"));
    let (fetcher, store) = fetcher(&client, f.store_dir.path());
    let err = fetcher.fetch(&wanted[0]).await.unwrap_err();
    assert!(matches!(err, NetError::IntegrityMismatch { .. }), "{err}");
    assert!(err.to_string().contains("pkg0@1.0.0"), "{err}");
    assert_eq!(store.lookup_integrity(&wanted[0].integrity).unwrap(), None);
    let tarball_requests = f
        .registry
        .requests()
        .snapshot()
        .iter()
        .filter(|r| r.path.contains("/-/"))
        .count();
    assert_eq!(tarball_requests, 1, "a mismatch is not retried");
}

#[tokio::test]
async fn every_transient_failure_is_retried_then_stored() {
    let f = fixture(5);
    let client = client(f.registry.url(), 8);
    let wanted = requests(&client, (0..5).map(|i| format!("pkg{i}"))).await;
    let faults = f.registry.faults();
    faults.add(
        FaultRule::new(Fault::Status(500))
            .on_path_containing("/pkg0/-/")
            .times(2),
    );
    faults.add(
        FaultRule::new(Fault::TooManyRequests {
            retry_after_secs: 0,
        })
        .on_path_containing("/pkg1/-/")
        .times(1),
    );
    faults.add(
        FaultRule::new(Fault::DropConnection)
            .on_path_containing("/pkg2/-/")
            .times(1),
    );
    faults.add(
        FaultRule::new(Fault::TruncateBody)
            .on_path_containing("/pkg3/-/")
            .times(1),
    );
    faults.add(
        FaultRule::new(Fault::Status(404))
            .on_path_containing("/pkg4/-/")
            .times(1),
    );
    f.registry.requests().clear();
    let (fetcher, store) = fetcher(&client, f.store_dir.path());
    let results = fetcher.fetch_all(wanted.clone()).await;
    for (i, result) in results.iter().enumerate().take(4) {
        let stored = result.as_ref().unwrap_or_else(|e| panic!("pkg{i}: {e}"));
        assert_eq!(
            store.lookup_integrity(&wanted[i].integrity).unwrap(),
            Some(stored.hash)
        );
    }
    assert!(
        matches!(results[4], Err(NetError::HttpStatus { status: 404, .. })),
        "no retry on 404"
    );
    let count = |i: usize| {
        f.registry
            .requests()
            .snapshot()
            .iter()
            .filter(|r| r.path.contains(&format!("/pkg{i}/-/")))
            .count()
    };
    assert_eq!(
        (count(0), count(1), count(2), count(3), count(4)),
        (3, 2, 2, 2, 1)
    );
}

#[tokio::test]
async fn downloads_in_flight_never_exceed_network_concurrency() {
    let f = fixture(8);
    let client = client(f.registry.url(), 2);
    let wanted = requests(&client, (0..8).map(|i| format!("pkg{i}"))).await;
    f.registry
        .faults()
        .add(FaultRule::new(Fault::Latency(Duration::from_millis(20))).on_path_containing("/-/"));
    f.registry.requests().clear();
    let (fetcher, _store) = fetcher(&client, f.store_dir.path());
    assert!(fetcher.fetch_all(wanted).await.iter().all(Result::is_ok));
    let max = f.registry.requests().max_in_flight();
    assert!((1..=2).contains(&max), "max in flight {max}");
}

#[test]
fn two_installs_inserting_the_same_package_at_once_both_succeed() {
    let f = fixture(3);
    let url = f.registry.url().to_owned();
    let store_dir = f.store_dir.path().to_owned();
    let install = move || {
        let url = url.clone();
        let store_dir = store_dir.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = client(&url, 8);
                let wanted = requests(&client, (0..3).map(|i| format!("pkg{i}"))).await;
                // Each install opens its own Store, as two dx processes would.
                let (fetcher, _store) = fetcher(&client, &store_dir);
                fetcher
                    .fetch_all(wanted)
                    .await
                    .into_iter()
                    .map(|r| r.unwrap().hash)
                    .collect::<Vec<_>>()
            })
        })
    };
    let (a, b) = (install(), install());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a, b);
    let store = Store::open(f.store_dir.path()).unwrap();
    for hash in a {
        assert!(store.get(&hash).unwrap().unwrap().hash_matches());
    }
}

#[tokio::test]
async fn one_process_asking_twice_at_once_downloads_once() {
    let f = fixture(1);
    let client = client(f.registry.url(), 8);
    let wanted = requests(&client, ["pkg0".to_owned()]).await;
    f.registry.requests().clear();
    let (fetcher, _store) = fetcher(&client, f.store_dir.path());
    let results = fetcher
        .fetch_all(vec![
            wanted[0].clone(),
            wanted[0].clone(),
            wanted[0].clone(),
        ])
        .await;
    assert_eq!(
        results
            .iter()
            .filter(|r| !r.as_ref().unwrap().already_stored)
            .count(),
        1
    );
    assert_eq!(f.registry.requests().len(), 1);
}
