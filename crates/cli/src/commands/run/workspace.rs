//! The workspace a command runs in and the members its flags select, shared by `dx run`,
//! `dx exec`, `add`, `remove` and `update`.

use std::path::{Path, PathBuf};

use anyhow::bail;
use dx_install::util as scripts;
use dx_install::workspace::filter::{Graph, Selection};
use dx_install::{WorkspaceSet, find_workspace_root};

use crate::cli::WorkspaceArgs;

/// The workspace around `cwd`: the nearest package directory's workspace (as npm and pnpm find
/// it from a member or the root), `None` when `cwd` is in no workspace.
pub fn workspace_around(cwd: &Path) -> anyhow::Result<Option<WorkspaceSet>> {
    let start = scripts::nearest_package_dir(cwd).unwrap_or_else(|| cwd.to_path_buf());
    let found = match find_workspace_root(&start)? {
        Some(found) => Some(found),
        // A directory between the root and its members (`packages/`) with no package.json of
        // its own finds the root's package.json as its nearest.
        None if start != cwd => find_workspace_root(cwd)?,
        None => None,
    };
    let Some((root, _)) = found else {
        return Ok(None);
    };
    Ok(WorkspaceSet::discover(&root)?)
}

/// The workspace around `cwd`, or an error saying a workspace flag needs one.
pub fn require_workspace(cwd: &Path, flag: &str) -> anyhow::Result<WorkspaceSet> {
    match workspace_around(cwd)? {
        Some(set) => Ok(set),
        None => bail!(
            "{flag} needs a workspace: no package.json with `workspaces` or pnpm-workspace.yaml in {} or above",
            cwd.display()
        ),
    }
}

/// The flag to name in errors for a selection.
pub fn flag_name(recursive: bool, args: &WorkspaceArgs) -> &'static str {
    if !args.filter.is_empty() {
        "--filter"
    } else if !args.workspace.is_empty() {
        "-w/--workspace"
    } else if recursive {
        "-r/--workspaces"
    } else {
        "-W/--workspace-root"
    }
}

/// The member selection of the flags.
pub fn selection(recursive: bool, args: &WorkspaceArgs) -> Selection {
    Selection {
        all: recursive,
        filters: args.filter.clone(),
        workspaces: args.workspace.clone(),
    }
}

/// The directories `add`/`remove`/`update` edit: the selected members' (sorted by path), the
/// root's first with `-W`; `None` when no workspace flag is given (the command acts where dx
/// runs).
pub fn edit_dirs(args: &WorkspaceArgs) -> anyhow::Result<Option<Vec<PathBuf>>> {
    let selection = selection(false, args);
    if selection.is_empty() && !args.workspace_root {
        return Ok(None);
    }
    let cwd = std::env::current_dir()?;
    let set = require_workspace(&cwd, flag_name(false, args))?;
    let mut dirs = Vec::new();
    if args.workspace_root {
        dirs.push(set.root.clone());
    }
    if !selection.is_empty() {
        let graph = Graph::new(&set);
        for i in selection.select(&set, &graph, &cwd)? {
            dirs.push(set.members[i].dir.clone());
        }
    }
    Ok(Some(dirs))
}
