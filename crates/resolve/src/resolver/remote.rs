//! Git dependencies: the resolver asks its [`crate::PackageSource`] to resolve the specifier to
//! one commit (the source does the cloning) and records the package under its canonical
//! source, `name@git+<url>#<commit>`. An unchanged specifier keeps its locked commit through
//! [`RegistryChooser::reuse`] (a branch or tag accepts any commit of its repository,
//! [`crate::spec::GitSpec::accepts_resolved`]), so a moved branch changes nothing until
//! `dx update` names the package.

use dx_formats::lockfile::package_key;

use super::{RegistryChooser, ResolveError, dependent_name};
use crate::source::SourceError;
use crate::tree::Choice;
use crate::tree::package::{Dep, Packages, PkgIdx, PkgInfo};

impl RegistryChooser<'_> {
    /// Chooses the commit a git dependency resolves to.
    pub(super) fn choose_git(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        git: &str,
    ) -> Result<Choice, ResolveError> {
        let resolution = match self.source.git_package(git) {
            Ok(r) => r,
            Err(source) => {
                return self.fail_or_skip(
                    pkgs,
                    from,
                    dep,
                    ResolveError::Source {
                        dependent: dependent_name(pkgs, from),
                        name: dep.name.clone(),
                        source: naming(dep, source),
                    },
                );
            }
        };
        let mut info = PkgInfo::from_manifest(&resolution.manifest, self.overrides)?;
        if info.name.is_empty() {
            info.name = dep.name.clone();
        }
        info.key = package_key(&info.name, &resolution.resolved);
        if let Some(&i) = pkgs.by_key.get(&info.key) {
            return Ok(Choice::Known(i));
        }
        info.version = resolution.resolved.clone();
        info.semver = None;
        info.resolved = Some(resolution.resolved.clone());
        // Like a locked package read back (`PkgInfo::from_resolved`), its origin is its
        // version, so a fresh and a reused resolution compare alike.
        info.origin = Some(resolution.resolved);
        Ok(Choice::New(Box::new(info)))
    }
}

/// The source's error naming the dependency as the user wrote it (`fetching lib@<spec>: …`):
/// the one line users see ends with the root cause, which must say which package it is.
pub(super) fn naming(dep: &Dep, error: SourceError) -> SourceError {
    match error {
        SourceError::Failed { message, .. } => SourceError::Failed {
            name: format!("{}@{}", dep.name, dep.effective),
            message,
        },
        other => other,
    }
}
