//! `dx trust [<pkg>… | --all]`: allows installed dependencies' install scripts (Bun's
//! `trustedDependencies`), runs them now, and records them in package.json. Without arguments,
//! lists the installed packages whose scripts are blocked.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_resolve::{LayoutOptions, ManifestEditor, Platform};
use serde_json::{Value, json};

use crate::cli::TrustArgs;
use crate::lifecycle::{self, Placement};
use crate::printer::Printer;
use crate::project::Project;

/// Runs `dx trust`.
pub fn run(args: &TrustArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let Some((_, lock)) = project.read_lockfile()? else {
        bail!(
            "no dx.lock in {} (run `dx install` first)",
            project.dir.display()
        );
    };
    let options = LayoutOptions {
        platform: Platform::current(),
        omit_dev: false,
        omit_optional: false,
    };
    let layout = dx_resolve::plan_layout(&lock, &options).context("cannot plan node_modules")?;
    let nm = project.dir.join("node_modules");
    let placed: Vec<Placement> = layout
        .nodes
        .iter()
        .filter_map(|node| {
            let package = lock.packages.get(&node.package_key)?;
            (package.has_install_script
                && nm.join(&node.install_path).join("package.json").is_file())
            .then(|| Placement {
                name: package.name.clone(),
                version: package.version.clone(),
                path: node.install_path.clone(),
            })
        })
        .collect();
    let already: &[String] = &project.manifest.trusted_dependencies;
    let untrusted: BTreeSet<String> = placed
        .iter()
        .map(|p| p.name.clone())
        .filter(|n| !already.contains(n))
        .collect();
    if args.packages.is_empty() && !args.all {
        if printer.json() {
            printer.json_value(&json!({ "untrusted": untrusted }));
        } else if untrusted.is_empty() {
            printer.answer("no installed package has blocked install scripts");
        } else {
            for name in &untrusted {
                printer.answer(name);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted: Vec<String> = if args.all {
        untrusted.iter().cloned().collect()
    } else {
        args.packages.clone()
    };
    for name in &wanted {
        if !placed.iter().any(|p| &p.name == name) {
            if lock.packages.values().any(|p| &p.name == name) {
                bail!(
                    "{name} has no install scripts (or is not in node_modules; run `dx install` first)"
                );
            }
            bail!("{name} is not installed in this project");
        }
    }
    let plan = lifecycle::plan_placements(
        placed.into_iter().filter(|p| wanted.contains(&p.name)),
        &lock,
        &wanted,
    );
    let ran = lifecycle::run_dependencies(&project.dir, &plan, printer)?;

    let mut editor =
        ManifestEditor::parse(&project.manifest_text).context("package.json is not valid")?;
    let mut trusted: Vec<String> = already.to_vec();
    for name in &wanted {
        if !trusted.contains(name) {
            trusted.push(name.clone());
        }
    }
    trusted.sort();
    editor.set_field(
        "trustedDependencies",
        Value::Array(trusted.into_iter().map(Value::String).collect()),
    );
    let path = project.dir.join("package.json");
    dx_store::write_atomic(&path, editor.render().as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    printer.line(format!(
        "trusted {} (install scripts ran in {ran} place{})",
        wanted.join(", "),
        if ran == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}
