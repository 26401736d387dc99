//! Load: many installs against one store at once with `dx cache clean` running beside them, and
//! many node processes reading one mount while its layout is reloaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixtures::Package;
use crate::support::{TestContext, fuse_available, is_mountpoint};

/// Packages `load-0` … `load-15`.
const PACKAGES: usize = 16;
const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];

fn load_package(index: usize, version: &str) -> Package {
    let mut package = Package::new(&format!("load-{index}"), version)
        .manifest(json!({ "main": "index.js" }))
        .exporting(&format!("load-{index} {version}"));
    for file in 0..6 {
        let text = format!("{index}:{version}:{file}\n").repeat(300);
        package = package.file(&format!("lib/f{file}.txt"), text);
    }
    package
}

/// A registry serving every load package in every version.
fn load_registry() -> TestContext {
    let mut builder = TestContext::builder();
    for index in 0..PACKAGES {
        for version in VERSIONS {
            builder = builder.package(load_package(index, version));
        }
    }
    builder.build()
}

fn manifest(deps: &BTreeMap<String, String>) -> String {
    serde_json::to_string_pretty(
        &json!({ "name": "load-app", "version": "1.0.0", "dependencies": deps }),
    )
    .unwrap()
}

/// How many archive files the store holds.
fn archives(store: &Path) -> usize {
    let dir = store.join("v1/dxp");
    std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|fan| std::fs::read_dir(fan.path()).into_iter().flatten().count())
        .sum()
}

#[test]
fn eight_installs_at_once_beside_cache_clean_share_one_store() {
    let fuse = fuse_available("eight_installs_at_once_beside_cache_clean_share_one_store");
    let registry = load_registry();
    let projects: Vec<TestContext> = (0..8)
        .map(|i| {
            let ctx = TestContext::new()
                .with_registry(registry.registry_url())
                .sharing_store(&registry.store);
            // Overlapping sets: every package is wanted by several projects at once.
            let deps: BTreeMap<String, String> = (0..8)
                .map(|k| (format!("load-{}", (i + k) % PACKAGES), "^1.0.0".to_owned()))
                .collect();
            ctx.write("package.json", &manifest(&deps));
            ctx
        })
        .collect();
    let mode = |i: usize| {
        if fuse && i % 2 == 1 {
            "--no-materialize"
        } else {
            "--materialize"
        }
    };
    let started = Instant::now();
    // The installs start 60 ms apart, so cleans land before, between and after them (a clean
    // takes the store's exclusive gc lock, which waits for running installs).
    let cleaner = {
        let store_ctx = TestContext::new()
            .with_registry(registry.registry_url())
            .sharing_store(&registry.store);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let mut cleans = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let out = store_ctx.dx(&["cache", "clean"]);
                assert!(
                    out.success(),
                    "cache clean failed beside installs:\n{}",
                    out.render()
                );
                cleans += 1;
            }
            cleans
        });
        (done, thread)
    };
    let children: Vec<_> = projects
        .iter()
        .enumerate()
        .map(|(i, ctx)| {
            std::thread::sleep(Duration::from_millis(60));
            ctx.dx_command(&["install", mode(i)])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn dx install")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "project {i} ({}): {}",
            mode(i),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    cleaner.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let cleans = cleaner.1.join().unwrap();
    eprintln!(
        "8 installs beside {cleans} cache cleans in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for (i, ctx) in projects.iter().enumerate() {
        for k in 0..8 {
            let n = (i + k) % PACKAGES;
            assert_eq!(
                std::fs::read_to_string(ctx.path(&format!("node_modules/load-{n}/index.js")))
                    .unwrap(),
                format!("module.exports = 'load-{n} 1.2.0';\n"),
                "project {i}"
            );
        }
    }
    let verify = registry.dx(&["cache", "verify"]);
    assert!(verify.success(), "{}", verify.render());
    // One copy of each package: a clean may have dropped some, never duplicated any; after
    // every project installs again (nothing cleaning), exactly one archive per package.
    let wanted: BTreeSet<usize> = (0..8)
        .flat_map(|i| (0..8).map(move |k| (i + k) % PACKAGES))
        .collect();
    assert!(archives(&registry.store) <= wanted.len());
    for (i, ctx) in projects.iter().enumerate() {
        let node_modules = ctx.path("node_modules");
        if is_mountpoint(&node_modules) {
            ctx.dx_ok(&["unmount"]);
        } else {
            crate::support::make_writable_and_remove(&node_modules);
        }
        ctx.dx_ok(&["install", mode(i)]);
    }
    assert_eq!(archives(&registry.store), wanted.len());
    let verify = registry.dx(&["cache", "verify"]);
    assert!(verify.success(), "{}", verify.render());
}

/// Reads `file` in a loop until `stop` exists; after reading `marker` (the version the test
/// says is installed), a file of an older version is a stale read. Also lists node_modules
/// and reads another file each time, so lookups and directory reads run too. Says it started
/// (`<stop>.ready.<pid>`) after its first read; prints the number of reads.
const READER: &str = r#"
const fs = require('fs');
const [marker, nm, stop] = process.argv.slice(2);
const order = ['1.0.0', '1.1.0', '1.2.0'];
let reads = 0;
while (!fs.existsSync(stop)) {
  const want = fs.readFileSync(marker, 'utf8').trim();
  const text = fs.readFileSync(nm + '/load-0/index.js', 'utf8');
  const got = /load-0 (\S+)'/.exec(text);
  if (!got || order.indexOf(got[1]) < order.indexOf(want)) {
    console.error(`stale: ${JSON.stringify(text)} after ${want} was acknowledged`);
    process.exit(2);
  }
  const names = fs.readdirSync(nm).filter((n) => n.startsWith('load-'));
  if (names.length < 8) {
    console.error(`node_modules lists ${names.length} packages`);
    process.exit(3);
  }
  fs.readFileSync(nm + '/' + names[reads % names.length] + '/lib/f3.txt');
  reads += 1;
  if (reads === 1) fs.writeFileSync(`${stop}.ready.${process.pid}`, '');
}
console.log(reads);
"#;

fn daemon_rss_kib(store: &Path) -> Option<u64> {
    for entry in std::fs::read_dir(store.join("v1/projects")).ok()?.flatten() {
        let Ok(pid) = std::fs::read_to_string(entry.path().join("mount.lock")) else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok()?;
        return status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    }
    None
}

#[test]
fn sixteen_node_readers_see_no_error_and_no_stale_file_across_two_reloads() {
    if !fuse_available("sixteen_node_readers_see_no_error_and_no_stale_file_across_two_reloads") {
        return;
    }
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have node for the mount load test"
        );
        eprintln!("SKIPPED: node is not installed");
        return;
    }
    let ctx = load_registry();
    let deps = |version: &str| -> BTreeMap<String, String> {
        (0..PACKAGES)
            .map(|k| {
                let range = if k == 0 {
                    version.to_owned()
                } else {
                    "^1.0.0".to_owned()
                };
                (format!("load-{k}"), range)
            })
            .collect()
    };
    ctx.write("package.json", &manifest(&deps(VERSIONS[0])));
    ctx.dx_ok(&["install", "--no-materialize"]);
    let marker = ctx.home.join("installed-version");
    std::fs::write(&marker, VERSIONS[0]).unwrap();
    let stop = ctx.home.join("stop");
    let script = ctx.home.join("reader.js");
    std::fs::write(&script, READER).unwrap();
    let mut readers: Vec<_> = (0..16)
        .map(|_| {
            Command::new("node")
                .arg(&script)
                .arg(&marker)
                .arg(ctx.path("node_modules"))
                .arg(&stop)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn node")
        })
        .collect();
    // Every reader is reading before the first reload (node starts slowly on a busy machine).
    let ready = || crate::support::entries_starting_with(&ctx.home, "stop.ready.").len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut exited = false;
    while ready() < 16 && Instant::now() < deadline && !exited {
        std::thread::sleep(Duration::from_millis(10));
        // A reader that failed before its first read is reported below, with its stderr.
        exited = readers
            .iter_mut()
            .any(|r| matches!(r.try_wait(), Ok(Some(_))));
    }
    assert!(exited || ready() == 16, "not every reader started");
    let mut rss = vec![daemon_rss_kib(&ctx.store)];
    std::thread::sleep(Duration::from_millis(300));
    for version in &VERSIONS[1..] {
        ctx.write("package.json", &manifest(&deps(version)));
        // `dx install` returns once the daemon acknowledged the new layout.
        let out = ctx.dx(&["install", "--no-materialize"]);
        assert!(out.success(), "{}", out.render());
        assert!(out.stdout_text().contains("reloaded"), "{}", out.render());
        std::fs::write(&marker, version).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        rss.push(daemon_rss_kib(&ctx.store));
    }
    std::fs::write(&stop, "").unwrap();
    let mut reads = Vec::new();
    for reader in readers {
        let out = reader.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a reader failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        reads.push(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap(),
        );
    }
    let distinct: BTreeSet<_> = rss.iter().collect();
    eprintln!(
        "16 readers, {} reads in all (fewest {}), daemon RSS (KiB) at start and after each reload: {rss:?} ({} distinct)",
        reads.iter().sum::<u64>(),
        reads.iter().min().unwrap(),
        distinct.len()
    );
    assert!(reads.iter().all(|&n| n > 0), "every reader read: {reads:?}");
}
