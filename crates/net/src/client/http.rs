//! The HTTP client every registry request goes through: one connection pool per
//! [`RegistryClient`](super::RegistryClient) (and its clones), authenticated per URL by the caller.
//!
//! What it costs before the first byte is kept to what the request needs:
//! - TLS roots are read on the first certificate a server presents ([`tls`]): a plain-http
//!   registry never opens `/etc/ssl`;
//! - each host is looked up once per process and shared by every connection ([`dns`]); IP
//!   literals are never looked up;
//! - over https the client offers HTTP/2 by ALPN, so a registry that speaks it gets one
//!   connection per host carrying every request (hyper's pool hands the negotiated connection to
//!   every request waiting for that host). Requests that start while the first connection is
//!   still being set up do not wait for it: each races a connection of its own against the
//!   pool, the first h2 connection up serves them all and the other attempts are dropped. Over
//!   plain HTTP/1.1 up to `network-concurrency` connections are kept alive per host.

mod dns;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use crate::NetError;
use crate::config::RegistryConfig;

#[cfg(any(test, feature = "test-support"))]
pub use tls::native_roots_loaded;

/// How long a connection is given to be established (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The reqwest client for `config`: user agent, timeouts, proxies, TLS settings (`strict-ssl`,
/// `cafile`) and the shared resolver.
pub(crate) fn build_http_client(config: &RegistryConfig) -> Result<reqwest::Client, NetError> {
    build(config, USER_AGENT, dns::SharedResolver::system())
}

/// The client dx's registry server uses to reach its upstream (`--upstream`): default settings
/// (system roots, no credential), its own user agent, the same lazy roots and shared resolver.
pub(crate) fn build_upstream_client() -> Result<reqwest::Client, NetError> {
    build(
        &RegistryConfig::default(),
        concat!("dx-registry/", env!("CARGO_PKG_VERSION")),
        dns::SharedResolver::system(),
    )
}

/// What dx says it is to registries.
const USER_AGENT: &str = concat!("dx/", env!("CARGO_PKG_VERSION"), " (npm-compatible)");

/// Called before each request to `url`: over https, starts reading the TLS roots in the
/// background (once per process) so the handshake finds them ready.
pub(crate) fn prepare_request(url: &str) {
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        tls::preload_native_roots();
    }
}

fn build(
    config: &RegistryConfig,
    user_agent: &'static str,
    resolver: Arc<dns::SharedResolver>,
) -> Result<reqwest::Client, NetError> {
    let setup = |e: reqwest::Error| NetError::ClientSetup(super::retry::describe(&e));
    let mut builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .use_preconfigured_tls(tls::client_config(config)?)
        .dns_resolver(resolver)
        .pool_max_idle_per_host(config.network_concurrency)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(config.fetch_timeout)
        .tcp_nodelay(true);
    // A server that sends nothing at all (headers included) for the stall timeout.
    if let Some(stall) = config.fetch_stall_timeout {
        builder = builder.read_timeout(stall);
    }
    let no_proxy = config
        .noproxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    if let Some(proxy) = &config.https_proxy {
        builder = builder.proxy(
            reqwest::Proxy::https(proxy)
                .map_err(setup)?
                .no_proxy(no_proxy.clone()),
        );
    }
    if let Some(proxy) = &config.proxy {
        builder = builder.proxy(
            reqwest::Proxy::http(proxy)
                .map_err(setup)?
                .no_proxy(no_proxy),
        );
    }
    builder.build().map_err(setup)
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::IpAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::TestRegistry;

    /// A resolver that counts its lookups and answers 127.0.0.1 for `*.test`, fails otherwise.
    fn counting_resolver() -> (Arc<dns::SharedResolver>, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let lookup: dns::Lookup = Arc::new(move |host: &str| {
            counter.fetch_add(1, Ordering::SeqCst);
            // Slow enough that every connection of the burst asks while it is in flight.
            std::thread::sleep(Duration::from_millis(50));
            if host.ends_with(".test") {
                Ok(vec![IpAddr::from([127, 0, 0, 1])])
            } else {
                Err(io::Error::other("Name or service not known"))
            }
        });
        (Arc::new(dns::SharedResolver::new(lookup)), calls)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_to_one_host_look_it_up_once() {
        let dir = tempfile::tempdir().unwrap();
        let registry = TestRegistry::start(dir.path());
        let (resolver, lookups) = counting_resolver();
        let mut config = RegistryConfig::default();
        config.network_concurrency = 4;
        let client = build(&config, USER_AGENT, resolver).unwrap();
        let url = format!("http://registry.test:{}/missing", registry.addr().port());
        let requests: Vec<_> = (0..24)
            .map(|_| {
                let request = client.get(&url).send();
                tokio::spawn(request)
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap().unwrap().status(), 404);
        }
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert!(
            registry.requests().snapshot().len() >= 24,
            "every request reached the registry"
        );
    }

    #[tokio::test]
    async fn ip_literal_hosts_skip_the_resolver() {
        let dir = tempfile::tempdir().unwrap();
        let registry = TestRegistry::start(dir.path());
        let (resolver, lookups) = counting_resolver();
        let client = build(&RegistryConfig::default(), USER_AGENT, resolver).unwrap();
        let url = format!("{}/missing", registry.url());
        assert!(url.starts_with("http://127.0.0.1:"));
        assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
        assert_eq!(lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failed_lookup_names_the_host_in_the_error() {
        let (resolver, _) = counting_resolver();
        let client = build(&RegistryConfig::default(), USER_AGENT, resolver).unwrap();
        let error = client
            .get("http://no-such-registry.example:4873/pkg")
            .send()
            .await
            .unwrap_err();
        let text = super::super::retry::describe(&error);
        assert!(
            text.contains("cannot resolve host `no-such-registry.example`"),
            "{text}"
        );
    }
}
