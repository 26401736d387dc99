//! The npm registry client: packuments (abbreviated unless a caller needs the full form),
//! cached in the store and revalidated with ETag / Last-Modified, with retries; and the
//! authenticated, pooled HTTP client the tarball pipeline shares.

mod audit;
mod cache;
mod download;
pub(crate) mod http;
pub(crate) mod retry;
mod search;
pub(crate) mod stall;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use tokio::sync::OnceCell;

use crate::NetError;
use crate::config::RegistryConfig;
use crate::progress::{ProgressEvent, ProgressSink};
use cache::PackumentCache;
use dx_metadata::{Meta, Packument, RawPackument};
use http::build_http_client;
use retry::{AttemptError, status_error, transport_error, with_retries};

/// What npm sends for the abbreviated document, falling back to full JSON.
pub const ACCEPT_ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// Escapes a package name for a registry URL as npm does: `@scope/name` → `@scope%2fname`.
pub fn escape_package_name(name: &str) -> String {
    name.replace('/', "%2f")
}

/// How long cached metadata is trusted without a request when the registry's response said
/// nothing about freshness (no `Cache-Control`): five minutes, the `max-age` the public npm
/// registry itself sends. Registries and proxies that send no validators at all would otherwise
/// be asked for every packument, in full, on every resolution. `--prefer-online` asks anyway.
pub const DEFAULT_FRESHNESS: std::time::Duration = std::time::Duration::from_secs(300);

/// How the packument cache is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Use a cached packument while it is fresh (the response's `Cache-Control: max-age`, or
    /// [`DEFAULT_FRESHNESS`] when it had none); revalidate a stale one (a conditional request,
    /// 304 when unchanged).
    #[default]
    Revalidate,
    /// `--prefer-online`: revalidate every cached packument, fresh or not.
    PreferOnline,
    /// `--prefer-offline`: use a cached packument without asking; fetch only on a miss.
    PreferOffline,
    /// `--offline`: never touch the network; a miss is an error.
    Offline,
}

/// A registry client; cheap to clone (everything is shared).
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: RegistryConfig,
    http: reqwest::Client,
    cache: Option<PackumentCache>,
    mode: CacheMode,
    progress: Option<ProgressSink>,
    /// One fetch per package name per client, however many callers ask at once.
    packuments: Mutex<HashMap<String, Arc<OnceCell<Arc<Packument>>>>>,
}

impl RegistryClient {
    /// A client for `config`, caching packuments under `metadata_dir` when given (normally
    /// `Store::metadata_dir()`).
    pub fn new(
        config: RegistryConfig,
        metadata_dir: Option<PathBuf>,
        mode: CacheMode,
    ) -> Result<Self, NetError> {
        let http = build_http_client(&config)?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                config,
                http,
                cache: metadata_dir.as_deref().map(PackumentCache::new),
                mode,
                progress: None,
                packuments: Mutex::default(),
            }),
        })
    }

    /// The same client (same configuration, cache and connection pool) reporting progress to
    /// `sink`. In-flight packument sharing starts afresh for the returned client.
    pub fn with_progress(self, sink: ProgressSink) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(ClientInner {
                config: inner.config.clone(),
                http: inner.http.clone(),
                cache: inner.cache.clone(),
                mode: inner.mode,
                progress: Some(sink),
                packuments: Mutex::default(),
            }),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// The cache mode in use.
    pub fn mode(&self) -> CacheMode {
        self.inner.mode
    }

    pub(crate) fn progress(&self) -> Option<&ProgressSink> {
        self.inner.progress.as_ref()
    }

    /// A GET for `url`, with the credential configured for that URL and no other.
    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        http::prepare_request(url);
        let request = self.inner.http.get(url);
        match self.inner.config.credential_for(url) {
            Some(credential) => request.header(AUTHORIZATION, credential.header_value()),
            None => request,
        }
    }

    fn registry_for(&self, package: &str) -> Result<&str, NetError> {
        self.inner
            .config
            .registry_for(package)
            .ok_or_else(|| NetError::NoRegistryConfigured {
                reason: "no default registry was resolved".into(),
            })
    }

    /// The abbreviated packument of `package`, from the cache or the registry (see
    /// [`CacheMode`]). Concurrent calls for the same name share one request.
    pub async fn packument(&self, package: &str) -> Result<Arc<Packument>, NetError> {
        let cell = {
            let mut map = self
                .inner
                .packuments
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(package.to_owned()).or_default().clone()
        };
        cell.get_or_try_init(|| self.load_packument(package))
            .await
            .cloned()
    }

    /// The packument of `package` if a load of it in this client has already finished (a
    /// prefetch): no waiting, no runtime needed. `None` when it has not started, is still in
    /// flight or failed ([`Self::packument`] says why).
    pub fn packument_loaded(&self, package: &str) -> Option<Arc<Packument>> {
        let map = self
            .inner
            .packuments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(package).and_then(|cell| cell.get().cloned())
    }

    /// The packument of `package` fetched again from the registry, whatever the cache holds:
    /// for a cached entry found damaged after it was opened (a manifest that fails its
    /// checksum). The new document replaces the cache entry and what [`Self::packument`]
    /// hands out from now on. Refused offline.
    pub async fn refetch_packument(&self, package: &str) -> Result<Arc<Packument>, NetError> {
        if self.inner.mode == CacheMode::Offline {
            return Err(NetError::OfflineMiss {
                package: package.to_owned(),
            });
        }
        let registry = self.registry_for(package)?.to_owned();
        let url = packument_url(&registry, package);
        let (packument, _) = with_retries(&self.inner.config, self.progress(), package, |_| {
            self.fetch_packument(&registry, &url, package, None)
        })
        .await?;
        let packument = Arc::new(packument);
        let cell = Arc::new(OnceCell::new_with(Some(packument.clone())));
        self.inner
            .packuments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(package.to_owned(), cell);
        Ok(packument)
    }

    async fn load_packument(&self, package: &str) -> Result<Arc<Packument>, NetError> {
        let registry = self.registry_for(package)?.to_owned();
        let cached = self
            .inner
            .cache
            .as_ref()
            .and_then(|c| c.load(&registry, package));
        let report = |from_cache: bool| {
            if let Some(sink) = self.progress() {
                sink(ProgressEvent::MetadataResolved {
                    package: Arc::from(package),
                    from_cache,
                });
            }
        };
        match (self.inner.mode, cached) {
            (CacheMode::Offline, None) => Err(NetError::OfflineMiss {
                package: package.to_owned(),
            }),
            (CacheMode::Offline | CacheMode::PreferOffline, Some(hit)) => {
                report(true);
                Ok(Arc::new(hit.packument))
            }
            // Still fresh (the registry's `Cache-Control: max-age`, which npm and Bun honour
            // too, or DEFAULT_FRESHNESS when it sent none): no request at all.
            (CacheMode::Revalidate, Some(hit)) if hit.expires > std::time::SystemTime::now() => {
                report(true);
                Ok(Arc::new(hit.packument))
            }
            (_, cached) => {
                let url = packument_url(&registry, package);
                let cached = cached.map(|hit| hit.packument);
                // Boxed: the network path's state is large, and every load's future (a
                // prefetch task each) would otherwise carry it, cache hits included.
                let fetched = Box::pin(with_retries(
                    &self.inner.config,
                    self.progress(),
                    package,
                    |_| self.fetch_packument(&registry, &url, package, cached.as_ref()),
                ))
                .await?;
                report(fetched.1);
                Ok(Arc::new(fetched.0))
            }
        }
    }

    /// One attempt: a conditional GET when cached; `(packument, from_cache)`.
    async fn fetch_packument(
        &self,
        registry: &str,
        url: &str,
        package: &str,
        cached: Option<&Packument>,
    ) -> Result<(Packument, bool), AttemptError> {
        let mut request = self.get(url).header(ACCEPT, ACCEPT_ABBREVIATED);
        let validators = cached.map(Packument::meta);
        if let Some(meta) = &validators {
            if let Some(etag) = &meta.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(modified) = &meta.last_modified {
                request = request.header(IF_MODIFIED_SINCE, modified);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, url, package))?;
        let status = response.status();
        let expires = std::time::SystemTime::now() + freshness(response.headers());
        if status == reqwest::StatusCode::NOT_MODIFIED {
            if let Some(hit) = cached {
                if let Some(cache) = &self.inner.cache {
                    cache.set_expiry(registry, package, expires);
                }
                return Ok((hit.clone(), true));
            }
            return Err(AttemptError::Fatal(NetError::HttpStatus {
                url: url.into(),
                what: package.into(),
                status: 304,
            }));
        }
        if !status.is_success() {
            return Err(status_error(
                status,
                response.headers(),
                url,
                registry,
                package,
                || NetError::PackageNotFound {
                    package: package.to_owned(),
                    registry: registry.to_owned(),
                },
            ));
        }
        let header = |name| header_text(&response, name);
        let meta = Meta {
            registry: registry.to_owned(),
            package: package.to_owned(),
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let content_type = header(CONTENT_TYPE);
        let stall = self.inner.config.fetch_stall_timeout;
        let body = stall::read_body(response, stall, url, package).await?;
        let raw: RawPackument = packument_json(&body, content_type.as_deref(), url, package)?;
        let packument = Packument::from_raw(&raw, &meta);
        if let Some(cache) = &self.inner.cache {
            cache.store(registry, package, &packument, expires);
        }
        Ok((packument, false))
    }

    /// The full packument as JSON, for the few fields the abbreviated form lacks (`time`,
    /// `readme`, ...). Not cached.
    pub async fn full_packument(&self, package: &str) -> Result<serde_json::Value, NetError> {
        if self.inner.mode == CacheMode::Offline {
            return Err(NetError::OfflineMiss {
                package: package.to_owned(),
            });
        }
        let registry = self.registry_for(package)?.to_owned();
        let url = packument_url(&registry, package);
        with_retries(&self.inner.config, self.progress(), package, |_| async {
            let response = self
                .get(&url)
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| transport_error(&e, &url, package))?;
            let status = response.status();
            if !status.is_success() {
                return Err(status_error(
                    status,
                    response.headers(),
                    &url,
                    &registry,
                    package,
                    || NetError::PackageNotFound {
                        package: package.to_owned(),
                        registry: registry.clone(),
                    },
                ));
            }
            let content_type = header_text(&response, CONTENT_TYPE);
            let stall = self.inner.config.fetch_stall_timeout;
            let body = stall::read_body(response, stall, &url, package).await?;
            packument_json(&body, content_type.as_deref(), &url, package)
        })
        .await
    }
}

/// A packument body decoded as `T`; not JSON (an HTML page, a truncated body) is a fatal
/// [`NetError::BadPackument`] naming the package and URL.
fn packument_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    content_type: Option<&str>,
    url: &str,
    package: &str,
) -> Result<T, AttemptError> {
    serde_json::from_slice(body).map_err(|e| {
        AttemptError::Fatal(NetError::BadPackument {
            package: package.into(),
            url: url.into(),
            reason: not_json_reason(body, content_type, &e),
        })
    })
}

/// A response header as text, when present and valid.
fn header_text(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Why a metadata body did not parse, for the user: an HTML page (a proxy's error or login
/// page served with status 200) is named as such instead of a JSON parser's position.
fn not_json_reason(body: &[u8], content_type: Option<&str>, error: &serde_json::Error) -> String {
    let start = body.trim_ascii_start();
    let html = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
        || start
            .get(..9)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"<!doctype"))
        || start
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"<html"));
    if html {
        "the registry answered with an HTML page, not JSON metadata (a proxy's error or login \
         page?)"
            .to_string()
    } else {
        format!("not valid JSON: {error}")
    }
}

/// Where `package`'s packument is on `registry` (no trailing slash): the name escaped as npm does.
pub(crate) fn packument_url(registry: &str, package: &str) -> String {
    format!("{registry}/{}", escape_package_name(package))
}

/// How long a response may be used without revalidation: `Cache-Control: max-age=N`; none
/// at all under `no-cache`, `no-store` or `max-age=0`; [`DEFAULT_FRESHNESS`] when the response
/// has no `Cache-Control` (or none dx can read).
fn freshness(headers: &reqwest::header::HeaderMap) -> std::time::Duration {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return DEFAULT_FRESHNESS;
    };
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-cache" || directive == "no-store" {
            return std::time::Duration::ZERO;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age.map_or(DEFAULT_FRESHNESS, std::time::Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};

    fn with(value: Option<&'static str>) -> std::time::Duration {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(v));
        }
        freshness(&headers)
    }

    #[test]
    fn freshness_follows_cache_control_and_defaults_when_there_is_none() {
        use std::time::Duration;
        assert_eq!(with(None), DEFAULT_FRESHNESS);
        assert_eq!(with(Some("public, max-age=60")), Duration::from_secs(60));
        assert_eq!(with(Some("max-age=0")), Duration::ZERO);
        assert_eq!(with(Some("no-cache")), Duration::ZERO);
        assert_eq!(with(Some("public, no-store, max-age=60")), Duration::ZERO);
        assert_eq!(with(Some("public")), DEFAULT_FRESHNESS);
    }
}
