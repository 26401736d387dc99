//! Store benchmark over a directory of real npm tarballs.
//!
//! Imports every tarball into a fresh store in parallel (integrity-checked while converting to
//! DXP, fsynced, indexed), then builds the unpacked tier for all of them, and prints:
//! - packages/s and MB/s of gzipped tarball in;
//! - the store's size (archives + index; target ≤ 120 MiB for the alotta fixture, where Bun's
//!   cache holds 343 MiB and pnpm's store 339 MiB);
//! - time and size of the unpacked tier;
//! - a warm pass (every package already stored: integrity lookups only) and a full `verify`.
//!
//! Run: `cargo run --release -p dx-bench --bin store -- /work/benchdata/alotta/tarballs [--store DIR] [--threads N]`
//! Integrity is the sha512 of each file, computed before the clock starts (in an install it
//! comes from the registry).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use dx_formats::dxp::BuildLimits;
use dx_formats::hash::{ContentHash, Integrity, IntegrityAlgorithm, IntegrityHasher};
use dx_store::{AreaStats, Store};
use rayon::prelude::*;

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: store <tarball-dir> [--store DIR] [--threads N]")?,
    );
    let mut store_dir = None;
    // Inserts wait on fsync, not the CPU: more threads than cores overlap the waits, as the
    // fetch pipeline's many downloads in flight do.
    let mut threads = 8;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => {
                store_dir = Some(PathBuf::from(
                    args.next().context("--store needs a directory")?,
                ))
            }
            "--threads" => threads = args.next().context("--threads needs a number")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let _temp;
    let root = match store_dir {
        Some(dir) => {
            if dir.exists() {
                bail!(
                    "{} exists; the benchmark wants a fresh store",
                    dir.display()
                );
            }
            dir
        }
        None => {
            _temp = tempfile::tempdir()?;
            _temp.path().join("store")
        }
    };

    let tarballs = list_tarballs(&dir)?;
    let with_integrity: Vec<(PathBuf, String, Integrity, u64)> = tarballs
        .par_iter()
        .map(|path| {
            let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
            let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
            hasher.update(&bytes);
            Ok((
                path.clone(),
                display_name(path),
                hasher.finish(),
                bytes.len() as u64,
            ))
        })
        .collect::<Result<_>>()?;
    let tarball_bytes: u64 = with_integrity.iter().map(|t| t.3).sum();
    println!(
        "{} tarballs, {:.1} MiB gzipped, {} threads, store at {}",
        with_integrity.len(),
        tarball_bytes as f64 / MIB,
        rayon::current_num_threads(),
        root.display()
    );

    let store = Store::open(&root)?;
    let limits = BuildLimits::default();

    // Cold import: tarball file -> integrity check + DXP conversion -> fsynced store file.
    let start = Instant::now();
    let imported: Vec<Result<(ContentHash, u64, u64), String>> = with_integrity
        .par_iter()
        .map(|(path, name, integrity, _)| {
            let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
            let reader = std::io::BufReader::with_capacity(256 * 1024, file);
            store
                .import_tarball(name, reader, integrity, &limits)
                .map(|p| (p.hash, p.unpacked_size, p.file_count))
                .map_err(|e| e.to_string())
        })
        .collect();
    let import_time = start.elapsed().as_secs_f64();
    let failures: Vec<&String> = imported.iter().filter_map(|r| r.as_ref().err()).collect();
    let ok: Vec<(ContentHash, u64, u64)> = imported
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let unpacked_bytes: u64 = ok.iter().map(|p| p.1).sum();
    let files: u64 = ok.iter().map(|p| p.2).sum();
    println!(
        "import (cold): {} packages in {:.2} s = {:.0} packages/s, {:.1} MiB/s of tarball in ({} failed)",
        ok.len(),
        import_time,
        ok.len() as f64 / import_time,
        tarball_bytes as f64 / MIB / import_time,
        failures.len()
    );
    for failure in failures.iter().take(5) {
        println!("  failed: {failure}");
    }
    let stats = store.stats()?;
    let store_size = stats.archives.bytes + stats.index.bytes;
    let store_disk = stats.archives.disk_bytes + stats.index.disk_bytes;
    println!(
        "store: {} archives {}, index {} entries {}; archives + index = {:.1} MiB ({:.1} MiB on disk), target <= 120 MiB; {} files, {:.1} MiB unpacked",
        stats.archives.entries,
        area(&stats.archives),
        stats.index.entries,
        area(&stats.index),
        store_size as f64 / MIB,
        store_disk as f64 / MIB,
        files,
        unpacked_bytes as f64 / MIB,
    );

    // Warm: every package is already there; what an install of a cached project does per package.
    let start = Instant::now();
    let hits = with_integrity
        .par_iter()
        .filter(|(_, _, integrity, _)| matches!(store.lookup_integrity(integrity), Ok(Some(_))))
        .count();
    let warm = start.elapsed().as_secs_f64();
    println!(
        "lookup (warm): {hits}/{} integrity hits in {:.1} ms ({:.1} µs each)",
        with_integrity.len(),
        warm * 1e3,
        warm * 1e6 / with_integrity.len().max(1) as f64
    );

    // Unpacked tier for every package (what reflink / hardlink materialization links from).
    let start = Instant::now();
    let unpack_failures = ok
        .par_iter()
        .filter(|(hash, _, _)| store.unpacked(hash).is_err())
        .count();
    let unpack_time = start.elapsed().as_secs_f64();
    let stats = store.stats()?;
    println!(
        "unpacked tier: {} packages, {} files in {:.2} s ({:.0} files/s; {} failed), {}",
        stats.unpacked.entries,
        stats.unpacked.files,
        unpack_time,
        stats.unpacked.files as f64 / unpack_time,
        unpack_failures,
        area(&stats.unpacked),
    );

    let start = Instant::now();
    let report = store.verify()?;
    println!(
        "verify: {} archives ({:.1} MiB) and {} unpacked trees in {:.2} s, clean: {}",
        report.archives_checked,
        report.bytes_checked as f64 / MIB,
        report.unpacked_checked,
        start.elapsed().as_secs_f64(),
        report.is_clean()
    );
    println!("total store: {}", area(&stats.total));
    Ok(())
}

fn area(a: &AreaStats) -> String {
    format!(
        "{:.1} MiB ({:.1} MiB on disk)",
        a.bytes as f64 / MIB,
        a.disk_bytes as f64 / MIB
    )
}

fn list_tarballs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("no .tgz files in {}", dir.display());
    }
    Ok(out)
}

/// `@babel+code-frame-7.29.7.tgz` -> `@babel/code-frame-7.29.7`, for error messages.
fn display_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
    stem.replacen('+', "/", 1)
}
