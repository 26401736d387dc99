//! Registry configuration, read where npm reads it.
//!
//! Precedence, highest first: `--registry`, `DX_REGISTRY`, `NPM_CONFIG_*` variables, the
//! project's `.npmrc`, the user's (`$NPM_CONFIG_USERCONFIG` or `~/.npmrc`), the global one
//! (`$NPM_CONFIG_GLOBALCONFIG` or `$PREFIX/etc/npmrc`). With no registry anywhere, the caller
//! asks npm once ([`RegistryConfig::with_npm_default`]) and remembers the answer.
//!
//! Credentials are keyed by npm's "nerf dart" (`//host[:port]/path/`) and only ever attached to
//! requests whose URL lies under that prefix; their `Debug` output is redacted.

mod npmrc;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;

use crate::NetError;

/// The `key = value` settings of `.npmrc` text, in file order, with `${VAR}` expanded through
/// `env` (an unset `${VAR}` is an error naming `origin` and the line): what every `.npmrc`
/// file is read with. Public for the fuzz target; callers want [`RegistryConfig`].
pub fn parse_npmrc(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, NetError> {
    Ok(npmrc::parse(text, origin, env)?
        .into_iter()
        .map(|s| (s.key, s.value))
        .collect())
}

/// How a request authenticates to a registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `_authToken`: sent as `Authorization: Bearer <token>`.
    Token(String),
    /// `_auth` (base64 of `user:password`), or `username` + `_password`: sent as `Basic`.
    Basic(String),
}

impl Credential {
    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        match self {
            Self::Token(token) => format!("Bearer {token}"),
            Self::Basic(b64) => format!("Basic {b64}"),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Basic(_) => f.write_str("Basic(<redacted>)"),
        }
    }
}

/// What configuration is read from: the process's environment and files, or a test's.
#[derive(Clone, Debug, Default)]
pub struct ConfigInputs {
    /// `--registry` from the command line.
    pub cli_registry: Option<String>,
    /// Environment variables (names as given; `NPM_CONFIG_*` matched case-insensitively).
    pub env: HashMap<String, String>,
    /// The project directory whose `.npmrc` is read.
    pub project_dir: Option<PathBuf>,
    /// The user's home (for `~/.npmrc`).
    pub home_dir: Option<PathBuf>,
}

impl ConfigInputs {
    /// The current process's environment, home directory and `--registry`.
    pub fn from_process(project_dir: Option<PathBuf>, cli_registry: Option<String>) -> Self {
        let env: HashMap<String, String> = std::env::vars().collect();
        let home_dir = env.get("HOME").map(PathBuf::from);
        Self {
            cli_registry,
            env,
            project_dir,
            home_dir,
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    /// An `NPM_CONFIG_<KEY>` variable, case-insensitively, as npm matches them.
    fn npm_config_var(&self, key: &str) -> Option<String> {
        let want = format!("npm_config_{}", key.replace('-', "_"));
        self.env
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(&want) && !v.is_empty())
            .map(|(_, v)| v.clone())
    }
}

/// Which registry serves which package, with which credentials and transport settings.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// The default registry (no trailing slash), if configured; see
    /// [`RegistryConfig::with_npm_default`].
    pub registry: Option<String>,
    /// `@scope` → registry URL (no trailing slash).
    pub scoped: BTreeMap<String, String>,
    /// Nerf dart (`//host[:port]/path/`) → credential.
    credentials: BTreeMap<String, Credential>,
    /// Verify TLS certificates (`strict-ssl`, default true).
    pub strict_ssl: bool,
    /// Extra CA certificates (`cafile`, PEM).
    pub cafile: Option<PathBuf>,
    /// `https-proxy`.
    pub https_proxy: Option<String>,
    /// `proxy` (for http:// URLs).
    pub proxy: Option<String>,
    /// `noproxy`: comma-separated hosts that bypass the proxy.
    pub noproxy: Option<String>,
    /// Tarball downloads in flight at once (`network-concurrency`).
    pub network_concurrency: usize,
    /// Retries after the first attempt (`fetch-retries`).
    pub fetch_retries: u32,
    /// First retry delay; doubled each retry (`fetch-retry-mintimeout`, ms).
    pub retry_min_delay: Duration,
    /// Longest retry delay, including a server's Retry-After (`fetch-retry-maxtimeout`, ms).
    pub retry_max_delay: Duration,
    /// Per-request timeout (`fetch-timeout`, ms).
    pub fetch_timeout: Duration,
    /// A response that sends nothing, or less than 1 KiB, for this long has stalled and the
    /// attempt fails (`fetch-stall-timeout`, ms; 0 turns it off). dx's own setting: npm has
    /// only `fetch-timeout`, which a server sending a byte a second never reaches.
    pub fetch_stall_timeout: Option<Duration>,
}

/// The default `fetch-stall-timeout`: what cargo waits below its low-speed limit.
pub const DEFAULT_FETCH_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Tarball downloads in flight by default: enough to fill a fast link with small packages
/// (most tarballs are a few kB, so latency, not bandwidth, bounds throughput).
pub const DEFAULT_NETWORK_CONCURRENCY: usize = 64;

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            registry: None,
            scoped: BTreeMap::new(),
            credentials: BTreeMap::new(),
            strict_ssl: true,
            cafile: None,
            https_proxy: None,
            proxy: None,
            noproxy: None,
            network_concurrency: DEFAULT_NETWORK_CONCURRENCY,
            fetch_retries: 4,
            retry_min_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(300),
            fetch_stall_timeout: Some(DEFAULT_FETCH_STALL_TIMEOUT),
        }
    }
}

/// Where the default registry URL npm answered is remembered (the store implements it), so
/// npm is asked once, not at every command.
pub trait RegistryUrlMemo {
    /// The remembered URL, if any.
    fn recall(&self) -> Option<String>;
    /// Remembers `url`; failing to remember is not an error worth failing an install for.
    fn remember(&self, url: &str);
}

/// The store remembers npm's answer as a cached value, so every dx process sharing the store
/// asks npm at most once.
impl RegistryUrlMemo for dx_store::Store {
    fn recall(&self) -> Option<String> {
        self.cached_value(NPM_REGISTRY_CACHE_KEY).ok().flatten()
    }

    fn remember(&self, url: &str) {
        let _ = self.set_cached_value(NPM_REGISTRY_CACHE_KEY, url);
    }
}

/// The store's cached-value name for the registry URL npm answered.
pub const NPM_REGISTRY_CACHE_KEY: &str = "npm-registry-url";

impl RegistryConfig {
    /// A configuration whose default registry is `url` and nothing else (tests, tools).
    pub fn for_registry(url: &str) -> Result<Self, NetError> {
        Ok(Self {
            registry: Some(normalize_url(url, "the caller")?),
            ..Self::default()
        })
    }

    /// Reads flags, environment and `.npmrc` files with npm's precedence.
    pub fn load(inputs: &ConfigInputs) -> Result<Self, NetError> {
        let env = |name: &str| inputs.var(name);
        let mut files = Vec::new();
        let global = inputs
            .npm_config_var("globalconfig")
            .map(PathBuf::from)
            .or_else(|| {
                inputs
                    .var("PREFIX")
                    .map(|p| Path::new(&p).join("etc/npmrc"))
            });
        files.extend(global);
        let user = inputs
            .npm_config_var("userconfig")
            .map(PathBuf::from)
            .or_else(|| inputs.home_dir.as_ref().map(|h| h.join(".npmrc")));
        files.extend(user);
        files.extend(inputs.project_dir.as_ref().map(|p| p.join(".npmrc")));
        // Later layers override earlier ones.
        let mut merged: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut seen = Vec::new();
        for path in files {
            if seen.contains(&path) {
                continue;
            }
            seen.push(path.clone());
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(NetError::io("reading", &path, e)),
            };
            for setting in npmrc::parse(&text, &path, &env)? {
                merged.insert(setting.key, (setting.value, path.display().to_string()));
            }
        }
        for key in [
            "registry",
            "strict-ssl",
            "cafile",
            "https-proxy",
            "proxy",
            "noproxy",
            "network-concurrency",
            "fetch-retries",
            "fetch-retry-mintimeout",
            "fetch-retry-maxtimeout",
            "fetch-timeout",
            "fetch-stall-timeout",
        ] {
            if let Some(value) = inputs.npm_config_var(key) {
                merged.insert(
                    key.to_owned(),
                    (
                        value,
                        format!("NPM_CONFIG_{}", key.replace('-', "_").to_uppercase()),
                    ),
                );
            }
        }
        if let Some(value) = inputs.var("DX_REGISTRY").filter(|v| !v.is_empty()) {
            merged.insert("registry".into(), (value, "DX_REGISTRY".into()));
        }
        if let Some(value) = &inputs.cli_registry {
            merged.insert("registry".into(), (value.clone(), "--registry".into()));
        }
        Self::from_settings(&merged)
    }

    fn from_settings(settings: &BTreeMap<String, (String, String)>) -> Result<Self, NetError> {
        let mut config = Self::default();
        let get = |key: &str| settings.get(key).map(|(v, _)| v.as_str());
        if let Some((url, origin)) = settings.get("registry") {
            config.registry = Some(normalize_url(url, origin)?);
        }
        let mut usernames: BTreeMap<String, String> = BTreeMap::new();
        let mut passwords: BTreeMap<String, String> = BTreeMap::new();
        for (key, (value, origin)) in settings {
            if let Some(scope) = key.strip_suffix(":registry").filter(|s| s.starts_with('@')) {
                config
                    .scoped
                    .insert(scope.to_owned(), normalize_url(value, origin)?);
            } else if let Some((dart, field)) =
                key.strip_prefix("//").and_then(|k| k.rsplit_once(":"))
            {
                let dart = format!("//{}", ensure_slash(dart));
                match field {
                    "_authToken" => {
                        config
                            .credentials
                            .insert(dart, Credential::Token(value.clone()));
                    }
                    "_auth" => {
                        config
                            .credentials
                            .insert(dart, Credential::Basic(value.clone()));
                    }
                    "username" => {
                        usernames.insert(dart, value.clone());
                    }
                    "_password" => {
                        passwords.insert(dart, value.clone());
                    }
                    _ => {}
                }
            }
        }
        for (dart, user) in usernames {
            let Some(password_b64) = passwords.get(&dart) else {
                continue;
            };
            let password = base64::engine::general_purpose::STANDARD
                .decode(password_b64)
                .ok()
                .and_then(|p| String::from_utf8(p).ok())
                .unwrap_or_default();
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            config
                .credentials
                .entry(dart)
                .or_insert(Credential::Basic(basic));
        }
        // Legacy un-scoped `_authToken` / `_auth` belong to the default registry only.
        if let Some(registry) = &config.registry {
            let dart = nerf_dart(registry);
            if let Some(token) = get("_authToken") {
                config
                    .credentials
                    .entry(dart.clone())
                    .or_insert(Credential::Token(token.to_owned()));
            }
            if let Some(auth) = get("_auth") {
                config
                    .credentials
                    .entry(dart)
                    .or_insert(Credential::Basic(auth.to_owned()));
            }
        }
        if let Some(v) = get("strict-ssl") {
            config.strict_ssl = v != "false";
        }
        config.cafile = get("cafile").filter(|v| !v.is_empty()).map(PathBuf::from);
        config.https_proxy = get("https-proxy")
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        config.proxy = get("proxy").filter(|v| !v.is_empty()).map(str::to_owned);
        config.noproxy = get("noproxy").filter(|v| !v.is_empty()).map(str::to_owned);
        let number = |key: &str| get(key).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = number("network-concurrency").filter(|n| *n > 0) {
            config.network_concurrency = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = number("fetch-retries") {
            config.fetch_retries = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(ms) = number("fetch-retry-mintimeout") {
            config.retry_min_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = number("fetch-retry-maxtimeout") {
            config.retry_max_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = number("fetch-timeout").filter(|ms| *ms > 0) {
            config.fetch_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("fetch-stall-timeout") {
            config.fetch_stall_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        Ok(config)
    }

    /// Fills a missing default registry from `memo`, else by asking `npm config get registry`
    /// once (through `npm_program`, normally `"npm"`) and remembering the answer.
    pub fn with_npm_default(
        mut self,
        memo: &dyn RegistryUrlMemo,
        npm_program: &Path,
    ) -> Result<Self, NetError> {
        if self.registry.is_some() {
            return Ok(self);
        }
        if let Some(url) = memo
            .recall()
            .and_then(|u| normalize_url(&u, "the store's cache").ok())
        {
            self.registry = Some(url);
            return Ok(self);
        }
        let output = std::process::Command::new(npm_program)
            .args(["config", "get", "registry"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| NetError::NoRegistryConfigured {
                reason: format!("cannot run {}: {e}", npm_program.display()),
            })?;
        if !output.status.success() {
            return Err(NetError::NoRegistryConfigured {
                reason: format!("npm exited with {}", output.status),
            });
        }
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let url = normalize_url(&answer, "`npm config get registry`").map_err(|e| {
            NetError::NoRegistryConfigured {
                reason: e.to_string(),
            }
        })?;
        memo.remember(&url);
        self.registry = Some(url);
        Ok(self)
    }

    /// The registry serving `package` (its scope's, else the default), without trailing slash.
    pub fn registry_for(&self, package: &str) -> Option<&str> {
        if let Some((scope, _)) = package.split_once('/').filter(|(s, _)| s.starts_with('@'))
            && let Some(url) = self.scoped.get(scope)
        {
            return Some(url);
        }
        self.registry.as_deref()
    }

    /// The credential for a request to `url`: the one whose nerf dart is the longest prefix of
    /// the URL's `//host[:port]/path`, so a token configured for registry A never reaches B.
    pub fn credential_for(&self, url: &str) -> Option<&Credential> {
        let target = nerf_dart(url);
        self.credentials
            .iter()
            .filter(|(dart, _)| target.starts_with(dart.as_str()))
            .max_by_key(|(dart, _)| dart.len())
            .map(|(_, credential)| credential)
    }

    /// Adds a credential for every URL under `registry_url` (tests and `dx login`-like tools).
    pub fn set_credential(&mut self, registry_url: &str, credential: Credential) {
        self.credentials.insert(nerf_dart(registry_url), credential);
    }
}

fn ensure_slash(text: &str) -> String {
    if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    }
}

/// npm's "nerf dart": `scheme://host:port/path?query` → `//host:port/path/` (query dropped).
pub fn nerf_dart(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let without_query = without_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or(without_scheme);
    let without_userinfo = match without_query.split_once('/') {
        Some((authority, path)) => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{host}/{path}")
        }
        None => without_query
            .rsplit_once('@')
            .map_or(without_query, |(_, h)| h)
            .to_owned(),
    };
    format!("//{}", ensure_slash(&without_userinfo))
}

fn normalize_url(url: &str, origin: &str) -> Result<String, NetError> {
    let url = url.trim();
    let bad = |reason: &str| NetError::BadRegistryUrl {
        url: url.to_owned(),
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("expected http:// or https://"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad("expected http:// or https://"));
    }
    if rest.trim_matches('/').is_empty() {
        return Err(bad("no host"));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests;
