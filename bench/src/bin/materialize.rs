//! Materialize benchmark: the alotta fixture's real tarballs in a warm store, one flat layout
//! (one version per name, `.bin` links from each manifest), node_modules absent; times
//! `dx_fallback_link::materialize` with each link mode, and the no-op repeat.
//!
//! Prints per mode the median of `--runs` installs (node_modules removed between runs, not
//! timed), the one-time cost of the store's unpacked tier, and the no-op median. Reflinks need
//! a filesystem that has them: with `--xfs` the store and projects go on a loop-mounted XFS
//! image (root only); otherwise the reflink row says what the probe fell back to. `--work DIR`
//! keeps the store in DIR between runs.
//!
//! Run: `cargo run --release -p dx-bench --bin materialize -- [/work/benchdata/alotta/tarballs]
//! [--work DIR] [--runs N] [--xfs] [--modes auto,reflink,hardlink,copy]`

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_fallback_link::{LinkMode, MaterializeOptions, materialize};
use dx_formats::dxl::{Dxl, DxlBuilder, DxlPackage};
use dx_formats::dxp::{BuildLimits, PackageArchive, build_from_tarball};
use dx_formats::hash::ContentHash;
use dx_store::Store;
use rayon::prelude::*;

fn main() -> Result<()> {
    let mut tarballs = PathBuf::from("/work/benchdata/alotta/tarballs");
    let mut work: Option<PathBuf> = None;
    let mut runs = 3usize;
    let mut xfs = false;
    let mut modes = vec![
        LinkMode::Auto,
        LinkMode::Reflink,
        LinkMode::Hardlink,
        LinkMode::Copy,
    ];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--work" => {
                work = Some(PathBuf::from(
                    args.next().context("--work needs a directory")?,
                ))
            }
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "--xfs" => xfs = true,
            "--modes" => {
                let list = args
                    .next()
                    .context("--modes needs a list such as auto,hardlink")?;
                modes = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            other if !other.starts_with("--") => tarballs = PathBuf::from(other),
            other => bail!("unknown option {other}"),
        }
    }
    // `--work` keeps the store between runs (its unpacked tier is the slow part to rebuild).
    let scratch = tempfile::tempdir_in(".")?;
    let root = match work {
        Some(dir) => {
            fs::create_dir_all(&dir)?;
            dir
        }
        None => scratch.path().to_path_buf(),
    };
    let mount = if xfs {
        Some(XfsMount::create(&root)?)
    } else {
        None
    };
    let base = mount
        .as_ref()
        .map_or_else(|| root.clone(), |m| m.dir.clone());
    println!(
        "work directory: {} ({})",
        base.display(),
        if xfs {
            "loop-mounted XFS, reflink=1"
        } else {
            "as is"
        }
    );

    let store = Store::open(base.join("store"))?;
    let started = Instant::now();
    let packages = import(&store, &tarballs)?;
    println!(
        "store: {} packages imported in {:.2} s",
        packages.len(),
        started.elapsed().as_secs_f64()
    );
    let dxl_bytes = flat_layout(&store, &packages)?;
    let dxl = Dxl::parse(&dxl_bytes)?;
    println!(
        "layout: {} packages, {} nodes",
        dxl.package_count(),
        dxl.node_count()
    );

    let started = Instant::now();
    packages
        .par_iter()
        .try_for_each(|(_, hash)| store.unpacked(hash).map(drop))?;
    println!(
        "unpacked tier (once per store, before any link mode): {:.2} s",
        started.elapsed().as_secs_f64()
    );

    println!("\n== materialize, node_modules absent (median of {runs}) ==");
    for &mode in &modes {
        let project = base.join(format!("project-{mode}"));
        fs::create_dir_all(&project)?;
        let mut times = Vec::new();
        let mut last = None;
        for run in 0..runs {
            // The page cache stays warm on purpose: this is the warm-store install.
            remove(&project.join("node_modules"))?;
            // Flush the removal's metadata now, so its writeback is not billed to this run.
            Command::new("sync").status()?;
            let opts = MaterializeOptions::new(&project, mode);
            let started = Instant::now();
            let report = materialize(&store, &dxl, &format!("bench-{run}"), &opts)?;
            times.push(started.elapsed());
            last = Some(report);
        }
        let report = last.context("--runs must be at least 1")?;
        println!(
            "{:>8}: {:>8.3} s  used {:<8} {} files, {} dirs, {} links, {:.1} MB{}",
            mode.as_str(),
            median(&mut times).as_secs_f64(),
            report.mode_used.as_str(),
            report.files,
            report.dirs,
            report.symlinks,
            report.bytes as f64 / 1e6,
            report
                .step_down
                .map(|s| format!("\n          step-down: {s}"))
                .unwrap_or_default()
        );
        if mode == LinkMode::Auto {
            let mut noop = Vec::new();
            for _ in 0..50 {
                let opts = MaterializeOptions::new(&project, mode);
                let started = Instant::now();
                let report = materialize(&store, &dxl, &format!("bench-{}", runs - 1), &opts)?;
                noop.push(started.elapsed());
                if !report.noop {
                    bail!("the repeat install was not a no-op");
                }
            }
            println!(
                "   no-op: {:>8.3} ms (median of 50)",
                median(&mut noop).as_secs_f64() * 1e3
            );
            let opts = MaterializeOptions::new(&project, mode);
            let started = Instant::now();
            materialize(&store, &dxl, "bench-replace", &opts)?;
            println!(
                "  replace: {:>8.3} s  (new key over an existing tree: build, swap, remove old)",
                started.elapsed().as_secs_f64()
            );
        }
        remove(&project)?;
    }
    drop(store);
    drop(mount);
    Ok(())
}

/// Imports every tarball (converted in parallel) and returns (name@version, hash) per package.
fn import(store: &Store, dir: &Path) -> Result<Vec<(String, ContentHash)>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    paths.sort();
    let limits = BuildLimits::default();
    let built: Vec<Result<(String, ContentHash)>> = paths
        .par_iter()
        .map(|path| {
            let bytes = fs::read(path)?;
            let archive = build_from_tarball(&bytes[..], &limits)
                .with_context(|| format!("convert {}", path.display()))?;
            let hash = store.put_archive(&archive.bytes, None)?;
            Ok((
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                hash,
            ))
        })
        .collect();
    let mut packages = Vec::new();
    for result in built {
        match result {
            Ok(package) => packages.push(package),
            Err(e) => println!("  skipped: {e:#}"),
        }
    }
    Ok(packages)
}

/// A flat layout: each package name once (the first version met), placed at its name, with
/// `.bin` links from its manifest's `bin` field.
fn flat_layout(store: &Store, packages: &[(String, ContentHash)]) -> Result<Vec<u8>> {
    let mut builder = DxlBuilder::new([7; 16], "linux-x64-glibc");
    let mut placed = BTreeMap::new();
    let mut bins = BTreeMap::new();
    for (file, hash) in packages {
        let stored = store
            .get(hash)?
            .with_context(|| format!("{file} vanished"))?;
        let archive: PackageArchive<'_> = stored.archive()?;
        let manifest: serde_json::Value = match archive.manifest().map(serde_json::from_slice) {
            Some(Ok(value)) => value,
            _ => continue,
        };
        let (Some(name), Some(version)) = (manifest["name"].as_str(), manifest["version"].as_str())
        else {
            continue;
        };
        if placed.contains_key(name) {
            continue;
        }
        let id = builder.add_package(DxlPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            content_hash: *hash,
            integrity: None,
            has_install_script: false,
        });
        if builder.place(name, id).is_err() {
            continue;
        }
        placed.insert(name.to_owned(), ());
        let short = name.rsplit('/').next().unwrap_or(name);
        let entries: Vec<(String, String)> = match &manifest["bin"] {
            serde_json::Value::String(path) => vec![(short.to_owned(), path.clone())],
            serde_json::Value::Object(map) => map
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect(),
            _ => Vec::new(),
        };
        for (bin, path) in entries {
            let path = path.trim_start_matches("./");
            if bin.contains('/') || bin.is_empty() || archive.get(path).is_none() {
                continue;
            }
            bins.entry(bin)
                .or_insert_with(|| format!("../{name}/{path}"));
        }
    }
    for (bin, target) in bins {
        // A bin named like an existing path is skipped, as a real planner would warn.
        drop(builder.add_bin_link(&format!(".bin/{bin}"), &target));
    }
    Ok(builder.finish())
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// A loop-mounted XFS with reflinks, unmounted on drop.
struct XfsMount {
    dir: PathBuf,
    image: PathBuf,
}

impl XfsMount {
    fn create(parent: &Path) -> Result<XfsMount> {
        let image = parent.join("xfs.img");
        let dir = parent.join("xfs");
        fs::create_dir_all(&dir)?;
        fs::File::create(&image)?.set_len(4 << 30)?;
        let status = Command::new("mkfs.xfs")
            .args(["-q", "-f", "-m", "reflink=1"])
            .arg(&image)
            .status()?;
        if !status.success() {
            bail!("mkfs.xfs failed (apt-get install -y xfsprogs)");
        }
        let status = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir)
            .status()?;
        if !status.success() {
            bail!("mounting the XFS image failed (needs root and loop devices)");
        }
        Ok(XfsMount { dir, image })
    }
}

impl Drop for XfsMount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            drop(Command::new("umount").arg("-l").arg(&self.dir).status());
        }
        drop(fs::remove_file(&self.image));
    }
}
