//! A `cafile` is read on the first TLS handshake, not when the client is built (npm's
//! configuration often names the whole system bundle): a broken one fails the https request
//! with a message naming the file, and a plain-http command never reads it.

mod tls_support;

use dx_net::{CacheMode, RegistryClient, RegistryConfig};
use tls_support::{fixture, tls_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_cafile_fails_the_handshake_naming_the_file() {
    let (port, _seen) = tls_server().await;
    let mut config = RegistryConfig::for_registry(&format!("https://localhost:{port}")).unwrap();
    config.fetch_retries = 0;
    config.cafile = Some("/nonexistent/dx-test-ca.pem".into());
    let client = RegistryClient::new(config, None, CacheMode::Revalidate)
        .expect("building the client reads no cafile");
    let error = client.full_packument("p").await.unwrap_err().to_string();
    assert!(
        error.contains("cannot read cafile `/nonexistent/dx-test-ca.pem`"),
        "{error}"
    );

    // The same client shape with the test CA still connects.
    let mut config = RegistryConfig::for_registry(&format!("https://localhost:{port}")).unwrap();
    config.fetch_retries = 0;
    config.cafile = Some(fixture("ca.pem"));
    let trusting = RegistryClient::new(config, None, CacheMode::Revalidate).unwrap();
    assert_eq!(trusting.full_packument("q").await.unwrap()["name"], "/q");
}

#[test]
fn a_plain_http_client_builds_with_an_unreadable_cafile() {
    let mut config = RegistryConfig::for_registry("http://127.0.0.1:9").unwrap();
    config.cafile = Some("/nonexistent/dx-test-ca.pem".into());
    assert!(RegistryClient::new(config, None, CacheMode::Revalidate).is_ok());
}
