//! The binary packument cache through the public client: what lands on disk, that a cached
//! load equals a fresh one field for field, and that a truncated or damaged file is a miss that
//! is refetched (or, offline, reported as not cached), never a panic or a wrong answer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dx_metadata::{BundleDependencies, RawBin};
use dx_net::write_test_package;
use dx_net::{CacheMode, NetError, RegistryClient, RegistryConfig, TestRegistry};
use serde_json::json;

fn config(url: &str) -> RegistryConfig {
    let mut config = RegistryConfig::for_registry(url).unwrap();
    config.retry_min_delay = Duration::from_millis(1);
    config.retry_max_delay = Duration::from_millis(20);
    config
}

struct Fixture {
    _packages: tempfile::TempDir,
    registry: TestRegistry,
    metadata: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let packages = tempfile::tempdir().unwrap();
        write_test_package(
            packages.path(),
            "a",
            "1.0.0",
            json!({
                "dependencies": { "dep": "^1", "bundled": "2.0.0" },
                "optionalDependencies": { "opt": "~3" },
                "peerDependencies": { "peer": ">=4" },
                "peerDependenciesMeta": { "peer": { "optional": true } },
                "bin": { "a-cli": "bin/cli.js", "broken": 5 },
                "directories": { "bin": "./bin", "lib": "./lib" },
                "engines": { "node": ">=18" },
                "os": ["linux", "!win32"],
                "cpu": "x64",
                "libc": ["glibc"],
                "deprecated": "use b",
                "bundleDependencies": ["bundled"],
                "scripts": { "postinstall": "node x.js" }
            }),
            &[],
        );
        write_test_package(
            packages.path(),
            "a",
            "1.1.0",
            json!({ "bin": "cli.js" }),
            &[],
        );
        write_test_package(
            packages.path(),
            "@scope/dotted.name",
            "0.1.0",
            json!({}),
            &[],
        );
        let registry = TestRegistry::start(packages.path());
        Self {
            _packages: packages,
            registry,
            metadata: tempfile::tempdir().unwrap(),
        }
    }

    fn client(&self, mode: CacheMode) -> RegistryClient {
        RegistryClient::new(
            config(self.registry.url()),
            Some(self.metadata.path().to_owned()),
            mode,
        )
        .unwrap()
    }

    /// The one cache file whose name ends with `suffix`.
    fn cache_file(&self, suffix: &str) -> PathBuf {
        let mut found = Vec::new();
        collect_files(self.metadata.path(), &mut found);
        found.retain(|p| p.to_string_lossy().ends_with(suffix));
        assert_eq!(found.len(), 1, "{suffix}: {found:?}");
        found.remove(0)
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn cached_load_equals_the_fetched_packument_with_concrete_fields() {
    let fx = Fixture::new();
    let fresh = fx
        .client(CacheMode::Revalidate)
        .packument("a")
        .await
        .unwrap();
    let file = fx.cache_file("/a.dxpk");
    assert_eq!(&std::fs::read(&file).unwrap()[..4], b"DXPK");

    let cached = fx.client(CacheMode::Offline).packument("a").await.unwrap();
    assert_eq!(cached, fresh);
    let v = cached.manifest("1.0.0").unwrap();
    assert_eq!(v.dependencies["dep"], "^1");
    assert_eq!(v.optional_dependencies["opt"], "~3");
    assert_eq!(v.peer_dependencies["peer"], ">=4");
    assert!(v.peer_dependencies_meta["peer"].optional);
    assert_eq!(
        v.bin,
        RawBin::Map([("a-cli".to_owned(), "bin/cli.js".to_owned())].into())
    );
    assert_eq!(v.engines["node"], ">=18");
    assert_eq!(v.os, ["linux", "!win32"]);
    assert_eq!(v.cpu, ["x64"]);
    assert_eq!(v.libc, ["glibc"]);
    assert_eq!(v.deprecated.as_deref(), Some("use b"));
    assert!(v.has_install_script);
    assert_eq!(
        v.bundle_dependencies,
        BundleDependencies::Names(vec!["bundled".to_owned()])
    );
    assert!(
        v.dist
            .tarball
            .as_deref()
            .unwrap()
            .ends_with("/a/-/a-1.0.0.tgz")
    );
    assert!(v.dist.integrity.as_deref().unwrap().starts_with("sha512-"));
    assert_eq!(v.dist.shasum.as_deref().map(str::len), Some(40));
    assert_eq!(
        cached.manifest("1.1.0").unwrap().bin,
        RawBin::Single("cli.js".to_owned())
    );
    assert_eq!(cached.dist_tags["latest"], "1.1.0");

    // Scoped and dotted names get their own file and load back.
    let scoped = fx
        .client(CacheMode::Revalidate)
        .packument("@scope/dotted.name")
        .await
        .unwrap();
    fx.cache_file("@scope%2fdotted.name.dxpk");
    let again = fx
        .client(CacheMode::Offline)
        .packument("@scope/dotted.name")
        .await
        .unwrap();
    assert_eq!(again, scoped);
}

/// Damages the cache file of `a` with `damage`, then checks the miss both ways.
async fn damaged_file_is_a_miss(damage: impl Fn(&mut Vec<u8>)) {
    let fx = Fixture::new();
    let fresh = fx
        .client(CacheMode::Revalidate)
        .packument("a")
        .await
        .unwrap();
    let file = fx.cache_file("/a.dxpk");
    let good = std::fs::read(&file).unwrap();
    let mut bytes = good.clone();
    damage(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();

    // Offline: reported as not cached, not as a parse error and not as a wrong packument.
    let err = fx
        .client(CacheMode::Offline)
        .packument("a")
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::OfflineMiss { .. }), "{err}");
    // prefer-offline: fetched again (a full 200, not a 304 against a lost entry) and rewritten.
    fx.registry.requests().clear();
    let refetched = fx
        .client(CacheMode::PreferOffline)
        .packument("a")
        .await
        .unwrap();
    assert_eq!(refetched, fresh);
    let log = fx.registry.requests().snapshot();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, 200);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        good,
        "the entry is rewritten whole"
    );
    assert_eq!(
        fx.client(CacheMode::Offline).packument("a").await.unwrap(),
        fresh
    );
}

#[tokio::test]
async fn truncated_cache_files_are_refetched() {
    for keep in [0usize, 3, 31, 32, 40] {
        damaged_file_is_a_miss(|b| b.truncate(keep)).await;
    }
    damaged_file_is_a_miss(|b| {
        let half = b.len() / 2;
        b.truncate(half);
    })
    .await;
    damaged_file_is_a_miss(|b| {
        b.pop();
    })
    .await;
}

#[tokio::test]
async fn flipped_bytes_in_cache_files_are_refetched() {
    // Magic, format version, length, checksum, directory, heap.
    for position in [0usize, 5, 9, 20, 40, 110] {
        damaged_file_is_a_miss(|b| b[position] ^= 0x01).await;
    }
}

#[tokio::test]
async fn a_damaged_manifest_reads_as_unreadable_and_a_refetch_replaces_the_entry() {
    let fx = Fixture::new();
    let fresh = fx
        .client(CacheMode::Revalidate)
        .packument("a")
        .await
        .unwrap();
    let file = fx.cache_file("/a.dxpk");
    let good = std::fs::read(&file).unwrap();
    // The last byte belongs to the last version's manifest, which is checked when decoded.
    let mut bytes = good.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    std::fs::write(&file, &bytes).unwrap();
    let client = fx.client(CacheMode::PreferOffline);
    let damaged = client.packument("a").await.unwrap();
    assert!(damaged.contains("1.1.0"));
    assert_eq!(
        damaged.manifest("1.1.0"),
        None,
        "damage is never a wrong manifest"
    );
    assert_eq!(damaged.manifest("1.0.0"), fresh.manifest("1.0.0"));
    // What the resolver's source does on such a miss: fetch again, and the entry is whole.
    let again = client.refetch_packument("a").await.unwrap();
    assert_eq!(again, fresh);
    assert_eq!(client.packument("a").await.unwrap(), fresh);
    assert_eq!(std::fs::read(&file).unwrap(), good);
}

#[tokio::test]
async fn a_revalidating_client_uses_the_binary_entry_on_304() {
    let fx = Fixture::new();
    let fresh = fx
        .client(CacheMode::Revalidate)
        .packument("a")
        .await
        .unwrap();
    fx.registry.requests().clear();
    let revalidated = fx
        .client(CacheMode::Revalidate)
        .packument("a")
        .await
        .unwrap();
    assert_eq!(revalidated, fresh);
    assert_eq!(fx.registry.requests().snapshot()[0].status, 304);
}
