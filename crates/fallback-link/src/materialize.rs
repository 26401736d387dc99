//! [`materialize`]: write a DXL layout as a real `node_modules`, built beside the old one and
//! swapped in atomically, or, when a tree of an earlier layout is in place, updated in place by
//! the units that changed (see `update`).

mod build;
mod place;
mod plan;
mod probe;
mod swap;
mod update;

use std::path::{Path, PathBuf};

use dx_formats::dxl::Dxl;
use dx_store::Store;

use crate::LinkMode;
use crate::error::LinkError;
use crate::marker::LayoutMarker;

pub use place::InjectedFailure;
pub(crate) use plan::{LayoutPlan, is_plain_relative};
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
    /// Tests only: stop an in-place update after this many of its renames, leaving the tree
    /// as a process killed there would (part old, part new, the marker empty).
    pub interrupt_update_after: Option<usize>,
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
            interrupt_update_after: None,
        }
    }

    /// Whether the package at `path` (relative to `node_modules`) is placed as private copies.
    pub(crate) fn is_private_copy(&self, path: &str) -> bool {
        self.private_copies.iter().any(|private| private == path)
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
    /// Set when an existing tree of an earlier layout was updated in place rather than
    /// rebuilt; the counts above are then the whole tree's.
    ///
    /// Packages outside the placed units kept their files, including whatever their install
    /// scripts wrote: those scripts need not run again.
    pub update: Option<TreeUpdate>,
}

/// What an in-place update changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeUpdate {
    /// Units placed, new or replacing an old one: a top-level or scoped package with what is
    /// nested in it, a `.bin` link, or a whole `@scope` or `.bin` directory.
    pub placed: u64,
    /// Their paths relative to `node_modules` (`react`, `@babel/core`, `.bin/tsc`): what is new
    /// in the tree, for the install scripts that must run again.
    pub placed_units: Vec<String>,
    /// Units removed.
    pub removed: u64,
    /// Files placed (those of the placed units).
    pub files: u64,
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
///
/// When `node_modules` is an intact tree of another layout whose DXL the store still holds
/// (under the key its marker records), only what differs is built, beside the tree, and renamed
/// in; [`MaterializeReport::update`] says what was placed and removed.
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
    let mut private = opts.private_copies.clone();
    private.sort();
    private.dedup();
    let existing = LayoutMarker::read(&node_modules);
    let intact = existing
        .clone()
        .filter(|m| m.satisfies(key, opts.mode, &private))
        .and_then(|mut marker| {
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
            update: None,
        });
    }

    let plan = plan::LayoutPlan::from_dxl(dxl)?;
    swap::remove_leftovers(&opts.project_dir)?;
    if let Some(old) = existing.filter(|m| m.mode_fits(opts.mode))
        && let Some(report) = update_in_place(store, dxl, &plan, key, &private, old, opts)?
    {
        return Ok(report);
    }
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
        private,
        fingerprint: LayoutMarker::fingerprint(&node_modules, &plan.watched)?,
    };
    marker.fill(&node_modules)?;
    if let Some(old) = old {
        report.old_tree = dispose(&opts.project_dir, &old, opts);
    }
    Ok(report)
}

/// The replaced tree (or replaced units) at `old`: set aside for the caller with
/// [`MaterializeOptions::detach_old_tree`], removed here otherwise.
fn dispose(project_dir: &Path, old: &Path, opts: &MaterializeOptions) -> Option<PathBuf> {
    if opts.detach_old_tree {
        return Some(swap::set_aside(project_dir, old));
    }
    // The new tree is in place; an old tree that cannot be removed now is a leftover that the
    // next run removes, not a failed install.
    drop(swap::remove_tree(old));
    None
}

/// Updates the tree in place when it is an intact tree of the layout `old` names (kept in the
/// store under its key) and was placed in a mode that serves `opts.mode`: builds the units
/// that changed beside it and renames them in (see `update`). `None` when that cannot be done
/// (the old layout or one of its archives is gone, the tree is not intact, a rename failed
/// midway): the caller rebuilds the whole tree.
fn update_in_place(
    store: &Store,
    new: &Dxl<'_>,
    new_plan: &plan::LayoutPlan<'_>,
    key: &str,
    private: &[String],
    old: LayoutMarker,
    opts: &MaterializeOptions,
) -> Result<Option<MaterializeReport>, LinkError> {
    let node_modules = opts.project_dir.join("node_modules");
    let old_bytes = if old.key == key {
        None
    } else {
        match std::fs::read(store.dxl_path(&old.key)) {
            Ok(bytes) => Some(bytes),
            Err(_) => return Ok(None),
        }
    };
    let old_parsed = match old_bytes.as_deref().map(Dxl::parse) {
        Some(Ok(parsed)) => Some(parsed),
        Some(Err(_)) => return Ok(None),
        None => None,
    };
    // The same layout (only the private copies changed): its plan is the one in hand.
    let old_plan_parsed = match &old_parsed {
        Some(parsed) => match plan::LayoutPlan::from_dxl(parsed) {
            Ok(plan) => Some(plan),
            Err(_) => return Ok(None),
        },
        None => None,
    };
    let old_dxl = old_parsed.as_ref().unwrap_or(new);
    let old_plan = old_plan_parsed.as_ref().unwrap_or(new_plan);
    if !(old.is_intact(&node_modules) || old.holds_top_level(old_dxl, &node_modules)) {
        return Ok(None);
    }
    let Some(diff) = update::LayoutDiff::between(old_dxl, &old.private, new, private) else {
        return Ok(None);
    };
    let gone = diff.gone();
    let gone_above = update::ancestors(&gone);
    let Ok((files_gone, dirs_gone, links_gone, bytes_gone)) =
        build::tally(store, &old_plan.within(&gone, &gone_above))
    else {
        return Ok(None);
    };
    let dirs_gone = dirs_gone - gone_above.len() as u64;

    let built_units = diff.built();
    let above = update::ancestors(&built_units);
    let mode = match opts.mode {
        LinkMode::Auto => old.used,
        explicit => explicit,
    };
    let staging = swap::staging_path(&opts.project_dir);
    // What was placed; nothing when the layouts place the same tree (only the key changed).
    let placed = if diff.is_empty() {
        None
    } else {
        let sub_opts = MaterializeOptions {
            mode,
            ..opts.clone()
        };
        let built = build::build_tree(
            store,
            &new_plan.within(&built_units, &above),
            &staging,
            &sub_opts,
        )
        .and_then(|report| LayoutMarker::clear(&node_modules).map(|()| report));
        let mut report = match built {
            Ok(report) => report,
            Err(e) => {
                drop(swap::remove_tree(&staging));
                return Err(e);
            }
        };
        report.dirs -= 1 + above.len() as u64;
        match update::commit(&staging, &node_modules, &diff, opts.interrupt_update_after) {
            Ok(()) => {}
            Err(update::CommitError::Interrupted(step)) => {
                return Err(LinkError::Io {
                    action: "update node_modules in place (stopped by a test after some renames)",
                    path: node_modules.join(format!("step {step}")),
                    source: std::io::Error::from(std::io::ErrorKind::Interrupted),
                });
            }
            Err(update::CommitError::Failed) => {
                // Part old, part new, marker empty: the whole tree is rebuilt instead.
                drop(swap::remove_tree(&staging));
                return Ok(None);
            }
        }
        Some(report)
    };
    let count = |field: fn(&MaterializeReport) -> u64| placed.as_ref().map_or(0, field);
    let marker = LayoutMarker {
        key: key.to_owned(),
        requested: opts.mode,
        used: placed.as_ref().map_or(mode, |p| p.mode_used),
        files: (old.files + count(|p| p.files)).saturating_sub(files_gone),
        dirs: (old.dirs + count(|p| p.dirs)).saturating_sub(dirs_gone),
        symlinks: (old.symlinks + count(|p| p.symlinks)).saturating_sub(links_gone),
        bytes: (old.bytes + count(|p| p.bytes)).saturating_sub(bytes_gone),
        private: private.to_vec(),
        fingerprint: LayoutMarker::fingerprint(&node_modules, &new_plan.watched)?,
    };
    marker.fill(&node_modules)?;
    let old_tree = placed
        .is_some()
        .then(|| dispose(&opts.project_dir, &staging, opts))
        .flatten();
    Ok(Some(MaterializeReport {
        mode_used: marker.used,
        step_down: placed.as_ref().and_then(|p| p.step_down.clone()),
        files: marker.files,
        dirs: marker.dirs,
        symlinks: marker.symlinks,
        bytes: marker.bytes,
        noop: false,
        old_tree,
        update: Some(TreeUpdate {
            placed: built_units.len() as u64,
            placed_units: built_units.iter().map(|unit| (*unit).to_owned()).collect(),
            removed: diff.removed.len() as u64,
            files: count(|p| p.files),
        }),
    }))
}
