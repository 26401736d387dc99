//! Fetch benchmark: download + verify + convert every tarball of a directory (the alotta
//! fixture) from dx's registry server on 127.0.0.1 into an empty store.
//!
//! The server runs in a child process (this binary's `serve` mode), so the CPU time printed is
//! the client's alone: metadata (abbreviated packuments) then tarballs, each phase timed.
//!
//! Run:
//! - `cargo run --release -p dx-bench --bin fetch -- [DIR] [--concurrency N]`
//!   [--store-in DIR] (DIR defaults to /work/benchdata/alotta/tarballs; the empty store is
//!   created beside it unless `--store-in` says where)
//! - `cargo run --release -p dx-bench --bin fetch -- serve DIR PORT` only serves DIR, so other
//!   package managers can be pointed at the same server.
//! - `... --bin fetch -- DIR --registry URL` fetches DIR's packages from a server already running
//!   at URL (`dx registry serve --dir DIR`, as `bench/scripts/fetch-vs-bun.sh` does) instead of
//!   starting one.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_formats::dxp::BuildLimits;
use dx_net::{
    CacheMode, RegistryClient, RegistryConfig, ServerConfig, TarballFetcher, TarballRequest,
};
use dx_store::Store;

const DEFAULT_DIR: &str = "/work/benchdata/alotta/tarballs";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let dir = args.get(1).context("usage: fetch serve DIR PORT")?;
        let port: u16 = args
            .get(2)
            .map_or(Ok(0), |p| p.parse())
            .context("PORT must be a number")?;
        return serve(Path::new(dir), port);
    }
    let mut dir = PathBuf::from(DEFAULT_DIR);
    let mut concurrency = None;
    let mut store_parent = None;
    let mut registry = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--concurrency" => concurrency = Some(rest.next().context("--concurrency N")?.parse()?),
            "--store-in" => {
                store_parent = Some(PathBuf::from(rest.next().context("--store-in DIR")?))
            }
            "--registry" => registry = Some(rest.next().context("--registry URL")?.clone()),
            other => dir = PathBuf::from(other),
        }
    }
    run(&dir, concurrency, store_parent, registry)
}

fn serve(dir: &Path, port: u16) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = ServerConfig::new(dir);
        config.listen.set_port(port);
        let started = Instant::now();
        let server = dx_net::serve(config).await?;
        let versions = server.rescan().await?;
        println!(
            "listening on {} ({versions} package versions, scanned in {:.2?})",
            server.url(),
            started.elapsed()
        );
        server.run_forever().await;
        anyhow::Ok(())
    })
}

/// The server fetched from: a child process (killed when dropped) or one already running.
struct ServerProcess {
    child: Option<Child>,
    url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_server(dir: &Path) -> Result<ServerProcess> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", &dir.display().to_string(), "0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .nth(2)
        .context("server did not start")?
        .to_owned();
    println!("server: {}", line.trim());
    Ok(ServerProcess {
        child: Some(child),
        url,
    })
}

/// `(name, version)` from `@scope+name-1.2.3.tgz` / `name-1.2.3.tgz` file names.
fn name_and_version(file: &str) -> Option<(String, String)> {
    let stem = file.strip_suffix(".tgz")?;
    let bytes = stem.as_bytes();
    for (i, _) in stem.match_indices('-') {
        let rest = &stem[i + 1..];
        let mut parts = rest.splitn(3, '.');
        let number = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
        };
        let starts_numeric = |p: Option<&str>| {
            p.is_some_and(|p| p.bytes().next().is_some_and(|c| c.is_ascii_digit()))
        };
        if i > 0
            && bytes[i - 1] != b'+'
            && number(parts.next())
            && number(parts.next())
            && starts_numeric(parts.next())
        {
            return Some((stem[..i].replacen('+', "/", 1), rest.to_owned()));
        }
    }
    None
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name, starting with the state (field 3); utime
    // and stime are fields 14 and 15. Some fields are negative, so index, do not filter.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

fn run(
    dir: &Path,
    concurrency: Option<usize>,
    store_parent: Option<PathBuf>,
    registry: Option<String>,
) -> Result<()> {
    let mut wanted = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let file = entry?.file_name().to_string_lossy().into_owned();
        if let Some(pair) = name_and_version(&file) {
            wanted.push(pair);
        }
    }
    wanted.sort();
    if wanted.is_empty() {
        bail!("no tarballs in {}", dir.display());
    }
    let server = match registry {
        Some(url) => {
            println!("server: {url} (already running)");
            ServerProcess {
                child: None,
                url: url.trim_end_matches('/').to_owned(),
            }
        }
        None => start_server(dir)?,
    };
    // The empty store goes beside the fixture unless told otherwise (`--store-in /dev/shm`
    // separates network + conversion cost from the disk's fsync cost).
    let store_parent = store_parent.unwrap_or_else(|| dir.parent().unwrap_or(dir).to_owned());
    let store_dir = tempfile::tempdir_in(&store_parent)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = RegistryConfig::for_registry(&server.url)?;
        if let Some(n) = concurrency {
            config.network_concurrency = n;
        }
        println!("{} packages, network-concurrency {}", wanted.len(), config.network_concurrency);
        let client = RegistryClient::new(config, None, CacheMode::Revalidate)?;
        let store = Arc::new(Store::open(store_dir.path())?);

        let (wall, cpu) = (Instant::now(), cpu_time());
        let mut names: Vec<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
        names.dedup();
        let lookups: Vec<_> = names
            .iter()
            .map(|name| {
                let client = client.clone();
                let name = name.to_string();
                tokio::spawn(async move { client.packument(&name).await })
            })
            .collect();
        for lookup in lookups {
            lookup.await??;
        }
        let (meta_wall, meta_cpu) = (wall.elapsed(), cpu_time() - cpu);
        println!("metadata: {} packuments in {meta_wall:.2?} wall, {meta_cpu:.2?} CPU", names.len());

        let mut requests = Vec::new();
        for (name, version) in &wanted {
            let packument = client.packument(name).await?;
            let Some(v) = packument.manifest(version) else { bail!("{name}@{version} missing from its packument") };
            let integrity = match (&v.dist.integrity, &v.dist.shasum) {
                (Some(sri), _) => sri.parse().ok(),
                (None, Some(hex)) => dx_formats::hash::Integrity::from_sha1_hex(hex).ok(),
                (None, None) => None,
            };
            let integrity = integrity.with_context(|| format!("{name}@{version} has no integrity"))?;
            let url = v.dist.tarball.clone().with_context(|| format!("{name}@{version} has no tarball"))?;
            requests.push(TarballRequest { package: format!("{name}@{version}"), url, integrity });
        }
        let fetcher = TarballFetcher::new(client.clone(), store, BuildLimits::default());
        let (wall, cpu) = (Instant::now(), cpu_time());
        let results = fetcher.fetch_all(requests).await;
        let (fetch_wall, fetch_cpu) = (wall.elapsed(), cpu_time() - cpu);
        let mut bytes = 0u64;
        let mut failures = 0usize;
        for result in &results {
            match result {
                Ok(stored) => bytes += stored.downloaded_bytes,
                Err(err) => {
                    failures += 1;
                    if failures <= 5 {
                        eprintln!("failed: {err}");
                    }
                }
            }
        }
        let ok = results.len() - failures;
        let mb = bytes as f64 / 1e6;
        println!(
            "tarballs: {ok} stored ({failures} failed), {mb:.1} MB in {fetch_wall:.2?} wall, {fetch_cpu:.2?} CPU: \
             {:.0} packages/s, {:.1} MB/s",
            ok as f64 / fetch_wall.as_secs_f64(),
            mb / fetch_wall.as_secs_f64()
        );
        let total_wall = meta_wall + fetch_wall;
        println!(
            "total (metadata + tarballs): {total_wall:.2?} wall, {:.2?} CPU, {:.0} packages/s",
            meta_cpu + fetch_cpu,
            ok as f64 / total_wall.as_secs_f64()
        );
        if failures > 0 {
            bail!("{failures} tarballs failed");
        }
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_into_name_and_version() {
        let pair = |f| name_and_version(f).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(
            pair("@babel+code-frame-7.29.7.tgz").as_deref(),
            Some("@babel/code-frame 7.29.7")
        );
        assert_eq!(
            pair("left-pad-1.3.0-beta.1.tgz").as_deref(),
            Some("left-pad 1.3.0-beta.1")
        );
        assert_eq!(
            pair("es5-ext-0.10.64.tgz").as_deref(),
            Some("es5-ext 0.10.64")
        );
        assert_eq!(
            pair("babel-preset-stage-0-6.24.1.tgz").as_deref(),
            Some("babel-preset-stage-0 6.24.1")
        );
        assert_eq!(pair("readme.txt"), None);
    }
}
