//! `dx cache dir | verify | clean`.

use std::process::ExitCode;

use anyhow::Context as _;
use dx_store::Store;

use crate::cli::CacheAction;
use crate::printer::Printer;

/// Runs a `dx cache` action.
pub fn run(action: CacheAction, printer: &Printer) -> anyhow::Result<ExitCode> {
    let root = Store::default_root().context("cannot locate the store")?;
    match action {
        CacheAction::Dir => {
            printer.answer(root.display());
            Ok(ExitCode::SUCCESS)
        }
        CacheAction::Verify => {
            let store = Store::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))?;
            let report = store.verify().context("store verification failed")?;
            printer.line(format!("{report}"));
            Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        CacheAction::Clean => anyhow::bail!("`dx cache clean` is not built yet in this version of dx"),
    }
}
