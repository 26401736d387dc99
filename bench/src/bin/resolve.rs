//! Resolver benchmark on a synthetic 5,000-package graph (issue: "the resolver handles a
//! 5,000-package graph; time it").
//!
//! Builds a deterministic graph in memory (no network, no disk): package `pkg-i` has nine
//! versions (majors 1–3, minors 0–2); every version depends on `pkg-2i+1` and `pkg-2i+2`, so all
//! packages are reachable from the root, plus up to three pseudo-random later packages. Most
//! ranges take the newest major; one in five asks for an older major, which forces nesting. Then
//! it times `dx_resolve::resolve` (no lockfile) and `plan_layout` (the hoisted tree), several
//! rounds, and prints the median and the fastest of each.
//!
//! Run: `cargo run --release -p dx-bench --bin resolve -- [PACKAGES] [ROUNDS]`
//! (defaults 5000 and 5). No peer tool takes an in-memory registry, so no ratio is printed: this
//! number is the resolver's own cost, with packument fetching and parsing excluded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dx_resolve::{
    Dist, LayoutOptions, PackageJson, PackageSource, Packument, Platform, ResolveOptions,
    SourceError, VersionManifest, plan_layout, resolve,
};

/// Packuments held in memory.
struct MemorySource {
    packuments: HashMap<String, Arc<Packument>>,
}

impl PackageSource for MemorySource {
    fn packument(&self, name: &str) -> Result<Arc<Packument>, SourceError> {
        self.packuments
            .get(name)
            .cloned()
            .ok_or_else(|| SourceError::NotFound {
                name: name.to_string(),
                registry: "the in-memory registry".into(),
            })
    }
}

/// xorshift64: the same graph on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

fn range(rng: &mut Rng) -> String {
    if rng.below(5) == 0 {
        format!("^{}.0.0", 1 + rng.below(2))
    } else {
        "^3.0.0".to_string()
    }
}

fn synthetic_source(count: usize) -> MemorySource {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut packuments = HashMap::new();
    for i in 0..count {
        let name = format!("pkg-{i}");
        let mut packument = dx_resolve::packument::RawPackument {
            name: name.clone(),
            ..Default::default()
        };
        for major in 1..=3 {
            for minor in 0..3 {
                let version = format!("{major}.{minor}.0");
                let mut dependencies = BTreeMap::new();
                for child in [2 * i + 1, 2 * i + 2] {
                    if child < count {
                        dependencies.insert(format!("pkg-{child}"), range(&mut rng));
                    }
                }
                if i + 1 < count {
                    for _ in 0..rng.below(4) {
                        let target = i + 1 + rng.below((count - i - 1).min(300));
                        dependencies.insert(format!("pkg-{target}"), range(&mut rng));
                    }
                }
                let manifest = VersionManifest {
                    name: name.clone(),
                    version: version.clone(),
                    dependencies,
                    dist: Dist {
                        tarball: Some(format!("http://127.0.0.1:1/{name}/-/{name}-{version}.tgz")),
                        integrity: Some(format!("sha512-{}==", "A".repeat(86))),
                        shasum: None,
                    },
                    ..VersionManifest::default()
                };
                packument.versions.insert(version, manifest);
            }
        }
        packument
            .dist_tags
            .insert("latest".to_string(), "3.2.0".to_string());
        packuments.insert(
            name,
            Arc::new(Packument::from_raw(&packument, &Default::default())),
        );
    }
    MemorySource { packuments }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .map(|a| a.parse().context("PACKAGES must be a number"))
        .transpose()?
        .unwrap_or(5_000);
    let rounds: usize = args
        .next()
        .map(|a| a.parse().context("ROUNDS must be a number"))
        .transpose()?
        .unwrap_or(5)
        .max(1);
    anyhow::ensure!(count >= 1, "PACKAGES must be at least 1");
    let source = synthetic_source(count);
    let root = PackageJson {
        dependencies: BTreeMap::from([("pkg-0".to_string(), "^3.0.0".to_string())]),
        ..PackageJson::default()
    };
    let layout_options = LayoutOptions {
        platform: Platform {
            os: "linux".into(),
            cpu: "x64".into(),
            libc: Some("glibc".into()),
        },
        omit_dev: false,
        omit_optional: false,
    };
    let (mut resolve_times, mut plan_times) = (Vec::new(), Vec::new());
    let mut summary = String::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let outcome = resolve(&source, &root, None, &ResolveOptions::default())?;
        resolve_times.push(started.elapsed());
        let started = Instant::now();
        let plan = plan_layout(&outcome.resolution, &layout_options)?;
        plan_times.push(started.elapsed());
        let names: std::collections::HashSet<&str> = outcome
            .resolution
            .packages
            .values()
            .map(|p| p.name.as_str())
            .collect();
        summary = format!(
            "{} packuments, {} names, {} name@versions, {} install paths ({} nested)",
            outcome.packuments_fetched,
            names.len(),
            outcome.resolution.packages.len(),
            plan.nodes.len(),
            plan.nodes
                .iter()
                .filter(|n| n.install_path.contains("/node_modules/"))
                .count()
        );
    }
    println!("synthetic graph of {count} packages: {summary}");
    println!(
        "resolve (no lockfile): median {:.1} ms, fastest {:.1} ms over {rounds} rounds",
        median(resolve_times.clone()).as_secs_f64() * 1e3,
        resolve_times
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    println!(
        "plan_layout:           median {:.1} ms, fastest {:.1} ms over {rounds} rounds",
        median(plan_times.clone()).as_secs_f64() * 1e3,
        plan_times
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3
    );
    Ok(())
}
