//! dx's registry server: the npm registry HTTP API over a directory of tarballs.
//!
//! Routes: `GET /<name>` (full packument, or the abbreviated one when the client accepts
//! `application/vnd.npm.install-v1+json`), `GET /<name>/<version-or-tag>`,
//! `GET /<name>/-/<file>.tgz`, `POST /-/npm/v1/security/advisories/bulk`, `GET /-/ping`.
//! Scoped names are accepted both as `@scope%2fname` and `@scope/name`. Packuments carry
//! strong ETags and answer `If-None-Match` with 304; each is rendered once and kept until the
//! directory is rescanned. Tarballs are streamed from their files with `Content-Length`
//! (`server/file_body.rs`), never read whole into memory.
//!
//! With an upstream, packuments come from the upstream (tarball URLs rewritten to point here)
//! and tarballs missing from the directory are fetched once and stored in it.
//!
//! Every request's method, path, search query and audit body are parsed in
//! [`request`] before anything is read, so the names it yields cannot leave the directory (a
//! fuzz target holds it to that).
//!
//! Tests use the same server through `TestRegistry`, with `FaultInjector` rules and the
//! [`RequestLog`]; both exist only with the `test-support` feature (and in this crate's tests),
//! so a production build serves every request straight from [`route`].

mod advisories;
mod catalog;
#[cfg(any(test, feature = "test-support"))]
mod faults;
mod file_body;
pub mod request;
mod request_log;
mod search;
mod upstream;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha1::Digest as _;

#[cfg(any(test, feature = "test-support"))]
pub use faults::{Fault, FaultInjector, FaultRule};
use request::Route;
#[cfg(any(test, feature = "test-support"))]
use request::percent_decode;
pub use request_log::{RecordedRequest, RequestLog};

use crate::NetError;
use catalog::Catalog;
use upstream::UpstreamProxy;

/// How to run a registry server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The directory whose `**/*.tgz` are served (and where an upstream's tarballs are stored).
    pub dir: PathBuf,
    /// Where to listen. Defaults to 127.0.0.1 on a free port; binding elsewhere is explicit.
    pub listen: SocketAddr,
    /// A registry to proxy and cache (`--upstream URL`).
    pub upstream: Option<String>,
    /// `Cache-Control: public, max-age=N` on packuments, as the npm registry sends (300);
    /// `None` sends `Cache-Control: no-cache`, so clients revalidate every time (a 304 against
    /// the packument's ETag) and see a newly published version at once.
    pub packument_max_age: Option<u32>,
    /// Send no `Cache-Control` at all on packuments (as some company registries and proxies
    /// do), to exercise the client's default freshness window. Overrides `packument_max_age`.
    pub omit_cache_control: bool,
    /// Keep every request in memory for [`crate::TestRegistry`]'s assertions. A long-running
    /// server (`dx registry serve`) turns it off so memory stays flat.
    pub record_requests: bool,
}

impl ServerConfig {
    /// Serves `dir` on 127.0.0.1, on a port the OS picks.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: None,
            record_requests: true,
            packument_max_age: None,
            omit_cache_control: false,
        }
    }
}

/// Packument bodies already rendered, keyed by (name, abbreviated, base URL).
type RenderedPackuments = HashMap<(String, bool, String), (Bytes, String)>;

pub(crate) struct ServerState {
    config: ServerConfig,
    url: String,
    catalog: RwLock<Arc<Catalog>>,
    rendered: Mutex<RenderedPackuments>,
    rescan_lock: tokio::sync::Mutex<()>,
    #[cfg(any(test, feature = "test-support"))]
    faults: Arc<FaultInjector>,
    log: Arc<RequestLog>,
    upstream: Option<UpstreamProxy>,
}

/// A running server. Dropping it stops accepting connections; [`ServerHandle::shutdown`]
/// also waits for the accept loop to end.
pub struct ServerHandle {
    state: Arc<ServerState>,
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    accept_loop: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// The base URL clients use, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.state.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault rules (add some to make the next requests fail).
    #[cfg(any(test, feature = "test-support"))]
    pub fn faults(&self) -> &FaultInjector {
        &self.state.faults
    }

    /// Every request received so far.
    pub fn requests(&self) -> &RequestLog {
        &self.state.log
    }

    /// How many package versions the directory holds, after rescanning it.
    pub async fn rescan(&self) -> Result<usize, NetError> {
        rescan(&self.state).await?;
        Ok(read_catalog(&self.state).version_count())
    }

    /// The fault rules, shareable with another thread.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn shared_faults(&self) -> Arc<FaultInjector> {
        self.state.faults.clone()
    }

    /// The request log, shareable with another thread.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn shared_requests(&self) -> Arc<RequestLog> {
        self.state.log.clone()
    }

    /// The state, for `TestRegistry::rescan`.
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn state(&self) -> Arc<ServerState> {
        self.state.clone()
    }

    /// Stops accepting, closes open connections, and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.accept_loop.take() {
            let _ = task.await;
        }
    }

    /// Serves until the process is stopped (what `dx registry serve` does).
    pub async fn run_forever(mut self) {
        if let Some(task) = self.accept_loop.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Scans `config.dir` and starts serving it; returns once the socket is bound.
pub async fn serve(config: ServerConfig) -> Result<ServerHandle, NetError> {
    let dir = config.dir.clone();
    let catalog = tokio::task::spawn_blocking(move || Catalog::scan(&dir, None))
        .await
        .map_err(|e| NetError::Server(format!("scanning: {e}")))??;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| NetError::Server(format!("cannot listen on {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NetError::Server(e.to_string()))?;
    let upstream = match &config.upstream {
        Some(url) => Some(UpstreamProxy::new(url, &config.dir)?),
        None => None,
    };
    let state = Arc::new(ServerState {
        url: format!("http://{addr}"),
        config,
        catalog: RwLock::new(Arc::new(catalog)),
        rendered: Mutex::default(),
        rescan_lock: tokio::sync::Mutex::new(()),
        #[cfg(any(test, feature = "test-support"))]
        faults: Arc::default(),
        log: Arc::default(),
        upstream,
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let accept_loop = tokio::spawn(accept_connections(listener, state.clone(), stopped));
    Ok(ServerHandle {
        state,
        addr,
        stop,
        accept_loop: Some(accept_loop),
    })
}

async fn accept_connections(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

type ResponseBody = BoxBody<Bytes, std::io::Error>;

/// What a handler may fail with: with fault injection, a dropped connection on purpose.
#[cfg(any(test, feature = "test-support"))]
type HandlerError = faults::DroppedOnPurpose;
/// What a handler may fail with: nothing, in a production build.
#[cfg(not(any(test, feature = "test-support")))]
type HandlerError = Infallible;

async fn handle(
    state: Arc<ServerState>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, HandlerError> {
    let raw_path = request.uri().path().to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or(raw_path.clone(), |p| p.as_str().to_owned());
    let header_text = |name: header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut record = RecordedRequest {
        method: request.method().to_string(),
        path: path_and_query,
        authorization: header_text(header::AUTHORIZATION),
        accept: header_text(header::ACCEPT),
        status: 0,
    };
    let log = state.log.clone();
    let _in_flight = log.begin();
    #[cfg(any(test, feature = "test-support"))]
    let response = match faults::respond(&state, request, &percent_decode(&raw_path)).await {
        Ok(response) => response,
        Err(dropped) => {
            if state.config.record_requests {
                state.log.push(record);
            }
            return Err(dropped);
        }
    };
    #[cfg(not(any(test, feature = "test-support")))]
    let response = route(&state, request).await;
    record.status = response.status().as_u16();
    if state.config.record_requests {
        state.log.push(record);
    }
    Ok(response)
}

async fn route(state: &Arc<ServerState>, request: Request<Incoming>) -> Response<ResponseBody> {
    let parsed = Route::parse(request.method().as_str(), request.uri().path());
    let (name, version) = match parsed {
        Route::AdvisoriesBulk => return advisories::bulk(&state.config.dir, request).await,
        Route::Search => return search::search(&read_catalog(state), request.uri().query()),
        Route::Ping => {
            return json_response(
                StatusCode::OK,
                Bytes::from_static(b"{}"),
                "application/json",
            );
        }
        Route::MethodNotAllowed => return status_response(StatusCode::METHOD_NOT_ALLOWED),
        Route::NotFound => return not_found(),
        Route::Tarball { name, file } => return tarball(state, &name, &file).await,
        Route::Packument { name } => (name, None),
        Route::Version { name, version } => (name, Some(version)),
    };
    let base_url = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.url.clone(), |host| format!("http://{host}"));
    let abbreviated = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|a| a.contains("application/vnd.npm.install-v1+json"));
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    match version {
        Some(version) => version_manifest(state, &name, &version, &base_url).await,
        None => {
            packument(
                state,
                &name,
                abbreviated,
                &base_url,
                if_none_match.as_deref(),
            )
            .await
        }
    }
}

fn read_catalog(state: &ServerState) -> Arc<Catalog> {
    state
        .catalog
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

pub(crate) async fn rescan(state: &Arc<ServerState>) -> Result<(), NetError> {
    let _one_at_a_time = state.rescan_lock.lock().await;
    let previous = read_catalog(state);
    let dir = state.config.dir.clone();
    let catalog = tokio::task::spawn_blocking(move || Catalog::scan(&dir, Some(&previous)))
        .await
        .map_err(|e| NetError::Server(format!("scanning: {e}")))??;
    *state
        .catalog
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(catalog);
    state
        .rendered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    Ok(())
}

/// The catalog, rescanned first when it does not know `name` (packages written after start).
async fn catalog_knowing(state: &Arc<ServerState>, name: &str) -> Arc<Catalog> {
    let catalog = read_catalog(state);
    if catalog.has_package(name) {
        return catalog;
    }
    if let Err(err) = rescan(state).await {
        eprintln!("dx registry: rescan failed: {err}");
    }
    read_catalog(state)
}

async fn packument(
    state: &Arc<ServerState>,
    name: &str,
    abbreviated: bool,
    base_url: &str,
    if_none_match: Option<&str>,
) -> Response<ResponseBody> {
    let content_type = if abbreviated {
        "application/vnd.npm.install-v1+json"
    } else {
        "application/json"
    };
    let mut response = packument_response(
        state,
        name,
        abbreviated,
        base_url,
        if_none_match,
        content_type,
    )
    .await;
    let cache_control = match state.config.packument_max_age {
        Some(age) => format!("public, max-age={age}"),
        None => "no-cache".to_owned(),
    };
    if !state.config.omit_cache_control
        && (response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED)
        && let Ok(value) = HeaderValue::from_str(&cache_control)
    {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

async fn packument_response(
    state: &Arc<ServerState>,
    name: &str,
    abbreviated: bool,
    base_url: &str,
    if_none_match: Option<&str>,
    content_type: &str,
) -> Response<ResponseBody> {
    if let Some(upstream) = &state.upstream {
        return match upstream.packument(name, abbreviated, base_url).await {
            Ok(Some(body)) => with_etag(body, content_type, if_none_match),
            Ok(None) => not_found(),
            Err(err) => json_error(StatusCode::BAD_GATEWAY, &err),
        };
    }
    let key = (name.to_owned(), abbreviated, base_url.to_owned());
    let cached = state
        .rendered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .cloned();
    let (body, etag) = match cached {
        Some(hit) => hit,
        None => {
            let catalog = catalog_knowing(state, name).await;
            let Some(doc) = catalog.packument(name, base_url, abbreviated) else {
                return not_found();
            };
            let body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            let etag = etag_of(&body);
            state
                .rendered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, (body.clone(), etag.clone()));
            (body, etag)
        }
    };
    respond_with_etag(body, etag, content_type, if_none_match)
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&sha1::Sha1::digest(body)[..12]))
}

fn with_etag(
    body: Bytes,
    content_type: &str,
    if_none_match: Option<&str>,
) -> Response<ResponseBody> {
    let etag = etag_of(&body);
    respond_with_etag(body, etag, content_type, if_none_match)
}

fn respond_with_etag(
    body: Bytes,
    etag: String,
    content_type: &str,
    if_none_match: Option<&str>,
) -> Response<ResponseBody> {
    let matches = if_none_match.is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().trim_start_matches("W/") == etag)
    });
    let mut response = if matches {
        status_response(StatusCode::NOT_MODIFIED)
    } else {
        json_response(StatusCode::OK, body, content_type)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

async fn version_manifest(
    state: &Arc<ServerState>,
    name: &str,
    version: &str,
    base_url: &str,
) -> Response<ResponseBody> {
    let catalog = catalog_knowing(state, name).await;
    match catalog.version_manifest(name, version, base_url) {
        Some(doc) => json_response(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()),
            "application/json",
        ),
        None => not_found(),
    }
}

async fn tarball(state: &Arc<ServerState>, name: &str, file: &str) -> Response<ResponseBody> {
    let mut found = read_catalog(state).tarball(name, file).cloned();
    if found.is_none() {
        found = catalog_knowing(state, name)
            .await
            .tarball(name, file)
            .cloned();
    }
    if let Some(tarball) = found {
        return match file_body::open(tarball.path.clone()).await {
            Ok(file) => tarball_response(file.body, file.len),
            Err(err) => json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("reading tarball: {err}"),
            ),
        };
    }
    match &state.upstream {
        Some(upstream) => match upstream.tarball(name, file).await {
            Ok(Some(bytes)) => {
                let len = bytes.len() as u64;
                tarball_response(full(bytes), len)
            }
            Ok(None) => not_found(),
            Err(err) => json_error(StatusCode::BAD_GATEWAY, &err),
        },
        None => not_found(),
    }
}

/// A tarball answer; `len` is sent as `Content-Length` (a streamed body has no size hint).
fn tarball_response(body: ResponseBody, len: u64) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn status_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn json_response(status: StatusCode, body: Bytes, content_type: &str) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn json_error(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    json_response(status, Bytes::from(body), "application/json")
}

fn not_found() -> Response<ResponseBody> {
    json_error(StatusCode::NOT_FOUND, "Not found")
}

/// How many versions a server's current catalog holds.
#[cfg(any(test, feature = "test-support"))]
pub(crate) fn served_version_count(state: &ServerState) -> usize {
    read_catalog(state).version_count()
}
