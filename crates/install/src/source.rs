//! The resolver's [`PackageSource`] served by the registry client: blocking calls from the
//! resolver thread into the async client, with every packument request put in flight as soon
//! as a name is known. With a [`Remote`] it also serves tarball URLs, `file:` tarballs and git
//! dependencies (crate::fetch_other, crate::git), each fetched once per process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use dx_net::{NetError, RegistryClient};
use dx_resolve::source::{GitResolution, PackageSource, SourceError};
use dx_resolve::{Packument, VersionManifest};
use tokio::runtime::Handle;

use crate::fetch_other::{self, Remote};

/// Packuments from a registry (through the store's metadata cache).
pub struct RegistrySource {
    client: RegistryClient,
    runtime: Handle,
    prefetcher: Arc<Prefetcher>,
    /// Names already asked for (their likely dependencies are prefetched once).
    asked: Mutex<HashSet<String>>,
    remote: Option<Remote>,
    notes: Mutex<Vec<String>>,
}

/// Puts packument loads in flight on the runtime, off the resolver's thread. The resolver's
/// thread only queues names: the tasks that load them are created by a dispatcher task on the
/// runtime (a task costs an allocation and a scheduler round the size of a cached load, and
/// the resolver's thread is the one every resolution waits on).
struct Prefetcher {
    client: RegistryClient,
    runtime: Handle,
    /// Names already put in flight: each gets one prefetch task, however often the resolver
    /// and the speculation name it.
    in_flight: Mutex<HashSet<String>>,
    /// The dispatcher's queue, started on first use.
    queue: OnceLock<tokio::sync::mpsc::UnboundedSender<Job>>,
}

/// What the dispatcher is asked to start.
enum Job {
    /// Load these packuments (one task each, so network loads run side by side).
    Load(Vec<String>),
    /// Load a packument and prefetch its latest version's dependencies.
    Speculate(String),
}

impl Prefetcher {
    fn new(client: RegistryClient, runtime: Handle) -> Arc<Self> {
        Arc::new(Self {
            client,
            runtime,
            in_flight: Mutex::default(),
            queue: OnceLock::new(),
        })
    }

    /// Queues `job` for the dispatcher, starting it the first time.
    fn send(self: &Arc<Self>, job: Job) {
        let queue = self.queue.get_or_init(|| {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
            // The dispatcher holds the prefetcher weakly: it ends when the source is dropped.
            let this = Arc::downgrade(self);
            self.runtime.spawn(async move {
                while let Some(job) = rx.recv().await {
                    let Some(this) = this.upgrade() else { break };
                    match job {
                        Job::Load(names) => {
                            for name in names {
                                let client = this.client.clone();
                                tokio::spawn(async move {
                                    // Errors surface when the resolver asks for the name itself.
                                    let _ = client.packument(&name).await;
                                });
                            }
                        }
                        Job::Speculate(name) => {
                            tokio::spawn(async move { this.speculate_now(&name).await });
                        }
                    }
                }
            });
            tx
        });
        // A closed queue means the runtime is shutting down: nothing left to prefetch for.
        let _ = queue.send(job);
    }

    /// Puts the loads of `names` in flight, those not in flight already: one message to the
    /// dispatcher (one wake-up) for all of them.
    fn spawn<'n>(self: &Arc<Self>, names: impl IntoIterator<Item = &'n str>) {
        let fresh: Vec<String> = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let mut fresh = Vec::new();
            for name in names {
                if !in_flight.contains(name) {
                    in_flight.insert(name.to_owned());
                    fresh.push(name.to_owned());
                }
            }
            fresh
        };
        if !fresh.is_empty() {
            self.send(Job::Load(fresh));
        }
    }

    /// Prefetches the dependencies of `name`'s latest version: what the resolver is likely to
    /// ask for next. Decoding that manifest is a task of its own, so the resolver's thread
    /// does not wait for it.
    fn speculate(self: &Arc<Self>, name: &str) {
        self.send(Job::Speculate(name.to_owned()));
    }

    async fn speculate_now(self: &Arc<Self>, name: &str) {
        let Ok(packument) = self.client.packument(name).await else {
            return;
        };
        let Some(latest) = packument
            .dist_tags
            .get("latest")
            .and_then(|v| packument.manifest(v))
        else {
            return;
        };
        self.spawn(
            latest
                .dependencies
                .keys()
                .chain(latest.optional_dependencies.keys())
                .chain(latest.peer_dependencies.keys())
                .map(String::as_str),
        );
    }
}

/// Tarball manifests and git resolutions already fetched by this process (`dx add` learns a
/// package's name from them, then installs), keyed by store root and URL or specifier.
type Fetched<T> = Mutex<HashMap<(std::path::PathBuf, String), T>>;
static TARBALLS: OnceLock<Fetched<VersionManifest>> = OnceLock::new();
static GIT: OnceLock<Fetched<GitResolution>> = OnceLock::new();

impl RegistrySource {
    /// A source over `client`, running its requests on `runtime`.
    pub fn new(client: RegistryClient, runtime: Handle) -> Self {
        Self {
            prefetcher: Prefetcher::new(client.clone(), runtime.clone()),
            client,
            runtime,
            asked: Mutex::default(),
            remote: None,
            notes: Mutex::default(),
        }
    }

    /// The same source, also serving tarball URLs, `file:` tarballs and git dependencies of
    /// the project `remote` describes.
    pub fn with_remote(mut self, remote: Remote) -> Self {
        self.remote = Some(remote);
        self
    }

    /// What the user should know from what this source fetched (a git package's `prepare`
    /// that did not run), once each.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn remote(&self, what: String) -> Result<&Remote, SourceError> {
        self.remote
            .as_ref()
            .ok_or(SourceError::Unsupported { what })
    }
}

impl PackageSource for RegistrySource {
    fn packument(&self, name: &str) -> Result<Arc<Packument>, SourceError> {
        // The client shares one load per name: one already loaded (prefetched) is handed out
        // without entering the runtime; otherwise this thread waits for the load.
        let packument = match self.client.packument_loaded(name) {
            Some(packument) => packument,
            None => self
                .runtime
                .block_on(self.client.packument(name))
                .map_err(|e| source_error(name, e))?,
        };
        // Names the resolver is likely to ask for next (once per name: the first ask).
        let first = {
            let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
            !asked.contains(name) && asked.insert(name.to_owned())
        };
        if first {
            self.prefetcher.speculate(name);
        }
        Ok(packument)
    }

    fn manifest(
        &self,
        packument: &Packument,
        version: &str,
    ) -> Result<Option<VersionManifest>, SourceError> {
        if let Some(manifest) = packument.manifest(version) {
            return Ok(Some(manifest));
        }
        if !packument.contains(version) {
            return Ok(None);
        }
        // Listed but unreadable: the cached entry is damaged. A miss: fetch it again.
        let name = packument.name.as_str();
        let fresh = self
            .runtime
            .block_on(self.client.refetch_packument(name))
            .map_err(|e| source_error(name, e))?;
        match fresh.manifest(version) {
            Some(manifest) => Ok(Some(manifest)),
            None if fresh.contains(version) => Err(SourceError::Failed {
                name: format!("{name}@{version}"),
                message: "the registry's metadata for this version is unreadable".into(),
            }),
            None => Ok(None),
        }
    }

    fn prefetch(&self, names: &[&str]) {
        self.prefetcher.spawn(names.iter().copied());
    }

    fn tarball_manifest(&self, url: &str) -> Result<VersionManifest, SourceError> {
        let remote = self.remote(format!("tarball dependency {url}"))?;
        let key = (remote.store.root().to_path_buf(), url.to_owned());
        let memo = TARBALLS.get_or_init(Mutex::default);
        if let Some(hit) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let download = |url: &str| {
            self.runtime
                .block_on(self.client.download(url, url))
                .map_err(|e| e.to_string())
        };
        let manifest = fetch_other::tarball_manifest(remote, url, download).map_err(|message| {
            SourceError::Failed {
                name: url.strip_prefix("file:").unwrap_or(url).to_owned(),
                message,
            }
        })?;
        memo.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, manifest.clone());
        Ok(manifest)
    }

    fn git_package(&self, spec: &str) -> Result<GitResolution, SourceError> {
        let remote = self.remote(format!("git dependency {spec}"))?;
        let key = (remote.store.root().to_path_buf(), spec.to_owned());
        let memo = GIT.get_or_init(Mutex::default);
        if let Some(hit) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let mut notes = Vec::new();
        let resolution = fetch_other::git_package(remote, spec, &mut notes).map_err(|message| {
            SourceError::Failed {
                name: spec.to_owned(),
                message,
            }
        })?;
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(notes);
        memo.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, resolution.clone());
        Ok(resolution)
    }
}

fn source_error(name: &str, err: NetError) -> SourceError {
    match err {
        NetError::PackageNotFound { registry, .. } => SourceError::NotFound {
            name: name.to_owned(),
            registry: format!("registry {registry}"),
        },
        NetError::OfflineMiss { .. } => SourceError::Offline {
            name: name.to_owned(),
        },
        other => SourceError::Failed {
            name: name.to_owned(),
            message: other.to_string(),
        },
    }
}
