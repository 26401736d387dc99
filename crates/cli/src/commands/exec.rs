//! `dx exec <command>` (`dx x`): an installed package's executable from node_modules/.bin,
//! with the same PATH and environment as `dx run`. Unlike `npx`, nothing is ever downloaded: a
//! command that is not installed is an error that says which package would provide it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::{ExecArgs, GlobalArgs};
use crate::commands::run::multi::{Job, Options, Outcome, Step, execute};
use crate::commands::run::workspace;
use crate::printer::Printer;
use dx_install::Project;
use dx_install::ScriptRunner;
use dx_install::util as scripts;
use dx_install::util as suggest;
use dx_install::workspace::filter::{self, Graph};

/// Runs `dx exec`.
pub fn run(args: ExecArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let command = args.command.as_str();
    if command.is_empty() || command.contains('/') || command == "." || command == ".." {
        bail!(
            "`{command}` is not a command name; `dx exec` runs commands from node_modules/.bin (run a file by its path directly)"
        );
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let program_args = match args.args.first() {
        Some(first) if first == "--" => &args.args[1..],
        _ => &args.args[..],
    };
    let selection = workspace::selection(args.recursive, &args.workspace);
    if !selection.is_empty() {
        return exec_in_members(&args, program_args, &cwd, global, printer);
    }
    // In a member's directory, the member (its own node_modules/.bin first, then the root's);
    // outside any package, the .bin directories of the current directory and above still count.
    let dir = if args.workspace.workspace_root {
        workspace::require_workspace(&cwd, "-W/--workspace-root")?.root
    } else {
        scripts::nearest_package_dir(&cwd).unwrap_or_else(|| cwd.clone())
    };
    let project = dir
        .join("package.json")
        .is_file()
        .then(|| Project::open(&dir))
        .transpose()?;
    let runner = ScriptRunner::new(&dir, project.as_ref().map(|p| &p.manifest), &cwd)?;
    let Some(program) = find_program(&runner, command) else {
        bail!(
            "{}",
            not_installed(command, project.as_ref(), &runner.bin_dirs()[0])
        );
    };
    printer.verbose(format!("running {}", program.display()));
    let status = runner.run_program(&program, program_args)?;
    Ok(ExitCode::from(scripts::exit_code(status)))
}

/// The executable `command` in the runner's `.bin` directories, nearest first.
fn find_program(runner: &ScriptRunner, command: &str) -> Option<std::path::PathBuf> {
    runner
        .bin_dirs()
        .iter()
        .map(|d| d.join(command))
        .find(|p| scripts::is_executable(p))
}

/// `dx exec -r|--filter|-w <command>`: the command in each selected member's directory (with
/// its node_modules/.bin and the root's on PATH), one member at a time in topological order,
/// each output line prefixed with the member's name when more than one runs.
fn exec_in_members(
    args: &ExecArgs,
    program_args: &[String],
    cwd: &Path,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let flag = workspace::flag_name(args.recursive, &args.workspace);
    let set = workspace::require_workspace(cwd, flag)?;
    let graph = Graph::new(&set);
    let selected =
        workspace::selection(args.recursive, &args.workspace).select(&set, &graph, cwd)?;
    let mut order: Vec<(String, String, std::path::PathBuf)> =
        filter::topological_order(&graph, &selected)
            .into_iter()
            .map(|i| {
                let m = &set.members[i];
                (m.name.clone(), m.path.clone(), m.dir.clone())
            })
            .collect();
    if args.workspace.workspace_root {
        order.insert(0, ("(root)".into(), ".".into(), set.root.clone()));
    }
    let mut jobs = Vec::with_capacity(order.len());
    for (name, path, dir) in order {
        let project = Project::open(&dir)?;
        let runner = ScriptRunner::new(&dir, Some(&project.manifest), cwd)?;
        let Some(program) = find_program(&runner, &args.command) else {
            bail!(
                "workspace member {name} ({path}): {}",
                not_installed(&args.command, Some(&project), &runner.bin_dirs()[0])
            );
        };
        let command = runner.program_command(&program, program_args);
        let shown = std::iter::once(args.command.clone())
            .chain(program_args.iter().map(|a| scripts::shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        jobs.push(Job {
            label: name,
            path,
            steps: vec![Step {
                event: args.command.clone(),
                echo: (!global.quiet && !global.json).then(|| format!("$ {shown}")),
                command,
            }],
        });
    }
    // One after another, in order (each waits for the one before).
    let waits: Vec<Vec<usize>> = (0..jobs.len())
        .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
        .collect();
    let options = Options {
        concurrency: 1,
        prefix: jobs.len() > 1,
    };
    match execute(jobs, &waits, &options)? {
        Outcome::Success => Ok(ExitCode::SUCCESS),
        Outcome::Failed {
            label,
            path,
            event,
            code,
        } => {
            printer.error(&anyhow::anyhow!(
                "`{event}` in workspace member {label} ({path}) exited with code {code}"
            ));
            Ok(ExitCode::from(code))
        }
    }
}

/// Why `command` cannot be run, and what to do about it.
fn not_installed(command: &str, project: Option<&Project>, nearest_bin_dir: &Path) -> String {
    let link = nearest_bin_dir.join(command);
    // The lock may know the package even when node_modules is not there (not installed yet).
    if let Some(Ok(Some((_, lock)))) = project.map(Project::read_lockfile) {
        let provider = lock.packages.values().find(|p| p.bin.contains_key(command));
        if let Some(package) = provider {
            return format!(
                "`{command}` comes from {}@{} in dx.lock, but {} does not exist (run `dx install`)",
                package.name,
                package.version,
                link.display()
            );
        }
    }
    let installed = bin_names(nearest_bin_dir);
    let hint = suggest::did_you_mean(command, installed.iter().map(String::as_str));
    format!(
        "`{command}` is not installed in this project: no {}{hint}; dx exec downloads nothing (hint: `dx add -D <package>` installs the package that provides it)",
        link.display()
    )
}

/// The commands in a `.bin` directory, sorted.
fn bin_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_names_are_sorted_and_a_missing_directory_has_none() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["tsc", "eslint", "vite"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(bin_names(dir.path()), ["eslint", "tsc", "vite"]);
        assert!(bin_names(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn the_error_suggests_a_near_command() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("eslint"), "").unwrap();
        let message = not_installed("esllint", None, dir.path());
        assert!(message.contains("did you mean `eslint`"), "{message}");
        assert!(message.contains("dx add -D"), "{message}");
    }
}
