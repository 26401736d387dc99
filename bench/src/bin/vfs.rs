//! Benchmark of the FUSE node_modules on the alotta fixture (see docs/vfs.md).
//!
//! Builds a store and a DXL from the real tarballs and package-lock.json in
//! `$DX_BENCH_ALOTTA` (default /work/benchdata/alotta), mounts it in this process, and
//! measures a full tree walk (lstat every node, read every file) on a fresh mount (cold FUSE
//! caches; pass `--drop-caches` to also drop the page cache first) and again warm, the
//! requests that reached the daemon on each pass, and the process RSS after the walk.
//!
//! cargo run --release -p dx-bench --bin vfs [-- --drop-caches]
//!
//! The daemon runs in a child process (this binary with `--serve DIR`), so its RSS is its own.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dx_formats::dxl::{DxlBuilder, DxlPackage};
use dx_formats::dxp::{BuildLimits, PackageArchive, build_from_tarball};
use dx_store::Store;
use dx_vfs::{MountConfig, RequestCounts};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        return serve(
            Path::new(args.get(i + 1).context("--serve DIR")?),
            args.iter().any(|a| a == "--read-only"),
        );
    }
    let drop_caches = args.iter().any(|a| a == "--drop-caches");
    let fixture = PathBuf::from(
        std::env::var("DX_BENCH_ALOTTA").unwrap_or_else(|_| "/work/benchdata/alotta".into()),
    );
    let work = tempfile::tempdir()?;
    let store = Store::open(work.path().join("store"))?;
    let started = Instant::now();
    let dxl = build_store_and_layout(&fixture, &store)?;
    fs::write(work.path().join("layout.dxl"), &dxl)?;
    println!("store + DXL built in {:.2?}", started.elapsed());
    for read_only in [false, true] {
        println!(
            "\n== {} mount, daemon in its own process ==",
            if read_only { "read-only" } else { "writable" }
        );
        measure(work.path(), read_only, drop_caches)?;
        let _ = fs::remove_dir_all(work.path().join("overlay"));
    }
    Ok(())
}

/// The daemon child: serves `dir/project/node_modules` until SIGTERM, writing its request
/// counters to `dir/stats.json` on SIGUSR1.
fn serve(dir: &Path, read_only: bool) -> Result<()> {
    let ready = dx_vfs::ReadyWriter::from_env();
    let mut config = MountConfig::from_dxl_file(
        dir.join("project/node_modules"),
        Store::open(dir.join("store"))?,
        dir.join("layout.dxl"),
        dir.join("overlay"),
    )?;
    config.read_only = read_only;
    config.stats_path = Some(dir.join("stats.json"));
    dx_vfs::serve_until_signalled(config, ready)?;
    Ok(())
}

fn daemon_counts(dir: &Path, pid: u32) -> Result<RequestCounts> {
    let path = dir.join("stats.json");
    let _ = fs::remove_file(&path);
    // SAFETY: kill with a valid signal on our own child's pid.
    unsafe { libc_kill(pid as i32, 10) };
    for _ in 0..500 {
        if let Ok(bytes) = fs::read(&path) {
            return Ok(serde_json::from_slice(&bytes)?);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    anyhow::bail!("the daemon did not write its counters")
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn measure(dir: &Path, read_only: bool, drop_caches: bool) -> Result<()> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("--serve").arg(dir);
    if read_only {
        command.arg("--read-only");
    }
    let t = Instant::now();
    let mut child = dx_vfs::spawn_with_readiness(command, std::time::Duration::from_secs(30))?;
    println!("daemon started and mount answered in {:.2?}", t.elapsed());
    let pid = child.id();
    let mountpoint = dir.join("project/node_modules");
    println!("daemon RSS after mount: {}", rss(pid).describe());
    if drop_caches {
        fs::write("/proc/sys/vm/drop_caches", "3").context("dropping caches (needs root)")?;
    }
    for pass in ["cold", "warm", "warm again"] {
        let before = daemon_counts(dir, pid)?;
        let t = Instant::now();
        let walked = walk(&mountpoint)?;
        let elapsed = t.elapsed();
        let requests = daemon_counts(dir, pid)?.since(&before);
        println!(
            "{pass} walk: {elapsed:.2?}  {} files, {} dirs, {} links, {:.1} MB read",
            walked.files,
            walked.dirs,
            walked.links,
            walked.bytes as f64 / 1e6
        );
        print_requests(&requests);
    }
    println!("daemon RSS after full walks: {}", rss(pid).describe());
    // SAFETY: as above.
    unsafe { libc_kill(pid as i32, 15) };
    child.wait()?;
    Ok(())
}

fn print_requests(r: &RequestCounts) {
    println!(
        "  daemon requests: total {} (lookup {} [negative {}], getattr {}, readdir {}, read {}, readlink {}, open {}, other {})",
        r.total(),
        r.lookup,
        r.negative_lookup,
        r.getattr,
        r.readdir,
        r.read,
        r.readlink,
        r.open,
        r.other
    );
}

#[derive(Default)]
struct Walked {
    files: u64,
    dirs: u64,
    links: u64,
    bytes: u64,
}

fn walk(root: &Path) -> Result<Walked> {
    let mut out = Walked::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        out.dirs += 1;
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.file_type().is_symlink() {
                out.links += 1;
                fs::read_link(&path)?;
            } else {
                out.files += 1;
                let mut file = fs::File::open(&path)?;
                loop {
                    let n = file.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    out.bytes += n as u64;
                }
            }
        }
    }
    Ok(out)
}

struct Rss {
    total: u64,
    anon: u64,
    file: u64,
}

impl Rss {
    fn describe(&self) -> String {
        format!(
            "{:.1} MB (anon {:.1} MB, file-backed {:.1} MB)",
            self.total as f64 / 1024.0,
            self.anon as f64 / 1024.0,
            self.file as f64 / 1024.0
        )
    }
}

fn rss(pid: u32) -> Rss {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Rss {
        total: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    }
}

/// Imports every tarball of the fixture and lays packages out as package-lock.json does
/// (hoisted and nested paths), with top-level `.bin` links.
fn build_store_and_layout(fixture: &Path, store: &Store) -> Result<Vec<u8>> {
    let lock: serde_json::Value =
        serde_json::from_slice(&fs::read(fixture.join("package-lock.json"))?)?;
    let packages = lock["packages"]
        .as_object()
        .context("package-lock.json has no packages")?;
    let mut builder = DxlBuilder::new([0; 16], "linux-x64");
    let mut ids = BTreeMap::new();
    let mut bins = HashSet::new();
    let mut placed = 0;
    for (key, entry) in packages {
        let Some(path) = key.strip_prefix("node_modules/") else {
            continue;
        };
        let name = match entry["name"].as_str() {
            Some(name) => name.to_owned(),
            None => path
                .rsplit_once("node_modules/")
                .map_or(path, |(_, n)| n)
                .to_owned(),
        };
        let Some(version) = entry["version"].as_str() else {
            continue;
        };
        let tarball = fixture
            .join("tarballs")
            .join(format!("{}-{version}.tgz", name.replace('/', "+")));
        let id = match ids.get(&(name.clone(), version.to_owned())) {
            Some(id) => *id,
            None => {
                let Ok(file) = fs::File::open(&tarball) else {
                    continue;
                };
                let built =
                    build_from_tarball(std::io::BufReader::new(file), &BuildLimits::default())
                        .with_context(|| format!("converting {}", tarball.display()))?;
                PackageArchive::parse(&built.bytes)?;
                let hash = store.put_archive(&built.bytes, None)?;
                let id = builder.add_package(DxlPackage {
                    name: name.clone(),
                    version: version.to_owned(),
                    content_hash: hash,
                    integrity: None,
                    has_install_script: false,
                });
                ids.insert((name.clone(), version.to_owned()), id);
                id
            }
        };
        builder.place(path, id)?;
        placed += 1;
        if !path.contains("/node_modules/") {
            let targets: Vec<(String, String)> = match &entry["bin"] {
                serde_json::Value::Object(map) => map
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.rsplit('/').next()?.to_owned(), v.as_str()?.to_owned()))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for (bin, target) in targets {
                let target = target.trim_start_matches("./");
                if bins.insert(bin.clone()) {
                    builder.add_bin_link(&format!(".bin/{bin}"), &format!("../{path}/{target}"))?;
                }
            }
        }
    }
    println!("{} packages ({} placements) imported", ids.len(), placed);
    Ok(builder.finish())
}
