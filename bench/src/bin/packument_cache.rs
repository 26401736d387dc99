//! Packument cache benchmark: loading every packument of a fixture from dx's metadata index
//! versus parsing the same documents as JSON.
//!
//! Setup (untimed): dx's registry server serves DIR (default the alotta fixture) on 127.0.0.1
//! in-process; every package's abbreviated packument is downloaded once as the registry's raw
//! JSON, and once through `RegistryClient` so the index is written.
//!
//! Timed, each over every package, `--rounds` times (median printed):
//! - `registry JSON`: read + `serde_json::from_slice::<RawPackument>` of the abbreviated
//!   document (every version decoded);
//! - `index`: `RegistryClient::packument` in `--offline` mode on a fresh client, i.e. the real
//!   cached load: path, open, fstat, read or map, header + checksum + table check;
//! - `index + latest`: the same, then the `latest` version's manifest decoded (what resolving
//!   one range usually reads);
//! - `read only`: `std::fs::read` of the index files, the part no encoding can remove.
//!
//! Run: `cargo run --release -p dx-bench --bin packument_cache -- [DIR] [--rounds N]`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_metadata::RawPackument;
use dx_net::client::ACCEPT_ABBREVIATED;
use dx_net::{CacheMode, RegistryClient, RegistryConfig, TestRegistry};

const DEFAULT_DIR: &str = "/work/benchdata/alotta/tarballs";

fn main() -> Result<()> {
    let mut dir = PathBuf::from(DEFAULT_DIR);
    let mut rounds = 15usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            other => dir = PathBuf::from(other),
        }
    }
    let names = package_names(&dir)?;
    if names.is_empty() {
        bail!("no packages in {}", dir.display());
    }
    let registry = TestRegistry::start(&dir);
    let work = tempfile::tempdir()?;
    let metadata = work.path().join("metadata");
    let json_dir = work.path().join("json");
    std::fs::create_dir_all(&json_dir)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = RegistryClient::new(
        RegistryConfig::for_registry(registry.url())?,
        Some(metadata.clone()),
        CacheMode::Revalidate,
    )?;
    let http = reqwest::Client::new();
    let mut raw_files = Vec::new();
    let mut fetched = Vec::new();
    runtime.block_on(async {
        for (i, name) in names.iter().enumerate() {
            let url = format!(
                "{}/{}",
                registry.url(),
                dx_net::client::escape_package_name(name)
            );
            let body = http
                .get(&url)
                .header(reqwest::header::ACCEPT, ACCEPT_ABBREVIATED)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let packument = client.packument(name).await?;
            let raw = json_dir.join(format!("{i}.json"));
            std::fs::write(&raw, &body)?;
            raw_files.push(raw);
            fetched.push(packument);
        }
        anyhow::Ok(())
    })?;

    let sizes = |files: &[PathBuf]| -> u64 {
        files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum()
    };
    let mut cache_files = Vec::new();
    collect_files(&metadata, &mut cache_files)?;
    println!(
        "{} packuments, {} versions; on disk: registry JSON {:.2} MB, index {:.2} MB",
        names.len(),
        fetched.iter().map(|p| p.version_count()).sum::<usize>(),
        sizes(&raw_files) as f64 / 1e6,
        sizes(&cache_files) as f64 / 1e6,
    );

    let parse_all = |files: &[PathBuf]| -> Result<Duration> {
        let start = Instant::now();
        for file in files {
            let bytes = std::fs::read(file)?;
            let packument: RawPackument = serde_json::from_slice(&bytes)?;
            std::hint::black_box(packument);
        }
        Ok(start.elapsed())
    };
    let read_all = |files: &[PathBuf]| -> Result<Duration> {
        let start = Instant::now();
        for file in files {
            std::hint::black_box(std::fs::read(file)?);
        }
        Ok(start.elapsed())
    };
    let cached_all = |latest: bool| -> Result<Duration> {
        let offline = RegistryClient::new(
            RegistryConfig::for_registry(registry.url())?,
            Some(metadata.clone()),
            CacheMode::Offline,
        )?;
        runtime.block_on(async {
            // A fresh in-memory map each round; the HTTP client is shared, never used.
            let mut loaded = Vec::with_capacity(names.len());
            let start = Instant::now();
            let round = offline.clone().with_progress(Arc::new(|_| {}));
            for name in &names {
                let p = round.packument(name).await?;
                if latest {
                    let tag = p.dist_tags.get("latest").cloned().unwrap_or_default();
                    std::hint::black_box(p.manifest(&tag));
                }
                loaded.push(p);
            }
            let elapsed = start.elapsed();
            if loaded != fetched {
                bail!("the cached packuments differ from the fetched ones");
            }
            Ok(elapsed)
        })
    };

    let mut raw_times = Vec::new();
    let mut cached_times = Vec::new();
    let mut latest_times = Vec::new();
    let mut read_times = Vec::new();
    for _ in 0..rounds.max(1) {
        read_times.push(read_all(&cache_files)?);
        raw_times.push(parse_all(&raw_files)?);
        cached_times.push(cached_all(false)?);
        latest_times.push(cached_all(true)?);
    }
    let (raw, cached, latest, read) = (
        median(&mut raw_times),
        median(&mut cached_times),
        median(&mut latest_times),
        median(&mut read_times),
    );
    let per = |d: Duration| d.as_secs_f64() * 1e6 / names.len() as f64;
    println!("median of {} rounds, all packuments:", rounds.max(1));
    println!(
        "  registry JSON  (read + serde_json):   {raw:>10.2?}  {:.2} µs/packument",
        per(raw)
    );
    println!(
        "  index          (client, offline):     {cached:>10.2?}  {:.2} µs/packument",
        per(cached)
    );
    println!(
        "  index + latest (one manifest decoded): {latest:>10.2?}  {:.2} µs/packument",
        per(latest)
    );
    println!(
        "  read only      (the files' floor):    {read:>10.2?}  {:.2} µs/packument",
        per(read)
    );
    println!(
        "index + latest is {:.2}x faster than registry JSON",
        raw.as_secs_f64() / latest.as_secs_f64()
    );
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Distinct package names, from each tarball's `package.json` (the server reads the same).
fn package_names(dir: &Path) -> Result<Vec<String>> {
    let mut tarballs = Vec::new();
    collect_files(dir, &mut tarballs)?;
    tarballs.retain(|p| {
        p.extension().is_some_and(|e| e == "tgz")
            && !p
                .strip_prefix(dir)
                .ok()
                .is_some_and(|rel| rel.to_string_lossy().starts_with('.'))
    });
    let mut names = Vec::new();
    for tarball in &tarballs {
        if let Some(name) = package_name(tarball)? {
            names.push(name);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn package_name(tarball: &Path) -> Result<Option<String>> {
    let file = std::fs::File::open(tarball)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        parts.next();
        if parts.as_path() == Path::new("package.json") {
            let manifest: serde_json::Value = serde_json::from_reader(&mut entry)
                .with_context(|| format!("package.json of {}", tarball.display()))?;
            return Ok(manifest["name"].as_str().map(str::to_owned));
        }
    }
    Ok(None)
}
