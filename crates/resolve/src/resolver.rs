//! The resolver: from a root package.json (and optionally the previous lock) to a
//! [`Lockfile`], choosing versions as npm does and placing them as arborist does, so that the
//! dedupe decisions (which depend on placement) are npm's.
//!
//! Version choice (npm-pick-manifest): a dist-tag names its version; a range takes the `latest`
//! dist-tag when it satisfies and is not deprecated, else the highest satisfying version,
//! non-deprecated first. Prereleases only through ranges that name them.
//!
//! Re-resolution: an edge whose specifier is unchanged since `previous` keeps its locked target
//! without fetching anything; only changed or new edges reach the registry.

mod pick;
mod remote;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use dx_formats::hash::HashError;
use dx_formats::lockfile::{Lockfile, is_tarball_path, package_key};

use crate::manifest::PackageJson;
use crate::overrides::Overrides;
use crate::packument::{Packument, VersionManifest};
use crate::source::{PackageSource, SourceError};
use crate::spec::DependencySpec;
use crate::tree::package::{Dep, Packages, PkgIdx, PkgInfo, accepts};
use crate::tree::{Choice, Chooser, TreeBuilder};

/// What the resolver reports without failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveWarning {
    /// A deprecated version was chosen (npm chooses it too when nothing else satisfies).
    Deprecated {
        /// Package key.
        package: String,
        /// The deprecation message.
        message: String,
    },
    /// A peer dependency is missing or the installed copy does not satisfy it. npm would stop
    /// with ERESOLVE for the root's own conflicts; dx warns and goes on, as Bun and pnpm do.
    PeerConflict {
        /// The package with the peer dependency.
        dependent: String,
        /// The peer's name.
        peer: String,
        /// The range it wants.
        wanted: String,
        /// What it gets instead (package key), if anything.
        found: Option<String>,
        /// Who brought the copy it gets (package keys, or "the root project").
        required_by: Vec<String>,
    },
    /// An optional dependency could not be resolved and is left out.
    OptionalSkipped {
        /// Package key of the dependent ("the root project" for the root).
        dependent: String,
        /// Dependency name.
        name: String,
        /// Its specifier.
        specifier: String,
        /// Why.
        reason: String,
    },
}

impl fmt::Display for ResolveWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveWarning::Deprecated { package, message } => {
                write!(f, "deprecated {package}: {message}")
            }
            ResolveWarning::PeerConflict {
                dependent,
                peer,
                wanted,
                found: Some(found),
                required_by,
            } => {
                write!(f, "{dependent} wants peer {peer}@{wanted} but gets {found}")?;
                // One line: name a few of the packages that pull the found version in.
                const SHOWN: usize = 3;
                if !required_by.is_empty() {
                    write!(
                        f,
                        ", required by {}",
                        required_by[..required_by.len().min(SHOWN)].join(", ")
                    )?;
                    if required_by.len() > SHOWN {
                        write!(f, " and {} more", required_by.len() - SHOWN)?;
                    }
                }
                Ok(())
            }
            ResolveWarning::PeerConflict {
                dependent,
                peer,
                wanted,
                found: None,
                ..
            } => {
                write!(
                    f,
                    "{dependent} wants peer {peer}@{wanted}, which is not installed"
                )
            }
            ResolveWarning::OptionalSkipped {
                dependent,
                name,
                specifier,
                reason,
            } => {
                write!(
                    f,
                    "skipped optional dependency {name}@{specifier} of {dependent}: {reason}"
                )
            }
        }
    }
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A dependency's name is one npm refuses to install (`EINVALIDPACKAGENAME`): it would
    /// land on `node_modules/.bin`, outside node_modules, or another reserved place.
    #[error("invalid package name {name:?} (a dependency of {dependent}): {reason}")]
    InvalidName {
        /// Who depends on it.
        dependent: String,
        /// The name as written.
        name: String,
        /// npm's reason.
        reason: &'static str,
    },
    /// The specifier is not understood.
    #[error("{dependent} depends on {name}@{specifier:?}, which is not a valid specifier")]
    InvalidSpec {
        /// Who depends on it.
        dependent: String,
        /// Dependency name.
        name: String,
        /// The specifier.
        specifier: String,
    },
    /// Nothing in the packument satisfies the range or tag.
    #[error("no version of {name} matches {specifier:?} (required by {dependent})")]
    NoMatchingVersion {
        /// Who depends on it.
        dependent: String,
        /// Package name.
        name: String,
        /// The specifier.
        specifier: String,
    },
    /// The packument could not be had.
    #[error("cannot resolve {name} (required by {dependent}): {source}")]
    Source {
        /// Who depends on it.
        dependent: String,
        /// Package name.
        name: String,
        /// The source's error.
        #[source]
        source: SourceError,
    },
    /// The registry gave an integrity (or legacy `shasum`) that does not parse.
    #[error("package {package} has an unreadable integrity {value:?}: {source}")]
    Integrity {
        /// Package key.
        package: String,
        /// The value as the registry gave it.
        value: String,
        /// Why it does not parse.
        #[source]
        source: HashError,
    },
    /// A `workspace:` specifier that no member satisfies.
    #[error(
        "{dependent} depends on {name}@{specifier}, but no workspace member named {name} satisfies it{found}"
    )]
    NoWorkspaceMember {
        /// Who depends on it.
        dependent: String,
        /// Dependency name.
        name: String,
        /// The specifier.
        specifier: String,
        /// `" (the member is at 1.0.0)"` when a member of that name exists.
        found: String,
    },
    /// A `file:` / `link:` directory without a readable package.json.
    #[error("{dependent} depends on {name}@{specifier}: cannot read {path}: {message}")]
    LocalPackage {
        /// Who depends on it.
        dependent: String,
        /// Dependency name.
        name: String,
        /// The specifier.
        specifier: String,
        /// The package.json path tried.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// Which names `dx update` re-resolves even though their specifiers did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UpdateSelection {
    /// Keep every locked choice that still matches.
    #[default]
    Nothing,
    /// Re-resolve everything.
    Everything,
    /// Re-resolve these package names wherever they appear.
    Names(Vec<String>),
}

/// Resolver settings.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// The project directory, for `file:` and `link:` specifiers.
    pub project_dir: Option<PathBuf>,
    /// What to refresh relative to the previous resolution.
    pub update: UpdateSelection,
    /// The node that will run the project (`node --version`). npm picks, among the versions a
    /// range allows, one whose `engines.node` this node meets when there is one; `None` ignores
    /// `engines` (and may then pick a newer version than npm would).
    pub node_version: Option<crate::semver::Version>,
    /// The workspace members, resolved with the root (sorted by path).
    pub workspaces: Vec<WorkspaceMember>,
}

/// A workspace member to resolve: its directory relative to the root and its package.json.
#[derive(Debug, Clone)]
pub struct WorkspaceMember {
    /// Root-relative, `/`-separated (`packages/a`).
    pub path: String,
    /// The member's package.json.
    pub manifest: PackageJson,
}

/// The result of a resolution.
#[derive(Debug, Clone)]
pub struct ResolveOutcome {
    /// The graph (what dx.lock records).
    pub resolution: Lockfile,
    /// Warnings, in a deterministic order.
    pub warnings: Vec<ResolveWarning>,
    /// How many packuments were requested from the source.
    pub packuments_fetched: usize,
}

/// Resolves `root` against `source`, reusing `previous` where the specifiers still match.
pub fn resolve(
    source: &dyn PackageSource,
    root: &PackageJson,
    previous: Option<&Lockfile>,
    options: &ResolveOptions,
) -> Result<ResolveOutcome, ResolveError> {
    let overrides = Overrides::from_manifest(root);
    let members: Vec<PkgInfo> = options
        .workspaces
        .iter()
        .map(|m| PkgInfo::member(&m.path, &m.manifest, &overrides))
        .collect();
    let mut chooser = RegistryChooser {
        source,
        previous,
        overrides: &overrides,
        options,
        packuments: HashMap::new(),
        picks: PickMemo::default(),
        tags: HashMap::new(),
        fetched: 0,
    };
    let root_info = PkgInfo::root(root);
    let names: Vec<&str> = std::iter::once(&root_info)
        .chain(&members)
        .flat_map(|p| p.deps.iter().map(move |d| (p, d)))
        .filter(|(p, d)| !chooser.reusable(&p.key, d))
        .filter_map(|(_, d)| {
            d.spec
                .as_ref()
                .and_then(|s| s.registry_request().map(|_| s.registry_name(&d.name)))
        })
        .collect();
    source.prefetch(&names);
    let (tree, mut warnings) = TreeBuilder::new(root_info, members, &mut chooser).build()?;
    let resolution = tree.into_lockfile(overrides.to_flat());
    for (key, p) in &resolution.packages {
        if let Some(message) = &p.deprecated {
            warnings.push(ResolveWarning::Deprecated {
                package: key.clone(),
                message: message.clone(),
            });
        }
    }
    Ok(ResolveOutcome {
        resolution,
        warnings,
        packuments_fetched: chooser.fetched,
    })
}

/// Drops `value` on a thread of its own, so the caller does not wait for it: a resolution's
/// tree and the packuments it loaded are millions of small allocations (freeing the packuments
/// took ~150 ms of a re-resolution of a 1,350-package project). A process that exits first
/// simply does not finish freeing them. dx-install uses the same function for what it drops.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("dx-drop".into())
        .spawn(move || drop(value));
    // Without a thread, the value was moved into the failed closure and is dropped here.
    drop(spawned);
}

/// `version` as a package key spells it: the parsed version's canonical form, or as written
/// when it does not parse.
fn normalized_version(version: &str) -> String {
    crate::semver::Version::parse(version)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| version.to_string())
}

pub(crate) fn dependent_name(pkgs: &Packages, from: PkgIdx) -> String {
    let info = &pkgs.list[from];
    if info.key.is_empty() {
        "the root project".to_string()
    } else if let Some(path) = &info.workspace {
        format!("workspace {} ({path})", info.name)
    } else {
        info.key.clone()
    }
}

/// Versions picked per packument name: (the shared specifier whose registry request was
/// asked, the extra range, the answer).
type PickMemo = rustc_hash::FxHashMap<
    String,
    Vec<(
        Arc<DependencySpec>,
        Option<crate::semver::Range>,
        Option<String>,
    )>,
>;

struct RegistryChooser<'a> {
    source: &'a dyn PackageSource,
    previous: Option<&'a Lockfile>,
    overrides: &'a Overrides,
    options: &'a ResolveOptions,
    packuments: HashMap<String, Arc<Packument>>,
    /// Versions picked, per packument name: (request, extra range, answer). A name sees few
    /// distinct requests, so a scan beats building a key for every lookup.
    picks: PickMemo,
    tags: HashMap<(String, String), String>,
    fetched: usize,
}

impl RegistryChooser<'_> {
    fn packument(&mut self, name: &str) -> Result<Arc<Packument>, SourceError> {
        if let Some(p) = self.packuments.get(name) {
            return Ok(p.clone());
        }
        self.fetched += 1;
        let p = self.source.packument(name)?;
        self.packuments.insert(name.to_string(), p.clone());
        Ok(p)
    }

    fn wants_update(&self, name: &str) -> bool {
        match &self.options.update {
            UpdateSelection::Nothing => false,
            UpdateSelection::Everything => true,
            UpdateSelection::Names(names) => names.iter().any(|n| n == name),
        }
    }

    /// The previous resolution's answer for edge `dep` of package `from_key`: its target key
    /// and locked package, when the specifier is unchanged and the name is not being updated.
    /// What [`Self::reuse`], [`Self::reusable`] and `locked_target` all start from.
    fn locked_answer<'l>(
        &'l self,
        from_key: &str,
        dep: &Dep,
    ) -> Option<(&'l str, &'l dx_formats::lockfile::LockedPackage)> {
        let previous = self.previous?;
        let edge = previous.edges_of(from_key)?.get(&dep.name)?;
        if edge.specifier != dep.raw {
            return None;
        }
        let target = edge.target.as_deref()?;
        let locked = previous.packages.get(target)?;
        (!self.wants_update(&locked.name)).then_some((target, locked))
    }

    /// Whether the previous resolution's answer for edge `dep` of package `from_key` is
    /// taken without metadata when it still satisfies (what [`Self::reuse`] checks first):
    /// such edges are not prefetched, so a re-resolution reads metadata only for what changed.
    fn reusable(&self, from_key: &str, dep: &Dep) -> bool {
        self.locked_answer(from_key, dep).is_some()
    }

    /// The previous resolution's answer for this edge, if its specifier is unchanged and the
    /// locked package still satisfies it.
    fn reuse(
        &self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        advisory: Option<&Dep>,
    ) -> Option<Choice> {
        let (target, locked) = self.locked_answer(&pkgs.list[from].key, dep)?;
        // A peer whose lock records a conflict keeps it if the requester's range still holds.
        let fits = |info: &PkgInfo| {
            accepts(info, dep, None) || advisory.is_some_and(|a| accepts(info, a, None))
        };
        if let Some(&i) = pkgs.by_key.get(target) {
            return fits(&pkgs.list[i]).then_some(Choice::Known(i));
        }
        let info = PkgInfo::from_resolved(target, locked, self.overrides);
        fits(&info).then(|| Choice::New(Box::new(info)))
    }

    fn fail_or_skip(
        &self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        error: ResolveError,
    ) -> Result<Choice, ResolveError> {
        if dep.kind.is_optional() {
            return Ok(Choice::Skip(Some(ResolveWarning::OptionalSkipped {
                dependent: dependent_name(pkgs, from),
                name: dep.name.clone(),
                specifier: dep.effective.clone(),
                reason: error.to_string(),
            })));
        }
        Err(error)
    }

    fn choose_registry(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        spec: &DependencySpec,
        advisory: Option<&Dep>,
    ) -> Result<Choice, ResolveError> {
        let name = spec.registry_name(&dep.name).to_string();
        let Some(request) = spec.registry_request() else {
            return self.fail_or_skip(
                pkgs,
                from,
                dep,
                ResolveError::InvalidSpec {
                    dependent: dependent_name(pkgs, from),
                    name: dep.name.clone(),
                    specifier: dep.effective.clone(),
                },
            );
        };
        let packument = match self.packument(&name) {
            Ok(p) => p,
            Err(source) => {
                return self.fail_or_skip(
                    pkgs,
                    from,
                    dep,
                    ResolveError::Source {
                        dependent: dependent_name(pkgs, from),
                        name,
                        source,
                    },
                );
            }
        };
        // A peer chosen on behalf of a requester that depends on the same name directly takes the
        // requester's range, preferring versions that satisfy the peer range too (arborist).
        let advisory_spec = advisory
            .and_then(|a| a.spec.as_ref())
            .filter(|a| a.registry_name(&dep.name) == name);
        let advisory_request = advisory_spec.and_then(|a| a.registry_request().map(|r| (a, r)));
        let version = match advisory_request {
            Some((owner, adv)) => {
                let peer_range = match request {
                    DependencySpec::Range(r) => Some(r),
                    _ => None,
                };
                self.pick_memo(&packument, adv, Some(owner), peer_range)
                    .or_else(|| self.pick_memo(&packument, adv, Some(owner), None))
            }
            None => self.pick_memo(&packument, request, dep.spec.as_ref(), None),
        };
        let Some(version) = version else {
            return self.fail_or_skip(
                pkgs,
                from,
                dep,
                ResolveError::NoMatchingVersion {
                    dependent: dependent_name(pkgs, from),
                    name,
                    specifier: dep.effective.clone(),
                },
            );
        };
        if let DependencySpec::Tag(tag) = request {
            self.tags
                .insert((name.clone(), tag.clone()), version.clone());
        }
        // A version already in the tree is not decoded again (a third of the choices on a
        // large tree are packages placed once already).
        if let Some(&i) = pkgs
            .by_key
            .get(&package_key(&name, &normalized_version(&version)))
        {
            return Ok(Choice::Known(i));
        }
        let manifest = match self.source.manifest(&packument, &version) {
            Ok(Some(manifest)) => manifest,
            Ok(None) => {
                return Err(ResolveError::NoMatchingVersion {
                    dependent: dependent_name(pkgs, from),
                    name,
                    specifier: dep.effective.clone(),
                });
            }
            Err(source) => {
                return Err(ResolveError::Source {
                    dependent: dependent_name(pkgs, from),
                    name,
                    source,
                });
            }
        };
        self.new_package(&manifest, &name, &version)
    }

    /// The package `manifest` describes (`name@version`, not in the tree yet).
    fn new_package(
        &self,
        manifest: &VersionManifest,
        name: &str,
        version: &str,
    ) -> Result<Choice, ResolveError> {
        let info = if manifest.name.is_empty() || manifest.version.is_empty() {
            let mut filled = manifest.clone();
            filled.name = name.to_string();
            filled.version = version.to_string();
            PkgInfo::from_manifest(&filled, self.overrides)?
        } else {
            PkgInfo::from_manifest(manifest, self.overrides)?
        };
        Ok(Choice::New(Box::new(info)))
    }

    /// The version `request` picks from `packument` (with `also` as a range to honour too),
    /// memoized per name. `owner` is the shared specifier `request` comes from (itself, or
    /// the alias wrapping it): the memo holds it instead of a copy.
    fn pick_memo(
        &mut self,
        packument: &Packument,
        request: &DependencySpec,
        owner: Option<&Arc<DependencySpec>>,
        also: Option<&crate::semver::Range>,
    ) -> Option<String> {
        if let Some(seen) = self.picks.get(packument.name.as_str())
            && let Some((_, _, hit)) = seen.iter().find(|(r, a, _)| {
                r.registry_request().is_some_and(|r| r == request) && a.as_ref() == also
            })
        {
            return hit.clone();
        }
        let picked =
            pick::pick_version(packument, request, also, self.options.node_version.as_ref());
        let held = owner
            .filter(|o| {
                o.registry_request()
                    .is_some_and(|r| std::ptr::eq(r, request))
            })
            .cloned()
            .unwrap_or_else(|| Arc::new(request.clone()));
        let entry = (held, also.cloned(), picked.clone());
        match self.picks.get_mut(packument.name.as_str()) {
            Some(seen) => seen.push(entry),
            None => {
                self.picks.insert(packument.name.clone(), vec![entry]);
            }
        }
        picked
    }

    fn choose_local(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        spec: &DependencySpec,
        path: &str,
        link: bool,
    ) -> Result<Choice, ResolveError> {
        // A `file:` directory of the project that is built like a member (npm's fsChild).
        if !link {
            let normalized = crate::tree::package::normalize_relative(path);
            if let Some(i) = pkgs
                .list
                .iter()
                .position(|p| p.workspace.as_deref() == Some(normalized.as_str()))
            {
                return Ok(Choice::Known(i));
            }
        }
        let base = self.options.project_dir.clone().unwrap_or_default();
        let full = base.join(path);
        if !link && is_tarball_path(path) {
            let url = format!("file:{}", full.display());
            return self.choose_tarball(pkgs, from, dep, spec, &url);
        }
        let manifest_path = full.join("package.json");
        let local_error = |message: String| ResolveError::LocalPackage {
            dependent: dependent_name(pkgs, from),
            name: dep.name.clone(),
            specifier: dep.effective.clone(),
            path: manifest_path.display().to_string(),
            message,
        };
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(t) => t,
            Err(e) => return self.fail_or_skip(pkgs, from, dep, local_error(e.to_string())),
        };
        let pj = match PackageJson::parse(&text) {
            Ok(pj) => pj,
            Err(e) => return self.fail_or_skip(pkgs, from, dep, local_error(e.to_string())),
        };
        let origin = spec.to_string();
        let name = pj.name.clone().unwrap_or_else(|| dep.name.clone());
        let key = package_key(&name, &origin);
        if let Some(&i) = pkgs.by_key.get(&key) {
            return Ok(Choice::Known(i));
        }
        // Like dx.lock, a non-registry package's version is its source.
        Ok(Choice::New(Box::new(PkgInfo {
            key,
            semver: None,
            bin: pj.bins(),
            name,
            version: origin.clone(),
            resolved: Some(origin.clone()),
            link: true,
            origin: Some(origin),
            os: pj.os.clone(),
            cpu: pj.cpu.clone(),
            libc: pj.libc.clone(),
            ..PkgInfo::default()
        })))
    }

    fn choose_tarball(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        spec: &DependencySpec,
        url: &str,
    ) -> Result<Choice, ResolveError> {
        let manifest = match self.source.tarball_manifest(url) {
            Ok(m) => m,
            Err(source) => {
                return self.fail_or_skip(
                    pkgs,
                    from,
                    dep,
                    ResolveError::Source {
                        dependent: dependent_name(pkgs, from),
                        name: dep.name.clone(),
                        source: remote::naming(dep, source),
                    },
                );
            }
        };
        let origin = spec.to_string();
        let mut info = PkgInfo::from_manifest(&manifest, self.overrides)?;
        if info.name.is_empty() {
            info.name = dep.name.clone();
        }
        info.key = package_key(&info.name, &origin);
        info.version = origin.clone();
        info.semver = None;
        // The source may give the form dx.lock records (a `file:` tarball relative to the project).
        info.resolved = manifest
            .dist
            .tarball
            .clone()
            .or_else(|| Some(url.to_string()));
        info.origin = Some(origin);
        if let Some(&i) = pkgs.by_key.get(&info.key) {
            return Ok(Choice::Known(i));
        }
        Ok(Choice::New(Box::new(info)))
    }
}

/// A `workspace:` edge: always the local member of that name, when its version fits.
pub(crate) fn choose_workspace(
    pkgs: &Packages,
    from: PkgIdx,
    dep: &Dep,
    range: &str,
) -> Result<Choice, ResolveError> {
    // `workspace:other@range` (pnpm) names the member to link under this name.
    let (name, range) = match range.rsplit_once('@').filter(|(n, _)| !n.is_empty()) {
        Some((n, r)) => (n, r),
        None => (dep.name.as_str(), range),
    };
    let member = pkgs
        .list
        .iter()
        .position(|p| p.workspace.is_some() && p.name == name);
    match member {
        Some(i) if crate::tree::package::workspace_range_accepts(range, &pkgs.list[i]) => {
            Ok(Choice::Known(i))
        }
        found => Err(ResolveError::NoWorkspaceMember {
            dependent: dependent_name(pkgs, from),
            name: name.to_owned(),
            specifier: dep.raw.clone(),
            found: found
                .map(|i| format!(" (the member is at {})", pkgs.list[i].version))
                .unwrap_or_default(),
        }),
    }
}

impl Chooser for RegistryChooser<'_> {
    fn choose(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        advisory: Option<&Dep>,
    ) -> Result<Choice, ResolveError> {
        if let Some(choice) = self.reuse(pkgs, from, dep, advisory) {
            return Ok(choice);
        }
        let Some(spec) = dep.spec.as_deref() else {
            return self.fail_or_skip(
                pkgs,
                from,
                dep,
                ResolveError::InvalidSpec {
                    dependent: dependent_name(pkgs, from),
                    name: dep.name.clone(),
                    specifier: dep.effective.clone(),
                },
            );
        };
        match spec {
            DependencySpec::Range(_) | DependencySpec::Tag(_) | DependencySpec::Alias { .. } => {
                self.choose_registry(pkgs, from, dep, spec, advisory)
            }
            DependencySpec::Tarball(url) => self.choose_tarball(pkgs, from, dep, spec, url),
            DependencySpec::File(path) => self.choose_local(pkgs, from, dep, spec, path, false),
            DependencySpec::Link(path) => self.choose_local(pkgs, from, dep, spec, path, true),
            DependencySpec::Git(git) => self.choose_git(pkgs, from, dep, git),
            DependencySpec::Workspace(range) => choose_workspace(pkgs, from, dep, range),
        }
    }

    fn tag_target(&self, name: &str, tag: &str) -> Option<String> {
        self.tags.get(&(name.to_string(), tag.to_string())).cloned()
    }

    fn locked_target<'p>(&'p self, pkgs: &Packages, from: PkgIdx, dep: &Dep) -> Option<&'p str> {
        let (target, _) = self.locked_answer(&pkgs.list[from].key, dep)?;
        let previous = self.previous?;
        // The root's own copy of the name was the hoisted one: a newer copy that every
        // dependent accepts may replace it, as npm replaces it in the tree it loaded. Only a
        // copy the lock had elsewhere (nested, npm's earlier placement) is held to.
        let at_root = previous
            .root
            .edges
            .get(&dep.name)
            .and_then(|e| e.target.as_deref());
        (at_root != Some(target)).then_some(target)
    }

    fn needs_metadata(&self, pkgs: &Packages, from: PkgIdx, dep: &Dep) -> bool {
        !self.reusable(&pkgs.list[from].key, dep)
    }

    fn prefetch(&self, names: &[&str]) {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.packuments.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            self.source.prefetch(&missing);
        }
    }
}
