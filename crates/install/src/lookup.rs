//! One-off packument lookups for commands that need a version before resolving (`dx add` turns
//! `react` into `^18.3.1`, `dx update --latest` rewrites ranges, `dx outdated` compares).

use std::path::Path;
use std::sync::Arc;

use dx_net::{CacheMode, RegistryClient};
use dx_resolve::Packument;
use dx_resolve::source::{PackageSource as _, SourceError};
use dx_store::Store;

use crate::error::{Context as _, Error, Result};
use crate::source::RegistrySource;

/// Packuments from the configured registry, through the store's metadata cache.
pub struct Lookup {
    source: RegistrySource,
    client: RegistryClient,
    /// The process's runtime (`crate::runtime`), which the install that follows reuses.
    runtime: tokio::runtime::Handle,
}

impl Lookup {
    /// A lookup for the project in `project_dir`, with the registry configuration npm would use.
    pub fn new(
        project_dir: &Path,
        store: &Store,
        registry: Option<&str>,
        cache_mode: CacheMode,
    ) -> Result<Self> {
        let runtime = crate::runtime::handle()?;
        let config = crate::config::registry_config(registry, project_dir, store)?;
        let client = RegistryClient::new(config, Some(store.metadata_dir()), cache_mode)
            .context("cannot set up the registry client")?;
        let source = RegistrySource::new(client.clone(), runtime.clone());
        Ok(Self {
            source,
            client,
            runtime,
        })
    }

    /// The packument of `name`; when the registry does not know it, the error names the
    /// registry and suggests the closest name its search finds.
    pub fn packument(&self, name: &str) -> Result<Arc<Packument>> {
        match self.source.packument(name) {
            Ok(packument) => Ok(packument),
            Err(SourceError::NotFound { registry, .. }) => {
                let found = self
                    .runtime
                    .block_on(self.client.search_names(name, 20))
                    .unwrap_or_default();
                let hint = crate::suggest::did_you_mean(name, found.iter().map(String::as_str));
                Err(Error::msg(format!(
                    "package {name} not found in {registry}{hint}"
                )))
            }
            Err(e) => Err(Error::msg(e)),
        }
    }

    /// The registry serving `name` (its scope's, else the default), without trailing slash.
    pub fn registry_for(&self, name: &str) -> &str {
        self.client.config().registry_for(name).unwrap_or_default()
    }

    /// The registry's security advisories for `installed` (name → versions).
    pub fn bulk_advisories(
        &self,
        installed: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> std::result::Result<serde_json::Value, dx_net::NetError> {
        self.runtime
            .block_on(self.client.bulk_advisories(installed))
    }

    /// Puts the packuments of `names` in flight at once (errors surface on [`Lookup::packument`]).
    pub fn prefetch(&self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let client = self.client.clone();
            self.runtime.spawn(async move {
                let _ = client.packument(&name).await;
            });
        }
    }

    /// The registry as the resolver sees it.
    pub(crate) fn source(&self) -> &RegistrySource {
        &self.source
    }

    /// The version a dist-tag of `name` points at.
    pub fn tagged_version(&self, name: &str, tag: &str) -> Result<String> {
        let packument = self.packument(name)?;
        packument
            .dist_tags
            .get(tag)
            .cloned()
            .ok_or_else(|| Error::msg(format!("package {name} has no dist-tag `{tag}`")))
    }
}
