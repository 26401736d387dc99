//! https against a local TLS server (a test CA in tests/fixtures/tls, `cafile` pointing at it):
//! the system roots are read on the first handshake, not when the client is built; HTTP/2 is
//! negotiated by ALPN and later requests share the one connection; certificates are verified
//! unless `strict-ssl` is off. (Its own test binary: the roots flag is per process.)

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dx_net::{CacheMode, RegistryClient, RegistryConfig, native_roots_loaded};
use http_body_util::Full;
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// What the server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    versions: Mutex<Vec<Version>>,
}

/// A TLS server on 127.0.0.1 answering every GET with `{"name": <path>}`, HTTP/2 or 1.1 by ALPN.
async fn tls_server() -> (u16, Arc<Seen>) {
    let chain = CertificateDer::pem_file_iter(fixture("localhost.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let server_seen = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            server_seen.connections.fetch_add(1, Ordering::SeqCst);
            let (acceptor, seen) = (acceptor.clone(), server_seen.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    seen.versions.lock().unwrap().push(request.version());
                    let body = serde_json::json!({ "name": request.uri().path() }).to_string();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, seen)
}

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
