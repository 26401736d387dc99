//! `dx audit [fix]`: sends the installed set (dx.lock) to the registry's bulk advisory endpoint
//! as npm 7+ does, keeps the advisories whose `vulnerable_versions` cover an installed version,
//! and prints them by severity with the path that pulls each in. Exits 1 when one is at or
//! above `--audit-level`. `fix` re-resolves the vulnerable packages within the ranges that
//! require them, installs, and audits again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_resolve::semver::{Range, Version};
use dx_resolve::{Lockfile, UpdateSelection};
use serde_json::{Value, json};

use crate::cli::{AuditAction, AuditArgs, AuditLevel, GlobalArgs};
use crate::commands::install;
use crate::printer::Printer;
use crate::settings::{Intent, install_settings};
use dx_install::Lookup;
use dx_install::{Edit, Install, Project};
use std::sync::Arc;

/// Severities in increasing order, as npm names them.
const SEVERITIES: [&str; 5] = ["info", "low", "moderate", "high", "critical"];

/// One advisory affecting one installed version.
#[derive(Debug, Clone)]
struct Finding {
    name: String,
    version: String,
    severity: String,
    title: String,
    url: String,
    id: Value,
    vulnerable_versions: String,
    path: Vec<String>,
}

/// Runs `dx audit`.
pub fn run(args: AuditArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let AuditArgs {
        action,
        audit_level,
        install,
    } = args;
    let level = match audit_level {
        AuditLevel::Info => 0,
        AuditLevel::Low => 1,
        AuditLevel::Moderate => 2,
        AuditLevel::High => 3,
        AuditLevel::Critical => 4,
        AuditLevel::None => SEVERITIES.len(),
    };
    let project = Project::open_current()?;
    let mut findings = audit(&project, install.production, global)?;
    let mut fix = None;
    if action == Some(AuditAction::Fix) && !findings.is_empty() {
        let names: BTreeSet<String> = findings.iter().map(|f| f.name.clone()).collect();
        let before = findings.len();
        let settings = install_settings(&install, global, Intent::Edit);
        let edit = Edit {
            manifest_text: None,
            update: UpdateSelection::Names(names.into_iter().collect()),
            ..Edit::default()
        };
        let store = Arc::new(dx_install::open_store()?);
        let engine = Install::new(Project::open(&project.dir)?, store, settings).with_edit(edit)?;
        let outcome = install::run_within(engine, printer)?;
        findings = audit(&project, install.production, global)?;
        let fixed = before.saturating_sub(findings.len());
        printer.line(format!("fixed {fixed} of {before} vulnerabilities"));
        fix = Some(json!({ "fixed": fixed, "install": install::outcome_json(&outcome) }));
    }
    report(&findings, fix, printer);
    let failing = findings
        .iter()
        .any(|f| severity_rank(&f.severity).unwrap_or(0) >= level);
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The findings for the project's dx.lock as it is now.
fn audit(project: &Project, omit_dev: bool, global: &GlobalArgs) -> anyhow::Result<Vec<Finding>> {
    let (_, lock) = project.require_lockfile()?;
    let mut installed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in lock.packages.values() {
        if omit_dev && package.dev {
            continue;
        }
        installed
            .entry(package.name.clone())
            .or_default()
            .push(package.version.clone());
    }
    let store = dx_install::open_store()?;
    let lookup = Lookup::new(
        &project.dir,
        &store,
        global.registry.as_deref(),
        dx_net::CacheMode::Revalidate,
    )?;
    let answer = lookup
        .bulk_advisories(&installed)
        .context("cannot fetch security advisories")?;
    let Value::Object(by_name) = answer else {
        bail!("the registry's advisory answer is not a JSON object");
    };
    let paths = shortest_paths(&lock);
    let mut findings = Vec::new();
    for (name, advisories) in by_name {
        let Some(versions) = installed.get(&name) else {
            continue;
        };
        for advisory in advisories.as_array().into_iter().flatten() {
            let vulnerable = advisory
                .get("vulnerable_versions")
                .and_then(Value::as_str)
                .unwrap_or("*");
            let Ok(range) = Range::parse(vulnerable) else {
                continue;
            };
            for version in versions {
                if !Version::parse(version).is_ok_and(|v| range.satisfies_including_prerelease(&v))
                {
                    continue;
                }
                let text = |key: &str| {
                    advisory
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let key = dx_resolve::package_key(&name, version);
                findings.push(Finding {
                    name: name.clone(),
                    version: version.clone(),
                    severity: text("severity"),
                    title: text("title"),
                    url: text("url"),
                    id: advisory.get("id").cloned().unwrap_or(Value::Null),
                    vulnerable_versions: vulnerable.to_owned(),
                    path: paths.get(&key).cloned().unwrap_or_default(),
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        severity_rank(&b.severity)
            .cmp(&severity_rank(&a.severity))
            .then_with(|| (&a.name, &a.version).cmp(&(&b.name, &b.version)))
    });
    Ok(findings)
}

fn severity_rank(severity: &str) -> Option<usize> {
    SEVERITIES
        .iter()
        .position(|s| s.eq_ignore_ascii_case(severity))
}

/// For each package key, the shortest chain of install names from the root that reaches it.
fn shortest_paths(resolution: &Lockfile) -> BTreeMap<String, Vec<String>> {
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for (name, edge) in &resolution.root.edges {
        if let Some(target) = &edge.target
            && !paths.contains_key(target)
        {
            paths.insert(target.clone(), vec![name.clone()]);
            queue.push_back(target.clone());
        }
    }
    while let Some(key) = queue.pop_front() {
        let Some(package) = resolution.packages.get(&key) else {
            continue;
        };
        let here = paths[&key].clone();
        for (name, edge) in &package.dependencies {
            if let Some(target) = &edge.target
                && !paths.contains_key(target)
            {
                let mut path = here.clone();
                path.push(name.clone());
                paths.insert(target.clone(), path);
                queue.push_back(target.clone());
            }
        }
    }
    paths
}

fn report(findings: &[Finding], fix: Option<Value>, printer: &Printer) {
    let mut counts: BTreeMap<&str, usize> = SEVERITIES.iter().map(|s| (*s, 0)).collect();
    for f in findings {
        if let Some(rank) = severity_rank(&f.severity) {
            *counts.entry(SEVERITIES[rank]).or_default() += 1;
        }
    }
    if printer.json() {
        let list: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({
                    "name": f.name, "version": f.version, "severity": f.severity, "title": f.title,
                    "url": f.url, "id": f.id, "vulnerableVersions": f.vulnerable_versions, "path": f.path,
                })
            })
            .collect();
        let mut doc = json!({ "vulnerabilities": list, "counts": counts, "total": findings.len() });
        if let Some(fix) = fix {
            doc["fix"] = fix;
        }
        printer.json_value(&doc);
        return;
    }
    if findings.is_empty() {
        printer.answer("found 0 vulnerabilities");
        return;
    }
    for f in findings {
        printer.answer(format!(
            "{:<9} {}@{}  {}",
            f.severity, f.name, f.version, f.title
        ));
        printer.answer(format!(
            "          vulnerable: {}  {}",
            f.vulnerable_versions, f.url
        ));
        printer.answer(format!("          path: {}", f.path.join(" > ")));
    }
    let summary: Vec<String> = SEVERITIES
        .iter()
        .rev()
        .filter(|s| counts[*s] > 0)
        .map(|s| format!("{} {s}", counts[*s]))
        .collect();
    printer.answer(format!(
        "{} vulnerabilities ({})",
        findings.len(),
        summary.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use dx_resolve::{EdgeKind, LockedEdge, LockedPackage};

    #[test]
    fn shortest_path_goes_through_the_root_edge_first() {
        let edge = |t: &str| LockedEdge {
            specifier: "*".into(),
            kind: EdgeKind::Normal,
            target: Some(t.into()),
        };
        let mut r = Lockfile::default();
        r.root.edges.insert("a".into(), edge("a@1"));
        r.root.edges.insert("c".into(), edge("c@1"));
        let mut a = LockedPackage::default();
        a.dependencies.insert("b".into(), edge("b@1"));
        let mut b = LockedPackage::default();
        b.dependencies.insert("c".into(), edge("c@1"));
        r.packages.insert("a@1".into(), a);
        r.packages.insert("b@1".into(), b);
        r.packages.insert("c@1".into(), LockedPackage::default());
        let paths = shortest_paths(&r);
        assert_eq!(paths["b@1"], vec!["a", "b"]);
        assert_eq!(paths["c@1"], vec!["c"]);
    }

    #[test]
    fn severities_rank_in_npm_order() {
        assert!(severity_rank("critical") > severity_rank("high"));
        assert_eq!(severity_rank("MODERATE"), Some(2));
        assert_eq!(severity_rank("bogus"), None);
    }
}
