//! dx's registry server proxying an https upstream (`--upstream https://…`): its client trusts
//! the system roots, read on first use. `SSL_CERT_FILE` (honoured for the system store, as
//! before) points the store at the test CA. Its own test binary: the variable is set before
//! anything in the process reads the environment from another thread.

mod tls_support;

use dx_net::ServerConfig;
use tls_support::{fixture, tls_server};

#[test]
fn the_caching_proxy_reaches_an_https_upstream() {
    // SAFETY: this binary's only test sets the variable before it starts a runtime; the test
    // harness's other thread only waits for it.
    unsafe { std::env::set_var("SSL_CERT_FILE", fixture("ca.pem")) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (port, seen) = tls_server().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path());
        config.upstream = Some(format!("https://localhost:{port}"));
        let proxy = dx_net::serve(config).await.unwrap();
        let response = reqwest::get(format!("{}/pkg", proxy.url())).await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["name"], "/pkg");
        assert_eq!(
            seen.versions.lock().unwrap().len(),
            1,
            "the upstream was asked"
        );
    });
}
