//! `dx update [pkg…]`: re-resolve the named packages (all when none is named) to the newest
//! versions their specifiers allow, wherever they appear in the tree; package.json keeps its
//! ranges (as npm's `update`) unless `--latest` rewrites them to the `latest` dist-tag.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_net::CacheMode;
use dx_resolve::spec::DependencySpec;
use dx_resolve::{DependencySection, ManifestEditor, UpdateSelection};

use crate::cli::{GlobalArgs, InstallArgs};
use crate::commands::changes::install_edited;
use crate::commands::install::Edit;
use crate::lookup::Lookup;
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx update`.
pub fn run(
    packages: &[String],
    latest: bool,
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let mut editor =
        ManifestEditor::parse(&project.manifest_text).context("package.json is not valid")?;
    let locked: Vec<String> = project
        .read_lockfile()?
        .map(|(_, lock)| lock.packages.values().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    for name in packages {
        let direct = DependencySection::ALL
            .iter()
            .any(|s| editor.dependency(*s, name).is_some());
        if !direct && !locked.iter().any(|n| n == name) {
            bail!(
                "cannot update {name}: it is neither a dependency in package.json nor in dx.lock"
            );
        }
    }
    let mut write_manifest = false;
    if latest {
        let store = settings::open_store()?;
        let cache_mode = if args.offline {
            CacheMode::Offline
        } else {
            CacheMode::Revalidate
        };
        let lookup = Lookup::new(&project.dir, &store, global, cache_mode)?;
        for section in [
            DependencySection::Dependencies,
            DependencySection::DevDependencies,
            DependencySection::OptionalDependencies,
        ] {
            let names: Vec<String> = match editor
                .value()
                .get(section.key())
                .and_then(|v| v.as_object())
            {
                Some(map) => map
                    .keys()
                    .filter(|n| packages.is_empty() || packages.contains(n))
                    .cloned()
                    .collect(),
                None => continue,
            };
            for name in names {
                let spec = editor
                    .dependency(section, &name)
                    .unwrap_or_default()
                    .to_owned();
                let Some(new_spec) = latest_spec(&lookup, &name, &spec)? else {
                    continue;
                };
                if new_spec != spec {
                    editor.set_dependency(section, &name, &new_spec);
                    write_manifest = true;
                }
            }
        }
    }
    let update = if packages.is_empty() {
        UpdateSelection::Everything
    } else {
        UpdateSelection::Names(packages.to_vec())
    };
    install_edited(
        &project,
        editor.render(),
        args,
        global,
        printer,
        &Edit {
            write_manifest,
            update,
        },
    )
}

/// `spec` moved to the `latest` dist-tag, keeping an exact pin exact and an alias an alias;
/// `None` for what is not a registry range (tags, URLs, files, git).
fn latest_spec(lookup: &Lookup, name: &str, spec: &str) -> anyhow::Result<Option<String>> {
    let parsed = DependencySpec::parse(name, spec)
        .with_context(|| format!("invalid specifier for {name} in package.json"))?;
    let (registry_name, range) = match &parsed {
        DependencySpec::Range(_) => (name.to_owned(), spec),
        DependencySpec::Alias {
            name: real,
            spec: inner,
        } if matches!(inner.as_ref(), DependencySpec::Range(_)) => (
            real.clone(),
            spec.rsplit_once('@').map(|(_, r)| r).unwrap_or(""),
        ),
        _ => return Ok(None),
    };
    let version = lookup.tagged_version(&registry_name, "latest")?;
    let exact = dx_resolve::semver::Version::parse(range.trim().trim_start_matches('=')).is_ok();
    let new_range = if exact {
        version
    } else {
        format!("^{version}")
    };
    Ok(Some(if registry_name == name {
        new_range
    } else {
        format!("npm:{registry_name}@{new_range}")
    }))
}
