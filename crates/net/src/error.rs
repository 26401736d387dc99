//! The crate's one error type. Every variant names what failed (package, registry, file) so the
//! CLI can render it without guessing; none of them ever carries a credential.

use std::path::PathBuf;

/// Everything that can go wrong in registry configuration, metadata, tarball fetches and the
/// registry server.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A file (an `.npmrc`, a tarball, a cache entry) could not be read or written.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A configured registry URL is not an absolute http(s) URL.
    #[error("invalid registry URL `{url}` (from {origin}): {reason}")]
    BadRegistryUrl {
        /// The offending value.
        url: String,
        /// Where it came from (a flag, a variable, an .npmrc path).
        origin: String,
        /// Why it was refused.
        reason: String,
    },
    /// No registry is configured anywhere and npm could not be asked.
    #[error(
        "no registry configured and `npm config get registry` failed ({reason}); \
         set one with --registry URL, DX_REGISTRY=URL, or `registry=URL` in .npmrc"
    )]
    NoRegistryConfigured {
        /// Why asking npm failed.
        reason: String,
    },
    /// A TLS/proxy/CA setting could not be applied to the HTTP client.
    #[error("cannot build the HTTP client: {0}")]
    ClientSetup(String),
    /// The registry does not know the package.
    #[error("package {package} not found in registry {registry}")]
    PackageNotFound {
        /// The package name.
        package: String,
        /// The registry asked.
        registry: String,
    },
    /// 401/403: the registry needs (other) credentials. The token itself is never included.
    #[error(
        "registry {registry} refused {what} with HTTP {status}: authentication is needed \
         (configure `//host/path/:_authToken=` for this registry in .npmrc)"
    )]
    AuthenticationRequired {
        /// The registry (scheme, host, path).
        registry: String,
        /// The package or tarball asked for.
        what: String,
        /// 401 or 403.
        status: u16,
    },
    /// Any other unsuccessful HTTP status, after retries where they apply.
    #[error("GET {url} for {what} answered HTTP {status}")]
    HttpStatus {
        /// The URL (without credentials).
        url: String,
        /// The package or tarball asked for.
        what: String,
        /// The status code.
        status: u16,
    },
    /// The connection failed, was reset or timed out, after retries.
    #[error("request for {what} to {url} failed: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// The package or tarball asked for.
        what: String,
        /// The transport error.
        reason: String,
    },
    /// A packument is not valid JSON of the expected shape.
    #[error("invalid metadata for package {package} from {url}: {reason}")]
    BadPackument {
        /// The package name.
        package: String,
        /// Where it came from.
        url: String,
        /// The parse error.
        reason: String,
    },
    /// `--offline` and the metadata is not cached.
    #[error("package {package} is not in the metadata cache and --offline forbids the network")]
    OfflineMiss {
        /// The package name.
        package: String,
    },
    /// The tarball's bytes do not hash to the integrity the lock or registry promised.
    #[error(
        "integrity check failed for {package}: expected {expected}, tarball from {url} does not match"
    )]
    IntegrityMismatch {
        /// `name@version`.
        package: String,
        /// The expected SRI string.
        expected: String,
        /// The tarball URL.
        url: String,
    },
    /// The store refused or failed to import a tarball (bad archive, disk error...).
    #[error("cannot store {package}: {reason}")]
    Import {
        /// `name@version`.
        package: String,
        /// The store's error, rendered.
        reason: String,
    },
    /// The registry server could not start.
    #[error("registry server: {0}")]
    Server(String),
    /// A tarball in a served directory is not a usable npm package.
    #[error("tarball `{path}` is not a valid npm package: {reason}")]
    BadTarball {
        /// The tarball file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl NetError {
    /// Builds an [`NetError::Io`] for `path`.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
