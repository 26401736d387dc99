//! [`materialize`]: write a DXL layout as a real `node_modules`, built beside the old one and
//! swapped in atomically.

mod build;
mod place;
mod plan;
mod probe;
mod swap;

use std::path::PathBuf;

use dx_formats::dxl::Dxl;
use dx_store::Store;

use crate::LinkMode;
use crate::error::LinkError;
use crate::marker::LayoutMarker;

pub use place::InjectedFailure;
pub(crate) use plan::is_plain_relative;
pub use swap::{remove_leftovers, remove_tree};

/// What to materialize where, and how.
#[derive(Clone, Debug)]
pub struct MaterializeOptions {
    /// How to place files; [`LinkMode::Auto`] probes the target filesystem once.
    pub mode: LinkMode,
    /// The project directory; the tree is written to `project_dir/node_modules`.
    pub project_dir: PathBuf,
    /// Tests only: make one placement fail midway (see [`InjectedFailure`]).
    pub inject_failure: Option<InjectedFailure>,
    /// Packages (install paths relative to `node_modules`) whose files are copied whatever the
    /// mode: those whose trusted install scripts may rewrite their own files in place, which
    /// through a hardlink would reach the store (root ignores the read-only mode).
    pub private_copies: Vec<String>,
    /// Leave the replaced tree for the caller to remove (renamed to
    /// `node_modules.dx-old-<pid>`, returned in [`MaterializeReport::old_tree`]) instead of
    /// removing it before returning: removing it costs about as much as building the new one.
    pub detach_old_tree: bool,
}

impl MaterializeOptions {
    /// Options for `project_dir` with `mode` and no injected failure.
    pub fn new(project_dir: impl Into<PathBuf>, mode: LinkMode) -> MaterializeOptions {
        MaterializeOptions {
            mode,
            project_dir: project_dir.into(),
            inject_failure: None,
            private_copies: Vec::new(),
            detach_old_tree: false,
        }
    }
}

/// What [`materialize`] did, for the CLI to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializeReport {
    /// The mode the last files were placed with (never [`LinkMode::Auto`]). After a step-down,
    /// earlier files may have been placed with a better mode.
    pub mode_used: LinkMode,
    /// Set when a mode failed midway and dx stepped down: one line naming the failure, its
    /// reason, and the `--materialize=` setting that avoids it. Meant to be shown as a warning.
    pub step_down: Option<String>,
    /// Regular files placed (or present, for a no-op).
    pub files: u64,
    /// Directories created, `node_modules` itself included.
    pub dirs: u64,
    /// Symbolic links created (`.bin` entries).
    pub symlinks: u64,
    /// Total size of the files.
    pub bytes: u64,
    /// True when `node_modules` already held this layout, intact, and nothing was written.
    pub noop: bool,
    /// With [`MaterializeOptions::detach_old_tree`]: where the replaced tree is, still to be
    /// removed (`remove_leftovers` removes it once this process is gone, if nobody did).
    pub old_tree: Option<PathBuf>,
}

/// Writes the layout of `dxl` to `opts.project_dir/node_modules`, placing package files from
/// `store` by reflink, hardlink or copy.
///
/// `key` identifies the layout (the DXL's store key or a digest of its bytes); it is recorded
/// in `node_modules/.dx-layout`, and a repeat call with the same key on an intact tree returns
/// at once with [`MaterializeReport::noop`] set, after a handful of `stat`s and no walk.
///
/// The tree is built in `node_modules.dx-new-<pid>` and exchanged with the old `node_modules`
/// in one rename; the old tree is then removed. On error, or if the process dies, the old tree
/// is untouched (the next run removes the partial one). `node_modules` must not be a live FUSE
/// mount: unmount it first.
pub fn materialize(
    store: &Store,
    dxl: &Dxl<'_>,
    key: &str,
    opts: &MaterializeOptions,
) -> Result<MaterializeReport, LinkError> {
    if key.is_empty() || key.contains(['\n', '\r']) {
        return Err(LinkError::InvalidKey(key.to_owned()));
    }
    let node_modules = opts.project_dir.join("node_modules");
    let existing = LayoutMarker::read(&node_modules).filter(|m| m.satisfies(key, opts.mode));
    let intact = existing.and_then(|mut marker| {
        if marker.is_intact(&node_modules) {
            return Some(marker);
        }
        // A tool cache appeared (`.cache`, `.vite`): still intact, and worth keeping.
        let refreshed =
            marker.holds_top_level(dxl, &node_modules) && marker.refresh(&node_modules).is_ok();
        refreshed.then_some(marker)
    });
    if let Some(marker) = intact {
        // A staging tree left by a killed install goes on the no-op too (best effort: the
        // tree in place is intact, and the next build removes it or says why it cannot).
        drop(swap::remove_leftovers(&opts.project_dir));
        return Ok(MaterializeReport {
            mode_used: marker.used,
            step_down: None,
            files: marker.files,
            dirs: marker.dirs,
            symlinks: marker.symlinks,
            bytes: marker.bytes,
            noop: true,
            old_tree: None,
        });
    }

    let plan = plan::LayoutPlan::from_dxl(dxl)?;
    swap::remove_leftovers(&opts.project_dir)?;
    let staging = swap::staging_path(&opts.project_dir);
    let built = build::build_tree(store, &plan, &staging, opts).and_then(|report| {
        LayoutMarker::create_empty(&staging)?;
        let old = swap::swap_in(&opts.project_dir, &staging, &node_modules)?;
        Ok((report, old))
    });
    let (mut report, old) = match built {
        Ok(done) => done,
        Err(e) => {
            // Best effort: a leftover is removed by the next run anyway.
            drop(swap::remove_tree(&staging));
            return Err(e);
        }
    };

    let marker = LayoutMarker {
        key: key.to_owned(),
        requested: opts.mode,
        used: report.mode_used,
        files: report.files,
        dirs: report.dirs,
        symlinks: report.symlinks,
        bytes: report.bytes,
        fingerprint: LayoutMarker::fingerprint(&node_modules, &plan.watched)?,
    };
    marker.fill(&node_modules)?;
    if let Some(old) = old {
        if opts.detach_old_tree {
            report.old_tree = Some(swap::set_aside(&opts.project_dir, &old));
        } else {
            // The new tree is in place; an old tree that cannot be removed now is a leftover
            // that the next run removes, not a failed install.
            drop(swap::remove_tree(&old));
        }
    }
    Ok(report)
}
