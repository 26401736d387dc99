//! DXP benchmark over a directory of real npm tarballs.
//!
//! Prints, measured in one run:
//! - lookup + read of each package's `package.json` and of its deepest file, from a parsed DXP
//!   archive versus streaming through the `.tgz` (flate2 + tar) until the entry appears;
//! - DXP build throughput (MB/s of tarball in, single thread);
//! - archive size versus tarball and versus the unpacked tree;
//! - with `--survey`, the same totals for alternative compression policies plus the decode
//!   speed of each (the numbers behind `docs/dxp.md`).
//!
//! Run: `cargo run --release -p dx-bench --bin dxp -- /work/benchdata/alotta/tarballs [--survey]`

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_formats::dxp::{
    BuildLimits, Codec, Compression, CompressionPolicy, EntryKind, PackageArchive,
    build_from_tarball_with_policy,
};

/// Times each lookup benchmark repeats over all packages, to get past timer noise.
const LOOKUP_ROUNDS: usize = 20;
/// Rounds of the decode measurement; the fastest counts (the machine is shared).
const DECODE_ROUNDS: usize = 5;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("usage: dxp <tarball-dir> [--survey]")?);
    let survey = args.any(|a| a == "--survey");
    let tarballs = load_tarballs(&dir)?;
    let tarball_bytes: u64 = tarballs.iter().map(|(_, t)| t.len() as u64).sum();
    println!(
        "{} tarballs, {:.1} MB gzipped",
        tarballs.len(),
        mb(tarball_bytes)
    );

    let (archives, build_time, failures) = build_all(&tarballs, CompressionPolicy::default());
    for (name, error) in &failures {
        println!("  build failed: {name}: {error}");
    }
    let dxp_bytes: u64 = archives.iter().map(|a| a.bytes.len() as u64).sum();
    let unpacked: u64 = archives.iter().map(|a| a.unpacked).sum();
    let files: u64 = archives.iter().map(|a| a.files).sum();
    let built_tarball_bytes: u64 = archives.iter().map(|a| a.tarball_len).sum();
    println!("\n== build (default policy, one thread) ==");
    println!(
        "{} archives, {files} files; tarball in {:.1} MB/s, unpacked out {:.1} MB/s ({:.2} s)",
        archives.len(),
        mb(built_tarball_bytes) / build_time.as_secs_f64(),
        mb(unpacked) / build_time.as_secs_f64(),
        build_time.as_secs_f64()
    );
    println!("\n== size ==");
    println!(
        "tarballs {:.1} MB, unpacked {:.1} MB, DXP {:.1} MB",
        mb(built_tarball_bytes),
        mb(unpacked),
        mb(dxp_bytes)
    );
    println!(
        "DXP / tarball = {:.3}x, DXP / unpacked = {:.3}x",
        dxp_bytes as f64 / built_tarball_bytes as f64,
        dxp_bytes as f64 / unpacked as f64
    );

    let start = Instant::now();
    for built in &archives {
        PackageArchive::parse(&built.bytes)?
            .verify()
            .with_context(|| format!("{} fails verify", tarballs[built.tarball_index].0))?;
    }
    let verify_time = start.elapsed();
    println!(
        "verify (checksum + structure + decode + content hashes) of all: {:.1} MB/s of archive",
        mb(dxp_bytes) / verify_time.as_secs_f64()
    );

    lookup_benchmark(&tarballs, &archives)?;
    if survey {
        policy_survey(&tarballs, unpacked)?;
    }
    Ok(())
}

/// One built archive and what it came from.
struct Built {
    tarball_index: usize,
    tarball_len: u64,
    bytes: Vec<u8>,
    unpacked: u64,
    files: u64,
}

fn load_tarballs(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no .tgz files in {}", dir.display());
    }
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            Ok((
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            ))
        })
        .collect()
}

fn build_all(
    tarballs: &[(String, Vec<u8>)],
    policy: CompressionPolicy,
) -> (Vec<Built>, Duration, Vec<(String, String)>) {
    let limits = BuildLimits::default();
    let mut built = Vec::with_capacity(tarballs.len());
    let mut failures = Vec::new();
    let start = Instant::now();
    for (index, (name, tarball)) in tarballs.iter().enumerate() {
        match build_from_tarball_with_policy(tarball.as_slice(), &limits, policy) {
            Ok(archive) => built.push(Built {
                tarball_index: index,
                tarball_len: tarball.len() as u64,
                unpacked: archive.unpacked_size,
                files: archive.file_count,
                bytes: archive.bytes,
            }),
            Err(e) => failures.push((name.clone(), e.to_string())),
        }
    }
    (built, start.elapsed(), failures)
}

/// The deepest file of an archive (most components; first in path order among equals).
fn deepest_file(archive: &PackageArchive<'_>) -> Option<String> {
    archive
        .entries()
        .filter(|e| e.kind() == EntryKind::File && e.path() != "package.json")
        .max_by_key(|e| (e.path().matches('/').count(), std::cmp::Reverse(e.index())))
        .map(|e| e.path().to_owned())
}

fn lookup_benchmark(tarballs: &[(String, Vec<u8>)], archives: &[Built]) -> Result<()> {
    // (archive, tarball, wanted path, expected length)
    let mut targets = Vec::new();
    for built in archives {
        let archive = PackageArchive::parse(&built.bytes)?;
        let tarball = &tarballs[built.tarball_index].1;
        for path in ["package.json".to_owned()]
            .into_iter()
            .chain(deepest_file(&archive))
        {
            if let Some(entry) = archive.get(&path) {
                targets.push((&built.bytes, tarball, path, entry.size()));
            }
        }
    }

    let start = Instant::now();
    let mut checksum = 0u64;
    for _ in 0..LOOKUP_ROUNDS {
        for (bytes, _, path, len) in &targets {
            let archive = PackageArchive::parse(bytes)?;
            let entry = archive.get(path).context("entry vanished")?;
            let content = archive.read(&entry)?;
            anyhow::ensure!(content.len() as u64 == *len, "{path}: wrong length");
            checksum = checksum.wrapping_add(content.len() as u64);
        }
    }
    let dxp_time = start.elapsed();

    let start = Instant::now();
    for (_, tarball, path, len) in &targets {
        let content =
            find_in_tarball(tarball, path)?.with_context(|| format!("{path} not in tarball"))?;
        anyhow::ensure!(
            content.len() as u64 == *len,
            "{path}: wrong length in tarball"
        );
        checksum = checksum.wrapping_sub(content.len() as u64 * LOOKUP_ROUNDS as u64);
    }
    let tgz_time = start.elapsed() * LOOKUP_ROUNDS as u32;
    anyhow::ensure!(checksum == 0, "DXP and tarball reads disagree");

    let lookups = (targets.len() * LOOKUP_ROUNDS) as f64;
    let per_dxp = dxp_time.as_secs_f64() / lookups;
    let per_tgz = tgz_time.as_secs_f64() / lookups;
    println!("\n== lookup + read (package.json and deepest file of each package) ==");
    println!(
        "{} files: DXP parse+get+read {:.2} us, tgz stream {:.1} us per file -> DXP {:.0}x faster",
        targets.len(),
        per_dxp * 1e6,
        per_tgz * 1e6,
        per_tgz / per_dxp
    );
    Ok(())
}

/// Streams a tarball until the entry whose path, less its first component, is `wanted`.
fn find_in_tarball(tarball: &[u8], wanted: &str) -> Result<Option<Vec<u8>>> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(tarball));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path_bytes();
        let stripped = path
            .splitn(2, |&b| b == b'/')
            .nth(1)
            .map(|rest| rest == wanted.as_bytes())
            .unwrap_or(false);
        if stripped && entry.header().entry_type().is_file() {
            let mut content = Vec::new();
            entry.read_to_end(&mut content)?;
            return Ok(Some(content));
        }
    }
    Ok(None)
}

/// Sizes, build speed and decode speed of alternative policies.
fn policy_survey(tarballs: &[(String, Vec<u8>)], unpacked: u64) -> Result<()> {
    let adaptive = |codec, raw_below| CompressionPolicy {
        codec: Some(codec),
        raw_below,
        min_saving_percent: 10,
        skip_compressed_types: true,
        raw_executables: true,
    };
    let policies: Vec<(String, CompressionPolicy)> = vec![
        ("all raw".into(), CompressionPolicy::all_raw()),
        ("adaptive lz4 >=512 10%".into(), adaptive(Codec::Lz4, 512)),
        (
            "adaptive zstd--3 >=512 10%".into(),
            adaptive(Codec::Zstd { level: -3 }, 512),
        ),
        (
            "adaptive zstd--1 >=512 10%".into(),
            adaptive(Codec::Zstd { level: -1 }, 512),
        ),
        (
            "adaptive zstd-1 >=512 10%".into(),
            adaptive(Codec::Zstd { level: 1 }, 512),
        ),
        (
            "adaptive zstd-3 >=512 10%".into(),
            adaptive(Codec::Zstd { level: 3 }, 512),
        ),
        ("default".into(), CompressionPolicy::default()),
    ];
    println!("\n== policy survey (unpacked {:.1} MB) ==", mb(unpacked));
    let mut rows = Vec::new();
    for (name, policy) in policies {
        let cpu_before = thread_cpu()?;
        let (archives, build_time, _) = build_all(tarballs, policy);
        let build_cpu = thread_cpu()? - cpu_before;
        rows.push((
            name,
            archives,
            build_time,
            build_cpu,
            Duration::MAX,
            f64::MAX,
        ));
    }
    // Decode rounds interleave the policies, so load from other processes hits all alike;
    // the fastest round of each counts (wall and CPU separately).
    for _ in 0..DECODE_ROUNDS {
        for row in &mut rows {
            let cpu_before = thread_cpu()?;
            row.4 = row.4.min(decode_round(&row.1)?);
            row.5 = row.5.min(thread_cpu()? - cpu_before);
        }
    }
    println!(
        "{:<28} {:>9} {:>8} {:>10} {:>11} {:>11} {:>13} {:>11} {:>10} {:>12}",
        "policy",
        "DXP MB",
        "/unpack",
        "build MB/s",
        "build CPU s",
        "compressed",
        "decode MB/s",
        "us/file",
        "decode ms",
        "decode CPU s"
    );
    for (name, archives, build_time, build_cpu, decode_time, decode_cpu) in &rows {
        let size: u64 = archives.iter().map(|a| a.bytes.len() as u64).sum();
        let tarball_in: u64 = archives.iter().map(|a| a.tarball_len).sum();
        let (compressed_files, decoded_bytes) = compressed_totals(archives)?;
        let (decode_rate, per_file) = if compressed_files == 0 {
            (0.0, 0.0)
        } else {
            (
                mb(decoded_bytes) / decode_time.as_secs_f64(),
                decode_time.as_secs_f64() * 1e6 / compressed_files as f64,
            )
        };
        println!(
            "{:<28} {:>9.1} {:>8.3} {:>10.1} {:>11.2} {:>11} {:>13.0} {:>11.2} {:>10.1} {:>12.2}",
            name,
            mb(size),
            size as f64 / unpacked as f64,
            mb(tarball_in) / build_time.as_secs_f64(),
            build_cpu,
            compressed_files,
            decode_rate,
            per_file,
            decode_time.as_secs_f64() * 1e3,
            decode_cpu,
        );
    }
    Ok(())
}

/// (compressed files, their real bytes) over all archives.
fn compressed_totals(archives: &[Built]) -> Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for built in archives {
        let archive = PackageArchive::parse(&built.bytes)?;
        for entry in archive
            .entries()
            .filter(|e| e.compression() != Compression::Raw)
        {
            files += 1;
            bytes += entry.size();
        }
    }
    Ok((files, bytes))
}

/// Time to decode every compressed file of every archive once.
fn decode_round(archives: &[Built]) -> Result<Duration> {
    let start = Instant::now();
    for built in archives {
        let archive = PackageArchive::parse(&built.bytes)?;
        for entry in archive
            .entries()
            .filter(|e| e.compression() != Compression::Raw)
        {
            std::hint::black_box(archive.read(&entry)?);
        }
    }
    Ok(start.elapsed())
}

/// CPU seconds (user + system) this thread has used so far, from `/proc/thread-self/stat`
/// (clock ticks, 10 ms here). CPU time is what load from other processes barely changes.
fn thread_cpu() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    // Fields after the `(comm)` one: state is field 3, utime 14 and stime 15.
    let after_comm = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
