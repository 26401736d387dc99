//! Every option of an install, typed. The CLI builds one [`InstallSettings`] per command from
//! its flags, the environment and config files (destructuring every flag, so none is dropped);
//! the engine never looks at flags or the environment itself.

use dx_fallback_link::LinkMode;
use dx_net::CacheMode;

/// How node_modules is put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkerChoice {
    /// As the project's last install did (mounted, or materialized with the same mode); a
    /// project never installed before is mounted where FUSE works.
    #[default]
    Remembered,
    /// A FUSE mount (materialized anyway, with a warning, where FUSE is unavailable).
    Mount,
    /// Files on disk, linked with this mode.
    Materialize(LinkMode),
}

/// How much the install may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Use cached metadata while it is fresh (the registry's `Cache-Control`, or five minutes
    /// when it sent none), revalidate it after; download what the store lacks.
    #[default]
    Online,
    /// `--prefer-online`: revalidate all cached metadata, fresh or not.
    PreferOnline,
    /// Use cached metadata without revalidating; go to the network only for what is missing.
    PreferOffline,
    /// Never touch the network: metadata from the cache only, and a package the store does not
    /// hold is an error ([`crate::Error::Offline`]).
    Offline,
}

impl NetworkMode {
    /// The registry client's cache policy for this mode.
    pub fn cache_mode(self) -> CacheMode {
        match self {
            NetworkMode::Online => CacheMode::Revalidate,
            NetworkMode::PreferOnline => CacheMode::PreferOnline,
            NetworkMode::PreferOffline => CacheMode::PreferOffline,
            NetworkMode::Offline => CacheMode::Offline,
        }
    }
}

/// The options of one install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallSettings {
    /// Fail instead of re-resolving when dx.lock is missing, stale or incomplete (the caller
    /// folds `CI=true` in for a plain `dx install`).
    pub frozen_lockfile: bool,
    /// Stop after writing dx.lock.
    pub lockfile_only: bool,
    /// Mount or materialize.
    pub linker: LinkerChoice,
    /// Leave out devDependencies.
    pub production: bool,
    /// Run no lifecycle scripts.
    pub ignore_scripts: bool,
    /// Network use.
    pub network: NetworkMode,
    /// A registry URL given on the command line, over every config file.
    pub registry: Option<String>,
}
