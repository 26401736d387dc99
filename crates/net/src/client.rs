//! The npm registry client: packuments (abbreviated unless a caller needs the full form),
//! cached in the store and revalidated with ETag / Last-Modified, with retries; and the
//! authenticated, pooled HTTP client the tarball pipeline shares.

mod audit;
mod cache;
mod download;
pub(crate) mod http;
pub mod packument;
pub(crate) mod retry;
mod search;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use tokio::sync::OnceCell;

use crate::NetError;
use crate::config::RegistryConfig;
use crate::progress::{ProgressEvent, ProgressSink};
use cache::{CachedPackument, PackumentCache};
use http::build_http_client;
use packument::Packument;
use retry::{AttemptError, status_error, transport_error, with_retries};

/// What npm sends for the abbreviated document, falling back to full JSON.
pub const ACCEPT_ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// Escapes a package name for a registry URL as npm does: `@scope/name` → `@scope%2fname`.
pub fn escape_package_name(name: &str) -> String {
    name.replace('/', "%2f")
}

/// How the packument cache is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Revalidate cached packuments (a conditional request, 304 when unchanged).
    #[default]
    Revalidate,
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
            // Still fresh by the registry's `Cache-Control: max-age` (npm and Bun honour it
            // too): no request at all.
            (CacheMode::Revalidate, Some(hit))
                if self
                    .inner
                    .cache
                    .as_ref()
                    .is_some_and(|c| c.is_fresh(&registry, package)) =>
            {
                report(true);
                Ok(Arc::new(hit.packument))
            }
            (_, cached) => {
                let url = format!("{registry}/{}", escape_package_name(package));
                let cached = Arc::new(Mutex::new(cached));
                let fetched = with_retries(&self.inner.config, self.progress(), package, |_| {
                    self.fetch_packument(&registry, &url, package, cached.clone())
                })
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
        cached: Arc<Mutex<Option<CachedPackument>>>,
    ) -> Result<(Packument, bool), AttemptError> {
        let mut request = self.get(url).header(ACCEPT, ACCEPT_ABBREVIATED);
        {
            let cached = cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(hit) = cached.as_ref() {
                if let Some(etag) = &hit.etag {
                    request = request.header(IF_NONE_MATCH, etag);
                }
                if let Some(modified) = &hit.last_modified {
                    request = request.header(IF_MODIFIED_SINCE, modified);
                }
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, url, package))?;
        let status = response.status();
        let expires = freshness(response.headers()).map(|age| std::time::SystemTime::now() + age);
        if status == reqwest::StatusCode::NOT_MODIFIED {
            let hit = cached
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(hit) = hit {
                if let (Some(cache), Some(expires)) = (&self.inner.cache, expires) {
                    cache.set_expiry(registry, package, expires);
                }
                return Ok((hit.packument, true));
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
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, url, package))?;
        let packument: Packument = serde_json::from_slice(&body).map_err(|e| {
            AttemptError::Fatal(NetError::BadPackument {
                package: package.into(),
                url: url.into(),
                reason: e.to_string(),
            })
        })?;
        if let Some(cache) = &self.inner.cache {
            let entry = CachedPackument::new(etag, last_modified, packument);
            cache.store(registry, package, &entry);
            // Without max-age the file's own mtime (now) means "revalidate next time".
            if let Some(expires) = expires {
                cache.set_expiry(registry, package, expires);
            }
            return Ok((entry.packument, false));
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
        let url = format!("{registry}/{}", escape_package_name(package));
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
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(&e, &url, package))?;
            serde_json::from_slice(&body).map_err(|e| {
                AttemptError::Fatal(NetError::BadPackument {
                    package: package.into(),
                    url: url.clone(),
                    reason: e.to_string(),
                })
            })
        })
        .await
    }
}

/// How long a response may be used without revalidation: `Cache-Control: max-age=N` unless
/// `no-cache` or `no-store` is present; `None` when the response says nothing.
fn freshness(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-cache" || directive == "no-store" {
            return None;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            max_age = seconds.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
}
