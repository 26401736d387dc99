//! `dx run <script>` and `dx <script>`: a package.json script with its `pre`/`post` scripts, as
//! npm and Bun run them (see `dx_install::ScriptRunner` for the environment); `dx run` alone lists them.
//! The script's exit status becomes dx's, so `dx test` fails a CI step exactly as the tests do.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use clap::CommandFactory as _;
use serde_json::json;

use crate::cli::{Cli, GlobalArgs, RunArgs};
use crate::printer::Printer;
use dx_install::Project;
use dx_install::util as scripts;
use dx_install::util as suggest;
use dx_install::{LIFECYCLE_SCRIPTS, ScriptRunner};

/// Runs `dx run`.
pub fn run(args: RunArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = open_nearest(&cwd)?;
    let Some(script) = args.script else {
        list_scripts(&project, printer);
        return Ok(ExitCode::SUCCESS);
    };
    if !project.manifest.scripts.contains_key(&script) {
        if args.if_present {
            return Ok(ExitCode::SUCCESS);
        }
        let hint =
            suggest::did_you_mean(&script, project.manifest.scripts.keys().map(String::as_str));
        bail!(
            "no script `{script}` in {}{hint}; `dx run` lists the scripts",
            project.dir.join("package.json").display()
        );
    }
    run_with_hooks(
        &project,
        &cwd,
        &script,
        &args.args,
        !args.ignore_scripts,
        global,
        printer,
    )
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
        .map(Project::open)
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

/// Opens the package whose package.json is nearest above `cwd`.
fn open_nearest(cwd: &Path) -> anyhow::Result<Project> {
    match scripts::nearest_package_dir(cwd) {
        Some(dir) => Ok(Project::open(&dir)?),
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
    project: &Project,
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
    let pre = format!("pre{name}");
    let post = format!("post{name}");
    let mut steps: Vec<(&str, &[String])> = Vec::new();
    if hooks && scripts.contains_key(&pre) {
        steps.push((&pre, &[]));
    }
    steps.push((name, args));
    if hooks && scripts.contains_key(&post) {
        steps.push((&post, &[]));
    }
    for (event, step_args) in steps {
        let text = &scripts[event];
        if !global.quiet && !global.json {
            // On stderr, so `dx run print-config | jq` reads only what the script prints.
            let shown = std::iter::once(text.clone())
                .chain(step_args.iter().map(|a| scripts::shell_quote(a)));
            eprintln!("$ {}", shown.collect::<Vec<_>>().join(" "));
        }
        let status = runner.run_script(event, text, step_args)?;
        if !status.success() {
            let code = scripts::exit_code(status);
            printer.error(&anyhow!("script `{event}` exited with code {code}"));
            return Ok(ExitCode::from(code.max(1)));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dx run` without a script: the scripts, lifecycle ones first, worded as `npm run` lists them.
fn list_scripts(project: &Project, printer: &Printer) {
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
