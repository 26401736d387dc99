//! The install: dx.lock, the store and the compiled layout (see [`crate::prepare`]), then
//! node_modules (mounted where FUSE works, materialized otherwise or when asked), then
//! lifecycle scripts. [`Install::run`] takes one of three named paths:
//!
//! - **up to date**: package.json, dx.lock and the options are those of the last install and
//!   node_modules is still that install (a live mount, or a materialized tree the linker's
//!   marker confirms, repaired if files went missing); nothing is parsed;
//! - **warm mount**: the same inputs, node_modules gone, the store still holding the recorded
//!   layout: it is mounted without parsing dx.lock;
//! - **full**: dx.lock reused or re-resolved, missing archives fetched, the layout compiled and
//!   put in place.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dx_fallback_link::{LinkMode, MaterializeReport};
use dx_formats::dxl::Dxl;
use dx_resolve::UpdateSelection;
use dx_store::{ProjectState, Store};

use crate::changes::{DirectChange, DirectChanges};
use crate::error::{Context as _, Result};
use crate::lifecycle;
use crate::node_modules::{self, InstallRecord, Presented};
use crate::prepare::{self, PrepareOptions, PreparedLayout};
use crate::project::Project;
use crate::reporter::Reporter;
use crate::settings::{InstallSettings, LinkerChoice};

/// What a command that edits package.json (`add`, `remove`, `update`, `audit fix`) asks of
/// the install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// The edited package.json text: installed from, and written once the install succeeded.
    /// If any step fails (resolution, fetch, node_modules, a lifecycle script), package.json
    /// and dx.lock are put back as they were.
    pub manifest_text: Option<String>,
    /// Packages to re-resolve although dx.lock matches (`dx update`, `dx audit fix`).
    pub update: UpdateSelection,
    /// A workspace catalog file (pnpm-workspace.yaml or the root package.json) with entries
    /// moved (`dx update --latest` of a `catalog:` dependency): written before resolving, so
    /// every member using the entry moves, and put back if the install fails.
    pub catalog_file: Option<(std::path::PathBuf, String)>,
}

impl Edit {
    fn is_edit(&self) -> bool {
        self.manifest_text.is_some()
            || self.update != UpdateSelection::Nothing
            || self.catalog_file.is_some()
    }
}

/// Which of the install's paths ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallPath {
    /// Nothing to do: node_modules already was this install.
    UpToDate,
    /// A materialized tree of this install had lost files; they were put back.
    Repaired,
    /// node_modules was gone; the recorded layout was mounted without reading dx.lock.
    WarmMount,
    /// dx.lock was reused or resolved, the store brought up to date, node_modules put in place.
    Full,
    /// `--lockfile-only`: dx.lock written (or found current), nothing installed.
    LockfileOnly,
}

impl InstallPath {
    /// The name used in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallPath::UpToDate => "up-to-date",
            InstallPath::Repaired => "repaired",
            InstallPath::WarmMount => "warm-mount",
            InstallPath::Full => "full",
            InstallPath::LockfileOnly => "lockfile-only",
        }
    }
}

/// What ended up at node_modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeModules {
    /// A FUSE mount.
    Mounted {
        /// An existing mount swapped layouts without unmounting.
        reloaded: bool,
    },
    /// Files on disk.
    Materialized {
        /// How the files were linked.
        mode: LinkMode,
        /// Files written: the whole tree's, or, for an in-place update, those placed (0 when
        /// nothing changed).
        files: u64,
        /// The tree already matched the layout.
        noop: bool,
        /// An existing tree was updated in place (only the packages that changed were placed).
        updated_in_place: bool,
        /// Why a faster link mode was not used, if one was stepped down from.
        step_down: Option<String>,
    },
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOutcome {
    /// The path that ran.
    pub path: InstallPath,
    /// Packages in the layout (with `--lockfile-only`: packages in dx.lock).
    pub packages: usize,
    /// dx.lock was (re)written by this run.
    pub resolved: bool,
    /// Packages downloaded by this run.
    pub downloaded: usize,
    /// What is at node_modules now (`None` with `--lockfile-only`).
    pub node_modules: Option<NodeModules>,
    /// Dependencies with install scripts the project does not trust (not run).
    pub blocked_scripts: BTreeSet<String>,
    /// For an edit: the direct dependencies it added, changed or removed.
    pub changes: Vec<DirectChange>,
    /// Another tool's lockfile imported into dx.lock (no dx.lock existed).
    pub imported: Option<crate::migrate::ForeignImport>,
    /// Wall time.
    pub elapsed: Duration,
}

/// One install of one project.
pub struct Install {
    project: Project,
    store: Arc<Store>,
    settings: InstallSettings,
    edit: Edit,
    /// The catalog file as it was before the edit wrote it, to put back on failure.
    catalog_saved: Option<(std::path::PathBuf, Vec<u8>)>,
}

impl Install {
    /// An install of `project` into `store` with `settings`.
    pub fn new(project: Project, store: Arc<Store>, settings: InstallSettings) -> Self {
        Self {
            project,
            store,
            settings,
            edit: Edit::default(),
            catalog_saved: None,
        }
    }

    /// The same install for an edited package.json or with packages to update.
    pub fn with_edit(mut self, edit: Edit) -> Result<Self> {
        if let Some((path, text)) = &edit.catalog_file {
            // The catalog is read with the project: write it, then read the project again.
            let saved =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            dx_store::write_atomic(path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            let reopened = Project::open_package(&self.project.dir).and_then(|mut p| {
                p.load_workspace()?;
                p.focused(self.project.focus.clone())
            });
            match reopened {
                Ok(p) => self.project = p,
                Err(e) => {
                    let _ = dx_store::write_atomic(path, &saved);
                    return Err(e);
                }
            }
            self.catalog_saved = Some((path.clone(), saved));
        }
        if let Some(text) = &edit.manifest_text {
            self.project = self.project.with_manifest_text(text.clone())?;
        }
        self.edit = edit;
        Ok(self)
    }

    /// The project being installed (with the edited manifest, for an edit).
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Runs the install. A failure at any step leaves dx.lock (and, for an edit, package.json)
    /// as it was: the new dx.lock is written while packages are fetched, and put back when a
    /// fetch or a later step fails, as npm and pnpm write their lockfiles only on success.
    pub fn run(&self, reporter: &dyn Reporter) -> Result<InstallOutcome> {
        // What to put back: an edit saves package.json and dx.lock before anything; a plain
        // install saves dx.lock only on the paths that may write it (`prepare`), never on a
        // no-op or a warm mount.
        let saved = std::cell::OnceCell::new();
        let before = if self.edit.is_edit() {
            let before = DirectChanges::snapshot(&self.project)?;
            let _ = saved.set(SavedFiles::read(&self.project)?);
            Some(before)
        } else {
            None
        };
        match self.run_paths(reporter, &saved) {
            Ok(mut outcome) => {
                if let Some(before) = before {
                    outcome.changes = before.against_disk();
                }
                Ok(outcome)
            }
            Err(e) => {
                if let Some(saved) = saved.get() {
                    saved.restore(reporter);
                }
                if let Some((path, bytes)) = &self.catalog_saved
                    && dx_store::write_atomic_if_changed(path, bytes).is_err()
                {
                    reporter.warn(&format!("could not put back {}", path.display()));
                }
                Err(e)
            }
        }
    }

    /// How node_modules is to be put in place: the settings' choice, or the last install's.
    fn materialize(&self, record: Option<&InstallRecord>) -> Option<LinkMode> {
        match self.settings.linker {
            LinkerChoice::Mount => None,
            LinkerChoice::Materialize(mode) => Some(mode),
            LinkerChoice::Remembered => record.and_then(InstallRecord::linker).flatten(),
        }
    }

    /// dx.lock (reused or resolved) and, unless `--lockfile-only`, the store and the compiled
    /// layout; an edited package.json is written once dx.lock is. dx.lock as it was is kept in
    /// `saved` first, unless an edit saved it already, to be put back if the install fails.
    fn prepare(
        &self,
        reporter: &dyn Reporter,
        saved: &std::cell::OnceCell<SavedFiles>,
        unpack: bool,
    ) -> Result<PreparedLayout> {
        if saved.get().is_none() {
            let _ = saved.set(SavedFiles::read_lock(&self.project)?);
        }
        let settings = &self.settings;
        let options = PrepareOptions {
            frozen: settings.frozen_lockfile,
            lockfile_only: settings.lockfile_only,
            network: settings.network,
            registry: settings.registry.as_deref(),
            production: settings.production,
            update: self.edit.update.clone(),
            unpack,
        };
        let layout = prepare::prepare(&self.project, &self.store, &options, reporter)?;
        if let Some(text) = &self.edit.manifest_text {
            // After dx.lock, on the same writer: a crash never shows the new package.json
            // with the old lock.
            let path = self.project.edited_dir().join("package.json");
            layout.write_after_lock(&path, text.as_bytes())?;
        }
        Ok(layout)
    }

    fn run_paths(
        &self,
        reporter: &dyn Reporter,
        saved: &std::cell::OnceCell<SavedFiles>,
    ) -> Result<InstallOutcome> {
        let started = Instant::now();
        let (project, store, settings) = (&self.project, &self.store, &self.settings);
        if settings.lockfile_only {
            let layout = self.prepare(reporter, saved, false)?;
            layout.finish_writes()?;
            return Ok(InstallOutcome {
                path: InstallPath::LockfileOnly,
                packages: layout.locked_packages,
                resolved: layout.resolved,
                downloaded: 0,
                node_modules: None,
                blocked_scripts: BTreeSet::new(),
                changes: Vec::new(),
                imported: layout.imported.clone(),
                elapsed: started.elapsed(),
            });
        }
        // The project's state in the store and its last install's record, read once.
        let state = store.project_state(&project.dir)?;
        let record = InstallRecord::read(&state);
        let materialize = self.materialize(record.as_ref());
        let fingerprint_options = match materialize {
            None => format!("mount prod={}", settings.production),
            Some(mode) => format!("materialize={} prod={}", mode.as_str(), settings.production),
        };
        let fingerprint = project.fingerprint(&fingerprint_options);
        let scripts = !settings.ignore_scripts;
        if scripts {
            lifecycle::run_root(&project.dir, &project.manifest, &["preinstall"])?;
        }
        let finish = |outcome: InstallOutcome| -> Result<InstallOutcome> {
            if scripts {
                // Members are the project's own code: their scripts run as the root's do,
                // every member before the root's own (npm builds links before the root).
                for m in &project.members {
                    lifecycle::run_member(
                        &m.dir,
                        &project.dir,
                        &m.manifest,
                        &lifecycle::MEMBER_EVENTS,
                    )
                    .with_context(|| format!("in workspace {} ({})", member_name(m), m.path))?;
                }
                lifecycle::run_root(&project.dir, &project.manifest, &lifecycle::ROOT_AFTER)?;
            }
            Ok(InstallOutcome {
                elapsed: started.elapsed(),
                ..outcome
            })
        };
        // The layout of the last install, when it had this install's inputs (an edit never
        // does: it asks for a new dx.lock).
        let recorded_key = match (&record, self.edit.is_edit()) {
            (Some(record), false) => record.key_for(&fingerprint),
            _ => None,
        };
        if let Some(key) = recorded_key
            && let Some(outcome) = self.up_to_date(&state, key, materialize)?
        {
            return finish(outcome);
        }
        // The warm install: same package.json and dx.lock as the last install, node_modules gone.
        let recorded = match (recorded_key, materialize) {
            (Some(key), None) => {
                let member_paths: Vec<String> =
                    project.members.iter().map(|m| m.path.clone()).collect();
                node_modules::mount_recorded(
                    store,
                    &state,
                    &project.dir,
                    key,
                    &member_paths,
                    reporter,
                )?
            }
            _ => None,
        };
        let (path, layout, presented) = match recorded {
            Some(layout) => (
                InstallPath::WarmMount,
                layout,
                Presented::Mounted { reloaded: false },
            ),
            None => {
                let layout = self.prepare(reporter, saved, unpack_on_fetch(materialize))?;
                let presented = node_modules::present(
                    &project.dir,
                    store,
                    &state,
                    &layout,
                    materialize,
                    &project.manifest.trusted_dependencies,
                    reporter,
                )?;
                // dx.lock was being written while node_modules was put in place; scripts
                // and the install record read it back.
                layout.finish_writes()?;
                (InstallPath::Full, layout, presented)
            }
        };
        let blocked_scripts = if scripts && layout.has_install_scripts {
            let (on_disk, placed) = match &presented {
                Presented::Materialized(report) => (
                    true,
                    report.update.as_ref().map(|u| u.placed_units.as_slice()),
                ),
                Presented::Mounted { .. } => (false, None),
            };
            self.run_dependency_scripts(&layout, on_disk, placed, reporter)?
        } else {
            BTreeSet::new()
        };
        // A mount, or a tree materialized on request or by remembering, is what the next
        // install's no-op check finds; a tree materialized because FUSE is missing is not
        // remembered as a choice.
        let recorded_mode = match &presented {
            Presented::Mounted { .. } => Some(None),
            Presented::Materialized(report) if materialize.is_some() => {
                Some(Some(materialize.unwrap_or(report.mode_used)))
            }
            Presented::Materialized(_) => None,
        };
        if let Some(mode) = recorded_mode {
            node_modules::record_install(
                &state,
                &project.fingerprint(&fingerprint_options),
                &layout.key,
                mode,
            )?;
        }
        let node_modules = match presented {
            Presented::Mounted { reloaded } => NodeModules::Mounted { reloaded },
            Presented::Materialized(report) => materialized(report),
        };
        finish(InstallOutcome {
            path,
            packages: layout.packages,
            resolved: layout.resolved,
            downloaded: layout.downloaded,
            node_modules: Some(node_modules),
            blocked_scripts,
            changes: Vec::new(),
            imported: layout.imported.clone(),
            elapsed: Duration::ZERO,
        })
    }

    /// The no-op check: the same package.json, dx.lock and options as the last install, and
    /// node_modules still that install (a live mount, or a materialized tree, repaired if it
    /// lost files). Nothing is parsed.
    fn up_to_date(
        &self,
        state: &ProjectState,
        key: &str,
        materialize: Option<LinkMode>,
    ) -> Result<Option<InstallOutcome>> {
        let (store, dir) = (&self.store, &self.project.dir);
        if !self.project.members.is_empty() {
            let paths: Vec<String> = self
                .project
                .members
                .iter()
                .map(|m| m.path.clone())
                .collect();
            let Some(members) = node_modules::recorded_members(store, key, &paths) else {
                return Ok(None);
            };
            // A no-op after a few `stat`s each when every member's tree is intact.
            node_modules::present_members(
                dir,
                store,
                &members,
                materialize.unwrap_or(LinkMode::Auto),
            )?;
        }
        let (path, node_modules) = match materialize {
            None => {
                if !node_modules::mounted_with(store, state, dir, key) {
                    return Ok(None);
                }
                // What a killed materialized install left beside the mount (best effort).
                drop(dx_fallback_link::remove_leftovers(dir));
                (
                    InstallPath::UpToDate,
                    NodeModules::Mounted { reloaded: false },
                )
            }
            Some(mode) => match node_modules::materialized_with(store, dir, key, mode)? {
                None => return Ok(None),
                Some(report) => {
                    let path = if report.noop {
                        InstallPath::UpToDate
                    } else {
                        InstallPath::Repaired
                    };
                    (path, materialized(report))
                }
            },
        };
        Ok(Some(InstallOutcome {
            path,
            packages: 0,
            resolved: false,
            downloaded: 0,
            node_modules: Some(node_modules),
            blocked_scripts: BTreeSet::new(),
            changes: Vec::new(),
            imported: None,
            elapsed: Duration::ZERO,
        }))
    }

    /// Trusted dependencies' install scripts, in dependency order; returns the blocked ones.
    /// Runs the trusted dependency scripts (with `placed`, of a tree updated in place, only
    /// those of packages inside the placed units: the others kept their files and what their
    /// scripts wrote, as npm runs scripts only for what it installed); on a tree `on_disk`,
    /// files they rewrote through a hardlink into the store become this project's own and the
    /// store's are restored.
    fn run_dependency_scripts(
        &self,
        layout: &PreparedLayout,
        on_disk: bool,
        placed: Option<&[String]>,
        reporter: &dyn Reporter,
    ) -> Result<BTreeSet<String>> {
        let dxl = Dxl::parse(&layout.dxl).context("the compiled layout is corrupt")?;
        let resolution = match self.project.read_lockfile()? {
            Some((_, lock)) => lock,
            None => dx_resolve::Lockfile::default(),
        };
        let mut plan = lifecycle::plan(
            &dxl,
            &resolution,
            &self.project.manifest.trusted_dependencies,
        );
        if let Some(units) = placed {
            plan.keep_inside(units);
        }
        reporter.progress_done();
        let node_modules = self.project.dir.join("node_modules");
        let watch = if on_disk && !plan.waves.is_empty() {
            Some(
                dx_fallback_link::ScriptWatch::start(&node_modules)
                    .context("cannot prepare to run install scripts")?,
            )
        } else {
            None
        };
        lifecycle::run_dependencies(&self.project.dir, &plan, reporter)?;
        if let Some(watch) = watch {
            let detached = watch
                .detach_rewritten(&self.store, &dxl, &node_modules)
                .context("cannot check what install scripts wrote")?;
            if !detached.is_empty() {
                reporter.verbose(&format!(
                    "install scripts rewrote {} hardlinked file(s) (node_modules/{}{}): kept as this project's own copies, the store's restored",
                    detached.len(),
                    detached[0],
                    if detached.len() > 1 { ", …" } else { "" }
                ));
            }
        }
        Ok(plan.blocked)
    }
}

fn member_name(m: &crate::project::Member) -> &str {
    m.manifest.name.as_deref().unwrap_or(&m.path)
}

/// Whether packages fetched by this install are unpacked as they are stored: a materialized
/// tree links from the store's unpacked tier (unless it copies), and so does the tree put in
/// place where FUSE is missing.
fn unpack_on_fetch(materialize: Option<LinkMode>) -> bool {
    match materialize {
        Some(LinkMode::Copy) => false,
        Some(_) => true,
        None => !std::path::Path::new("/dev/fuse").exists(),
    }
}

fn materialized(report: MaterializeReport) -> NodeModules {
    NodeModules::Materialized {
        mode: report.mode_used,
        files: report
            .update
            .as_ref()
            .map_or(report.files, |update| update.files),
        noop: report.noop,
        updated_in_place: report.update.is_some(),
        step_down: report.step_down,
    }
}

/// dx.lock (and, for an edit, package.json) as it was before an install, to put back if it
/// fails.
struct SavedFiles {
    /// package.json's path and bytes, for an edit.
    manifest: Option<(std::path::PathBuf, Vec<u8>)>,
    lock_path: std::path::PathBuf,
    lock: Option<Vec<u8>>,
}

impl SavedFiles {
    /// package.json and dx.lock, before an edit.
    fn read(project: &Project) -> Result<Self> {
        let manifest_path = project.edited_dir().join("package.json");
        let manifest = std::fs::read(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?;
        Ok(Self {
            manifest: Some((manifest_path, manifest)),
            ..Self::read_lock(project)?
        })
    }

    /// dx.lock only, before an install that does not edit package.json.
    fn read_lock(project: &Project) -> Result<Self> {
        let lock_path = project.lockfile_path();
        let lock = match std::fs::read(&lock_path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", lock_path.display()));
            }
        };
        Ok(Self {
            manifest: None,
            lock_path,
            lock,
        })
    }

    /// Puts the files back (atomically), saying so if that fails.
    fn restore(&self, reporter: &dyn Reporter) {
        let manifest = match &self.manifest {
            Some((path, bytes)) => dx_store::write_atomic_if_changed(path, bytes).map(|_| ()),
            None => Ok(()),
        };
        let lock = match &self.lock {
            Some(bytes) => dx_store::write_atomic_if_changed(&self.lock_path, bytes).map(|_| ()),
            None => match std::fs::remove_file(&self.lock_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        if manifest.is_err() || lock.is_err() {
            let manifest = self
                .manifest
                .as_ref()
                .map(|(path, _)| format!("{} and ", path.display()))
                .unwrap_or_default();
            reporter.warn(&format!(
                "could not put back {manifest}{} as it was",
                self.lock_path.display()
            ));
        }
    }
}

impl std::fmt::Debug for Install {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Install")
            .field("project", &self.project.dir)
            .field("settings", &self.settings)
            .field("edit", &self.edit)
            .finish()
    }
}
