//! `dx trust`: allows installed dependencies' install scripts (Bun's `trustedDependencies`),
//! runs them now, and records them in package.json.

use std::collections::BTreeSet;

use dx_resolve::{LayoutOptions, Lockfile, ManifestEditor, Platform};
use serde_json::Value;

use crate::bail;
use crate::error::{Context as _, Result};
use crate::lifecycle::{self, Placement};
use crate::project::Project;
use crate::reporter::Reporter;

/// Which packages to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// These names.
    Names(Vec<String>),
    /// Every installed package whose scripts are blocked.
    AllBlocked,
}

/// What `dx trust` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustOutcome {
    /// The packages now trusted by this run.
    pub trusted: Vec<String>,
    /// How many places in node_modules ran install scripts.
    pub ran: usize,
}

/// The installed packages with install scripts (in node_modules now), and the resolution.
fn placed_with_scripts(project: &Project) -> Result<(Vec<Placement>, Lockfile)> {
    let (_, resolution) = project.require_lockfile()?;
    let options = LayoutOptions {
        platform: Platform::current(),
        omit_dev: false,
        omit_optional: false,
    };
    let layout =
        dx_resolve::plan_layout(&resolution, &options).context("cannot plan node_modules")?;
    let nm = project.dir.join("node_modules");
    let placed = layout
        .nodes
        .iter()
        .filter_map(|node| {
            let package = resolution.packages.get(&node.package_key)?;
            (package.has_install_script
                && nm.join(&node.install_path).join("package.json").is_file())
            .then(|| Placement {
                name: package.name.clone(),
                version: package.version.clone(),
                path: node.install_path.clone(),
            })
        })
        .collect();
    Ok((placed, resolution))
}

/// The installed packages whose install scripts are blocked (not trusted).
pub fn blocked(project: &Project) -> Result<BTreeSet<String>> {
    let (placed, _) = placed_with_scripts(project)?;
    let already = &project.manifest.trusted_dependencies;
    Ok(placed
        .into_iter()
        .map(|p| p.name)
        .filter(|n| !already.contains(n))
        .collect())
}

/// Trusts `which`: runs their install scripts now (dependencies first), then adds them to
/// package.json's `trustedDependencies`.
pub fn trust(project: &Project, which: &Trust, reporter: &dyn Reporter) -> Result<TrustOutcome> {
    let (placed, resolution) = placed_with_scripts(project)?;
    let already: &[String] = &project.manifest.trusted_dependencies;
    let wanted: Vec<String> = match which {
        Trust::AllBlocked => placed
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| !already.contains(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        Trust::Names(names) => names.clone(),
    };
    for name in &wanted {
        if !placed.iter().any(|p| &p.name == name) {
            if resolution.packages.values().any(|p| &p.name == name) {
                bail!(
                    "{name} has no install scripts (or is not in node_modules; run `dx install` first)"
                );
            }
            bail!("{name} is not installed in this project");
        }
    }
    let plan = lifecycle::plan_placements(
        placed.into_iter().filter(|p| wanted.contains(&p.name)),
        &resolution,
        &wanted,
    );
    let ran = lifecycle::run_dependencies(&project.dir, &plan, reporter)?;

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
    Ok(TrustOutcome {
        trusted: wanted,
        ran,
    })
}
