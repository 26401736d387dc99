//! `dx registry serve`: dx's npm-compatible registry server over a directory of tarballs.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context as _;
use dx_net::ServerConfig;

use crate::cli::RegistryAction;
use crate::printer::Printer;

/// Runs a `dx registry` action.
pub fn run(action: RegistryAction, printer: &Printer) -> anyhow::Result<ExitCode> {
    let RegistryAction::Serve {
        dir,
        port,
        host,
        upstream,
    } = action;
    let ip: IpAddr = host
        .parse()
        .with_context(|| format!("--host {host} is not an IP address"))?;
    if !dir.is_dir() {
        anyhow::bail!("--dir {} is not a directory", dir.display());
    }
    let config = ServerConfig {
        dir,
        listen: SocketAddr::new(ip, port),
        upstream,
        record_requests: false,
        packument_max_age: None,
        omit_cache_control: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let server = dx_net::serve(config)
            .await
            .context("cannot start the registry server")?;
        // The URL is the answer: printed even with --quiet, so scripts can read it.
        if printer.json() {
            printer.json_value(&serde_json::json!({ "url": server.url().to_string() }));
        } else {
            printer.answer(format!("dx registry listening on {}", server.url()));
        }
        server.run_forever().await;
        Ok(ExitCode::SUCCESS)
    })
}
