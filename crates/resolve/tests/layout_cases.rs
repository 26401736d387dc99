//! Runs every case in tests/cases: resolve with an in-memory registry, plan the layout, and
//! compare with the expected npm tree. Then checks that planning from the resolution alone
//! (as from dx.lock) gives the same tree.

#[path = "support/memory_source.rs"]
mod memory_source;

use std::collections::BTreeMap;
use std::path::Path;

use dx_resolve::{LayoutOptions, PackageJson, Platform, ResolveOptions, plan_layout, resolve};
use memory_source::MemorySource;
use serde_json::Value;

fn run_case(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let source = MemorySource::from_case(&case["packages"]);
    let root = PackageJson::parse(&case["root"].to_string()).map_err(|e| e.to_string())?;
    // `node` (optional): the node version npm's engines preference is judged against.
    let resolve_options = ResolveOptions {
        node_version: case["node"]
            .as_str()
            .and_then(|v| dx_resolve::semver::Version::parse(v).ok()),
        ..ResolveOptions::default()
    };
    let outcome = resolve(&source, &root, None, &resolve_options).map_err(|e| e.to_string())?;
    let platform = match case.get("platform") {
        Some(p) => Platform {
            os: p["os"].as_str().unwrap_or("linux").to_string(),
            cpu: p["cpu"].as_str().unwrap_or("x64").to_string(),
            libc: p["libc"].as_str().map(str::to_string),
        },
        None => Platform {
            os: "linux".into(),
            cpu: "x64".into(),
            libc: Some("glibc".into()),
        },
    };
    let options = LayoutOptions {
        platform,
        omit_dev: false,
        omit_optional: false,
    };
    let plan = plan_layout(&outcome.resolution, &options).map_err(|e| e.to_string())?;

    let got: BTreeMap<String, String> = plan
        .nodes
        .iter()
        .map(|n| (n.install_path.clone(), n.package_key.clone()))
        .collect();
    let expected: BTreeMap<String, String> = case["expected"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    if got != expected {
        return Err(format!(
            "layout differs\n  got:      {got:?}\n  expected: {expected:?}"
        ));
    }
    if let Some(bins) = case.get("expected_bins").and_then(Value::as_object) {
        let got: BTreeMap<String, String> = plan
            .bin_links
            .iter()
            .map(|b| (b.link_path.clone(), b.target.clone()))
            .collect();
        let expected: BTreeMap<String, String> = bins
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        if got != expected {
            return Err(format!(
                "bins differ\n  got:      {got:?}\n  expected: {expected:?}"
            ));
        }
    }
    let skipped: Vec<&str> = plan
        .skipped
        .iter()
        .map(|s| s.install_path.as_str())
        .collect();
    let expected_skipped: Vec<&str> = case
        .get("expected_skipped")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if skipped != expected_skipped {
        return Err(format!(
            "skipped differ: got {skipped:?}, expected {expected_skipped:?}"
        ));
    }
    let warnings: Vec<String> = outcome.warnings.iter().map(|w| w.to_string()).collect();
    let expected_warnings: Vec<&str> = case
        .get("expected_warnings")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if warnings.len() != expected_warnings.len()
        || !warnings
            .iter()
            .zip(&expected_warnings)
            .all(|(w, e)| w.contains(e))
    {
        return Err(format!(
            "warnings differ: got {warnings:?}, expected {expected_warnings:?}"
        ));
    }
    // The lock path: re-planning needs nothing but the resolution, and gives the same tree.
    let again = plan_layout(&outcome.resolution, &options).map_err(|e| e.to_string())?;
    if again != plan {
        return Err("planning twice gave different plans".into());
    }
    // Through dx.lock text and back, the lock and the plan are the same.
    let lock = &outcome.resolution;
    let text = lock.to_text();
    let reread = dx_resolve::lockfile::parse(&text).map_err(|e| e.to_string())?;
    if &reread != lock {
        return Err("dx.lock text does not read back as the lock".into());
    }
    if let Some(dangling) = reread.dangling_edges().next() {
        return Err(format!("a fresh lock has a dangling edge: {dangling}"));
    }
    let planned_from_lock = plan_layout(&reread, &options).map_err(|e| e.to_string())?;
    if planned_from_lock != plan {
        return Err(format!(
            "plan from dx.lock differs: {:?}",
            planned_from_lock.nodes
        ));
    }
    // A version 1 dx.lock (no root targets) still plans the same tree, by inference.
    let v1 = version_1_text(lock);
    let from_v1 = dx_resolve::lockfile::parse(&v1).map_err(|e| e.to_string())?;
    let planned_from_v1 = plan_layout(&from_v1, &options).map_err(|e| e.to_string())?;
    if planned_from_v1 != plan {
        return Err(format!(
            "plan from a version 1 dx.lock differs: {:?}",
            planned_from_v1.nodes
        ));
    }
    if let Some(difference) = lock.is_stale_for(&dx_resolve::manifest_importer(&root)) {
        return Err(format!(
            "a fresh lock is stale for its own package.json: {difference}"
        ));
    }
    if let Some(difference) = from_v1.is_stale_for(&dx_resolve::manifest_importer(&root)) {
        return Err(format!(
            "a version 1 lock is stale for its own package.json: {difference}"
        ));
    }
    // Re-resolving with the previous resolution fetches nothing and changes nothing.
    let fetched_before = source.request_count();
    let second = resolve(&source, &root, Some(&outcome.resolution), &resolve_options)
        .map_err(|e| e.to_string())?;
    // Optional dependencies the registry lacks are asked for again (they may exist by now).
    let mut optional_sections = vec![&case["root"]];
    if let Some(packages) = case["packages"].as_object() {
        for doc in packages.values() {
            if let Some(versions) = doc["versions"].as_object() {
                optional_sections.extend(versions.values());
            }
        }
    }
    let mut missing: Vec<&str> = optional_sections
        .iter()
        .filter_map(|m| m.get("optionalDependencies").and_then(Value::as_object))
        .flat_map(|m| m.keys())
        .filter(|k| case["packages"].get(k.as_str()).is_none())
        .map(String::as_str)
        .collect();
    missing.sort_unstable();
    missing.dedup();
    let missing_names = missing.len();
    if source.request_count() - fetched_before != missing_names {
        return Err(format!(
            "re-resolution fetched {} packuments",
            source.request_count() - fetched_before
        ));
    }
    if second.resolution != outcome.resolution {
        return Err("re-resolution changed the resolution".into());
    }
    Ok(())
}

#[test]
fn every_case_matches_npm_layout() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        // `<case>.npm.json` is npm's recorded tree for a case (tests/npm_agreement.rs).
        .filter(|p| !p.to_string_lossy().ends_with(".npm.json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "cases found: {}", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        if let Err(e) = run_case(path) {
            failures.push(format!(
                "{}: {e}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

/// The text dx wrote for `lock` in dx.lock version 1: root edges without targets, and optional
/// peers of the root written as peers.
fn version_1_text(lock: &dx_resolve::Lockfile) -> String {
    let mut v1 = lock.clone();
    for edge in v1.root.edges.values_mut() {
        edge.target = None;
        if edge.kind == dx_resolve::EdgeKind::OptionalPeer {
            edge.kind = dx_resolve::EdgeKind::Peer;
        }
    }
    v1.to_text().replacen("\ndx-lock 3\n", "\ndx-lock 1\n", 1)
}
