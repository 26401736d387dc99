//! dx.lock and DXL benchmark over a real npm `package-lock.json`.
//!
//! Converts the npm lock into a [`Lockfile`] and a DXL with the same node_modules layout
//! (npm's keys are install paths), then prints, measured in one run:
//! 1. opening the DXL and looking up one install path and one package name, versus parsing the
//!    `package-lock.json` with serde_json and answering the same two questions;
//! 2. parsing and writing the `dx.lock` text;
//! 3. the sizes of the three files.
//!
//! Run: `cargo run --release -p dx-bench --bin lock -- /work/benchdata/alotta/package-lock.json`
//! (add `--emit DIR` to also write the converted `dx.lock` and `dx.dxl` there).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dx_formats::dxl::{Dxl, DxlBuilder, DxlPackage};
use dx_formats::hash::ContentHash;
use dx_formats::lockfile::{EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, package_key};
use serde_json::{Map, Value};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: lock <package-lock.json> [--emit DIR]")?;
    let emit_dir = match (args.next().as_deref(), args.next()) {
        (Some("--emit"), Some(dir)) => Some(dir),
        (None, _) => None,
        _ => anyhow::bail!("usage: lock <package-lock.json> [--emit DIR]"),
    };
    let json_bytes = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let npm: Value = serde_json::from_slice(&json_bytes).context("parsing package-lock.json")?;
    let entries = npm
        .get("packages")
        .and_then(Value::as_object)
        .context("no `packages` in package-lock.json")?;

    let converted = convert(entries)?;
    let lock_text = converted.lock.to_text();
    // The DXL records a 16-byte digest of the lock text it was compiled from: BLAKE3, cut.
    let mut lock_digest = [0u8; 16];
    lock_digest.copy_from_slice(&ContentHash::of(lock_text.as_bytes()).0[..16]);
    let dxl_bytes = build_dxl(&converted, lock_digest);
    let dxl = Dxl::parse(&dxl_bytes)?;
    dxl.verify()?;
    if let Some(dir) = &emit_dir {
        // For reading the formats by eye: the converted dx.lock and its DXL.
        std::fs::write(format!("{dir}/dx.lock"), &lock_text)?;
        std::fs::write(format!("{dir}/dx.dxl"), &dxl_bytes)?;
    }
    println!(
        "{path}: {} install paths, {} distinct packages, {} DXL nodes, {} bin links",
        converted.placements.len(),
        converted.lock.packages.len(),
        dxl.node_count(),
        dxl.nodes()
            .filter(|n| matches!(n.kind(), dx_formats::dxl::NodeKind::Symlink(_)))
            .count()
    );

    // The questions: one nested install path (the deepest), one package name.
    let probe_path = converted
        .placements
        .keys()
        .max_by_key(|p| (p.matches('/').count(), p.len()))
        .context("empty lock")?
        .clone();
    let probe_name = converted
        .placements
        .get(&probe_path)
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    println!("probe: path `{probe_path}`, name `{probe_name}`");

    println!("\n== 1. open + lookup one path + one name ==");
    let json_time = median(9, 1, || {
        let v: Value = serde_json::from_slice(&json_bytes).expect("parsed above");
        let pkgs = v
            .get("packages")
            .and_then(Value::as_object)
            .expect("checked above");
        let by_path = pkgs.get(&format!("node_modules/{probe_path}")).is_some();
        let suffix = format!("node_modules/{probe_name}");
        let by_name = pkgs
            .keys()
            .filter(|k| k.ends_with(&suffix) && pkgs[*k].get("version").is_some())
            .count();
        black_box((by_path, by_name));
    });
    let dxl_time = median(9, 10_000, || {
        let d = Dxl::parse(black_box(&dxl_bytes)).expect("parsed above");
        let by_path = d.lookup(black_box(&probe_path)).is_some();
        let by_name = d.packages_named(black_box(&probe_name)).count();
        black_box((by_path, by_name));
    });
    let verify_time = median(9, 10, || {
        Dxl::parse(&dxl_bytes)
            .and_then(|d| d.verify())
            .expect("verified above");
    });
    println!("serde_json package-lock.json: {}", show(json_time));
    println!("DXL parse + lookups:          {}", show(dxl_time));
    println!(
        "  ratio: DXL is {:.0}x faster (design target >= 1000x)",
        ratio(json_time, dxl_time)
    );
    println!(
        "DXL parse + full verify:      {} (once, after writing or on suspicion)",
        show(verify_time)
    );

    println!("\n== 2. dx.lock text ==");
    let parse_time = median(15, 1, || {
        black_box(Lockfile::parse(black_box(&lock_text)).expect("round-trips"));
    });
    let parse_fastest = fastest(15, || {
        black_box(Lockfile::parse(black_box(&lock_text)).expect("round-trips"));
    });
    // On a shared machine wall time includes waiting for a core; the thread's own CPU time
    // (Linux schedstat) shows what the parse itself costs.
    let parse_cpu = thread_cpu_per_call(15, || {
        black_box(Lockfile::parse(black_box(&lock_text)).expect("round-trips"));
    });
    let write_time = median(15, 1, || {
        black_box(converted.lock.to_text());
    });
    let reparsed = Lockfile::parse(&lock_text)?;
    anyhow::ensure!(
        reparsed == converted.lock && reparsed.to_text() == lock_text,
        "dx.lock did not round-trip"
    );
    println!(
        "parse {} packages: {} median, {} fastest (target < 2 ms)",
        converted.lock.packages.len(),
        show(parse_time),
        show(parse_fastest)
    );
    if let Some(cpu) = parse_cpu {
        println!("parse, thread CPU time per call: {}", show(cpu));
    }
    println!("write:              {}", show(write_time));
    println!(
        "vs serde_json package-lock.json parse: dx.lock parse is {:.1}x faster",
        ratio(json_time, parse_time)
    );

    println!("\n== 3. sizes ==");
    println!("package-lock.json {:>9} bytes", json_bytes.len());
    println!(
        "dx.lock           {:>9} bytes ({:.2}x of package-lock.json)",
        lock_text.len(),
        lock_text.len() as f64 / json_bytes.len() as f64
    );
    println!(
        "DXL               {:>9} bytes ({:.2}x of package-lock.json)",
        dxl_bytes.len(),
        dxl_bytes.len() as f64 / json_bytes.len() as f64
    );
    Ok(())
}

/// The npm lock as dx sees it.
struct Converted {
    lock: Lockfile,
    /// Install path (relative to node_modules) -> (name, version).
    placements: BTreeMap<String, (String, String)>,
}

fn strings(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The package name an npm install path ends in (`a/node_modules/@s/b` -> `@s/b`).
fn name_from_path(path: &str) -> &str {
    path.rsplit_once("node_modules/").map_or(path, |(_, n)| n)
}

/// Node's resolution: from `from`, the nearest `node_modules/<name>` up the tree.
fn resolve_edge<'m>(
    placements: &'m BTreeMap<String, (String, String)>,
    from: &str,
    name: &str,
) -> Option<&'m (String, String)> {
    let mut dir = from.to_owned();
    loop {
        let candidate = if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/node_modules/{name}")
        };
        if let Some(hit) = placements.get(&candidate) {
            return Some(hit);
        }
        if dir.is_empty() {
            return None;
        }
        dir = dir
            .rsplit_once("/node_modules/")
            .map_or(String::new(), |(parent, _)| parent.to_owned());
    }
}

fn convert(entries: &Map<String, Value>) -> Result<Converted> {
    let mut placements = BTreeMap::new();
    for (key, entry) in entries {
        let Some(path) = key.strip_prefix("node_modules/") else {
            continue;
        };
        let Some(version) = entry.get("version").and_then(Value::as_str) else {
            continue;
        };
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| name_from_path(path));
        placements.insert(path.to_owned(), (name.to_owned(), version.to_owned()));
    }
    let root_entry = entries.get("").cloned().unwrap_or(Value::Null);
    // The root's edges, later sections winning as in npm (peer, prod, optional, dev).
    let mut root = Importer {
        overrides: strings(root_entry.get("overrides")),
        ..Importer::default()
    };
    for (field, kind) in [
        ("peerDependencies", EdgeKind::Peer),
        ("dependencies", EdgeKind::Normal),
        ("optionalDependencies", EdgeKind::Optional),
        ("devDependencies", EdgeKind::Dev),
    ] {
        for (dep, specifier) in strings(root_entry.get(field)) {
            let target = resolve_edge(&placements, "", &dep).map(|(n, v)| package_key(n, v));
            let edge = LockedEdge {
                specifier,
                kind,
                target,
            };
            root.edges.insert(dep, edge);
        }
    }
    let mut lock = Lockfile {
        root,
        packages: BTreeMap::new(),
        ..Lockfile::default()
    };
    for (path, (name, version)) in &placements {
        let key = package_key(name, version);
        if lock.packages.contains_key(&key) {
            continue;
        }
        let entry = &entries[&format!("node_modules/{path}")];
        let optional_peers: Vec<&str> = entry
            .get("peerDependenciesMeta")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v.get("optional").and_then(Value::as_bool) == Some(true))
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let mut dependencies = BTreeMap::new();
        for (field, kind) in [
            ("dependencies", EdgeKind::Normal),
            ("optionalDependencies", EdgeKind::Optional),
            ("peerDependencies", EdgeKind::Peer),
        ] {
            for (dep, specifier) in strings(entry.get(field)) {
                let kind = if kind == EdgeKind::Peer && optional_peers.contains(&dep.as_str()) {
                    EdgeKind::OptionalPeer
                } else {
                    kind
                };
                let target = resolve_edge(&placements, path, &dep).map(|(n, v)| package_key(n, v));
                dependencies.insert(
                    dep,
                    LockedEdge {
                        specifier,
                        kind,
                        target,
                    },
                );
            }
        }
        let bin = match entry.get("bin") {
            // A string `bin` is a command named after the package, without its scope.
            Some(Value::String(s)) => BTreeMap::from([(
                name.rsplit('/').next().unwrap_or(name).to_owned(),
                s.clone(),
            )]),
            other => strings(other),
        };
        let pkg = LockedPackage {
            name: name.clone(),
            version: version.clone(),
            resolved: entry
                .get("resolved")
                .and_then(Value::as_str)
                .map(str::to_owned),
            integrity: entry
                .get("integrity")
                .and_then(Value::as_str)
                .map(|s| s.parse())
                .transpose()
                .with_context(|| format!("{key}: unreadable integrity"))?,
            dependencies: dependencies.into(),
            os: list(entry.get("os")),
            cpu: list(entry.get("cpu")),
            libc: list(entry.get("libc")),
            bin,
            has_install_script: entry
                .get("hasInstallScript")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            deprecated: entry
                .get("deprecated")
                .and_then(Value::as_str)
                .map(str::to_owned),
            optional: entry
                .get("optional")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            dev: entry.get("dev").and_then(Value::as_bool).unwrap_or(false),
        };
        lock.packages.insert(key, pkg);
    }
    Ok(Converted { lock, placements })
}

fn build_dxl(converted: &Converted, lock_digest: [u8; 16]) -> Vec<u8> {
    let mut builder = DxlBuilder::new(lock_digest, "linux-x64-glibc");
    for (path, (name, version)) in &converted.placements {
        let key = package_key(name, version);
        let locked = &converted.lock.packages[&key];
        let id = builder.add_package(DxlPackage {
            name: name.clone(),
            version: version.clone(),
            content_hash: ContentHash::of(key.as_bytes()),
            integrity: locked.integrity.clone(),
            has_install_script: locked.has_install_script,
        });
        builder
            .place(path, id)
            .expect("npm install paths are valid layout paths");
        // `.bin` beside the package's own node_modules directory.
        let (dir, installed_as) = match path.rsplit_once("/node_modules/") {
            Some((parent, rest)) => (format!("{parent}/node_modules/.bin"), rest),
            None => (".bin".to_owned(), path.as_str()),
        };
        for (command, target) in &locked.bin {
            let target = target.trim_start_matches("./");
            // Two packages at one level may claim the same command; the first keeps it.
            let _ = builder.add_bin_link(
                &format!("{dir}/{command}"),
                &format!("../{installed_as}/{target}"),
            );
        }
    }
    builder.finish()
}

/// The median of `samples` timings of `batch` calls each, per call.
fn median(samples: usize, batch: u32, mut f: impl FnMut()) -> Duration {
    f(); // warm up
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed() / batch
        })
        .collect();
    times.sort();
    times[samples / 2]
}

/// The fastest of `samples` calls: what the code costs when the shared machine lets it run.
fn fastest(samples: usize, mut f: impl FnMut()) -> Duration {
    (0..samples)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// This thread's CPU time in nanoseconds, from `/proc/thread-self/schedstat` (Linux).
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// CPU time per call of `f` over `calls` calls, where the kernel reports it.
fn thread_cpu_per_call(calls: u32, mut f: impl FnMut()) -> Option<Duration> {
    let before = thread_cpu_ns()?;
    for _ in 0..calls {
        f();
    }
    let after = thread_cpu_ns()?;
    Some(Duration::from_nanos(after.saturating_sub(before)) / calls)
}

fn ratio(slow: Duration, fast: Duration) -> f64 {
    slow.as_secs_f64() / fast.as_secs_f64().max(1e-12)
}

fn show(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}
