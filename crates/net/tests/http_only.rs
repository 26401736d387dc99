//! A plain-http registry never costs the TLS roots: packuments, full packuments and downloads
//! over http:// leave the system's certificate store unread. (Its own test binary: the flag is
//! per process, and no other test here may use https.)

use dx_net::{CacheMode, RegistryClient, RegistryConfig, TestRegistry, native_roots_loaded};
use serde_json::json;

#[tokio::test]
async fn an_http_registry_never_reads_the_tls_roots() {
    let dir = tempfile::tempdir().unwrap();
    dx_net::write_test_package(dir.path(), "a", "1.0.0", json!({}), &[]);
    let registry = TestRegistry::start(dir.path());
    let config = RegistryConfig::for_registry(registry.url()).unwrap();
    let client = RegistryClient::new(config, None, CacheMode::Revalidate).unwrap();
    let packument = client.packument("a").await.unwrap();
    client.full_packument("a").await.unwrap();
    let tarball = packument.manifest("1.0.0").unwrap().dist.tarball.unwrap();
    assert!(tarball.starts_with("http://127.0.0.1:"), "{tarball}");
    assert!(!client.download(&tarball, "a").await.unwrap().is_empty());
    assert!(!native_roots_loaded());
}
