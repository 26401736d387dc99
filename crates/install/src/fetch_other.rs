//! Packages that do not come from a registry: tarball URLs, `file:` tarballs and git
//! commits. Their bytes are fetched (or packed) once when they are resolved and stored with the
//! sha512 dx.lock then records; an install that finds one missing from the store fetches it
//! again from where dx.lock says and refuses it unless it still has that integrity.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dx_formats::dxp::{BuildLimits, PackageArchive};
use dx_formats::hash::{ContentHash, Integrity};
use dx_formats::lockfile::LockedPackage;
use dx_resolve::VersionManifest;
use dx_resolve::spec::GitSpec;
use dx_store::Store;

use crate::error::{Error, Result};
use crate::git::{self, Preparer};
use crate::reporter::Reporter;
use crate::settings::{InstallSettings, LinkerChoice, NetworkMode};

/// What fetching other packages needs to know about the project.
#[derive(Clone)]
pub struct Remote {
    /// The store archives go into (and git clones are cached in).
    pub store: Arc<Store>,
    /// The project directory (`file:` paths in dx.lock are relative to it).
    pub project_dir: PathBuf,
    /// `trustedDependencies`: git packages whose `prepare` may run.
    pub trusted: Vec<String>,
    /// Network use.
    pub network: NetworkMode,
    /// `--registry`, for the dependencies of a package being prepared.
    pub registry: Option<String>,
}

impl Remote {
    /// The context of `project`'s install.
    pub fn of(
        project: &crate::Project,
        store: &Arc<Store>,
        network: NetworkMode,
        registry: Option<&str>,
    ) -> Self {
        Remote {
            store: Arc::clone(store),
            project_dir: project.dir.clone(),
            trusted: project.manifest.trusted_dependencies.clone(),
            network,
            registry: registry.map(str::to_owned),
        }
    }
}

impl Preparer for Remote {
    fn trusts(&self, name: &str) -> bool {
        self.trusted.iter().any(|t| t == name)
    }

    /// As npm prepares a git dependency: its dependencies (dev included) installed in the
    /// checkout, materialized, then its `prepare` script (run by that install, as a project's
    /// own `prepare` is).
    fn prepare(&self, dir: &Path) -> std::result::Result<(), String> {
        let project = crate::Project::open(dir).map_err(|e| e.to_string())?;
        let settings = InstallSettings {
            linker: LinkerChoice::Materialize(dx_fallback_link::LinkMode::Auto),
            network: self.network,
            registry: self.registry.clone(),
            ..InstallSettings::default()
        };
        crate::Install::new(project, Arc::clone(&self.store), settings)
            .run(&crate::Silent)
            .map_err(|e| e.to_string())?;
        // The scratch install's own lock is not part of the package.
        let _ = std::fs::remove_file(dir.join(crate::LOCKFILE_NAME));
        Ok(())
    }
}

/// Whether [`ensure`] fetches `package` (git and `file:` tarballs; tarball URLs go through
/// the registry fetcher like registry tarballs).
pub fn handles(package: &LockedPackage) -> bool {
    locked_git(package).is_some()
        || package
            .resolved
            .as_deref()
            .is_some_and(|r| r.starts_with("file:"))
}

/// The clone URL and commit of a locked git package.
fn locked_git(package: &LockedPackage) -> Option<(String, String)> {
    let v = &package.version;
    if !(v.starts_with("git+") || v.starts_with("git://")) {
        return None;
    }
    let spec = GitSpec::parse(v)?;
    let commit = spec.full_commit()?.to_owned();
    Some((spec.clone_url, commit))
}

/// Brings a locked git or `file:` tarball package missing from the store back into it,
/// refusing it unless it has the integrity dx.lock records.
pub fn ensure(
    remote: &Remote,
    key: &str,
    package: &LockedPackage,
    expected: &Integrity,
    reporter: &dyn Reporter,
) -> Result<ContentHash> {
    if let Some((url, commit)) = locked_git(package) {
        if remote.network == NetworkMode::Offline {
            return Err(Error::Offline {
                package: key.to_owned(),
            });
        }
        let packed = git::pack_locked(&remote.store, &url, &commit, remote)
            .map_err(|e| Error::msg(format!("cannot fetch {key}: {e}")))?;
        for note in &packed.notes {
            reporter.warn(note);
        }
        if packed.integrity != *expected {
            return Err(Error::msg(format!(
                "integrity check failed for {key}: the files of {url}#{commit} pack to {}, dx.lock records {expected}",
                packed.integrity
            )));
        }
        return Ok(packed.hash);
    }
    let resolved = package.resolved.as_deref().unwrap_or_default();
    let path = file_path(&remote.project_dir, resolved);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::msg(format!(
            "cannot read {key}'s tarball {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let actual = crate::packlist::sha512(&bytes);
    if actual != *expected {
        return Err(Error::msg(format!(
            "integrity check failed for {key}: {} is {actual}, dx.lock records {expected}",
            path.display()
        )));
    }
    store_tarball(&remote.store, key, &bytes, expected).map(|(hash, _)| hash)
}

/// The tarball at `url` (`http(s)://…`, or `file:<path>`), for the resolver: its bytes are
/// stored at once (so the install does not fetch them again), and its package.json, with
/// `dist.integrity` (sha512 of the bytes) and `dist.tarball` (what dx.lock records as
/// `resolved`: the URL, or `file:<path relative to the project>`), is returned.
pub fn tarball_manifest(
    remote: &Remote,
    url: &str,
    download: impl FnOnce(&str) -> std::result::Result<Vec<u8>, String>,
) -> std::result::Result<VersionManifest, String> {
    let (bytes, resolved) = match url.strip_prefix("file:") {
        Some(path) => {
            let path = Path::new(path);
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read {}: {}", path.display(), io_reason(&e)))?;
            let relative = path.strip_prefix(&remote.project_dir).unwrap_or(path);
            (bytes, format!("file:{}", relative.display()))
        }
        None => {
            if remote.network == NetworkMode::Offline {
                return Err("--offline forbids downloading it".into());
            }
            (download(url)?, url.to_owned())
        }
    };
    let integrity = crate::packlist::sha512(&bytes);
    let (_, manifest) =
        store_tarball(&remote.store, url, &bytes, &integrity).map_err(|e| e.to_string())?;
    let mut manifest = manifest.ok_or("the tarball has no package.json")?;
    manifest.dist.integrity = Some(integrity.to_string());
    manifest.dist.tarball = Some(resolved);
    Ok(manifest)
}

/// A git specifier resolved, packed and stored, as the resolver wants it.
pub fn git_package(
    remote: &Remote,
    spec: &str,
    notes: &mut Vec<String>,
) -> std::result::Result<dx_resolve::source::GitResolution, String> {
    let git = GitSpec::parse(spec).ok_or("dx cannot clone this kind of git specifier")?;
    if remote.network == NetworkMode::Offline {
        return Err("--offline forbids cloning it".into());
    }
    let packed = git::resolve_and_pack(&remote.store, &git, remote).map_err(|e| e.to_string())?;
    notes.extend(packed.notes);
    let bytes = serde_json::to_vec(&packed.manifest).map_err(|e| e.to_string())?;
    let mut manifest = manifest_from(&bytes, false).map_err(|e| format!("package.json: {e}"))?;
    manifest.dist.integrity = Some(packed.integrity.to_string());
    Ok(dx_resolve::source::GitResolution {
        manifest,
        resolved: git.resolved(&packed.commit),
    })
}

/// Stores a gzipped tarball whose integrity is `integrity`; returns its archive and the
/// package.json inside it (`None` when it has none).
fn store_tarball(
    store: &Store,
    what: &str,
    bytes: &[u8],
    integrity: &Integrity,
) -> Result<(ContentHash, Option<VersionManifest>)> {
    let imported = store
        .import_tarball(what, bytes, integrity, &BuildLimits::default())
        .map_err(|e| Error::msg(format!("cannot store {what}: {e}")))?;
    let stored = store
        .get(&imported.hash)
        .map_err(|e| Error::msg(format!("cannot read {what} back from the store: {e}")))?
        .ok_or_else(|| Error::msg(format!("{what} vanished from the store")))?;
    let archive = stored
        .archive()
        .map_err(|e| Error::msg(format!("cannot read {what} back from the store: {e}")))?;
    let manifest = match archive.manifest() {
        Some(json) => Some(
            manifest_from(json, has_binding_gyp(&archive))
                .map_err(|e| Error::msg(format!("{what} has an unreadable package.json: {e}")))?,
        ),
        None => None,
    };
    Ok((imported.hash, manifest))
}

fn has_binding_gyp(archive: &PackageArchive<'_>) -> bool {
    archive.get("binding.gyp").is_some()
}

/// A package.json as the resolver reads a registry manifest, with `hasInstallScript` worked
/// out as the registry does (an install script, or a `binding.gyp` npm builds).
fn manifest_from(json: &[u8], binding_gyp: bool) -> serde_json::Result<VersionManifest> {
    let value: serde_json::Value = serde_json::from_slice(json)?;
    let scripts = value.get("scripts");
    let has_script = ["preinstall", "install", "postinstall"]
        .iter()
        .any(|s| scripts.and_then(|m| m.get(s)).is_some());
    let mut manifest: VersionManifest = serde_json::from_value(value)?;
    manifest.has_install_script = has_script || binding_gyp;
    Ok(manifest)
}

/// A `file:` path of dx.lock (relative to the project, or absolute) on disk.
fn file_path(project_dir: &Path, resolved: &str) -> PathBuf {
    project_dir.join(resolved.strip_prefix("file:").unwrap_or(resolved))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

/// The name of the package a nameless `dx add` request (`github:user/repo`, a tarball URL,
/// `./x.tgz`) names, read from its package.json; the package is fetched (and stored) once,
/// and the install that follows in this process reuses it.
pub fn name_of(
    project: &crate::Project,
    store: &Store,
    settings: &InstallSettings,
    spec: &dx_resolve::spec::DependencySpec,
) -> Result<String> {
    use dx_resolve::PackageSource as _;
    use dx_resolve::spec::DependencySpec;

    use crate::error::Context as _;
    let shared = Arc::new(
        Store::open(store.root())
            .with_context(|| format!("cannot open the store at {}", store.root().display()))?,
    );
    let runtime = crate::runtime::handle()?;
    let config = crate::config::registry_config(settings.registry.as_deref(), &project.dir, store)?;
    let client = dx_net::RegistryClient::new(
        config,
        Some(store.metadata_dir()),
        settings.network.cache_mode(),
    )
    .context("cannot set up the registry client")?;
    let remote = Remote::of(
        project,
        &shared,
        settings.network,
        settings.registry.as_deref(),
    );
    let source = crate::source::RegistrySource::new(client, runtime).with_remote(remote);
    let manifest = match spec {
        DependencySpec::Git(git) => source.git_package(git).map(|r| r.manifest),
        DependencySpec::Tarball(url) => source.tarball_manifest(url),
        DependencySpec::File(path) => {
            source.tarball_manifest(&format!("file:{}", project.dir.join(path).display()))
        }
        other => unreachable!("{other} is not a remote specifier"),
    }
    .with_context(|| format!("cannot add {spec}"))?;
    if manifest.name.is_empty() {
        crate::bail!("cannot add {spec}: its package.json has no name");
    }
    Ok(manifest.name)
}
