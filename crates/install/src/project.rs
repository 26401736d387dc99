//! The project dx works on: its directory, package.json and dx.lock.

use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error, Result};
use dx_formats::lockfile::Lockfile;
use dx_resolve::PackageJson;

/// The name of dx's committed lockfile.
pub const LOCKFILE_NAME: &str = "dx.lock";

/// A project directory with a package.json: a single package, or the root of a workspace
/// with its members.
pub struct Project {
    /// The directory holding package.json (a workspace's root).
    pub dir: PathBuf,
    /// The parsed package.json.
    pub manifest: PackageJson,
    /// package.json as read, for fingerprints.
    pub manifest_text: String,
    /// The workspace members, sorted by path (empty for a single package).
    pub members: Vec<Member>,
    /// The member a command acts on (`dx add` in a member's directory, `-w`), by path; `None`
    /// for the root.
    pub focus: Option<String>,
    /// pnpm-workspace.yaml as read (empty without one), for fingerprints: its catalogs decide
    /// what `catalog:` specifiers mean.
    pub workspace_config: String,
    /// The workspace's catalogs (pnpm's and Bun's `catalog:` specifiers).
    pub catalogs: crate::workspace::Catalogs,
}

/// dx.lock as [`Project::read_lockfile_merging`] read it.
#[derive(Debug)]
pub struct ReadLockfile {
    /// Its text (for a conflicted file, the merged lock's).
    pub text: String,
    /// Its parsed form.
    pub lock: Lockfile,
    /// The line of the first merge-conflict marker, when the file had conflicts.
    pub conflicted: Option<usize>,
}

/// A workspace member as the install sees it.
#[derive(Debug, Clone)]
pub struct Member {
    /// Root-relative, `/`-separated (`packages/a`).
    pub path: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its parsed package.json.
    pub manifest: PackageJson,
    /// Its package.json as read.
    pub manifest_text: String,
    /// A `file:` directory of the project rather than a workspace member (found from the
    /// dependencies, so found again when they change).
    pub local: bool,
}

impl Project {
    /// Opens the project in the current directory (after `--cwd`).
    pub fn open_current() -> Result<Self> {
        Self::open(&std::env::current_dir().context("cannot read the current directory")?)
    }

    /// Opens the project `dir` belongs to: the workspace whose root or member `dir` is (as npm
    /// and pnpm find it, walking up), focused on that member; else the package in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let mut project = match crate::workspace::find_workspace_root(dir)? {
            Some((root, focus)) => {
                let mut project = Self::open_package(&root)?;
                project.load_workspace()?;
                project.focus = focus;
                project
            }
            None => Self::open_package(dir)?,
        };
        project.add_local_directories()?;
        Ok(project)
    }

    /// `file:` directories inside the project (named by the root, a member or another such
    /// directory) are built like members, as npm builds them (its `fsChildren`): linked from
    /// the root node_modules, their own dependencies installed, hoisted to the root where they
    /// fit. `link:` directories and directories outside the project are only linked.
    fn add_local_directories(&mut self) -> Result<()> {
        let mut queue: Vec<(String, PackageJson)> =
            std::iter::once((String::new(), self.manifest.clone()))
                .chain(
                    self.members
                        .iter()
                        .map(|m| (m.path.clone(), m.manifest.clone())),
                )
                .collect();
        while let Some((base, manifest)) = queue.pop() {
            let specs = manifest
                .dependencies
                .values()
                .chain(manifest.dev_dependencies.values())
                .chain(manifest.optional_dependencies.values());
            let mut found = Vec::new();
            for spec in specs {
                let Some(rel) = spec.strip_prefix("file:") else {
                    continue;
                };
                if rel.starts_with('/') || dx_formats::lockfile::is_tarball_path(rel) {
                    continue;
                }
                let Some(path) = join_inside(&base, rel) else {
                    continue;
                };
                if self.members.iter().any(|m| m.path == path) || found.contains(&path) {
                    continue;
                }
                found.push(path);
            }
            for path in found {
                let dir = self.dir.join(&path);
                let file = dir.join("package.json");
                // A missing or broken one is the resolver's to report, naming the dependent.
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                let Ok(mut parsed) = PackageJson::parse(&text) else {
                    continue;
                };
                if parsed.name.is_none() {
                    continue;
                }
                apply_catalogs(&mut parsed, &self.catalogs, &file)?;
                queue.push((path.clone(), parsed.clone()));
                self.members.push(Member {
                    path,
                    dir,
                    manifest: parsed,
                    manifest_text: text,
                    local: true,
                });
            }
        }
        self.members.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(())
    }

    /// The same project acting on the member at `path` (`None`: the root).
    pub fn focused(mut self, path: Option<String>) -> Result<Self> {
        if let Some(p) = &path
            && !self.members.iter().any(|m| &m.path == p)
        {
            return Err(Error::Message(format!(
                "{p} is not a member of the workspace at {}",
                self.dir.display()
            )));
        }
        self.focus = path;
        Ok(self)
    }

    /// Reads the members of the workspace rooted at `self.dir`.
    pub(crate) fn load_workspace(&mut self) -> Result<()> {
        let Some(set) = crate::workspace::WorkspaceSet::discover(&self.dir)? else {
            return Ok(());
        };
        let mut members = Vec::with_capacity(set.members.len());
        for m in set.members {
            let path = m.dir.join("package.json");
            let mut manifest = PackageJson::parse(&m.manifest_text)
                .with_context(|| format!("{} is not valid", path.display()))?;
            apply_catalogs(&mut manifest, &set.catalogs, &path)?;
            members.push(Member {
                path: m.path,
                dir: m.dir,
                manifest,
                manifest_text: m.manifest_text,
                local: false,
            });
        }
        apply_catalogs(
            &mut self.manifest,
            &set.catalogs,
            &self.dir.join("package.json"),
        )?;
        self.workspace_config =
            std::fs::read_to_string(self.dir.join("pnpm-workspace.yaml")).unwrap_or_default();
        self.catalogs = set.catalogs;
        self.members = members;
        Ok(())
    }

    /// The package in `dir` alone (no workspace lookup).
    pub fn open_package(dir: &Path) -> Result<Self> {
        let path = dir.join("package.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoManifest {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let manifest = PackageJson::parse(&text)
            .with_context(|| format!("{} is not valid", path.display()))?;
        Ok(Self::from_parsed(dir, manifest, text))
    }

    /// The package in `dir` whose package.json is `text` (nothing is read from disk).
    pub fn from_text(dir: &Path, text: String) -> Result<Self> {
        let manifest = PackageJson::parse(&text).context("package.json is not valid")?;
        Ok(Self::from_parsed(dir, manifest, text))
    }

    fn from_parsed(dir: &Path, manifest: PackageJson, text: String) -> Self {
        Self {
            dir: dir.to_path_buf(),
            manifest,
            manifest_text: text,
            members: Vec::new(),
            focus: None,
            workspace_config: String::new(),
            catalogs: Default::default(),
        }
    }

    /// The focused member, if any.
    pub fn focused_member(&self) -> Option<&Member> {
        let path = self.focus.as_deref()?;
        self.members.iter().find(|m| m.path == path)
    }

    /// The directory whose package.json an edit changes: the focused member's, or the root's.
    pub fn edited_dir(&self) -> &Path {
        self.focused_member().map_or(&self.dir, |m| &m.dir)
    }

    /// The package.json an edit changes, as read.
    pub fn edited_manifest_text(&self) -> &str {
        self.focused_member()
            .map_or(&self.manifest_text, |m| &m.manifest_text)
    }

    /// The package.json an edit changes, parsed.
    pub fn edited_manifest(&self) -> &PackageJson {
        self.focused_member()
            .map_or(&self.manifest, |m| &m.manifest)
    }

    /// The same project with the edited package.json (the focused member's, or the root's)
    /// replaced, in memory only, by `text`.
    pub fn with_manifest_text(&self, text: String) -> Result<Self> {
        let mut manifest =
            PackageJson::parse(&text).context("the edited package.json is not valid")?;
        apply_catalogs(
            &mut manifest,
            &self.catalogs,
            &self.edited_dir().join("package.json"),
        )?;
        // `file:` directories are found again from the edited dependencies.
        let mut members: Vec<Member> = self
            .members
            .iter()
            .filter(|m| !m.local || self.focus.as_ref() == Some(&m.path))
            .cloned()
            .collect();
        let (root_manifest, root_text) = match self.focus.as_deref() {
            Some(path) => {
                let member = members
                    .iter_mut()
                    .find(|m| m.path == path)
                    .context("the focused member is gone")?;
                member.manifest = manifest;
                member.manifest_text = text;
                (self.manifest.clone(), self.manifest_text.clone())
            }
            None => (manifest, text),
        };
        let mut edited = Self {
            dir: self.dir.clone(),
            manifest: root_manifest,
            manifest_text: root_text,
            members,
            focus: self.focus.clone(),
            workspace_config: self.workspace_config.clone(),
            catalogs: self.catalogs.clone(),
        };
        edited.add_local_directories()?;
        Ok(edited)
    }

    /// The members as the resolver takes them.
    pub fn resolver_members(&self) -> Vec<dx_resolve::WorkspaceMember> {
        self.members
            .iter()
            .map(|m| dx_resolve::WorkspaceMember {
                path: m.path.clone(),
                manifest: m.manifest.clone(),
            })
            .collect()
    }

    /// Each member as its package.json describes it now, by path (to tell a stale lock).
    pub fn member_workspaces(&self) -> std::collections::BTreeMap<String, dx_resolve::Workspace> {
        self.members
            .iter()
            .map(|m| {
                let ws = dx_resolve::Workspace {
                    name: m.manifest.name.clone().unwrap_or_default(),
                    version: m.manifest.version.clone().unwrap_or_default(),
                    importer: dx_resolve::member_importer(&m.manifest),
                    bin: m.manifest.bins(),
                };
                (m.path.clone(), ws)
            })
            .collect()
    }

    /// Where dx.lock lives.
    pub fn lockfile_path(&self) -> PathBuf {
        self.dir.join(LOCKFILE_NAME)
    }

    /// A digest of everything a finished install depends on: package.json, dx.lock and the
    /// install options. Equal fingerprints on a live mount mean there is nothing to do.
    pub fn fingerprint(&self, options: &str) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.manifest_text.as_bytes());
        hasher.update(b"\0");
        hasher.update(self.workspace_config.as_bytes());
        for m in &self.members {
            hasher.update(b"\0");
            hasher.update(m.path.as_bytes());
            hasher.update(b"\0");
            hasher.update(m.manifest_text.as_bytes());
        }
        hasher.update(b"\0");
        // Streamed through a small buffer: no allocation the size of dx.lock on the no-op path.
        if let Ok(file) = std::fs::File::open(self.lockfile_path()) {
            let _ = hasher.update_reader(file);
        }
        hasher.update(b"\0");
        hasher.update(options.as_bytes());
        hasher.finalize().to_hex().to_string()
    }

    /// dx.lock's text and parsed form, if the project has one (a version 1 lock with its root
    /// targets inferred, see [`dx_resolve::lockfile::parse`]).
    /// A dx.lock with merge-conflict markers is [`Error::LockfileConflicted`]; an install reads
    /// it with [`Project::read_lockfile_merging`].
    pub fn read_lockfile(&self) -> Result<Option<(String, Lockfile)>> {
        match self.read_lockfile_merging()? {
            Some(ReadLockfile {
                conflicted: Some(line),
                ..
            }) => Err(Error::LockfileConflicted {
                path: self.lockfile_path(),
                line,
            }),
            Some(read) => Ok(Some((read.text, read.lock))),
            None => Ok(None),
        }
    }

    /// dx.lock's text and parsed form; one with merge-conflict markers is read as the union of
    /// its two sides (the text is then that union's, not the file's).
    pub fn read_lockfile_merging(&self) -> Result<Option<ReadLockfile>> {
        let path = self.lockfile_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let broken = || format!("{} is broken (delete it to re-resolve)", path.display());
        if let Some(line) = dx_formats::lockfile::conflict_marker_line(&text) {
            let lock = Lockfile::parse_conflicted(&text).with_context(broken)?;
            return Ok(Some(ReadLockfile {
                text: lock.to_text(),
                lock,
                conflicted: Some(line),
            }));
        }
        let lock = dx_resolve::lockfile::parse(&text).with_context(broken)?;
        Ok(Some(ReadLockfile {
            text,
            lock,
            conflicted: None,
        }))
    }

    /// dx.lock's text and parsed form; a project without one is [`Error::NoLockfile`] (the
    /// one place that says "run `dx install` first").
    pub fn require_lockfile(&self) -> Result<(String, Lockfile)> {
        self.read_lockfile()?.ok_or_else(|| Error::NoLockfile {
            dir: self.dir.clone(),
        })
    }
}

/// Replaces every `catalog:` specifier of `pj` by its catalog's entry (what it resolves as;
/// dx.lock records the entry, so a changed catalog makes the lock stale). `manifest` is named in
/// the error for an entry no catalog has.
fn apply_catalogs(
    pj: &mut PackageJson,
    catalogs: &crate::workspace::Catalogs,
    manifest: &Path,
) -> Result<()> {
    for section in [
        &mut pj.dependencies,
        &mut pj.dev_dependencies,
        &mut pj.optional_dependencies,
        &mut pj.peer_dependencies,
    ] {
        for (name, spec) in section.iter_mut() {
            if let Some(entry) = catalogs.resolve_in(manifest, name, spec)? {
                *spec = entry;
            }
        }
    }
    Ok(())
}

/// `base/rel` folded (`packages/a` + `../lib` = `packages/lib`), `None` when it leaves the
/// project or names the project itself.
fn join_inside(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}
