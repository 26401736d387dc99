//! `dx migrate`: reads package-lock.json / npm-shrinkwrap.json, bun.lock or yarn.lock (see
//! `dx_migrate`) and writes dx.lock with the same versions wherever package.json still allows
//! them; what changed is listed. node_modules is left alone: `dx install` follows.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use dx_migrate::{Format, ImportOptions};
use dx_net::CacheMode;
use dx_resolve::{Lockfile, ResolveOptions, UpdateSelection};
use serde_json::json;

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::lookup::Lookup;
use crate::pipeline::installed_node_version;
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx migrate`.
pub fn run(args: MigrateArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let (path, format) = match &args.from {
        Some(from) => {
            let path = project.dir.join(from);
            let format = Format::from_file_name(&path).ok_or_else(|| {
                anyhow!(
                    "{}: dx imports package-lock.json, npm-shrinkwrap.json, bun.lock or yarn.lock",
                    path.display()
                )
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
                    "no lockfile to migrate in {} (looked for package-lock.json, npm-shrinkwrap.json, bun.lock, yarn.lock)",
                    project.dir.display()
                );
            }
        },
    };
    if project.lockfile_path().exists() && !args.force {
        bail!(
            "{} already exists (pass --force to replace it)",
            project.lockfile_path().display()
        );
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let root: serde_json::Value =
        serde_json::from_str(project.manifest_text.trim_start_matches('\u{feff}'))
            .context("package.json is not valid JSON")?;
    let store = settings::open_store()?;
    let lookup = Lookup::new(&project.dir, &store, global, CacheMode::PreferOffline)?;
    let tarball_url = |name: &str, version: &str| {
        dx_formats::registry_url::tarball_url(lookup.registry_for(name), name, version)
    };
    let file_name = path.display().to_string();
    let mut imported = dx_migrate::import(
        &file_name,
        format,
        &text,
        &ImportOptions {
            root_manifest: &root,
            tarball_url: &tarball_url,
        },
    )?;
    if !imported.complete_metadata {
        fill_metadata(&lookup, &mut imported.resolution)?;
    }

    let resolve_options = ResolveOptions {
        project_dir: Some(project.dir.clone()),
        node_version: installed_node_version(&store),
        update: UpdateSelection::Nothing,
    };
    let outcome = lookup
        .resolve(
            &project.manifest,
            Some(&imported.resolution),
            &resolve_options,
        )
        .context("cannot resolve dependencies")?;
    for warning in &outcome.warnings {
        printer.warn(warning);
    }
    let lock = &outcome.resolution;
    dx_store::write_atomic(&project.lockfile_path(), lock.to_text().as_bytes())
        .with_context(|| format!("cannot write {}", project.lockfile_path().display()))?;

    let now: BTreeSet<String> = outcome.resolution.packages.keys().cloned().collect();
    let kept = imported.versions.intersection(&now).count();
    let dropped: Vec<&String> = imported.versions.difference(&now).collect();
    let added: Vec<&String> = now.difference(&imported.versions).collect();
    if printer.json() {
        printer.json_value(&json!({
            "from": file_name, "packages": now.len(), "kept": kept,
            "dropped": dropped, "added": added,
        }));
    } else {
        printer.line(format!(
            "dx.lock written from {}: {} packages, {kept} of {} versions kept",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default(),
            now.len(),
            imported.versions.len()
        ));
        for key in &dropped {
            printer.line(format!("- {key}"));
        }
        for key in &added {
            printer.line(format!("+ {key}"));
        }
        printer.line("run `dx install` to install them");
    }
    Ok(ExitCode::SUCCESS)
}

/// Fills what a lockfile leaves out (`bin`, `os`, `cpu`, `libc`, install scripts, and
/// integrity or URL when missing) from each package's packument.
fn fill_metadata(lookup: &Lookup, resolution: &mut Lockfile) -> anyhow::Result<()> {
    let names: BTreeSet<String> = resolution
        .packages
        .values()
        .map(|p| p.name.clone())
        .collect();
    lookup.prefetch(names.iter().cloned());
    for package in resolution.packages.values_mut() {
        let packument = lookup.packument(&package.name)?;
        let Some(manifest) = packument.versions.get(&package.version) else {
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
    }
    Ok(())
}
