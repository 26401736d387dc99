//! Test support for every crate: a registry server on 127.0.0.1 that needs no tokio in the
//! caller, and synthetic package tarballs.
//!
//! These panic on failure (with a message saying what failed): they exist for tests, where a
//! broken fixture should stop the test at once. Compiled only with the `test-support` feature
//! (and for this crate's own tests): no production build carries them.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::NetError;
use crate::server::{FaultInjector, RequestLog, ServerConfig, ServerState, rescan, serve};

/// A registry server running on its own thread and runtime; stops when dropped.
///
/// Usable from plain `#[test]`s and from inside async tests alike.
pub struct TestRegistry {
    url: String,
    addr: SocketAddr,
    faults: Arc<FaultInjector>,
    requests: Arc<RequestLog>,
    state: Arc<ServerState>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestRegistry {
    /// Serves `dir` on 127.0.0.1; panics if the server cannot start.
    pub fn start(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self::try_start(ServerConfig::new(&dir)).unwrap_or_else(|err| {
            panic!("cannot start a test registry over {}: {err}", dir.display())
        })
    }

    /// Starts a server with any configuration (an upstream, say).
    pub fn try_start(config: ServerConfig) -> Result<Self, NetError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dx-test-registry".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        let _ =
                            ready_tx.send(Err(NetError::Server(format!("tokio runtime: {err}"))));
                        return;
                    }
                };
                let handle = runtime.handle().clone();
                runtime.block_on(async move {
                    match serve(config).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok((
                                server.url().to_owned(),
                                server.addr(),
                                server.shared_faults(),
                                server.shared_requests(),
                                server.state(),
                                handle,
                            )));
                            let _ = stopped.await;
                            server.shutdown().await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })
            .map_err(|e| NetError::Server(format!("spawning the server thread: {e}")))?;
        let (url, addr, faults, requests, state, runtime) = ready_rx
            .recv()
            .map_err(|_| NetError::Server("the server thread ended before starting".into()))??;
        Ok(Self {
            url,
            addr,
            faults,
            requests,
            state,
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The registry URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Fault rules for the next requests.
    pub fn faults(&self) -> &FaultInjector {
        &self.faults
    }

    /// Every request received so far.
    pub fn requests(&self) -> &RequestLog {
        &self.requests
    }

    /// Rereads the directory now (new versions of packages already served are otherwise only
    /// seen after a miss). Returns the number of versions served.
    pub fn rescan(&self) -> Result<usize, NetError> {
        let state = self.state.clone();
        let runtime = self.runtime.clone();
        // A fresh thread may block on the server's runtime even when the caller is async.
        std::thread::scope(|scope| {
            scope
                .spawn(move || runtime.block_on(async move { rescan(&state).await }))
                .join()
                .unwrap_or_else(|_| Err(NetError::Server("rescan panicked".into())))
        })?;
        Ok(self.state_version_count())
    }

    fn state_version_count(&self) -> usize {
        crate::server::served_version_count(&self.state)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `<dir>/<name>/<basename>-<version>.tgz`: a real npm tarball whose
/// `package/package.json` is `{name, version}` merged with `package_json_extra` (an object),
/// plus `files` (paths relative to the package root). Deterministic bytes. Panics on I/O errors.
pub fn write_test_package(
    dir: &Path,
    name: &str,
    version: &str,
    package_json_extra: Value,
    files: &[(&str, &[u8])],
) -> PathBuf {
    try_write_test_package(dir, name, version, package_json_extra, files)
        .unwrap_or_else(|err| panic!("cannot write test package {name}@{version}: {err}"))
}

/// [`write_test_package`] returning the I/O error instead of panicking.
pub fn try_write_test_package(
    dir: &Path,
    name: &str,
    version: &str,
    package_json_extra: Value,
    files: &[(&str, &[u8])],
) -> std::io::Result<PathBuf> {
    let mut manifest = serde_json::Map::new();
    manifest.insert("name".into(), Value::String(name.into()));
    manifest.insert("version".into(), Value::String(version.into()));
    if let Value::Object(extra) = package_json_extra {
        manifest.extend(extra);
    }
    let manifest =
        serde_json::to_vec_pretty(&Value::Object(manifest)).map_err(std::io::Error::other)?;
    let tarball = tarball_bytes(&manifest, files)?;
    let base = name.rsplit('/').next().unwrap_or(name);
    let target_dir = dir.join(name);
    std::fs::create_dir_all(&target_dir)?;
    let path = target_dir.join(format!("{base}-{version}.tgz"));
    let tmp = path.with_extension("tgz.partial");
    std::fs::write(&tmp, tarball)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A gzipped tar with `package/package.json` and `package/<file>` entries.
pub fn tarball_bytes(package_json: &[u8], files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let mut add = |path: &str, bytes: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(499_162_500); // npm's fixed 1985-10-26 mtime
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, format!("package/{path}"), bytes)
    };
    add("package.json", package_json)?;
    for (path, bytes) in files {
        add(path, bytes)?;
    }
    let mut gz = builder.into_inner()?;
    gz.flush()?;
    gz.finish()
}
