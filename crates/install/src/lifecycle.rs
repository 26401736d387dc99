//! Lifecycle scripts at install time, as npm runs them but with Bun's safety rule:
//!
//! - the project's own `preinstall` runs before node_modules is put in place, then `install`,
//!   `postinstall`, `preprepare`, `prepare`, `postprepare` after;
//! - a dependency's `preinstall` / `install` / `postinstall` (and the implicit `node-gyp
//!   rebuild` of a package with a `binding.gyp` and no install script) run only when the project
//!   trusts it (`trustedDependencies` in package.json, or `dx trust <name>`); the others are
//!   reported as blocked;
//! - dependencies' scripts run in dependency order (a package after everything it depends on),
//!   at most [`CONCURRENCY`] at a time, each in its own directory inside node_modules with npm's
//!   environment (see [`crate::scripts`]). On the mount, what they write lands in the overlay.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::bail;
use crate::error::{Context as _, Result};
use dx_formats::dxl::Dxl;
use dx_resolve::{Lockfile, PackageJson};

use crate::reporter::Reporter;
use crate::scripts::{ScriptRunner, exit_code};

/// How many dependency scripts run at once.
pub const CONCURRENCY: usize = 4;

/// The project's own scripts run after node_modules is in place, in this order.
pub const ROOT_AFTER: [&str; 5] = [
    "install",
    "postinstall",
    "preprepare",
    "prepare",
    "postprepare",
];

/// A workspace member's own scripts, run once node_modules is in place (npm runs a linked
/// member's install scripts and `prepare` as it builds the link).
pub const MEMBER_EVENTS: [&str; 6] = [
    "preinstall",
    "install",
    "postinstall",
    "preprepare",
    "prepare",
    "postprepare",
];

/// A dependency with install scripts, at one place in node_modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Path relative to node_modules.
    pub path: String,
}

/// Which dependencies' scripts run and which are blocked.
#[derive(Debug, Default)]
pub struct ScriptPlan {
    /// Trusted placements, grouped in waves: each wave only depends on earlier waves.
    pub waves: Vec<Vec<Placement>>,
    /// Names of untrusted packages that have install scripts.
    pub blocked: BTreeSet<String>,
}

impl ScriptPlan {
    /// Keeps only the placements inside `units` (install paths relative to node_modules: a
    /// placement at `a/node_modules/b` is inside `a`), dropping waves left empty.
    pub fn keep_inside(&mut self, units: &[String]) {
        let inside = |path: &str| {
            units.iter().any(|unit| {
                path == unit
                    || path
                        .strip_prefix(unit.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        };
        for wave in &mut self.waves {
            wave.retain(|placement| inside(&placement.path));
        }
        self.waves.retain(|wave| !wave.is_empty());
    }
}

/// Plans the dependency scripts of the layout in `dxl`, ordered by the graph of `resolution`.
pub fn plan(dxl: &Dxl<'_>, resolution: &Lockfile, trusted: &[String]) -> ScriptPlan {
    let placed = dxl.nodes().filter_map(|node| {
        let package = node.package()?;
        package.has_install_script().then(|| Placement {
            name: package.name().to_owned(),
            version: package.version().to_owned(),
            path: node.path().to_owned(),
        })
    });
    plan_placements(placed, resolution, trusted)
}

/// Plans the scripts of `placed` (packages with install scripts, where they sit).
pub fn plan_placements(
    placed: impl Iterator<Item = Placement>,
    resolution: &Lockfile,
    trusted: &[String],
) -> ScriptPlan {
    let mut plan = ScriptPlan::default();
    let mut by_height: BTreeMap<usize, Vec<Placement>> = BTreeMap::new();
    let mut heights = HashMap::new();
    for placement in placed {
        if !trusted.contains(&placement.name) {
            plan.blocked.insert(placement.name);
            continue;
        }
        let key = dx_resolve::package_key(&placement.name, &placement.version);
        let height = height(resolution, &key, &mut heights, &mut BTreeSet::new());
        by_height.entry(height).or_default().push(placement);
    }
    plan.waves = by_height.into_values().collect();
    plan
}

/// The length of the longest dependency chain below `key` (cycles cut where they close).
fn height(
    resolution: &Lockfile,
    key: &str,
    memo: &mut HashMap<String, usize>,
    visiting: &mut BTreeSet<String>,
) -> usize {
    if let Some(h) = memo.get(key) {
        return *h;
    }
    if !visiting.insert(key.to_owned()) {
        return 0;
    }
    let mut h = 0;
    if let Some(package) = resolution.packages.get(key) {
        for edge in package.dependencies.values() {
            if let Some(target) = &edge.target {
                h = h.max(1 + height(resolution, target, memo, visiting));
            }
        }
    }
    visiting.remove(key);
    memo.insert(key.to_owned(), h);
    h
}

/// Runs the planned dependency scripts; returns how many packages ran scripts.
pub fn run_dependencies(
    project_dir: &Path,
    plan: &ScriptPlan,
    reporter: &dyn Reporter,
) -> Result<usize> {
    let mut ran = 0;
    for wave in &plan.waves {
        for chunk in wave.chunks(CONCURRENCY) {
            let results: Vec<Result<bool>> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|p| scope.spawn(move || run_placement(project_dir, p)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| bail!("a script runner thread panicked"))
                    })
                    .collect()
            });
            for (placement, result) in chunk.iter().zip(results) {
                if result? {
                    ran += 1;
                    reporter.verbose(&format!(
                        "ran install scripts of {}@{}",
                        placement.name, placement.version
                    ));
                }
            }
        }
    }
    Ok(ran)
}

/// Runs one placed package's install scripts; `false` when it turned out to have none.
fn run_placement(project_dir: &Path, placement: &Placement) -> Result<bool> {
    let dir = project_dir.join("node_modules").join(&placement.path);
    let manifest_path = dir.join("package.json");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = PackageJson::parse(&text)
        .with_context(|| format!("{} is not valid", manifest_path.display()))?;
    let mut scripts: Vec<(&str, String)> = Vec::new();
    for event in ["preinstall", "install", "postinstall"] {
        if let Some(script) = manifest.scripts.get(event) {
            scripts.push((event, script.clone()));
        }
    }
    // npm's implicit install script for native addons.
    let has_install = scripts
        .iter()
        .any(|(e, _)| *e == "preinstall" || *e == "install");
    if !has_install && dir.join("binding.gyp").is_file() {
        scripts.insert(0, ("install", "node-gyp rebuild".to_owned()));
    }
    if scripts.is_empty() {
        return Ok(false);
    }
    let runner = ScriptRunner::new(&dir, Some(&manifest), project_dir)?;
    for (event, script) in scripts {
        let status = runner.run_script(event, &script, &[])?;
        if !status.success() {
            bail!(
                "the {event} script of {}@{} failed with exit code {} (in node_modules/{}; `--ignore-scripts` skips scripts)",
                placement.name,
                placement.version,
                exit_code(status),
                placement.path
            );
        }
    }
    Ok(true)
}

/// Runs the project's own scripts among `events`, in that order, where package.json has them.
pub fn run_root(project_dir: &Path, manifest: &PackageJson, events: &[&str]) -> Result<()> {
    run_own(project_dir, project_dir, manifest, events)
}

/// [`run_root`] for a workspace member in `dir`, with `INIT_CWD` the directory dx was run for
/// (`init_cwd`: the workspace root), as npm runs a member's scripts.
pub fn run_member(
    dir: &Path,
    init_cwd: &Path,
    manifest: &PackageJson,
    events: &[&str],
) -> Result<()> {
    run_own(dir, init_cwd, manifest, events)
}

fn run_own(
    project_dir: &Path,
    init_cwd: &Path,
    manifest: &PackageJson,
    events: &[&str],
) -> Result<()> {
    let mut runner = None;
    for event in events {
        let Some(script) = manifest.scripts.get(*event) else {
            continue;
        };
        if runner.is_none() {
            runner = Some(ScriptRunner::new(project_dir, Some(manifest), init_cwd)?);
        }
        let status = runner
            .as_ref()
            .expect("just set")
            .run_script(event, script, &[])?;
        if !status.success() {
            bail!(
                "the project's {event} script failed with exit code {}",
                exit_code(status)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_order_dependencies_first_and_survive_cycles() {
        use dx_resolve::{EdgeKind, LockedEdge, LockedPackage};
        let edge = |t: &str| LockedEdge {
            specifier: "*".into(),
            kind: EdgeKind::Normal,
            target: Some(t.into()),
        };
        let mut r = Lockfile::default();
        let mut a = LockedPackage::default();
        a.dependencies.insert("b".into(), edge("b@1"));
        let mut b = LockedPackage::default();
        b.dependencies.insert("c".into(), edge("c@1"));
        let mut c = LockedPackage::default();
        c.dependencies.insert("b".into(), edge("b@1"));
        r.packages.insert("a@1".into(), a);
        r.packages.insert("b@1".into(), b);
        r.packages.insert("c@1".into(), c);
        let mut memo = HashMap::new();
        let ha = height(&r, "a@1", &mut memo, &mut BTreeSet::new());
        let hb = height(&r, "b@1", &mut memo, &mut BTreeSet::new());
        assert!(ha > hb, "{ha} {hb}");
    }

    #[test]
    fn a_plan_kept_inside_units_drops_the_other_placements_and_empty_waves() {
        let placed = |path: &str| Placement {
            name: path.rsplit('/').next().unwrap_or(path).to_owned(),
            version: "1.0.0".into(),
            path: path.into(),
        };
        let mut plan = ScriptPlan {
            waves: vec![
                vec![placed("a/node_modules/b"), placed("ab")],
                vec![placed("c")],
                vec![placed("@s/x")],
            ],
            blocked: BTreeSet::new(),
        };
        plan.keep_inside(&["a".to_owned(), "@s/x".to_owned()]);
        let kept: Vec<Vec<&str>> = plan
            .waves
            .iter()
            .map(|wave| wave.iter().map(|p| p.path.as_str()).collect())
            .collect();
        assert_eq!(kept, [vec!["a/node_modules/b"], vec!["@s/x"]]);
    }
}
