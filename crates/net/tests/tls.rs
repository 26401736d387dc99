//! https against a local TLS server (a test CA in tests/fixtures/tls, `cafile` pointing at it):
//! the system roots are read on the first handshake, not when the client is built; HTTP/2 is
//! negotiated by ALPN and later requests share the one connection; certificates are verified
//! unless `strict-ssl` is off. (Its own test binary: the roots flag is per process.)

mod tls_support;

use std::sync::atomic::Ordering;

use dx_net::{CacheMode, RegistryClient, RegistryConfig, native_roots_loaded};
use hyper::Version;
use tls_support::{fixture, tls_server};

fn client(port: u16, configure: impl FnOnce(&mut RegistryConfig)) -> RegistryClient {
    // `localhost`, not 127.0.0.1: the name goes through the shared resolver (/etc/hosts).
    let mut config = RegistryConfig::for_registry(&format!("https://localhost:{port}")).unwrap();
    config.fetch_retries = 0;
    configure(&mut config);
    RegistryClient::new(config, None, CacheMode::Revalidate).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_reads_roots_on_first_handshake_and_multiplexes_over_http2() {
    let (port, seen) = tls_server().await;
    let trusting = client(port, |c| c.cafile = Some(fixture("ca.pem")));
    assert!(
        !native_roots_loaded(),
        "building an https client reads no certificate"
    );

    let first = trusting.full_packument("first").await.unwrap();
    assert_eq!(first["name"], "/first");
    assert!(native_roots_loaded());
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);

    let burst = futures_util::future::join_all((0..16).map(|i| {
        let client = trusting.clone();
        async move { client.full_packument(&format!("p{i}")).await }
    }))
    .await;
    for (i, answer) in burst.into_iter().enumerate() {
        assert_eq!(answer.unwrap()["name"], format!("/p{i}"));
    }
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "the burst is multiplexed over the first connection"
    );
    let versions = seen.versions.lock().unwrap().clone();
    assert_eq!(versions.len(), 17);
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_2),
        "{versions:?}"
    );

    // Without the test CA the certificate is refused...
    let error = client(port, |_| {})
        .full_packument("refused")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("certificate"), "{error}");
    // ...unless strict-ssl is off.
    let lax = client(port, |c| c.strict_ssl = false);
    assert_eq!(lax.full_packument("lax").await.unwrap()["name"], "/lax");
}
