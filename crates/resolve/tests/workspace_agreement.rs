//! Workspaces against npm itself: for every case in tests/workspace-cases (a root, its members
//! and their registry packages), dx's planned tree — the root node_modules, the links to the
//! members, each member's own node_modules and every `.bin` — must be exactly what npm
//! installed (`<case>.npm.json`, recorded by `tests/npm-fixtures/regenerate.sh --cases-dir
//! crates/resolve/tests/workspace-cases`). Paths inside a member's node_modules are written
//! `../<member>/node_modules/<path>`, links `link:<target>`, as the recorder writes them.
//!
//! Each case is also planned again from its dx.lock text (resolution → text → parse → plan),
//! and resolved again with the first resolution as `previous` (nothing may move).

#[path = "support/memory_source.rs"]
mod memory_source;
#[path = "support/npm_tree.rs"]
mod npm_tree;

use std::path::{Path, PathBuf};

use dx_resolve::semver::Version;
use dx_resolve::{
    LayoutOptions, LayoutPlan, Lockfile, PackageJson, ResolveOptions, WorkspaceMember, plan_layout,
    resolve,
};
use memory_source::MemorySource;
use npm_tree::{InstalledTree, diff_lines, npm_tree, platform_of};
use serde_json::Value;

fn tree_of(plan: &LayoutPlan) -> InstalledTree {
    let mut tree = InstalledTree::default();
    for n in &plan.nodes {
        tree.installed
            .insert(n.install_path.clone(), n.package_key.clone());
    }
    for l in &plan.links {
        tree.installed
            .insert(l.install_path.clone(), format!("link:{}", l.target));
    }
    for b in &plan.bin_links {
        tree.bins.insert(b.link_path.clone(), b.target.clone());
    }
    for s in &plan.skipped {
        tree.skipped.insert(s.install_path.clone(), String::new());
    }
    for ws in &plan.workspaces {
        let prefix = format!("../{}/node_modules/", ws.path);
        for n in &ws.nodes {
            tree.installed
                .insert(format!("{prefix}{}", n.install_path), n.package_key.clone());
        }
        for l in &ws.links {
            tree.installed.insert(
                format!("{prefix}{}", l.install_path),
                format!("link:{}", l.target),
            );
        }
        for b in &ws.bin_links {
            tree.bins
                .insert(format!("{prefix}{}", b.link_path), b.target.clone());
        }
    }
    tree
}

fn members_of(case: &Value) -> Result<Vec<WorkspaceMember>, String> {
    let mut members = Vec::new();
    // `directories` (what `file:` dependencies name inside the project) are built like
    // members, as dx-install hands them to the resolver.
    let dirs = case["workspaces"]
        .as_object()
        .into_iter()
        .chain(case["directories"].as_object())
        .flatten();
    for (path, manifest) in dirs {
        members.push(WorkspaceMember {
            path: path.clone(),
            manifest: PackageJson::parse(&manifest.to_string()).map_err(|e| e.to_string())?,
        });
    }
    Ok(members)
}

fn compare_case(case_path: &Path, fixture_path: &Path) -> Result<(), String> {
    let read = |p: &Path| -> Result<Value, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let case = read(case_path)?;
    let fixture = read(fixture_path)?;
    let npm = npm_tree(&fixture);
    let source = MemorySource::from_case(&case["packages"]);
    let root = PackageJson::parse(&case["root"].to_string()).map_err(|e| e.to_string())?;
    let options = ResolveOptions {
        node_version: fixture["node"]
            .as_str()
            .and_then(|v| Version::parse(v).ok()),
        workspaces: members_of(&case)?,
        ..ResolveOptions::default()
    };
    let outcome = resolve(&source, &root, None, &options).map_err(|e| e.to_string())?;
    let layout = LayoutOptions {
        platform: platform_of(&fixture),
        omit_dev: false,
        omit_optional: false,
    };
    let plan = plan_layout(&outcome.resolution, &layout).map_err(|e| e.to_string())?;
    let dx = tree_of(&plan);
    if npm != dx {
        let mut lines = diff_lines("path", &npm.installed, &dx.installed);
        lines.extend(diff_lines("skipped", &npm.skipped, &dx.skipped));
        lines.extend(diff_lines("bin", &npm.bins, &dx.bins));
        return Err(lines.join("\n"));
    }
    let text = outcome.resolution.to_text();
    let reread = Lockfile::parse(&text).map_err(|e| format!("dx.lock does not read back: {e}"))?;
    if reread != outcome.resolution {
        return Err("dx.lock text loses part of the resolution".into());
    }
    let replanned = plan_layout(&reread, &layout).map_err(|e| e.to_string())?;
    if replanned != plan {
        return Err("planning from dx.lock gives another tree".into());
    }
    let again =
        resolve(&source, &root, Some(&outcome.resolution), &options).map_err(|e| e.to_string())?;
    if again.resolution != outcome.resolution {
        return Err("resolving again with the lock as previous moved something".into());
    }
    Ok(())
}

fn cases() -> Vec<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workspace-cases");
    let mut pairs: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .expect("tests/workspace-cases is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let stem = name.strip_suffix(".npm.json")?;
            Some((dir.join(format!("{stem}.json")), p))
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn every_workspace_case_matches_npm() {
    let pairs = cases();
    assert!(
        pairs.len() >= 4,
        "workspace fixtures found: {}",
        pairs.len()
    );
    let mut failures = Vec::new();
    for (case, fixture) in &pairs {
        if let Err(diff) = compare_case(case, fixture) {
            failures.push(format!("  {}:\n{diff}", case.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} workspace cases differ from npm (- npm, + dx):\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );
}
