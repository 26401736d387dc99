//! Tarballs into the store: many downloads in flight over pooled connections, each kept in
//! memory as it arrives and then converted (integrity hash and DXP in one pass, no temp file)
//! by one of as many converters as there are cores; retried on transport failures, and never
//! downloaded when the store already has it.
//!
//! Converting while the bytes arrived (one blocking thread per download, fed through a
//! channel) had every download in flight own a thread: 64 threads on two cores for a cold
//! install, each converting into memory of its own that the kernel had to zero first. With
//! the downloads buffered, a few threads convert one package after another in warm memory.

mod chunks_reader;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dx_formats::dxp::BuildLimits;
use dx_formats::hash::{ContentHash, Integrity};
use dx_store::{ImportBatch, Store, StoreError};
use tokio::sync::Semaphore;

use crate::NetError;
use crate::client::RegistryClient;
use crate::client::retry::{AttemptError, status_error, transport_error, with_retries};
use crate::client::stall::StallGuard;
use crate::progress::ProgressEvent;
use chunks_reader::ChunksReader;

/// One tarball to bring into the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarballRequest {
    /// `name@version`, for messages and progress.
    pub package: String,
    /// The tarball URL (`dist.tarball` or the lockfile's `resolved`).
    pub url: String,
    /// What its bytes must hash to.
    pub integrity: Integrity,
}

/// A tarball that is now in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTarball {
    /// `name@version`.
    pub package: String,
    /// The stored archive.
    pub hash: ContentHash,
    /// Tarball bytes downloaded (0 when it was in the store already).
    pub downloaded_bytes: u64,
    /// Whether it was in the store already.
    pub already_stored: bool,
}

/// Fetches tarballs into one store with bounded concurrency; cheap to clone, so a resolver can
/// [`spawn`](TarballFetcher::spawn) each download the moment it knows the package.
///
/// Every archive goes in through [`Store::import_tarball`], which takes the store's insert guard
/// for the insert itself; between a fetch and the registration of the project that uses it,
/// only the caller's own [`Store::insert_guard`] keeps gc away (docs/store.md, lock protocol).
#[derive(Clone)]
pub struct TarballFetcher {
    inner: Arc<FetcherInner>,
}

struct FetcherInner {
    client: RegistryClient,
    store: Arc<Store>,
    /// Where imports go when they are committed together ([`TarballFetcher::staged`]).
    batch: Option<Arc<ImportBatch>>,
    limits: BuildLimits,
    /// Downloads in flight (`network-concurrency`).
    permits: Semaphore,
    /// Conversions running: one per core, since each is CPU work from start to end.
    converters: Semaphore,
    /// Integrity → lock, so one process never downloads the same tarball twice at once.
    in_flight: Mutex<HashMap<Integrity, Arc<tokio::sync::Mutex<()>>>>,
}

impl TarballFetcher {
    /// A fetcher using `client`'s connections and `network-concurrency`.
    pub fn new(client: RegistryClient, store: Arc<Store>, limits: BuildLimits) -> Self {
        Self::with(client, store, None, limits)
    }

    /// A fetcher whose imports go into `batch` (and its store) instead of straight into the
    /// store: they are in place once the caller commits the batch; until then this fetcher's
    /// store check finds them in the batch.
    pub fn staged(client: RegistryClient, batch: Arc<ImportBatch>, limits: BuildLimits) -> Self {
        Self::with(client, Arc::clone(batch.store()), Some(batch), limits)
    }

    fn with(
        client: RegistryClient,
        store: Arc<Store>,
        batch: Option<Arc<ImportBatch>>,
        limits: BuildLimits,
    ) -> Self {
        let permits = Semaphore::new(client.config().network_concurrency.max(1));
        Self {
            inner: Arc::new(FetcherInner {
                client,
                store,
                batch,
                limits,
                permits,
                converters: Semaphore::new(
                    std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                ),
                in_flight: Mutex::default(),
            }),
        }
    }

    /// Starts fetching now, on the current runtime.
    pub fn spawn(
        &self,
        request: TarballRequest,
    ) -> tokio::task::JoinHandle<Result<StoredTarball, NetError>> {
        let this = self.clone();
        tokio::spawn(async move { this.fetch(&request).await })
    }

    /// Fetches everything, all in flight at once up to the concurrency; results in input order.
    pub async fn fetch_all(
        &self,
        requests: Vec<TarballRequest>,
    ) -> Vec<Result<StoredTarball, NetError>> {
        let handles: Vec<_> = requests
            .into_iter()
            .map(|r| (r.package.clone(), self.spawn(r)))
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for (package, handle) in handles {
            results.push(handle.await.unwrap_or_else(|e| {
                Err(NetError::Import {
                    package,
                    reason: format!("task failed: {e}"),
                })
            }));
        }
        results
    }

    /// Brings one tarball into the store, unless it is there already.
    pub async fn fetch(&self, request: &TarballRequest) -> Result<StoredTarball, NetError> {
        let package: Arc<str> = Arc::from(request.package.as_str());
        let same_tarball = {
            let mut map = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(request.integrity.clone()).or_default().clone()
        };
        let _only_one_download = same_tarball.lock().await;
        if let Some(hash) = self.already_stored(request)? {
            self.report(ProgressEvent::Stored {
                package,
                bytes: 0,
                already_stored: true,
            });
            return Ok(StoredTarball {
                package: request.package.clone(),
                hash,
                downloaded_bytes: 0,
                already_stored: true,
            });
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| shut_down(&request.package))?;
        self.report(ProgressEvent::DownloadStarted {
            package: package.clone(),
        });
        let client = &self.inner.client;
        let stored = with_retries(client.config(), client.progress(), &request.package, |_| {
            self.attempt(request, &package)
        })
        .await;
        // Later callers find it in the store (or retry a failure afresh); waiters still hold
        // the old lock and check the store after it.
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&request.integrity);
        let stored = stored?;
        self.report(ProgressEvent::Stored {
            package,
            bytes: stored.downloaded_bytes,
            already_stored: false,
        });
        Ok(stored)
    }

    fn already_stored(&self, request: &TarballRequest) -> Result<Option<ContentHash>, NetError> {
        if let Some(hash) = self
            .inner
            .batch
            .as_ref()
            .and_then(|b| b.staged_hash(&request.integrity))
        {
            return Ok(Some(hash));
        }
        let found = self
            .inner
            .store
            .lookup_integrity(&request.integrity)
            .map_err(|e| NetError::Import {
                package: request.package.clone(),
                reason: e.to_string(),
            })?;
        Ok(found.filter(|hash| self.inner.store.contains(hash)))
    }

    fn report(&self, event: ProgressEvent) {
        if let Some(sink) = self.inner.client.progress() {
            sink(event);
        }
    }

    /// One download, streamed into the importer on a blocking thread.
    async fn attempt(
        &self,
        request: &TarballRequest,
        package: &Arc<str>,
    ) -> Result<StoredTarball, AttemptError> {
        let url = request.url.as_str();
        let what = request.package.as_str();
        let response = self
            .inner
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(&e, url, what))?;
        let status = response.status();
        if !status.is_success() {
            let registry = dx_formats::registry_url::registry_of_tarball_url(url).to_owned();
            return Err(status_error(
                status,
                response.headers(),
                url,
                &registry,
                what,
                || NetError::HttpStatus {
                    url: url.to_owned(),
                    what: what.to_owned(),
                    status: 404,
                },
            ));
        }
        let mut body = response.bytes_stream();
        let mut chunks = Vec::new();
        let mut downloaded = 0u64;
        let mut guard = StallGuard::new(self.inner.client.config().fetch_stall_timeout);
        loop {
            match guard.next(&mut body).await {
                Ok(None) => break,
                Ok(Some(Ok(bytes))) => {
                    downloaded += bytes.len() as u64;
                    self.report(ProgressEvent::DownloadBytes {
                        package: package.clone(),
                        bytes: bytes.len() as u64,
                    });
                    chunks.push(bytes);
                }
                // Retried: nothing was stored.
                Ok(Some(Err(error))) => return Err(transport_error(&error, url, what)),
                Err(stalled) => return Err(stalled.attempt_error(url, what)),
            }
        }
        let _converter = self
            .inner
            .converters
            .acquire()
            .await
            .map_err(|_| AttemptError::Fatal(shut_down(what)))?;
        let store = self.inner.store.clone();
        let batch = self.inner.batch.clone();
        let limits = self.inner.limits;
        let integrity = request.integrity.clone();
        let name = request.package.clone();
        let imported = tokio::task::spawn_blocking(move || {
            let reader = ChunksReader::new(chunks);
            match batch {
                Some(batch) => batch.import_tarball(&name, reader, &integrity, &limits),
                None => store.import_tarball(&name, reader, &integrity, &limits),
            }
        })
        .await
        .map_err(|e| {
            AttemptError::Fatal(NetError::Import {
                package: what.into(),
                reason: format!("importer failed: {e}"),
            })
        })?;
        match imported {
            Ok(imported) => Ok(StoredTarball {
                package: what.to_owned(),
                hash: imported.hash,
                downloaded_bytes: downloaded,
                already_stored: false,
            }),
            Err(StoreError::IntegrityMismatch { expected, .. }) => {
                Err(AttemptError::Fatal(NetError::IntegrityMismatch {
                    package: what.to_owned(),
                    expected: expected.to_string(),
                    url: url.to_owned(),
                }))
            }
            Err(other) => Err(AttemptError::Fatal(NetError::Import {
                package: what.to_owned(),
                reason: other.to_string(),
            })),
        }
    }
}

/// The error of a fetch whose fetcher's semaphores were closed.
fn shut_down(package: &str) -> NetError {
    NetError::Import {
        package: package.to_owned(),
        reason: "the fetcher was shut down".into(),
    }
}
