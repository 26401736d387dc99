//! `dx run <script>` and `dx <script>`: a package.json script with its `pre`/`post` scripts, as
//! npm and Bun run them (see `dx_install::ScriptRunner` for the environment); `dx run` alone lists them.
//! The script's exit status becomes dx's, so `dx test` fails a CI step exactly as the tests do.
//!
//! In a workspace, `-r`/`--workspaces`, `--filter` and `-w` run the script in the selected
//! members ([`workspace_run`]), dependencies first; `-W` runs the root's.

pub(crate) mod multi;
pub(crate) mod workspace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::CommandFactory as _;
use serde_json::json;

use crate::cli::{Cli, GlobalArgs, RunArgs};
use crate::printer::Printer;
use dx_install::util as scripts;
use dx_install::util as suggest;
use dx_install::workspace::filter::{self, Graph};
use dx_install::{LIFECYCLE_SCRIPTS, ScriptRunner};
use dx_resolve::PackageJson;

/// A package whose scripts run: its directory and package.json.
struct Package {
    dir: PathBuf,
    manifest: PackageJson,
}

impl Package {
    /// Reads the package.json in `dir`.
    fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("package.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let manifest = PackageJson::parse(&text)
            .with_context(|| format!("{} is not valid", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }
}

/// Runs `dx run`.
pub fn run(args: RunArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let selection = workspace::selection(args.recursive, &args.workspace);
    if !selection.is_empty() {
        return workspace_run(&args, &cwd, global, printer);
    }
    let package = if args.workspace.workspace_root {
        let set = workspace::require_workspace(&cwd, "-W/--workspace-root")?;
        Package::open(&set.root)?
    } else {
        open_nearest(&cwd)?
    };
    let Some(script) = args.script else {
        list_scripts(&package, printer);
        return Ok(ExitCode::SUCCESS);
    };
    if !package.manifest.scripts.contains_key(&script) {
        if args.if_present {
            return Ok(ExitCode::SUCCESS);
        }
        let hint =
            suggest::did_you_mean(&script, package.manifest.scripts.keys().map(String::as_str));
        bail!(
            "no script `{script}` in {}{hint}; `dx run` lists the scripts",
            package.dir.join("package.json").display()
        );
    }
    run_with_hooks(
        &package,
        &cwd,
        &script,
        &args.args,
        !args.ignore_scripts,
        global,
        printer,
    )
}

/// `dx run <script>` in the selected members (and the root with `-W`): dependencies first,
/// independent members at once (up to `--workspace-concurrency`), or all at once with
/// `--parallel`.
fn workspace_run(
    args: &RunArgs,
    cwd: &Path,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let flag = workspace::flag_name(args.recursive, &args.workspace);
    let Some(script) = &args.script else {
        bail!("{flag}: give the script to run (`dx run <script> {flag}`)");
    };
    let set = workspace::require_workspace(cwd, flag)?;
    let graph = Graph::new(&set);
    let selected =
        workspace::selection(args.recursive, &args.workspace).select(&set, &graph, cwd)?;
    let order = filter::topological_order(&graph, &selected);
    let mut waits = if args.parallel {
        vec![Vec::new(); order.len()]
    } else {
        filter::waits_for(&graph, &order)
    };
    let mut targets: Vec<(String, String, Package)> = Vec::new();
    if args.workspace.workspace_root {
        // The root waits for nothing and nothing waits for it.
        let root = Package::open(&set.root)?;
        let name = root
            .manifest
            .name
            .clone()
            .unwrap_or_else(|| "(root)".into());
        targets.push((name, ".".into(), root));
        for list in &mut waits {
            for w in list.iter_mut() {
                *w += 1;
            }
        }
        waits.insert(0, Vec::new());
    }
    for &i in &order {
        let member = &set.members[i];
        targets.push((
            member.name.clone(),
            member.path.clone(),
            Package::open(&member.dir)?,
        ));
    }
    if targets.is_empty() {
        bail!("{flag}: no workspace member is selected");
    }
    let missing: Vec<&(String, String, Package)> = targets
        .iter()
        .filter(|(_, _, p)| !p.manifest.scripts.contains_key(script))
        .collect();
    if !missing.is_empty() && !args.if_present {
        let (name, path, _) = missing[0];
        let others = match missing.len() {
            1 => String::new(),
            n => format!(
                " (and {} other member{})",
                n - 1,
                if n == 2 { "" } else { "s" }
            ),
        };
        bail!(
            "no script `{script}` in {path}/package.json (member {name}){others}; --if-present skips members without it"
        );
    }
    let runs = targets.len() - missing.len();
    if runs == 0 {
        printer.warn(format!("no selected member has a `{script}` script"));
        return Ok(ExitCode::SUCCESS);
    }
    let echo = !global.quiet && !global.json;
    let mut jobs = Vec::with_capacity(targets.len());
    for (name, path, package) in &targets {
        let steps = if package.manifest.scripts.contains_key(script) {
            script_steps(package, cwd, script, &args.args, !args.ignore_scripts, echo)?
        } else {
            Vec::new()
        };
        jobs.push(multi::Job {
            label: name.clone(),
            path: path.clone(),
            steps,
        });
    }
    let options = multi::Options {
        concurrency: if args.parallel {
            usize::MAX
        } else {
            usize::from(args.workspace_concurrency)
        },
        prefix: runs > 1,
    };
    match multi::execute(jobs, &waits, &options)? {
        multi::Outcome::Success => Ok(ExitCode::SUCCESS),
        multi::Outcome::Failed {
            label,
            path,
            event,
            code,
        } => {
            printer.error(&anyhow!(
                "script `{event}` of workspace member {label} ({path}) exited with code {code}"
            ));
            Ok(ExitCode::from(code))
        }
    }
}

/// The steps of `pre<name>`, `<name>` (with `args`) and `post<name>` in `package`.
fn script_steps(
    package: &Package,
    cwd: &Path,
    name: &str,
    args: &[String],
    hooks: bool,
    echo: bool,
) -> anyhow::Result<Vec<multi::Step>> {
    let args = match args.first() {
        Some(first) if first == "--" => &args[1..],
        _ => args,
    };
    let runner = ScriptRunner::new(&package.dir, Some(&package.manifest), cwd)?;
    let scripts_map = &package.manifest.scripts;
    let mut steps = Vec::new();
    for (event, step_args) in hook_sequence(scripts_map, name, args, hooks) {
        let text = &scripts_map[&event];
        let shown = std::iter::once(text.clone())
            .chain(step_args.iter().map(|a| scripts::shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        steps.push(multi::Step {
            command: runner.script_command(&event, text, step_args),
            echo: echo.then(|| format!("$ {shown}")),
            event,
        });
    }
    Ok(steps)
}

/// `pre<name>`, `<name>`, `post<name>` (the hooks only when `hooks` and present), each with its
/// arguments (only `<name>` gets `args`).
fn hook_sequence<'a>(
    scripts: &std::collections::BTreeMap<String, String>,
    name: &str,
    args: &'a [String],
    hooks: bool,
) -> Vec<(String, &'a [String])> {
    let pre = format!("pre{name}");
    let post = format!("post{name}");
    let mut steps: Vec<(String, &[String])> = Vec::new();
    if hooks && scripts.contains_key(&pre) {
        steps.push((pre, &[]));
    }
    steps.push((name.to_owned(), args));
    if hooks && scripts.contains_key(&post) {
        steps.push((post, &[]));
    }
    steps
}

/// Runs `dx <name> [args]` where `<name>` is not a dx command: the script of that name, as Bun
/// does; otherwise an error naming the nearest command or script, with status 2.
pub fn run_external(
    args: Vec<String>,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let mut args = args.into_iter();
    let name = args
        .next()
        .ok_or_else(|| anyhow!("no command given (`dx --help` lists them)"))?;
    let rest: Vec<String> = args.collect();
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = scripts::nearest_package_dir(&cwd)
        .as_deref()
        .map(Package::open)
        .transpose()?;
    if let Some(project) = project
        .as_ref()
        .filter(|p| p.manifest.scripts.contains_key(&name))
    {
        return run_with_hooks(project, &cwd, &name, &rest, true, global, printer);
    }
    let where_ = match &project {
        Some(p) => format!("in {}", p.dir.join("package.json").display()),
        None => format!("(no package.json in {} or above)", cwd.display()),
    };
    let commands = command_names();
    let script_names = project
        .iter()
        .flat_map(|p| p.manifest.scripts.keys().map(String::as_str));
    let hint = suggest::did_you_mean(
        &name,
        commands.iter().map(String::as_str).chain(script_names),
    );
    // An unknown command is a usage error (status 2, as clap gives for any other), even though
    // dx first looked for a script of that name.
    printer.error(&anyhow!(
        "`{name}` is neither a dx command nor a script {where_}{hint}; `dx --help` lists the commands, `dx run` the scripts"
    ));
    Ok(ExitCode::from(2))
}

/// Opens the package whose package.json is nearest above `cwd` (in a workspace member's
/// directory, the member).
fn open_nearest(cwd: &Path) -> anyhow::Result<Package> {
    match scripts::nearest_package_dir(cwd) {
        Some(dir) => Package::open(&dir),
        None => bail!(
            "no package.json in {} or any directory above it (hint: `dx init` creates one)",
            cwd.display()
        ),
    }
}

/// dx's command names and visible aliases, for "did you mean" when a name is neither.
fn command_names() -> Vec<String> {
    let cli = Cli::command();
    let mut names = Vec::new();
    for sub in cli.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        names.push(sub.get_name().to_owned());
        names.extend(sub.get_visible_aliases().map(str::to_owned));
    }
    names
}

/// Runs `pre<name>`, `<name>` (with `args`) and `post<name>`, stopping at the first failure,
/// whose exit status becomes dx's.
fn run_with_hooks(
    project: &Package,
    cwd: &Path,
    name: &str,
    args: &[String],
    hooks: bool,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    // npm takes `--` as the end of its own options; dx passes everything after the name on, so
    // a leading `--` is only a separator.
    let args = match args.first() {
        Some(first) if first == "--" => &args[1..],
        _ => args,
    };
    let runner = ScriptRunner::new(&project.dir, Some(&project.manifest), cwd)?;
    let scripts = &project.manifest.scripts;
    for (event, step_args) in hook_sequence(scripts, name, args, hooks) {
        let text = &scripts[&event];
        if !global.quiet && !global.json {
            // On stderr, so `dx run print-config | jq` reads only what the script prints.
            let shown = std::iter::once(text.clone())
                .chain(step_args.iter().map(|a| scripts::shell_quote(a)));
            eprintln!("$ {}", shown.collect::<Vec<_>>().join(" "));
        }
        let status = runner.run_script(&event, text, step_args)?;
        if !status.success() {
            let code = scripts::exit_code(status);
            printer.error(&anyhow!("script `{event}` exited with code {code}"));
            return Ok(ExitCode::from(code.max(1)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dx run` without a script: the scripts, lifecycle ones first, worded as `npm run` lists them.
fn list_scripts(project: &Package, printer: &Printer) {
    let scripts = &project.manifest.scripts;
    if printer.json() {
        printer.json_value(&json!(scripts));
        return;
    }
    let id = match (&project.manifest.name, &project.manifest.version) {
        (Some(name), Some(version)) => format!("{name}@{version}"),
        (Some(name), None) => name.clone(),
        _ => project.dir.display().to_string(),
    };
    if scripts.is_empty() {
        printer.answer(format!("{id} has no scripts in package.json"));
        return;
    }
    let (lifecycle, other): (Vec<_>, Vec<_>) = scripts
        .iter()
        .partition(|(name, _)| LIFECYCLE_SCRIPTS.contains(&name.as_str()));
    let mut lines = Vec::new();
    let mut section = |title: String, entries: &[(&String, &String)]| {
        if !entries.is_empty() {
            lines.push(title);
        }
        for (name, text) in entries {
            lines.push(format!("  {name}\n    {text}"));
        }
    };
    section(format!("Lifecycle scripts included in {id}:"), &lifecycle);
    let title = if lifecycle.is_empty() {
        format!("Scripts available in {id} via `dx run`:")
    } else {
        "available via `dx run`:".to_owned()
    };
    section(title, &other);
    printer.answer(lines.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn run_args(line: &[&str]) -> RunArgs {
        let cli = Cli::parse_from(["dx", "run"].iter().chain(line));
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run")
        };
        args
    }

    /// `dx run build -r` as npm and pnpm read it: dx's flags right after the script are dx's,
    /// from the first other argument (or `--`) on everything is the script's.
    #[test]
    fn workspace_flags_after_the_script_are_dx_s_until_the_first_other_argument() {
        let args = run_args(&[
            "build",
            "-r",
            "--filter=@s/*",
            "-w",
            "app",
            "--parallel",
            "--watch",
            "-r",
        ]);
        assert!(args.recursive && args.parallel);
        assert_eq!(args.workspace.filter, ["@s/*"]);
        assert_eq!(args.workspace.workspace, ["app"]);
        assert_eq!(args.args, ["--watch", "-r"]);

        let args = run_args(&["build", "--", "-r"]);
        assert!(!args.recursive);
        assert_eq!(args.args, ["-r"]);

        let args = run_args(&["-W", "--workspace-concurrency", "2", "test", "--workspaces"]);
        assert!(args.workspace.workspace_root && args.recursive);
        assert_eq!(args.workspace_concurrency, 2);
        assert!(args.args.is_empty());
        assert!(Cli::try_parse_from(["dx", "run", "x", "--workspace-concurrency", "0"]).is_err());
    }
}
