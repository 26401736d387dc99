//! `dx install`: dx.lock, the store and the compiled layout (see [`crate::pipeline`]), then
//! node_modules: mounted where FUSE works, materialized otherwise or when asked.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use dx_fallback_link::LinkMode;
use dx_net::CacheMode;
use serde_json::json;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::node_modules::{self, Presented};
use crate::pipeline::{self, PrepareOptions};
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx install`.
pub fn run(args: InstallArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let project = Project::open(&std::env::current_dir().context("cannot read the current directory")?)?;
    let store = Arc::new(settings::open_store()?);
    let materialize = match args.materialize.as_deref() {
        None => None,
        Some(mode) => Some(mode.parse::<LinkMode>().map_err(|e| anyhow!("--materialize: {e}"))?),
    };
    let options = PrepareOptions {
        frozen: args.frozen_lockfile || settings::is_ci(),
        lockfile_only: args.lockfile_only,
        cache_mode: if args.offline {
            CacheMode::Offline
        } else if args.prefer_offline {
            CacheMode::PreferOffline
        } else {
            CacheMode::Revalidate
        },
        production: args.production,
    };
    // The same package.json, dx.lock and options on a live mount: nothing to do.
    let fingerprint_options = format!("mount prod={}", args.production);
    if materialize.is_none()
        && !args.lockfile_only
        && node_modules::mounted_with(&store, &project.dir, &project.fingerprint(&fingerprint_options))
    {
        printer.line(format!("node_modules is up to date (mounted) in {} ms", started.elapsed().as_millis()));
        return Ok(ExitCode::SUCCESS);
    }
    let layout = pipeline::prepare(&project, &store, global, &options, printer)?;
    if args.lockfile_only {
        printer.line(format!("dx.lock written ({} packages) in {} ms", layout.locked_packages, started.elapsed().as_millis()));
        return Ok(ExitCode::SUCCESS);
    }
    let presented = node_modules::present(&project.dir, &store, &layout, materialize, printer)?;
    let elapsed = started.elapsed().as_millis() as u64;
    let packages = dx_formats::dxl::Dxl::parse(&layout.dxl).map(|d| d.package_count()).unwrap_or(0);
    match presented {
        Presented::Mounted { reloaded } => {
            node_modules::record_mounted(&store, &project.dir, &project.fingerprint(&fingerprint_options))?;
            if printer.json() {
                printer.json_value(&json!({
                    "packages": packages, "resolved": layout.resolved, "downloaded": layout.downloaded,
                    "node_modules": "mounted", "reloaded": reloaded, "milliseconds": elapsed,
                }));
            } else {
                let how = if reloaded { "mount reloaded" } else { "mounted" };
                printer.line(format!("{packages} packages ({} downloaded), node_modules {how}, in {elapsed} ms", layout.downloaded));
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
                printer.line(format!("node_modules is up to date ({packages} packages) in {elapsed} ms"));
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
