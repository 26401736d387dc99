//! Compares dx with npm itself: for every case in tests/cases that has a `<case>.npm.json`
//! (recorded by tests/npm-fixtures/regenerate.sh from a real npm install against dx's registry
//! server), dx's planned node_modules tree, skipped packages and `.bin` links must be exactly
//! npm's, except where the case declares a deliberate difference (`differs_from_npm`, with its
//! reason). The fixtures are data, so this test needs neither npm nor a network.

#[path = "support/memory_source.rs"]
mod memory_source;
#[path = "support/npm_tree.rs"]
mod npm_tree;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dx_resolve::semver::Version;
use dx_resolve::{LayoutOptions, PackageJson, Platform, ResolveOptions, plan_layout, resolve};
use memory_source::MemorySource;
use npm_tree::{InstalledTree, diff_lines, npm_tree, platform_of};
use serde_json::Value;

fn dx_tree(
    case: &Value,
    platform: Platform,
    node_version: Option<Version>,
) -> Result<InstalledTree, String> {
    let source = MemorySource::from_case(&case["packages"]);
    let root = PackageJson::parse(&case["root"].to_string()).map_err(|e| e.to_string())?;
    let options = ResolveOptions {
        node_version,
        ..ResolveOptions::default()
    };
    let outcome = resolve(&source, &root, None, &options).map_err(|e| e.to_string())?;
    let options = LayoutOptions {
        platform,
        omit_dev: false,
        omit_optional: false,
    };
    let plan = plan_layout(&outcome.resolution, &options).map_err(|e| e.to_string())?;
    Ok(InstalledTree {
        installed: plan
            .nodes
            .iter()
            .map(|n| (n.install_path.clone(), n.package_key.clone()))
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .map(|s| (s.install_path.clone(), String::new()))
            .collect(),
        bins: plan
            .bin_links
            .iter()
            .map(|b| (b.link_path.clone(), b.target.clone()))
            .collect(),
    })
}

fn compare_case(case_path: &Path, fixture_path: &Path) -> Result<(), String> {
    let read = |p: &Path| -> Result<Value, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let case = read(case_path)?;
    let fixture = read(fixture_path)?;
    let mut npm = npm_tree(&fixture);
    // A deliberate difference is declared in the case, with its reason: npm's tree with these
    // paths set (or, for null, removed) is what dx must produce.
    if let Some(changes) = case["differs_from_npm"]["installed"].as_object() {
        for (path, value) in changes {
            match value.as_str() {
                Some(v) => npm.installed.insert(path.clone(), v.to_string()),
                None => npm.installed.remove(path),
            };
        }
    }
    let node_version = fixture["node"]
        .as_str()
        .and_then(|v| Version::parse(v).ok());
    let dx = dx_tree(&case, platform_of(&fixture), node_version)?;
    if npm == dx {
        return Ok(());
    }
    let mut lines = diff_lines("path", &npm.installed, &dx.installed);
    lines.extend(diff_lines("skipped", &npm.skipped, &dx.skipped));
    lines.extend(diff_lines("bin", &npm.bins, &dx.bins));
    Err(lines.join("\n"))
}

fn cases_with_fixtures() -> Vec<(PathBuf, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut pairs: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(&dir)
        .expect("tests/cases is readable")
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
fn every_case_with_an_npm_fixture_matches_npm() {
    let pairs = cases_with_fixtures();
    assert!(
        pairs.len() >= 14,
        "npm fixtures found: {} (run tests/npm-fixtures/regenerate.sh)",
        pairs.len()
    );
    let mut failures = Vec::new();
    for (case, fixture) in &pairs {
        if let Err(diff) = compare_case(case, fixture) {
            failures.push(format!(
                "  {}:\n{diff}",
                case.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from npm (- npm, + dx):\n{}",
        failures.len(),
        pairs.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_has_an_npm_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let missing: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/cases is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.ends_with(".npm.json"))
        .filter(|n| !dir.join(n.replace(".json", ".npm.json")).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "cases without an npm fixture (run tests/npm-fixtures/regenerate.sh): {missing:?}"
    );
}

#[test]
fn the_diff_names_both_sides() {
    let npm = BTreeMap::from([("c".to_string(), "c@1.0.0".to_string())]);
    let dx = BTreeMap::from([("c".to_string(), "c@2.0.0".to_string())]);
    let lines = diff_lines("path", &npm, &dx);
    assert_eq!(
        lines,
        [
            "    - path c c@1.0.0   (npm)",
            "    + path c c@2.0.0   (dx)"
        ]
    );
}
