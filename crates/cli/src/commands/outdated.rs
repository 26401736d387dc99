//! `dx outdated`: for each direct dependency, the version dx.lock installs (current), the
//! newest its specifier allows (wanted, preferring the `latest` tag when it fits, as npm picks)
//! and the `latest` dist-tag. Like npm and pnpm, exits 1 when anything is outdated.

use std::process::ExitCode;

use anyhow::bail;
use dx_net::CacheMode;
use dx_resolve::Packument;
use dx_resolve::semver::{Range, Version};
use dx_resolve::spec::DependencySpec;
use serde_json::{Map, json};

use crate::cli::GlobalArgs;
use crate::printer::Printer;
use dx_install::Lookup;
use dx_install::Project;

/// One outdated direct dependency.
struct Row {
    name: String,
    current: Option<String>,
    wanted: Option<String>,
    latest: Option<String>,
    kind: &'static str,
}

/// Runs `dx outdated`.
pub fn run(
    packages: &[String],
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let (_, lock) = project.require_lockfile()?;
    let store = dx_install::open_store()?;
    let lookup = Lookup::new(
        &project.dir,
        &store,
        global.registry.as_deref(),
        CacheMode::Revalidate,
    )?;
    let mut direct: Vec<(String, String, &'static str)> = Vec::new();
    for (name, edge) in &lock.root.edges {
        if !packages.is_empty() && !packages.contains(name) {
            continue;
        }
        if edge.kind.is_peer() {
            continue;
        }
        let kind = edge.kind.manifest_section();
        direct.push((name.clone(), edge.specifier.clone(), kind));
    }
    for name in packages {
        if !direct.iter().any(|(n, _, _)| n == name) {
            bail!(
                "{name} is not a direct dependency in {}",
                project.dir.join("package.json").display()
            );
        }
    }
    let registry_names: Vec<(String, Option<DependencySpec>)> = direct
        .iter()
        .map(|(name, spec, _)| {
            let parsed = DependencySpec::parse(name, spec).ok();
            let registry = match &parsed {
                Some(DependencySpec::Alias { name: real, .. }) => real.clone(),
                _ => name.clone(),
            };
            (registry, parsed)
        })
        .collect();
    lookup.prefetch(registry_names.iter().map(|(n, _)| n.clone()));
    let mut rows = Vec::new();
    for ((name, _, kind), (registry_name, parsed)) in direct.iter().zip(&registry_names) {
        let range = match parsed {
            Some(DependencySpec::Range(r)) => r.clone(),
            Some(DependencySpec::Alias { spec, .. }) => match spec.as_ref() {
                DependencySpec::Range(r) => r.clone(),
                _ => continue,
            },
            // Tags, URLs, files and git have no "wanted" version to compare.
            _ => continue,
        };
        let packument = lookup.packument(registry_name)?;
        let current = lock.root.edges[name]
            .target
            .as_ref()
            .and_then(|k| lock.packages.get(k))
            .map(|p| p.version.clone());
        let wanted = wanted_version(&packument, &range);
        let latest = packument.dist_tags.get("latest").cloned();
        if current != wanted || current != latest {
            rows.push(Row {
                name: name.clone(),
                current,
                wanted,
                latest,
                kind,
            });
        }
    }
    if printer.json() {
        let mut out = Map::new();
        for row in &rows {
            out.insert(
                row.name.clone(),
                json!({ "current": row.current, "wanted": row.wanted, "latest": row.latest, "type": row.kind }),
            );
        }
        printer.json_value(&serde_json::Value::Object(out));
    } else if !rows.is_empty() {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "missing".into());
        let mut table = vec![[
            "Package".to_owned(),
            "Current".into(),
            "Wanted".into(),
            "Latest".into(),
            "Type".into(),
        ]];
        for row in &rows {
            table.push([
                row.name.clone(),
                dash(&row.current),
                dash(&row.wanted),
                dash(&row.latest),
                row.kind.into(),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|i| {
                table
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &table {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            printer.answer(line.join("  ").trim_end());
        }
    }
    Ok(if rows.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the range would install now: the `latest` tag when it satisfies, else the highest
/// satisfying non-prerelease-excluded version.
fn wanted_version(packument: &Packument, range: &Range) -> Option<String> {
    if let Some(latest) = packument.dist_tags.get("latest")
        && Version::parse(latest).is_ok_and(|v| range.satisfies(&v))
    {
        return Some(latest.clone());
    }
    packument
        .versions()
        .filter_map(|entry| {
            Version::parse(entry.version)
                .ok()
                .filter(|parsed| range.satisfies(parsed))
                .map(|parsed| (parsed, entry.version))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v.to_owned())
}
