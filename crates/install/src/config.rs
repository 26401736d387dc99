//! Settings merged from flags, environment and config files, in one place.

use std::path::Path;

use dx_net::RegistryConfig;
use dx_net::config::ConfigInputs;
use dx_store::Store;

use crate::error::{Context as _, Error, Result};

/// Whether dx runs in CI (`CI=true`), where installs default to `--frozen-lockfile`.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The store's configured root (`$DX_HOME`, `$XDG_CACHE_HOME/dx`, `~/.cache/dx`), without
/// opening or creating it.
pub fn store_root() -> Result<std::path::PathBuf> {
    Store::default_root().context("cannot locate the store")
}

/// Opens the store at its configured root (`$DX_HOME`, `$XDG_CACHE_HOME/dx`, `~/.cache/dx`).
pub fn open_store() -> Result<Store> {
    let root = Store::default_root().context("cannot locate the store")?;
    Store::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))
}

/// The registry configuration as npm reads it (`--registry`, `DX_REGISTRY` /
/// `NPM_CONFIG_REGISTRY`, `.npmrc` files; `registry` is `--registry`), falling back to `npm config get registry` once,
/// remembered in the store.
pub fn registry_config(
    registry: Option<&str>,
    project_dir: &Path,
    store: &Store,
) -> Result<RegistryConfig> {
    let inputs =
        ConfigInputs::from_process(Some(project_dir.to_path_buf()), registry.map(str::to_owned));
    let config = RegistryConfig::load(&inputs).context("cannot read the registry configuration")?;
    config
        .with_npm_default(store, Path::new("npm"))
        .map_err(|e| {
            Error::msg(format!(
                "{e} (hint: pass --registry URL, set DX_REGISTRY, or add `registry=URL` to .npmrc)"
            ))
        })
}
