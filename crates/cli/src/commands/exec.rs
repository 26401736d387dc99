//! `dx exec <command>` (`dx x`): an installed package's executable from node_modules/.bin,
//! with the same PATH and environment as `dx run`. Unlike `npx`, nothing is ever downloaded: a
//! command that is not installed is an error that says which package would provide it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::ExecArgs;
use crate::printer::Printer;
use dx_install::Project;
use dx_install::ScriptRunner;
use dx_install::util as scripts;
use dx_install::util as suggest;

/// Runs `dx exec`.
pub fn run(args: ExecArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let command = args.command.as_str();
    if command.is_empty() || command.contains('/') || command == "." || command == ".." {
        bail!(
            "`{command}` is not a command name; `dx exec` runs commands from node_modules/.bin (run a file by its path directly)"
        );
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // Outside any package, the .bin directories of the current directory and above still count.
    let project = scripts::nearest_package_dir(&cwd)
        .as_deref()
        .map(Project::open)
        .transpose()?;
    let dir = project.as_ref().map_or(cwd.as_path(), |p| p.dir.as_path());
    let runner = ScriptRunner::new(dir, project.as_ref().map(|p| &p.manifest), &cwd)?;
    let Some(program) = runner
        .bin_dirs()
        .iter()
        .map(|d| d.join(command))
        .find(|p| scripts::is_executable(p))
    else {
        bail!(
            "{}",
            not_installed(command, project.as_ref(), &runner.bin_dirs()[0])
        );
    };
    printer.verbose(format!("running {}", program.display()));
    let args = match args.args.first() {
        Some(first) if first == "--" => &args.args[1..],
        _ => &args.args[..],
    };
    let status = runner.run_program(&program, args)?;
    Ok(ExitCode::from(scripts::exit_code(status)))
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
