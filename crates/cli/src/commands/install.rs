//! `dx install`: dx.lock, the store and the compiled layout (see [`crate::pipeline`]), then
//! node_modules: mounted where FUSE works, materialized otherwise or when asked.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use dx_fallback_link::LinkMode;
use dx_net::CacheMode;
use dx_resolve::UpdateSelection;
use serde_json::json;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::lifecycle;
use crate::node_modules::{self, Presented};
use crate::pipeline::{self, PrepareOptions};
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx install`.
pub fn run(args: InstallArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    install_project(project, &args, global, printer, &Edit::default())
}

/// What a command that edits package.json (`add`, `remove`, `update`) asks of the install.
#[derive(Default)]
pub struct Edit {
    /// `project.manifest_text` differs from package.json on disk: write it once dx.lock has
    /// been resolved from it, and put the old dx.lock back if resolving or fetching fails.
    pub write_manifest: bool,
    /// Packages to re-resolve although dx.lock matches.
    pub update: UpdateSelection,
}

/// Installs `project` (whose manifest may be an edited, not yet written package.json).
pub fn install_project(
    project: Project,
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
    edit: &Edit,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let store = Arc::new(settings::open_store()?);
    let editing = edit.write_manifest || edit.update != UpdateSelection::Nothing;
    let materialize = match args.materialize.as_deref() {
        None => None,
        Some(mode) => Some(
            mode.parse::<LinkMode>()
                .map_err(|e| anyhow!("--materialize: {e}"))?,
        ),
    };
    let options = PrepareOptions {
        // CI implies --frozen-lockfile for `dx install` only: an edit asks for a new lock.
        frozen: args.frozen_lockfile || (settings::is_ci() && !editing),
        lockfile_only: args.lockfile_only,
        cache_mode: if args.offline {
            CacheMode::Offline
        } else if args.prefer_offline {
            CacheMode::PreferOffline
        } else {
            CacheMode::Revalidate
        },
        production: args.production,
        update: edit.update.clone(),
    };
    // The same package.json, dx.lock and options as the last install: check the tree is still
    // in place and stop, before parsing anything.
    let fingerprint_options = match materialize {
        None => format!("mount prod={}", args.production),
        Some(mode) => format!("materialize={} prod={}", mode.as_str(), args.production),
    };
    let fingerprint = project.fingerprint(&fingerprint_options);
    let scripts = !args.ignore_scripts && !args.lockfile_only;
    if scripts {
        lifecycle::run_root(&project.dir, &project.manifest, &["preinstall"])?;
    }
    if !args.lockfile_only && !editing {
        let checked = match materialize {
            None => node_modules::mounted_with(&store, &project.dir, &fingerprint).then_some(None),
            Some(mode) => {
                node_modules::materialized_with(&store, &project.dir, &fingerprint, mode)?.map(Some)
            }
        };
        match checked {
            Some(Some(report)) if !report.noop => {
                printer.line(format!(
                    "node_modules repaired ({} files by {}) in {} ms",
                    report.files,
                    report.mode_used.as_str(),
                    started.elapsed().as_millis()
                ));
                if scripts {
                    lifecycle::run_root(&project.dir, &project.manifest, &lifecycle::ROOT_AFTER)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            Some(_) => {
                printer.line(format!(
                    "node_modules is up to date in {} ms",
                    started.elapsed().as_millis()
                ));
                if scripts {
                    lifecycle::run_root(&project.dir, &project.manifest, &lifecycle::ROOT_AFTER)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            None => {}
        }
    }
    // The warm install: same package.json and dx.lock as the last install, node_modules gone.
    let recorded = match materialize {
        None if !args.lockfile_only && !editing => {
            node_modules::mount_recorded(&store, &project.dir, &fingerprint, printer)?
        }
        _ => None,
    };
    let (layout, presented) = match recorded {
        Some(layout) => (layout, Presented::Mounted { reloaded: false }),
        None => {
            let layout = if edit.write_manifest {
                prepare_then_write_manifest(&project, &store, global, &options, printer)?
            } else {
                pipeline::prepare(&project, &store, global, &options, printer)?
            };
            if args.lockfile_only {
                printer.line(format!(
                    "dx.lock written ({} packages) in {} ms",
                    layout.locked_packages,
                    started.elapsed().as_millis()
                ));
                return Ok(ExitCode::SUCCESS);
            }
            let presented = node_modules::present(
                &project.dir,
                &store,
                &layout,
                materialize,
                &project.manifest.trusted_dependencies,
                printer,
            )?;
            (layout, presented)
        }
    };
    if scripts {
        run_install_scripts(&project, &layout.dxl, printer)?;
    }
    let elapsed = started.elapsed().as_millis() as u64;
    let packages = dx_formats::dxl::Dxl::parse(&layout.dxl)
        .map(|d| d.package_count())
        .unwrap_or(0);
    // A mount, or a tree materialized on request, is what the next install's no-op check finds.
    if matches!(presented, Presented::Mounted { .. }) || materialize.is_some() {
        node_modules::record_install(
            &store,
            &project.dir,
            &project.fingerprint(&fingerprint_options),
            &layout.key,
        )?;
    }
    match presented {
        Presented::Mounted { reloaded } => {
            if printer.json() {
                printer.json_value(&json!({
                    "packages": packages, "resolved": layout.resolved, "downloaded": layout.downloaded,
                    "node_modules": "mounted", "reloaded": reloaded, "milliseconds": elapsed,
                }));
            } else {
                let how = if reloaded {
                    "mount reloaded"
                } else {
                    "mounted"
                };
                printer.line(format!(
                    "{packages} packages ({} downloaded), node_modules {how}, in {elapsed} ms",
                    layout.downloaded
                ));
            }
        }
        Presented::Materialized(report) => {
            if let Some(reason) = &report.step_down {
                printer.warn(reason);
            }
            if printer.json() {
                printer.json_value(&json!({
                    "packages": packages, "resolved": layout.resolved, "downloaded": layout.downloaded,
                    "node_modules": "materialized", "noop": report.noop, "linkMode": report.mode_used.as_str(),
                    "files": report.files, "milliseconds": elapsed,
                }));
            } else if report.noop {
                printer.line(format!(
                    "node_modules is up to date ({packages} packages) in {elapsed} ms"
                ));
            } else {
                printer.line(format!(
                    "added {packages} packages ({} downloaded, {} files by {}) in {elapsed} ms",
                    layout.downloaded,
                    report.files,
                    report.mode_used.as_str(),
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves and fetches for an edited package.json, then writes it; if that fails, dx.lock is
/// put back as it was, so a failed `dx add` leaves package.json and dx.lock untouched.
fn prepare_then_write_manifest(
    project: &Project,
    store: &Arc<dx_store::Store>,
    global: &GlobalArgs,
    options: &PrepareOptions,
    printer: &Printer,
) -> anyhow::Result<pipeline::PreparedLayout> {
    let lock_path = project.lockfile_path();
    let old_lock = match std::fs::read(&lock_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", lock_path.display())),
    };
    let restore = || match &old_lock {
        Some(bytes) => {
            let _ = dx_store::write_atomic(&lock_path, bytes);
        }
        None => {
            let _ = std::fs::remove_file(&lock_path);
        }
    };
    let layout = match pipeline::prepare(project, store, global, options, printer) {
        Ok(layout) => layout,
        Err(e) => {
            restore();
            return Err(e);
        }
    };
    let manifest_path = project.dir.join("package.json");
    if let Err(e) = dx_store::write_atomic(&manifest_path, project.manifest_text.as_bytes()) {
        restore();
        return Err(e).with_context(|| format!("cannot write {}", manifest_path.display()));
    }
    Ok(layout)
}

/// After node_modules is in place: trusted dependencies' install scripts, in dependency order,
/// then the project's own; blocked ones are reported.
fn run_install_scripts(
    project: &Project,
    dxl_bytes: &[u8],
    printer: &Printer,
) -> anyhow::Result<()> {
    let dxl = dx_formats::dxl::Dxl::parse(dxl_bytes).context("the compiled layout is corrupt")?;
    if dxl.packages().any(|p| p.has_install_script()) {
        let resolution = match project.read_lockfile()? {
            Some((_, lock)) => lock,
            None => dx_resolve::Lockfile::default(),
        };
        let plan = lifecycle::plan(&dxl, &resolution, &project.manifest.trusted_dependencies);
        lifecycle::run_dependencies(&project.dir, &plan, printer)?;
        if let Some(line) = lifecycle::blocked_line(&plan.blocked) {
            printer.line(line);
        }
    }
    lifecycle::run_root(&project.dir, &project.manifest, &lifecycle::ROOT_AFTER)
}
