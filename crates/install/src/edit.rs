//! The package.json edits of `dx add`, `dx remove` and `dx update`, as npm makes them: `add`
//! saves `^version` of the `latest` dist-tag unless a range is given, sections stay sorted and
//! the file's formatting is kept. Each returns the [`Edit`] an [`crate::Install`] then applies
//! (package.json is written only when that install succeeds).

use dx_resolve::spec::{DependencySpec, split_name_spec};
use dx_resolve::{DependencySection, ManifestEditor, UpdateSelection};
use dx_store::Store;

use crate::bail;
use crate::error::{Context as _, Result};
use crate::install::Edit;
use crate::lookup::Lookup;
use crate::project::Project;
use crate::settings::InstallSettings;

/// Where `dx add` saves the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveAs {
    /// `dependencies`.
    #[default]
    Prod,
    /// `devDependencies` (`-D`).
    Dev,
    /// `optionalDependencies` (`-O`).
    Optional,
    /// `peerDependencies`, and `devDependencies` so it is installed (`--save-peer`).
    Peer,
}

/// The edit of `dx add <requests>`: each request is `name`, `name@range`, `name@tag` or
/// `alias@npm:name@range`; a tag (or nothing) is looked up and saved as `^version`
/// (`exact`: the version itself).
pub fn add(
    project: &Project,
    store: &Store,
    settings: &InstallSettings,
    requests: &[String],
    save_as: SaveAs,
    exact: bool,
) -> Result<Edit> {
    let section = match save_as {
        SaveAs::Dev | SaveAs::Peer => DependencySection::DevDependencies,
        SaveAs::Optional => DependencySection::OptionalDependencies,
        SaveAs::Prod => DependencySection::Dependencies,
    };
    let mut lookup = None;
    let mut editor = ManifestEditor::parse(project.edited_manifest_text())
        .context("package.json is not valid")?;
    for request in requests {
        // A git, tarball URL or tarball path request names no package: its package.json does.
        let nameless = remote_request(request);
        let learned;
        let directory;
        let (name, spec) = match (&nameless, local_directory(project, request)?) {
            (_, Some((dir_name, saved))) => {
                // `dx add ../lib`: saved as npm saves it, `file:../lib`.
                learned = dir_name;
                directory = saved;
                (learned.as_str(), directory.as_str())
            }
            (Some(remote), None) => {
                learned = crate::fetch_other::name_of(project, store, settings, remote)?;
                (learned.as_str(), request.as_str())
            }
            (None, None) => split_name_spec(request),
        };
        // npm's rules for names that install (`EINVALIDPACKAGENAME`), the resolver's own.
        if let Err(reason) = dx_resolve::name::validate_dependency_name(name) {
            bail!("invalid package name `{name}`: {reason}");
        }
        let parsed = DependencySpec::parse(name, spec)
            .with_context(|| format!("invalid specifier in `{request}`"))?;
        let saved = match needed_tag(&parsed, spec) {
            None => parsed.saved_form(spec),
            Some((alias_of, tag)) => {
                let registry_name = alias_of.unwrap_or_else(|| name.to_owned());
                if lookup.is_none() {
                    lookup = Some(Lookup::new(
                        &project.dir,
                        store,
                        settings.registry.as_deref(),
                        settings.network.cache_mode(),
                    )?);
                }
                let version = lookup
                    .as_ref()
                    .expect("just set")
                    .tagged_version(&registry_name, &tag)?;
                let range = if exact {
                    version
                } else {
                    format!("^{version}")
                };
                if registry_name == name {
                    range
                } else {
                    format!("npm:{registry_name}@{range}")
                }
            }
        };
        editor.set_dependency(section, name, &saved);
        if save_as == SaveAs::Peer {
            editor.set_dependency(DependencySection::PeerDependencies, name, &saved);
        }
    }
    Ok(Edit {
        manifest_text: Some(editor.render()),
        update: UpdateSelection::Nothing,
        catalog_file: None,
    })
}

/// The edit of `dx remove <names>`: each name leaves every dependency section.
pub fn remove(project: &Project, names: &[String]) -> Result<Edit> {
    let mut editor = ManifestEditor::parse(project.edited_manifest_text())
        .context("package.json is not valid")?;
    for name in names {
        if editor.remove_dependency(name).is_empty() {
            bail!(
                "cannot remove {name}: it is not a dependency in {}",
                project.edited_dir().join("package.json").display()
            );
        }
    }
    Ok(Edit {
        manifest_text: Some(editor.render()),
        update: UpdateSelection::Nothing,
        catalog_file: None,
    })
}

/// The edit of `dx update [names]`: re-resolve the named packages (every package when none is
/// named) wherever they appear; with `latest`, direct ranges are rewritten to the `latest`
/// dist-tag's version first (an exact pin stays exact, an alias an alias).
pub fn update(
    project: &Project,
    store: &Store,
    settings: &InstallSettings,
    names: &[String],
    latest: bool,
) -> Result<Edit> {
    let mut editor = ManifestEditor::parse(project.edited_manifest_text())
        .context("package.json is not valid")?;
    let locked: Vec<String> = project
        .read_lockfile_merging()?
        .map(|read| {
            read.lock
                .packages
                .values()
                .map(|p| p.name.clone())
                .collect()
        })
        .unwrap_or_default();
    for name in names {
        let direct = DependencySection::ALL
            .iter()
            .any(|s| editor.dependency(*s, name).is_some());
        if !direct && !locked.iter().any(|n| n == name) {
            bail!(
                "cannot update {name}: it is neither a dependency in package.json nor in dx.lock"
            );
        }
    }
    let mut manifest_text = None;
    let mut catalog_file = None;
    if latest {
        let lookup = Lookup::new(
            &project.dir,
            store,
            settings.registry.as_deref(),
            settings.network.cache_mode(),
        )?;
        let mut changed = false;
        let mut catalogs: Vec<(String, String)> = Vec::new();
        for section in [
            DependencySection::Dependencies,
            DependencySection::DevDependencies,
            DependencySection::OptionalDependencies,
        ] {
            let listed: Vec<String> = match editor
                .value()
                .get(section.key())
                .and_then(|v| v.as_object())
            {
                Some(map) => map
                    .keys()
                    .filter(|n| names.is_empty() || names.contains(n))
                    .cloned()
                    .collect(),
                None => continue,
            };
            for name in listed {
                let spec = editor
                    .dependency(section, &name)
                    .unwrap_or_default()
                    .to_owned();
                // A `catalog:` specifier stays; its catalog entry is what moves, for every
                // member that uses it.
                if let Some(catalog) = crate::workspace::catalog_name(&spec) {
                    catalogs.push((catalog.to_owned(), name.clone()));
                    continue;
                }
                let Some(new_spec) = latest_spec(&lookup, &name, &spec)? else {
                    continue;
                };
                if new_spec != spec {
                    editor.set_dependency(section, &name, &new_spec);
                    changed = true;
                }
            }
        }
        if changed {
            manifest_text = Some(editor.render());
        }
        // Every member's `catalog:` dependencies of these names: the entry is shared.
        for text in project.members.iter().map(|m| m.manifest_text.as_str()) {
            let Ok(member) = ManifestEditor::parse(text) else {
                continue;
            };
            for section in DependencySection::ALL {
                let Some(map) = member
                    .value()
                    .get(section.key())
                    .and_then(|v| v.as_object())
                else {
                    continue;
                };
                for (name, spec) in map {
                    let wanted = names.is_empty() || names.contains(name);
                    if let (true, Some(catalog)) = (
                        wanted,
                        spec.as_str().and_then(crate::workspace::catalog_name),
                    ) {
                        catalogs.push((catalog.to_owned(), name.clone()));
                    }
                }
            }
        }
        catalogs.sort();
        catalogs.dedup();
        catalog_file = updated_catalogs(project, &lookup, &catalogs)?;
    }
    let update = if names.is_empty() {
        UpdateSelection::Everything
    } else {
        UpdateSelection::Names(names.to_vec())
    };
    Ok(Edit {
        manifest_text,
        update,
        catalog_file,
    })
}

/// The catalog file (pnpm-workspace.yaml, else the root package.json) with each named entry
/// moved to its `latest` version, or `None` when nothing moves. Writing it is the install's,
/// with the other edits (and undone with them).
fn updated_catalogs(
    project: &Project,
    lookup: &Lookup,
    entries: &[(String, String)],
) -> Result<Option<(std::path::PathBuf, String)>> {
    use crate::workspace::{CatalogFile, PNPM_WORKSPACE_FILE, rewrite_catalog_entry};
    if entries.is_empty() {
        return Ok(None);
    }
    let yaml = project.dir.join(PNPM_WORKSPACE_FILE);
    let (path, kind) = if yaml.is_file() {
        (yaml, CatalogFile::PnpmWorkspaceYaml)
    } else {
        (project.dir.join("package.json"), CatalogFile::PackageJson)
    };
    let mut text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let original = text.clone();
    for (catalog, name) in entries {
        let Some(current) = project
            .catalogs
            .resolve(name, &format!("catalog:{catalog}"))?
        else {
            continue;
        };
        let Some(new_spec) = latest_spec(lookup, name, &current)? else {
            continue;
        };
        if new_spec == current {
            continue;
        }
        if let Some(rewritten) = rewrite_catalog_entry(&text, kind, catalog, name, &new_spec)? {
            text = rewritten;
        }
    }
    Ok((text != original).then_some((path, text)))
}

/// A `dx add` request naming a package directory (`../lib`, `./packages/x`, `file:../lib`,
/// an absolute path), relative to the package being edited: its package.json's name and the
/// specifier npm saves (`file:../lib`). `None` for anything else; a directory without a
/// readable, named package.json is an error naming it.
fn local_directory(project: &Project, request: &str) -> Result<Option<(String, String)>> {
    let path = request.strip_prefix("file:").unwrap_or(request);
    let looks_local = request.starts_with("file:")
        || path.starts_with("./")
        || path.starts_with("../")
        || path.starts_with('/')
        || path == "."
        || path == "..";
    if !looks_local || dx_formats::lockfile::is_tarball_path(path) {
        return Ok(None);
    }
    let dir = project.edited_dir().join(path);
    if !dir.is_dir() {
        bail!("cannot add {request}: {} is not a directory", dir.display());
    }
    let manifest = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot add {request}: cannot read {}", manifest.display()))?;
    let parsed = dx_resolve::PackageJson::parse(&text)
        .with_context(|| format!("cannot add {request}: {} is not valid", manifest.display()))?;
    let Some(name) = parsed.name else {
        bail!("cannot add {request}: {} has no name", manifest.display());
    };
    Ok(Some((name, format!("file:{}", path.trim_end_matches('/')))))
}

/// The spec of a `dx add` request that is a git reference, a tarball URL or a tarball path as
/// a whole (`github:user/repo`, `git+ssh://git@host/r.git`, `https://…/x.tgz`, `./x.tgz`).
fn remote_request(request: &str) -> Option<DependencySpec> {
    match DependencySpec::parse("", request).ok()? {
        spec @ (DependencySpec::Git(_) | DependencySpec::Tarball(_)) => Some(spec),
        DependencySpec::File(path) if dx_formats::lockfile::is_tarball_path(&path) => {
            Some(DependencySpec::File(path))
        }
        _ => None,
    }
}

/// The registry name (`None`: the package's own) and dist-tag to look up when the saved
/// specifier must be a version: `react`, `react@latest`, `react@next`, `alias@npm:real`,
/// `alias@npm:real@beta`.
fn needed_tag(spec: &DependencySpec, raw: &str) -> Option<(Option<String>, String)> {
    match spec {
        DependencySpec::Tag(tag) => Some((None, tag.clone())),
        DependencySpec::Range(_) if raw.trim().is_empty() => Some((None, "latest".into())),
        DependencySpec::Alias { name, spec } => {
            let aliased = split_name_spec(raw.strip_prefix("npm:").unwrap_or(raw)).1;
            match spec.as_ref() {
                DependencySpec::Tag(tag) => Some((Some(name.clone()), tag.clone())),
                _ if aliased.trim().is_empty() => Some((Some(name.clone()), "latest".into())),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `spec` moved to the `latest` dist-tag, keeping an exact pin exact and an alias an alias;
/// `None` for what is not a registry range (tags, URLs, files, git).
fn latest_spec(lookup: &Lookup, name: &str, spec: &str) -> Result<Option<String>> {
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
