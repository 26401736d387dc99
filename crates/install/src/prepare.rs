//! The steps `dx install` and `dx mount` share: dx.lock (reused, or resolved again where
//! package.json changed), the store (fetching what it lacks), and the compiled DXL layout.
//!
//! The warm path does no resolution and no network: when dx.lock matches package.json and the
//! store already holds the DXL compiled from it with every archive present, it reads two files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use dx_formats::dxl::{Dxl, DxlBuilder, DxlPackage};
use dx_formats::dxp::BuildLimits;
use dx_formats::hash::{ContentHash, Integrity};
use dx_net::{RegistryClient, StoredTarball, TarballFetcher, TarballRequest};
use dx_resolve::{LayoutOptions, LayoutPlan, Lockfile, Platform, ResolveOptions, UpdateSelection};
use dx_store::Store;

use crate::error::{Context as _, Error, Result};
use crate::fetch_other::Remote;
use crate::layout::{dxl_key, lock_digest, member_dxl_key, platform_tag, read_stored};
use crate::project::Project;
use crate::reporter::Reporter;
use crate::settings::NetworkMode;
use crate::source::RegistrySource;

/// How the lock and layout may be obtained.
pub(crate) struct PrepareOptions<'a> {
    /// Fail instead of re-resolving when dx.lock is missing or stale.
    pub frozen: bool,
    /// Stop after writing dx.lock.
    pub lockfile_only: bool,
    /// Network use (`--offline`, `--prefer-offline`).
    pub network: NetworkMode,
    /// `--registry`, over the config files.
    pub registry: Option<&'a str>,
    /// Leave out devDependencies.
    pub production: bool,
    /// Packages to re-resolve although dx.lock still matches package.json (`dx update`).
    pub update: UpdateSelection,
    /// Unpack fetched packages as they are stored (for a materialized tree).
    pub unpack: bool,
}

/// A layout ready to present, compiled and stored.
pub struct PreparedLayout {
    /// The DXL's key in the store.
    pub key: String,
    /// The DXL bytes (empty with `lockfile_only`).
    pub dxl: Vec<u8>,
    /// Packages in the layout (0 with `lockfile_only`).
    pub packages: usize,
    /// Some package in the layout declares install scripts (trusted or not).
    pub has_install_scripts: bool,
    /// Packages in dx.lock.
    pub locked_packages: usize,
    /// Whether dx.lock was (re)written by this run.
    pub resolved: bool,
    /// Tarballs downloaded by this run.
    pub downloaded: usize,
    /// The store's insert guard, held from the first archive lookup: gc (`dx cache clean`
    /// keeps only what live mounts use) cannot collect the layout's archives until
    /// node_modules serves them. Taken by [`PreparedLayout::take_store_guard`].
    pub store_guard: std::sync::Mutex<Option<dx_store::InsertGuard>>,
    /// Each workspace member's own node_modules (empty with `lockfile_only`).
    pub members: Vec<MemberLayout>,
    /// The other tool's lockfile this run imported into dx.lock, if it did.
    pub imported: Option<crate::migrate::ForeignImport>,
    /// dx.lock as this run resolved it, still being written (see [`LockWrite`]): waited for by
    /// [`PreparedLayout::finish_writes`] once node_modules is in place.
    pub(crate) lock_write: std::sync::Mutex<LockWrite>,
}

/// A workspace member's own node_modules, compiled: what npm's layout nests there.
pub struct MemberLayout {
    /// The member's directory, root-relative.
    pub path: String,
    /// The DXL's key in the store.
    pub key: String,
    /// The DXL bytes (a layout with nothing in it when the member needs no node_modules).
    pub dxl: Vec<u8>,
}

impl PreparedLayout {
    /// Queues `bytes` for `path` after dx.lock (an edit's package.json).
    pub fn write_after_lock(&self, path: &std::path::Path, bytes: &[u8]) -> Result<()> {
        self.lock_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .then_write(path, bytes)
    }

    /// Waits until dx.lock (and what was queued after it) is durably written.
    pub fn finish_writes(&self) -> Result<()> {
        self.lock_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .wait()
    }

    /// Takes the insert guard (if still held) to drop it once node_modules serves the layout:
    /// files written, or a mount daemon holding its store mount guard.
    pub fn take_store_guard(&self) -> Option<dx_store::InsertGuard> {
        self.store_guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// Brings dx.lock, the store and the compiled layout up to date for `project`.
pub(crate) fn prepare(
    project: &Project,
    store: &Arc<Store>,
    options: &PrepareOptions<'_>,
    reporter: &dyn Reporter,
) -> Result<PreparedLayout> {
    let layout_options = LayoutOptions {
        platform: Platform::current(),
        omit_dev: options.production,
        omit_optional: false,
    };
    let manifest = dx_resolve::manifest_importer(&project.manifest);
    let (existing, conflicted) = match project.read_lockfile_merging()? {
        Some(read) => (Some((read.text, read.lock)), read.conflicted),
        None => (None, None),
    };
    if let Some(line) = conflicted {
        if options.frozen {
            return Err(Error::LockfileConflicted {
                path: project.lockfile_path(),
                line,
            });
        }
        reporter.warn(&format!(
            "dx.lock had merge conflicts (line {line}): both sides merged, resolving again"
        ));
    }
    let members = project.member_workspaces();
    // A conflicted dx.lock is resolved again whatever it says: the file must be rewritten.
    let stale = existing.as_ref().and_then(|(_, lock)| {
        conflicted
            .map(|_| "dx.lock had merge conflicts".to_owned())
            .or_else(|| lock.is_stale_for(&manifest))
            .or_else(|| lock.stale_members(&members))
    });
    // A lock that lost a `package` block (a bad merge, a truncated file) would install an
    // incomplete tree: frozen, that is an error; otherwise it is resolved again, like a stale one.
    let incomplete = existing
        .as_ref()
        .and_then(|(_, lock)| lock.dangling_edges().next().map(|d| d.to_string()));
    // No dx.lock but another tool's lockfile: its versions are the ones to keep (Bun's rule).
    let foreign = match &existing {
        None => match crate::migrate::foreign_previous(project, store, options.registry) {
            Ok(found) => found,
            // Frozen, the lockfile is the install's only source: its error stands.
            Err(e) if options.frozen => return Err(e),
            Err(e) => {
                reporter.warn(&format!("{e}; resolving afresh"));
                None
            }
        },
        Some(_) => None,
    };
    if options.frozen {
        match (&existing, &stale, &incomplete) {
            (None, _, _) if foreign.is_some() => {}
            (None, _, _) => {
                return Err(Error::FrozenLockfileMissing {
                    path: project.lockfile_path(),
                });
            }
            (Some(_), Some(diff), _) => {
                return Err(Error::FrozenLockfileStale {
                    difference: diff.clone(),
                });
            }
            (Some(_), None, Some(missing)) => {
                return Err(Error::FrozenLockfileIncomplete {
                    missing: missing.clone(),
                });
            }
            _ => {}
        }
    }
    if let (None, Some(missing)) = (&stale, &incomplete) {
        reporter.warn(&format!(
            "dx.lock is incomplete: {missing}; resolving again to repair it"
        ));
    }
    // Network pieces are built lazily: a warm install never needs them. The runtime is the
    // process's (`crate::runtime`): `dx add` may have looked a version up on it already.
    let get_runtime = crate::runtime::handle;
    // The reporter's progress sink, if any, sees this install's network events; it is told
    // when they are over, whatever path `prepare` returns by.
    let _progress_done = ProgressDone(reporter);
    // Freed off this thread when `prepare` returns: it holds every packument it loaded.
    let client = DropInBackground(std::cell::OnceCell::new());
    let get_client = || -> Result<RegistryClient> {
        if let Some(c) = client.0.get() {
            return Ok(Clone::clone(c));
        }
        let config = crate::config::registry_config(options.registry, &project.dir, store)?;
        let c = RegistryClient::new(
            config,
            Some(store.metadata_dir()),
            options.network.cache_mode(),
        )
        .context("cannot set up the registry client")?;
        let c = match reporter.progress() {
            Some(sink) => c.with_progress(sink),
            None => c,
        };
        let _ = client.0.set(c.clone());
        Ok(c)
    };

    // The layout the current dx.lock compiled to, if the store has it: its archives are where
    // a re-resolution finds every package it kept.
    let previous_key = existing
        .as_ref()
        .map(|(text, _)| dxl_key(text, &layout_options));
    let remote = Remote::of(project, store, options.network, options.registry);
    let (lock_text, lockfile, resolved, mut lock_write) = match (existing, stale.or(incomplete)) {
        (Some((text, lock)), None) if options.update == UpdateSelection::Nothing => {
            (text, lock, false, LockWrite::none())
        }
        (previous, _) => {
            let source =
                RegistrySource::new(get_client()?, get_runtime()?).with_remote(remote.clone());
            let previous_lock = previous
                .as_ref()
                .map(|(_, lock)| lock)
                .or(foreign.as_ref().map(|(_, lock, _)| lock));
            let resolved = resolve_and_write(
                &source,
                project,
                store,
                previous_lock,
                options.update.clone(),
                reporter,
            );
            source.take_notes().iter().for_each(|n| reporter.warn(n));
            // The packuments the resolution loaded are freed off this thread.
            crate::runtime::drop_in_background((source, previous));
            let (text, lock, write) = resolved?;
            (text, lock, true, write)
        }
    };
    let imported = match &foreign {
        Some((from, _, versions)) => {
            let kept = versions
                .iter()
                .filter(|v| lockfile.packages.contains_key(*v))
                .count();
            let added = lockfile.packages.len() - kept;
            if options.frozen && (kept < versions.len() || added > 0) {
                // Frozen: the foreign lock had to be installable as it is; nothing is left.
                let _ = lock_write.wait();
                let _ = std::fs::remove_file(project.lockfile_path());
                return Err(Error::FrozenLockfileStale {
                    difference: format!(
                        "{from} does not match package.json: {} of its {} versions kept, {added} added",
                        kept,
                        versions.len()
                    ),
                });
            }
            Some(crate::migrate::ForeignImport {
                from: from.clone(),
                imported: versions.len(),
                kept,
                added,
            })
        }
        None => None,
    };
    let key = dxl_key(&lock_text, &layout_options);
    if options.lockfile_only {
        lock_write.wait()?;
        return Ok(PreparedLayout {
            key,
            dxl: Vec::new(),
            packages: 0,
            has_install_scripts: false,
            locked_packages: lockfile.packages.len(),
            resolved,
            downloaded: 0,
            store_guard: Default::default(),
            members: Vec::new(),
            imported,
            lock_write: std::sync::Mutex::new(LockWrite::none()),
        });
    }

    // gc may not run between finding or storing archives and node_modules serving them (a
    // mount is protected only once its daemon holds its mount guard), so the shared insert
    // lock is held from here and handed to the caller with the layout.
    let insert_guard = store.insert_guard().context("cannot lock the store")?;
    let reusable = (|| {
        let stored = read_stored(&|k| store.dxl_path(k), &key, lockfile.workspaces.keys())?;
        let mut used = Vec::new();
        let mut count = 0;
        let mut scripts = false;
        for bytes in std::iter::once(&stored.root).chain(stored.members.iter().map(|m| &m.bytes)) {
            let dxl = Dxl::parse(bytes).ok()?;
            let start = used.len();
            used.extend(dxl.packages().map(|p| p.content_hash()));
            if !used[start..].iter().all(|hash| store.contains(hash)) {
                return None;
            }
            count += dxl.package_count() as usize;
            scripts |= dxl.packages().any(|p| p.has_install_script());
        }
        let member_dxls = stored
            .members
            .into_iter()
            .map(|m| MemberLayout {
                path: m.path,
                key: m.key,
                dxl: m.bytes,
            })
            .collect();
        used.sort_unstable();
        used.dedup();
        Some((stored.root, used, count, scripts, member_dxls))
    })();
    let (dxl, used, packages, has_install_scripts, downloaded, member_layouts) = match reusable {
        Some((bytes, used, count, scripts, members)) => (bytes, used, count, scripts, 0, members),
        None => {
            let resolution = &lockfile;
            let plan = dx_resolve::plan_layout(resolution, &layout_options)
                .context("cannot plan node_modules")?;
            let known = previous_key
                .as_deref()
                .map(|k| archives_of_layout(store, k))
                .unwrap_or_default();
            let (hashes, downloaded) = ensure_in_store(
                store,
                &remote,
                &get_runtime,
                &get_client,
                resolution,
                &plan,
                &known,
                options,
                reporter,
            )?;
            let root_tree = Tree {
                nodes: &plan.nodes,
                bin_links: &plan.bin_links,
                links: &plan.links,
            };
            let bytes = compile_dxl(&lock_text, &layout_options, resolution, &root_tree, &hashes)?;
            let mut member_dxls = Vec::with_capacity(plan.workspaces.len());
            for ws in &plan.workspaces {
                let tree = Tree {
                    nodes: &ws.nodes,
                    bin_links: &ws.bin_links,
                    links: &ws.links,
                };
                let member_bytes =
                    compile_dxl(&lock_text, &layout_options, resolution, &tree, &hashes)
                        .with_context(|| format!("cannot lay out {}/node_modules", ws.path))?;
                let member_key = member_dxl_key(&key, &ws.path);
                store
                    .write_dxl(&member_key, &member_bytes)
                    .context("cannot write the compiled layout to the store")?;
                member_dxls.push(MemberLayout {
                    path: ws.path.clone(),
                    key: member_key,
                    dxl: member_bytes,
                });
            }
            // The root's DXL last: finding it is what lets a later install reuse them all.
            store
                .write_dxl(&key, &bytes)
                .context("cannot write the compiled layout to the store")?;
            let mut used: Vec<ContentHash> = hashes.values().copied().collect();
            used.sort_unstable();
            used.dedup();
            let count = hashes.len();
            let scripts = plan
                .nodes
                .iter()
                .chain(plan.workspaces.iter().flat_map(|ws| &ws.nodes))
                .any(|node| resolution.packages[&node.package_key].has_install_script);
            (bytes, used, count, scripts, downloaded, member_dxls)
        }
    };
    store
        .register_root(&project.dir, &key, &used)
        .context("cannot register the project with the store")?;
    Ok(PreparedLayout {
        key,
        dxl,
        packages,
        has_install_scripts,
        locked_packages: lockfile.packages.len(),
        resolved,
        downloaded,
        store_guard: std::sync::Mutex::new(Some(insert_guard)),
        members: member_layouts,
        imported,
        lock_write: std::sync::Mutex::new(lock_write),
    })
}

/// One node_modules to compile: the root's, or a member's.
pub(crate) struct Tree<'p> {
    /// Its packages.
    pub nodes: &'p [dx_resolve::PlacedPackage],
    /// Its `.bin` links.
    pub bin_links: &'p [dx_resolve::BinLink],
    /// Its directory links (members, `file:`/`link:` directories).
    pub links: &'p [dx_resolve::DirLink],
}

/// Hands its value to [`crate::runtime::drop_in_background`] when dropped.
struct DropInBackground<T: Send + Default + 'static>(T);

impl<T: Send + Default + 'static> Drop for DropInBackground<T> {
    fn drop(&mut self) {
        crate::runtime::drop_in_background(std::mem::take(&mut self.0));
    }
}

/// Tells the reporter the network part is over when dropped.
struct ProgressDone<'r>(&'r dyn Reporter);

impl Drop for ProgressDone<'_> {
    fn drop(&mut self) {
        self.0.progress_done();
    }
}

/// Resolves `project`'s package.json (preferring `previous`'s choices, re-resolving `update`),
/// passes the resolver's warnings on, and starts writing dx.lock atomically and durably;
/// returns its text, its model and the write, which finishes (fsync, rename, fsync of the
/// directory) while the caller goes on. The one place a resolution becomes dx.lock
/// (`dx install`, `add`, `update`, `migrate`).
pub(crate) fn resolve_and_write(
    source: &dyn dx_resolve::PackageSource,
    project: &Project,
    store: &Store,
    previous: Option<&Lockfile>,
    update: UpdateSelection,
    reporter: &dyn Reporter,
) -> Result<(String, Lockfile, LockWrite)> {
    let resolve_options = ResolveOptions {
        project_dir: Some(project.dir.clone()),
        node_version: installed_node_version(store),
        update,
        workspaces: project.resolver_members(),
    };
    let outcome = dx_resolve::resolve(source, &project.manifest, previous, &resolve_options)
        .context("cannot resolve dependencies")?;
    for warning in &outcome.warnings {
        reporter.warn(&warning.to_string());
    }
    let lock = outcome.resolution;
    let text = lock.to_text();
    let write = LockWrite::start(&project.lockfile_path(), text.as_bytes())?;
    Ok((text, lock, write))
}

/// dx.lock (and, for an edit, package.json after it) being written durably on another thread
/// (`dx_store::PendingWrite`): on a busy disk each fsync took 5–200 ms, which the layout, the
/// fetches and the mount now overlap. [`LockWrite::wait`] is called before anything reads the
/// files back and before the command reports success; dropping it waits as well.
#[derive(Debug)]
pub struct LockWrite(Option<dx_store::PendingWrite>);

impl LockWrite {
    /// Nothing to write.
    pub(crate) fn none() -> Self {
        Self(None)
    }

    /// Starts replacing `path` with `bytes`.
    pub(crate) fn start(path: &std::path::Path, bytes: &[u8]) -> Result<Self> {
        let pending = dx_store::PendingWrite::start(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self(Some(pending)))
    }

    /// Queues `bytes` for `path` after what is already being written (the crash order is the
    /// order asked for).
    pub(crate) fn then_write(&mut self, path: &std::path::Path, bytes: &[u8]) -> Result<()> {
        let next = match self.0.take() {
            Some(pending) => pending.then_write(path, bytes),
            None => dx_store::PendingWrite::start(path, bytes),
        }
        .with_context(|| format!("cannot write {}", path.display()))?;
        self.0 = Some(next);
        Ok(())
    }

    /// Waits until everything queued is durably in place; the first failure, naming its file.
    pub(crate) fn wait(&mut self) -> Result<()> {
        match self.0.take() {
            Some(pending) => {
                let path = pending.path().to_path_buf();
                pending
                    .wait()
                    .with_context(|| format!("cannot write {}", path.display()))
            }
            None => Ok(()),
        }
    }
}

/// The version of the `node` on PATH, so versions whose `engines.node` it does not meet are
/// avoided as npm avoids them; `None` (no node) ignores `engines`. Starting node costs tens of
/// milliseconds, so the answer is remembered in the store per node binary (path, inode, size,
/// mtime) and node only runs when that binary changed.
pub fn installed_node_version(store: &Store) -> Option<dx_resolve::semver::Version> {
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
    if let Ok(Some(cached)) = store.cached_value("node-version")
        && let Some((recorded, version)) = cached.split_once('\n')
        && recorded == identity
    {
        return dx_resolve::semver::Version::parse(version.trim()).ok();
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

/// The archive of every package in the stored layout `key`, by integrity (empty when the
/// store does not have it or it does not parse).
fn archives_of_layout(store: &Store, key: &str) -> HashMap<Integrity, ContentHash> {
    let Ok(bytes) = std::fs::read(store.dxl_path(key)) else {
        return HashMap::new();
    };
    let Ok(dxl) = Dxl::parse(&bytes) else {
        return HashMap::new();
    };
    dxl.packages()
        .filter_map(|p| Some((p.integrity()?, p.content_hash())))
        .collect()
}

/// Makes sure every planned package is in the store, downloading what is missing, and returns
/// each package key's content hash. `known` (the archives of the layout this one replaces)
/// answers for the packages a re-resolution kept with one `stat` each instead of a read of the
/// integrity index.
#[allow(clippy::too_many_arguments)]
fn ensure_in_store(
    store: &Arc<Store>,
    remote: &Remote,
    get_runtime: &dyn Fn() -> Result<tokio::runtime::Handle>,
    get_client: &dyn Fn() -> Result<RegistryClient>,
    resolution: &Lockfile,
    plan: &LayoutPlan,
    known: &HashMap<Integrity, ContentHash>,
    options: &PrepareOptions<'_>,
    reporter: &dyn Reporter,
) -> Result<(HashMap<String, ContentHash>, usize)> {
    let mut hashes = HashMap::new();
    let mut missing = Vec::new();
    let mut wanted: Vec<&str> = plan
        .nodes
        .iter()
        .chain(plan.workspaces.iter().flat_map(|ws| &ws.nodes))
        .map(|n| n.package_key.as_str())
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    for key in wanted {
        let package = resolution
            .packages
            .get(key)
            .with_context(|| format!("dx.lock has no entry for {key}"))?;
        let integrity: Integrity = package.integrity.clone().with_context(|| {
            format!(
                "{key} has no integrity in dx.lock; only registry packages are supported so far"
            )
        })?;
        // Either way the archive is known to be present (`lookup_integrity` checks too).
        let stored = match known.get(&integrity) {
            Some(hash) if store.contains(hash) => Some(*hash),
            _ => store
                .lookup_integrity(&integrity)
                .with_context(|| format!("cannot look up {key} in the store"))?,
        };
        match stored {
            Some(hash) => {
                hashes.insert(key.to_owned(), hash);
            }
            // Git and `file:` tarballs: packed or read again, checked against dx.lock.
            _ if crate::fetch_other::handles(package) => {
                let hash = crate::fetch_other::ensure(remote, key, package, &integrity, reporter)?;
                hashes.insert(key.to_owned(), hash);
            }
            _ => {
                let url = package
                    .resolved
                    .clone()
                    .with_context(|| format!("{key} has no tarball URL in dx.lock"))?;
                missing.push(TarballRequest {
                    package: key.to_owned(),
                    url,
                    integrity,
                });
            }
        }
    }
    let downloaded = missing.len();
    if let (NetworkMode::Offline, Some(first)) = (options.network, missing.first()) {
        return Err(Error::Offline {
            package: first.package.clone(),
        });
    }
    if !missing.is_empty() {
        // Stored together, with one flush for all (`ImportBatch`): in place before anything
        // below reads them.
        let batch = Arc::new(
            store
                .import_batch(options.unpack)
                .context("cannot lock the store")?,
        );
        let fetcher =
            TarballFetcher::staged(get_client()?, Arc::clone(&batch), BuildLimits::default());
        let started = Instant::now();
        let results = get_runtime()?.block_on(fetcher.fetch_all(missing));
        let results: Vec<StoredTarball> = results.into_iter().collect::<Result<_, _>>()?;
        batch
            .commit()
            .context("cannot store the downloaded packages")?;
        for stored in results {
            if !stored.already_stored
                && let Some(package) = resolution.packages.get(&stored.package)
                && let Some(warning) = crate::content_check::mismatch_warning(
                    store,
                    &stored.hash,
                    &package.name,
                    &package.version,
                )
            {
                reporter.warn(&warning);
            }
            hashes.insert(stored.package, stored.hash);
        }
        reporter.verbose(&format!(
            "fetched {downloaded} packages in {} ms",
            started.elapsed().as_millis()
        ));
    }
    Ok((hashes, downloaded))
}

/// Compiles the lock and its planned layout into DXL bytes.
pub(crate) fn compile_dxl(
    lock_text: &str,
    options: &LayoutOptions,
    resolution: &Lockfile,
    plan: &Tree<'_>,
    hashes: &HashMap<String, ContentHash>,
) -> Result<Vec<u8>> {
    let mut builder = DxlBuilder::new(lock_digest(lock_text), &platform_tag(options));
    let mut ids = BTreeMap::new();
    for node in plan.nodes {
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
    for link in plan.bin_links {
        builder
            .add_bin_link(&link.link_path, &link.target)
            .with_context(|| format!("cannot link node_modules/{}", link.link_path))?;
    }
    // Workspace members and `file:`/`link:` directories: symlinks, as npm makes them.
    for link in plan.links {
        builder
            .add_bin_link(&link.install_path, &link.target)
            .with_context(|| format!("cannot link node_modules/{}", link.install_path))?;
    }
    Ok(builder.finish())
}
