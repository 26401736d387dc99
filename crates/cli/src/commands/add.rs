//! `dx add`: write the packages into package.json (npm's way: `^version` of the `latest`
//! dist-tag unless a range is given, sections re-sorted, formatting kept), then install. If the
//! install fails, package.json and dx.lock are left as they were.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_net::CacheMode;
use dx_resolve::spec::{DependencySpec, split_name_spec};
use dx_resolve::{DependencySection, ManifestEditor};

use crate::cli::{AddArgs, GlobalArgs};
use crate::commands::changes::install_edited;
use crate::commands::install::Edit;
use crate::lookup::Lookup;
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx add`.
pub fn run(args: AddArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let section = if args.dev || args.peer {
        DependencySection::DevDependencies
    } else if args.optional {
        DependencySection::OptionalDependencies
    } else {
        DependencySection::Dependencies
    };
    let store = settings::open_store()?;
    let cache_mode = if args.install.offline {
        CacheMode::Offline
    } else if args.install.prefer_offline {
        CacheMode::PreferOffline
    } else {
        CacheMode::Revalidate
    };
    let mut lookup = None;
    let mut editor =
        ManifestEditor::parse(&project.manifest_text).context("package.json is not valid")?;
    for request in &args.packages {
        let (name, spec) = split_name_spec(request);
        validate_name(name)?;
        let parsed = DependencySpec::parse(name, spec)
            .with_context(|| format!("invalid specifier in `{request}`"))?;
        let saved = match needed_tag(&parsed, spec) {
            None => spec.to_owned(),
            Some((alias_of, tag)) => {
                let registry_name = alias_of.unwrap_or_else(|| name.to_owned());
                if lookup.is_none() {
                    lookup = Some(Lookup::new(&project.dir, &store, global, cache_mode)?);
                }
                let version = lookup
                    .as_ref()
                    .expect("just set")
                    .tagged_version(&registry_name, &tag)?;
                let range = if args.exact {
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
        if args.peer {
            editor.set_dependency(DependencySection::PeerDependencies, name, &saved);
        }
    }
    drop(lookup);
    install_edited(
        &project,
        editor.render(),
        &args.install,
        global,
        printer,
        &Edit {
            write_manifest: true,
            ..Edit::default()
        },
    )
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

/// npm's rules for a package name that can be installed: lowercase, URL-safe, at most 214
/// characters, not starting with `.` or `_`, scoped as `@scope/name`.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, rest)) if !scope.is_empty() && !rest.is_empty() && !rest.contains('/') => {
                check_part(scope, name)?;
                rest
            }
            _ => bail!("invalid package name `{name}`: a scoped name is @scope/name"),
        },
        None => name,
    };
    check_part(bare, name)?;
    if name.len() > 214 {
        bail!("invalid package name `{name}`: longer than 214 characters");
    }
    Ok(())
}

fn check_part(part: &str, name: &str) -> anyhow::Result<()> {
    if part.is_empty() {
        bail!("invalid package name `{name}`: empty");
    }
    if part.starts_with('.') || part.starts_with('_') {
        bail!("invalid package name `{name}`: cannot start with `.` or `_`");
    }
    if part.bytes().any(|b| b.is_ascii_uppercase()) {
        bail!("invalid package name `{name}`: must be lowercase");
    }
    if !part
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        bail!(
            "invalid package name `{name}`: only lowercase letters, digits and - . _ ~ are allowed"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_npm_rules() {
        for ok in ["react", "@types/node", "lodash.merge", "a-b_c~d"] {
            validate_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "", "React", "_x", ".x", "@scope", "@/x", "@s/a/b", "a b", "a/b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad} accepted");
        }
    }
}
