//! Tarballs into the store: many downloads in flight over pooled connections, each streamed
//! through integrity hashing and DXP conversion as it arrives (no temp file, no second pass),
//! retried on transport failures, and never downloaded when the store already has it.

mod channel_reader;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dx_formats::dxp::BuildLimits;
use dx_formats::hash::{ContentHash, Integrity};
use dx_store::{Store, StoreError};
use tokio::sync::{Semaphore, mpsc};

use crate::NetError;
use crate::client::RegistryClient;
use crate::client::retry::{AttemptError, status_error, transport_error, with_retries};
use crate::client::stall::StallGuard;
use crate::progress::ProgressEvent;
use channel_reader::{CHANNEL_CHUNKS, ChannelReader};

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
    limits: BuildLimits,
    permits: Semaphore,
    /// Integrity → lock, so one process never downloads the same tarball twice at once.
    in_flight: Mutex<HashMap<Integrity, Arc<tokio::sync::Mutex<()>>>>,
}

impl TarballFetcher {
    /// A fetcher using `client`'s connections and `network-concurrency`.
    pub fn new(client: RegistryClient, store: Arc<Store>, limits: BuildLimits) -> Self {
        let permits = Semaphore::new(client.config().network_concurrency.max(1));
        Self {
            inner: Arc::new(FetcherInner {
                client,
                store,
                limits,
                permits,
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
            .map_err(|_| NetError::Import {
                package: request.package.clone(),
                reason: "the fetcher was shut down".into(),
            })?;
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
        let (chunks, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
        let store = self.inner.store.clone();
        let limits = self.inner.limits;
        let integrity = request.integrity.clone();
        let name = request.package.clone();
        let import = tokio::task::spawn_blocking(move || {
            store.import_tarball(&name, ChannelReader::new(receiver), &integrity, &limits)
        });
        let mut body = response.bytes_stream();
        let mut downloaded = 0u64;
        let mut network_failure = None;
        let mut guard = StallGuard::new(self.inner.client.config().fetch_stall_timeout);
        loop {
            let failure = match guard.next(&mut body).await {
                Ok(None) => break,
                Ok(Some(Ok(bytes))) => {
                    downloaded += bytes.len() as u64;
                    self.report(ProgressEvent::DownloadBytes {
                        package: package.clone(),
                        bytes: bytes.len() as u64,
                    });
                    if chunks.send(Ok(bytes)).await.is_err() {
                        break; // the importer stopped early; its result says why
                    }
                    continue;
                }
                Ok(Some(Err(error))) => transport_error(&error, url, what),
                Err(stalled) => stalled.attempt_error(url, what),
            };
            // The importer stops on this; the network failure is what the attempt reports.
            let _ = chunks
                .send(Err(std::io::Error::other("download interrupted")))
                .await;
            network_failure = Some(failure);
            break;
        }
        drop(chunks);
        let imported = import.await.map_err(|e| {
            AttemptError::Fatal(NetError::Import {
                package: what.into(),
                reason: format!("importer failed: {e}"),
            })
        })?;
        if let Some(failure) = network_failure {
            return Err(failure); // retried: nothing was stored (the importer saw the error)
        }
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
