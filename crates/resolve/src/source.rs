//! The resolver's only door to the registry: a trait that the net crate implements (with its
//! metadata cache) and that tests implement over an in-memory map.

use std::sync::Arc;

use crate::packument::{Packument, VersionManifest};

/// Why a packument (or a tarball's manifest) could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The registry has no such package.
    #[error("package {name} not found in {registry}")]
    NotFound {
        /// Package name.
        name: String,
        /// Where it was looked for (`registry <url>`, or a test source's name).
        registry: String,
    },
    /// Offline and not cached.
    #[error("package {name} is not in the metadata cache and the network is off")]
    Offline {
        /// Package name.
        name: String,
    },
    /// This source cannot serve the kind of request (for example a tarball URL).
    #[error("{what} is not supported by this package source")]
    Unsupported {
        /// What was asked.
        what: String,
    },
    /// Anything else (network, parse); the message names the package.
    #[error("fetching {name}: {message}")]
    Failed {
        /// Package name or URL.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// A git dependency resolved to one commit by [`PackageSource::git_package`].
#[derive(Debug, Clone)]
pub struct GitResolution {
    /// The package.json at that commit (`dist.integrity`: the integrity of the tarball dx
    /// packed from it, when the source stored one).
    pub manifest: VersionManifest,
    /// The canonical source with the full commit ([`crate::spec::GitSpec::resolved`]):
    /// the package's version, `resolved` and key source in dx.lock.
    pub resolved: String,
}

/// Registry metadata, as the resolver needs it.
pub trait PackageSource: Send + Sync {
    /// The packument (abbreviated form is enough): all versions with their manifest fields and
    /// dist (tarball URL, integrity), dist-tags.
    fn packument(&self, name: &str) -> Result<Arc<Packument>, SourceError>;

    /// The manifest of `version` in `packument` (`Ok(None)` when it is not published). The
    /// default decodes it from the packument; a source whose packuments come from a cache
    /// overrides it to fetch the packument again when a cached manifest turns out damaged
    /// (the index checks each manifest only when it is decoded), so damage is a miss.
    fn manifest(
        &self,
        packument: &Packument,
        version: &str,
    ) -> Result<Option<VersionManifest>, SourceError> {
        Ok(packument.manifest(version))
    }

    /// Called as soon as the resolver learns names it will ask for, so an implementation can put
    /// all the requests in flight at once. The default does nothing.
    fn prefetch(&self, names: &[&str]) {
        let _ = names;
    }

    /// The manifest inside a tarball given by URL (`"x": "https://host/x.tgz"` or a `file:`
    /// tarball). The default says it is unsupported.
    fn tarball_manifest(&self, url: &str) -> Result<VersionManifest, SourceError> {
        Err(SourceError::Unsupported {
            what: format!("tarball dependency {url}"),
        })
    }

    /// Resolves a git specifier (`github:user/repo#v1`, `git+https://…#semver:^1`) to one
    /// commit and reads its package.json. The default says it is unsupported.
    fn git_package(&self, spec: &str) -> Result<GitResolution, SourceError> {
        Err(SourceError::Unsupported {
            what: format!("git dependency {spec}"),
        })
    }
}
