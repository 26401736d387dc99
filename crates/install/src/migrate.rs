//! `dx migrate`: reads package-lock.json / npm-shrinkwrap.json, bun.lock or yarn.lock (see
//! `dx_migrate`) and writes dx.lock with the same versions wherever package.json still allows
//! them. node_modules is left alone: `dx install` follows.

use std::collections::BTreeSet;
use std::path::Path;

use dx_migrate::{Format, ImportOptions};
use dx_net::CacheMode;
use dx_resolve::{Lockfile, UpdateSelection};
use dx_store::Store;

use crate::bail;
use crate::error::{Context as _, Error, Result};
use crate::lookup::Lookup;
use crate::prepare::resolve_and_write;
use crate::project::Project;
use crate::reporter::Reporter;

/// What `dx migrate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateOutcome {
    /// The lockfile imported, as given or found.
    pub from: std::path::PathBuf,
    /// Packages in the new dx.lock.
    pub packages: usize,
    /// Versions the imported lockfile had.
    pub imported: usize,
    /// Of those, kept in dx.lock.
    pub kept: usize,
    /// `name@version`s the import had and dx.lock does not.
    pub dropped: Vec<String>,
    /// `name@version`s dx.lock has and the import did not.
    pub added: Vec<String>,
}

/// Imports `from` (default: the first lockfile found in the project) into dx.lock; an existing
/// dx.lock is replaced only with `force`.
pub fn migrate(
    project: &Project,
    store: &Store,
    registry: Option<&str>,
    from: Option<&Path>,
    force: bool,
    reporter: &dyn Reporter,
) -> Result<MigrateOutcome> {
    let (path, format) = match from {
        Some(from) => {
            let path = project.dir.join(from);
            let format = Format::from_file_name(&path).ok_or_else(|| {
                Error::msg(format!(
                    "{}: dx imports package-lock.json, npm-shrinkwrap.json, bun.lock, yarn.lock (v1) or pnpm-lock.yaml",
                    path.display()
                ))
            })?;
            (path, format)
        }
        None => match dx_migrate::detect(&project.dir) {
            Some(found) => found,
            None => {
                for (file, hint) in dx_migrate::UNSUPPORTED {
                    if project.dir.join(file).exists() {
                        bail!("{}: {hint}", project.dir.join(file).display());
                    }
                }
                bail!(
                    "no lockfile to migrate in {} (looked for package-lock.json, npm-shrinkwrap.json, bun.lock, yarn.lock, pnpm-lock.yaml)",
                    project.dir.display()
                );
            }
        },
    };
    if project.lockfile_path().exists() && !force {
        bail!(
            "{} already exists (pass --force to replace it)",
            project.lockfile_path().display()
        );
    }
    let lookup = Lookup::new(&project.dir, store, registry, CacheMode::PreferOffline)?;
    let imported = read_foreign(project, &lookup, &path, format)?;

    let (_, lock, mut write) = resolve_and_write(
        lookup.source(),
        project,
        store,
        Some(&imported.resolution),
        UpdateSelection::Nothing,
        reporter,
    )?;
    write.wait()?;

    let now: BTreeSet<String> = lock.packages.keys().cloned().collect();
    Ok(MigrateOutcome {
        from: path,
        packages: now.len(),
        imported: imported.versions.len(),
        kept: imported.versions.intersection(&now).count(),
        dropped: imported.versions.difference(&now).cloned().collect(),
        added: now.difference(&imported.versions).cloned().collect(),
    })
}

/// What `dx install` imported because the project had another tool's lockfile and no dx.lock
/// (as Bun does): the versions are kept wherever package.json still allows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignImport {
    /// The lockfile imported (its file name: `package-lock.json`, …).
    pub from: String,
    /// Versions it had.
    pub imported: usize,
    /// Of those, kept in dx.lock.
    pub kept: usize,
    /// `name@version`s dx.lock has that it did not.
    pub added: usize,
}

/// The foreign lockfile of a project without dx.lock, read as the resolution to keep
/// (`previous`), with the versions it holds; `None` when there is none.
pub(crate) fn foreign_previous(
    project: &Project,
    store: &Store,
    registry: Option<&str>,
) -> Result<Option<(String, Lockfile, BTreeSet<String>)>> {
    let Some((path, format)) = dx_migrate::detect(&project.dir) else {
        return Ok(None);
    };
    let lookup = Lookup::new(&project.dir, store, registry, CacheMode::PreferOffline)?;
    let imported = read_foreign(project, &lookup, &path, format)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Some((name, imported.resolution, imported.versions)))
}

/// Reads `path` (of `format`) into a resolution, metadata filled from the registry where the
/// format leaves it out.
fn read_foreign(
    project: &Project,
    lookup: &Lookup,
    path: &Path,
    format: Format,
) -> Result<dx_migrate::Imported> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let root: serde_json::Value =
        serde_json::from_str(project.manifest_text.trim_start_matches('\u{feff}'))
            .context("package.json is not valid JSON")?;
    let tarball_url = |name: &str, version: &str| {
        dx_formats::registry_url::tarball_url(lookup.registry_for(name), name, version)
    };
    let members: Vec<(String, serde_json::Value)> = project
        .members
        .iter()
        .filter(|m| !m.local)
        .filter_map(|m| Some((m.path.clone(), serde_json::from_str(&m.manifest_text).ok()?)))
        .collect();
    let file_name = path.display().to_string();
    let mut imported = dx_migrate::import(
        &file_name,
        format,
        &text,
        &ImportOptions {
            root_manifest: &root,
            tarball_url: &tarball_url,
            members: &members,
        },
    )
    .map_err(Error::msg)?;
    if !imported.complete_metadata {
        fill_metadata(lookup, &mut imported.resolution)?;
    }
    Ok(imported)
}

/// Fills what a lockfile leaves out (`bin`, `os`, `cpu`, `libc`, install scripts, integrity
/// or URL when missing, and the ranges of dependency edges pnpm records only as versions)
/// from each package's packument.
fn fill_metadata(lookup: &Lookup, resolution: &mut Lockfile) -> Result<()> {
    let names: BTreeSet<String> = resolution
        .packages
        .values()
        .map(|p| p.name.clone())
        .collect();
    lookup.prefetch(names.iter().cloned());
    for package in resolution.packages.values_mut() {
        let packument = lookup.packument(&package.name)?;
        let Some(manifest) = packument.manifest(&package.version) else {
            // Unpublished since: the resolver will choose again for whoever depends on it.
            continue;
        };
        package.bin = manifest.bins();
        package.os = manifest.os.clone();
        package.cpu = manifest.cpu.clone();
        package.libc = manifest.libc.clone();
        package.has_install_script = manifest.has_install_script;
        package.deprecated = manifest.deprecated.clone();
        if let (None, Some(sri)) = (&package.integrity, &manifest.dist.integrity) {
            let integrity = sri.parse().with_context(|| {
                format!(
                    "package {}@{} has an unreadable integrity {sri:?} on the registry",
                    package.name, package.version
                )
            })?;
            package.integrity = Some(integrity);
        }
        if package.resolved.is_none() {
            package.resolved = manifest.dist.tarball.clone();
        }
        // pnpm records the versions a package's dependencies resolved to, not its ranges:
        // the manifest has them (and says which are optional or peers).
        for (dep, edge) in package.dependencies.iter_mut() {
            if !edge.specifier.is_empty() {
                continue;
            }
            let found = [
                (
                    &manifest.optional_dependencies,
                    dx_resolve::EdgeKind::Optional,
                ),
                (&manifest.dependencies, dx_resolve::EdgeKind::Normal),
                (&manifest.peer_dependencies, dx_resolve::EdgeKind::Peer),
            ]
            .into_iter()
            .find_map(|(map, kind)| map.get(dep).map(|spec| (spec.clone(), kind)));
            if let Some((spec, kind)) = found {
                edge.specifier = spec;
                edge.kind = kind;
            }
        }
    }
    Ok(())
}
