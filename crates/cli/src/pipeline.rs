//! The steps `dx install` and `dx mount` share: dx.lock (reused, or resolved again where
//! package.json changed), the store (fetching what it lacks), and the compiled DXL layout.
//!
//! The warm path does no resolution and no network: when dx.lock matches package.json and the
//! store already holds the DXL compiled from it with every archive present, it reads two files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use dx_formats::dxl::{Dxl, DxlBuilder, DxlPackage};
use dx_formats::dxp::BuildLimits;
use dx_formats::hash::{ContentHash, Integrity};
use dx_net::{CacheMode, RegistryClient, TarballFetcher, TarballRequest};
use dx_resolve::{LayoutOptions, LayoutPlan, Lockfile, Platform, ResolveOptions, UpdateSelection};
use dx_store::Store;

use crate::cli::GlobalArgs;
use crate::printer::Printer;
use crate::progress::InstallProgress;
use crate::project::Project;
use crate::registry_source::RegistrySource;
use crate::settings;

/// How the lock and layout may be obtained.
pub struct PrepareOptions {
    /// Fail instead of re-resolving when dx.lock is missing or stale.
    pub frozen: bool,
    /// Stop after writing dx.lock.
    pub lockfile_only: bool,
    /// The metadata cache policy (`--offline`, `--prefer-offline`).
    pub cache_mode: CacheMode,
    /// Leave out devDependencies.
    pub production: bool,
    /// Packages to re-resolve although dx.lock still matches package.json (`dx update`).
    pub update: UpdateSelection,
}

/// A layout ready to present, compiled and stored.
pub struct PreparedLayout {
    /// The DXL's key in the store.
    pub key: String,
    /// The DXL bytes (empty with `lockfile_only`).
    pub dxl: Vec<u8>,
    /// Packages in dx.lock.
    pub locked_packages: usize,
    /// Whether dx.lock was (re)written by this run.
    pub resolved: bool,
    /// Tarballs downloaded by this run.
    pub downloaded: usize,
}

/// Brings dx.lock, the store and the compiled layout up to date for `project`.
pub fn prepare(
    project: &Project,
    store: &Arc<Store>,
    global: &GlobalArgs,
    options: &PrepareOptions,
    printer: &Printer,
) -> anyhow::Result<PreparedLayout> {
    let layout_options = LayoutOptions {
        platform: Platform::current(),
        omit_dev: options.production,
        omit_optional: false,
    };
    let manifest = dx_resolve::manifest_importer(&project.manifest);
    let existing = project.read_lockfile()?;
    let stale = existing
        .as_ref()
        .and_then(|(_, lock)| lock.is_stale_for(&manifest));
    // A lock that lost a `package` block (a bad merge, a truncated file) would install an
    // incomplete tree: frozen, that is an error; otherwise it is resolved again, like a stale one.
    let incomplete = existing
        .as_ref()
        .and_then(|(_, lock)| lock.dangling_edges().next().map(|d| d.to_string()));
    if options.frozen {
        match (&existing, &stale, &incomplete) {
            (None, _, _) => bail!(
                "--frozen-lockfile: {} does not exist (run `dx install` without it to create it)",
                project.lockfile_path().display()
            ),
            (Some(_), Some(diff), _) => {
                bail!("--frozen-lockfile: dx.lock does not match package.json: {diff}")
            }
            (Some(_), None, Some(missing)) => bail!(
                "--frozen-lockfile: dx.lock is incomplete: {missing} (hint: run `dx install` without --frozen-lockfile to repair dx.lock)"
            ),
            _ => {}
        }
    }
    if let (None, Some(missing)) = (&stale, &incomplete) {
        printer.warn(format!(
            "dx.lock is incomplete: {missing}; resolving again to repair it"
        ));
    }
    // Network pieces are built lazily: a warm install never needs them.
    let runtime = std::cell::OnceCell::new();
    let get_runtime = || -> anyhow::Result<&tokio::runtime::Runtime> {
        if runtime.get().is_none() {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let _ = runtime.set(rt);
        }
        Ok(runtime.get().expect("just set"))
    };
    // Bars on a terminal only (the printer decides); cleared when `prepare` returns.
    let progress = InstallProgress::new(printer);
    let client = std::cell::OnceCell::new();
    let get_client = || -> anyhow::Result<RegistryClient> {
        if let Some(c) = client.get() {
            return Ok(Clone::clone(c));
        }
        let config = settings::registry_config(global, &project.dir, store)?;
        let c = RegistryClient::new(config, Some(store.metadata_dir()), options.cache_mode)
            .context("cannot set up the registry client")?;
        let c = progress.attach(c);
        let _ = client.set(c.clone());
        Ok(c)
    };

    let (lock_text, lockfile, resolved) = match (existing, stale.or(incomplete)) {
        (Some((text, lock)), None) if options.update == UpdateSelection::Nothing => {
            (text, lock, false)
        }
        (previous, _) => {
            let source = RegistrySource::new(get_client()?, get_runtime()?.handle().clone());
            let resolve_options = ResolveOptions {
                project_dir: Some(project.dir.clone()),
                node_version: installed_node_version(store),
                update: options.update.clone(),
            };
            let outcome = dx_resolve::resolve(
                &source,
                &project.manifest,
                previous.as_ref().map(|(_, lock)| lock),
                &resolve_options,
            )
            .context("cannot resolve dependencies")?;
            for warning in &outcome.warnings {
                printer.warn(warning);
            }
            let lock = outcome.resolution;
            let text = lock.to_text();
            dx_store::write_atomic(&project.lockfile_path(), text.as_bytes())
                .with_context(|| format!("cannot write {}", project.lockfile_path().display()))?;
            (text, lock, true)
        }
    };
    let key = dxl_key(&lock_text, &layout_options);
    if options.lockfile_only {
        return Ok(PreparedLayout {
            key,
            dxl: Vec::new(),
            locked_packages: lockfile.packages.len(),
            resolved,
            downloaded: 0,
        });
    }

    // gc may not run between finding or storing archives and registering the project that uses
    // them, so the shared insert lock is held from here until the root is registered.
    let insert_guard = store.insert_guard().context("cannot lock the store")?;
    let dxl_path = store.dxl_path(&key);
    let (dxl, downloaded) = match std::fs::read(&dxl_path) {
        Ok(bytes) if Dxl::parse(&bytes).is_ok_and(|dxl| all_archives_present(store, &dxl)) => {
            (bytes, 0)
        }
        _ => {
            let resolution = &lockfile;
            let plan = dx_resolve::plan_layout(resolution, &layout_options)
                .context("cannot plan node_modules")?;
            let (hashes, downloaded) =
                ensure_in_store(store, &get_runtime, &get_client, resolution, &plan, printer)?;
            let bytes = compile_dxl(&lock_text, &layout_options, resolution, &plan, &hashes)?;
            store
                .write_dxl(&key, &bytes)
                .context("cannot write the compiled layout to the store")?;
            (bytes, downloaded)
        }
    };
    let parsed = Dxl::parse(&dxl)
        .with_context(|| format!("compiled layout {} is corrupt", dxl_path.display()))?;
    let used: Vec<ContentHash> = parsed.packages().map(|p| p.content_hash()).collect();
    store
        .register_root(&project.dir, &key, &used)
        .context("cannot register the project with the store")?;
    drop(insert_guard);
    Ok(PreparedLayout {
        key,
        dxl,
        locked_packages: lockfile.packages.len(),
        resolved,
        downloaded,
    })
}

/// The version of the `node` on PATH, so versions whose `engines.node` it does not meet are
/// avoided as npm avoids them; `None` (no node) ignores `engines`. Starting node costs tens of
/// milliseconds, so the answer is remembered in the store per node binary (path, inode, size,
/// mtime) and node only runs when that binary changed.
pub(crate) fn installed_node_version(store: &Store) -> Option<dx_resolve::semver::Version> {
    use std::os::unix::fs::MetadataExt as _;
    let path = std::env::var_os("PATH").and_then(|p| crate::scripts::find_on_path("node", &p))?;
    let real = std::fs::canonicalize(&path).unwrap_or(path);
    let meta = std::fs::metadata(&real).ok()?;
    let identity = format!(
        "{}\t{}\t{}\t{}.{}",
        real.display(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    if let Ok(Some(cached)) = store.cached_value("node-version") {
        if let Some((recorded, version)) = cached.split_once('\n') {
            if recorded == identity {
                return dx_resolve::semver::Version::parse(version.trim()).ok();
            }
        }
    }
    let out = std::process::Command::new(&real)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().trim_start_matches('v').to_owned();
    let parsed = dx_resolve::semver::Version::parse(&version).ok()?;
    // A failed write only means node runs again next time.
    let _ = store.set_cached_value("node-version", &format!("{identity}\n{version}"));
    Some(parsed)
}

/// The store key of the DXL compiled from `lock_text` for this platform and options.
fn dxl_key(lock_text: &str, options: &LayoutOptions) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(lock_text.as_bytes());
    hasher.update(platform_tag(options).as_bytes());
    hasher.finalize().to_hex()[..32].to_string()
}

fn platform_tag(options: &LayoutOptions) -> String {
    let p = &options.platform;
    format!(
        "{}-{}-{}{}",
        p.os,
        p.cpu,
        p.libc.as_deref().unwrap_or("none"),
        if options.omit_dev { "-prod" } else { "" }
    )
}

fn all_archives_present(store: &Store, dxl: &Dxl<'_>) -> bool {
    dxl.packages().all(|p| store.contains(&p.content_hash()))
}

/// Makes sure every planned package is in the store, downloading what is missing, and returns
/// each package key's content hash.
fn ensure_in_store<'r>(
    store: &Arc<Store>,
    get_runtime: &dyn Fn() -> anyhow::Result<&'r tokio::runtime::Runtime>,
    get_client: &dyn Fn() -> anyhow::Result<RegistryClient>,
    resolution: &Lockfile,
    plan: &LayoutPlan,
    printer: &Printer,
) -> anyhow::Result<(HashMap<String, ContentHash>, usize)> {
    let mut hashes = HashMap::new();
    let mut missing = Vec::new();
    let mut wanted: Vec<&str> = plan.nodes.iter().map(|n| n.package_key.as_str()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    for key in wanted {
        let package = resolution
            .packages
            .get(key)
            .ok_or_else(|| anyhow!("dx.lock has no entry for {key}"))?;
        let integrity: Integrity = package.integrity.clone().ok_or_else(|| {
            anyhow!(
                "{key} has no integrity in dx.lock; only registry packages are supported so far"
            )
        })?;
        match store
            .lookup_integrity(&integrity)
            .with_context(|| format!("cannot look up {key} in the store"))?
        {
            Some(hash) if store.contains(&hash) => {
                hashes.insert(key.to_owned(), hash);
            }
            _ => {
                let url = package
                    .resolved
                    .clone()
                    .ok_or_else(|| anyhow!("{key} has no tarball URL in dx.lock"))?;
                missing.push(TarballRequest {
                    package: key.to_owned(),
                    url,
                    integrity,
                });
            }
        }
    }
    let downloaded = missing.len();
    if !missing.is_empty() {
        let fetcher = TarballFetcher::new(get_client()?, Arc::clone(store), BuildLimits::default());
        let started = Instant::now();
        for result in get_runtime()?.block_on(fetcher.fetch_all(missing)) {
            let stored = result?;
            hashes.insert(stored.package, stored.hash);
        }
        printer.verbose(format!(
            "fetched {downloaded} packages in {} ms",
            started.elapsed().as_millis()
        ));
    }
    Ok((hashes, downloaded))
}

/// Compiles the lock and its planned layout into DXL bytes.
fn compile_dxl(
    lock_text: &str,
    options: &LayoutOptions,
    resolution: &Lockfile,
    plan: &LayoutPlan,
    hashes: &HashMap<String, ContentHash>,
) -> anyhow::Result<Vec<u8>> {
    let digest: [u8; 16] = blake3::hash(lock_text.as_bytes()).as_bytes()[..16]
        .try_into()
        .expect("16 bytes");
    let mut builder = DxlBuilder::new(digest, &platform_tag(options));
    let mut ids = BTreeMap::new();
    for node in &plan.nodes {
        let key = node.package_key.as_str();
        let id = match ids.get(key) {
            Some(id) => *id,
            None => {
                let package = &resolution.packages[key];
                let id = builder.add_package(DxlPackage {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    content_hash: hashes[key],
                    integrity: package.integrity.clone(),
                    has_install_script: package.has_install_script,
                });
                ids.insert(key, id);
                id
            }
        };
        builder
            .place(&node.install_path, id)
            .with_context(|| format!("cannot place {key} at node_modules/{}", node.install_path))?;
    }
    for link in &plan.bin_links {
        builder
            .add_bin_link(&link.link_path, &link.target)
            .with_context(|| format!("cannot link node_modules/{}", link.link_path))?;
    }
    Ok(builder.finish())
}
