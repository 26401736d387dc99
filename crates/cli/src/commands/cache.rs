//! `dx cache dir | verify | clean`.

use std::process::ExitCode;

use anyhow::Context as _;
use dx_store::{GcOptions, Store, VerifyReport};
use serde_json::json;

use crate::cli::CacheAction;
use crate::printer::Printer;

/// Runs a `dx cache` action.
pub fn run(action: CacheAction, printer: &Printer) -> anyhow::Result<ExitCode> {
    let root = Store::default_root().context("cannot locate the store")?;
    match action {
        CacheAction::Dir => {
            if printer.json() {
                printer.json_value(&json!({ "dir": root }));
            } else {
                printer.answer(root.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CacheAction::Verify => {
            let store = Store::open(&root)
                .with_context(|| format!("cannot open the store at {}", root.display()))?;
            let report = store.verify().context("store verification failed")?;
            render_verify(&report, printer);
            // Repairs were made, but the store was not intact: say so in the exit status.
            Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        CacheAction::Clean => {
            let store = Store::open(&root)
                .with_context(|| format!("cannot open the store at {}", root.display()))?;
            // Everything goes but what a live mount serves; materialized projects keep their
            // files (hardlinks and reflinks outlive the store's copy) and refetch on next install.
            let options = GcOptions {
                min_age: std::time::Duration::ZERO,
                keep_registered_roots: false,
            };
            // Waits rather than refusing: an install holds the lock only until its node_modules
            // serves what it fetched (seconds), and a clean that failed whenever an install ran
            // would need a retry loop in every script that calls it.
            let lock = match store.try_gc_lock().context("cannot lock the store")? {
                Some(lock) => lock,
                None => {
                    printer.warn(
                        "waiting for running dx installs (or a mount starting, or `dx cache verify`) to finish before cleaning",
                    );
                    store.gc_lock().context("cannot lock the store")?
                }
            };
            let report = store
                .gc_locked(&lock, &options)
                .context("cannot clean the store")?;
            drop(lock);
            store
                .clear_metadata()
                .context("cannot clear the metadata cache")?;
            if printer.json() {
                printer.json_value(&json!({
                    "archivesRemoved": report.archives_removed,
                    "bytesRemoved": report.archive_bytes_removed,
                    "archivesKept": report.archives_kept,
                    "liveMounts": report.live_mounts,
                    "projectStatesRemoved": report.project_states_removed,
                }));
            } else {
                printer.line(format!(
                    "removed {} archives ({:.1} MiB) and the state of {} deleted projects; kept {} archives used by {} live mounts",
                    report.archives_removed,
                    report.archive_bytes_removed as f64 / (1024.0 * 1024.0),
                    report.project_states_removed,
                    report.archives_kept,
                    report.live_mounts
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn render_verify(report: &VerifyReport, printer: &Printer) {
    if printer.json() {
        printer.json_value(&json!({
            "clean": report.is_clean(),
            "archivesChecked": report.archives_checked,
            "bytesChecked": report.bytes_checked,
            "corrupt": report.corrupt.iter().map(|c| json!({
                "hash": c.hash.to_hex(),
                "quarantinedTo": c.quarantined_to,
                "reason": c.reason,
            })).collect::<Vec<_>>(),
            "indexEntriesRemoved": report.index_entries_removed,
            "unpackedChecked": report.unpacked_checked,
            "unpackedRepaired": report.unpacked_repaired.iter().map(|(h, p)| json!({"hash": h.to_hex(), "path": p})).collect::<Vec<_>>(),
            "unpackedRemoved": report.unpacked_removed.iter().map(|(h, p)| json!({"hash": h.to_hex(), "reason": p})).collect::<Vec<_>>(),
            "projectsMissingArchives": report.projects_missing_archives.iter().map(|p| json!({
                "project": p.project,
                "missing": p.missing,
                "installRecordDropped": p.install_record_dropped,
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    for c in &report.corrupt {
        printer.warn(format!(
            "corrupt archive {} ({}), moved to {}",
            c.hash,
            c.reason,
            c.quarantined_to.display()
        ));
    }
    for (hash, path) in &report.unpacked_repaired {
        printer.warn(format!(
            "repaired {path} of unpacked package {hash} (it had been modified)"
        ));
    }
    for (hash, why) in &report.unpacked_removed {
        printer.warn(format!("removed unpacked package {hash}: {why}"));
    }
    for broken in &report.projects_missing_archives {
        printer.warn(format!(
            "{}: {} archives of its installed layout are missing from the store; the next `dx install` there fetches them again",
            broken.project.display(),
            broken.missing
        ));
    }
    printer.line(format!(
        "checked {} archives ({:.1} MiB) and {} unpacked packages: {}",
        report.archives_checked,
        report.bytes_checked as f64 / (1024.0 * 1024.0),
        report.unpacked_checked,
        if report.is_clean() {
            "all intact"
        } else {
            "problems found and repaired"
        }
    ));
}
