//! `dx trust [<pkg>… | --all]`: allows installed dependencies' install scripts, runs them now
//! and records them in package.json; without arguments, lists the blocked ones.

use std::process::ExitCode;

use dx_install::Project;
use dx_install::trust::{self, Trust};
use serde_json::json;

use crate::cli::TrustArgs;
use crate::printer::Printer;
use crate::reporter::CliReporter;

/// Runs `dx trust`.
pub fn run(args: &TrustArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    if args.packages.is_empty() && !args.all {
        let untrusted = trust::blocked(&project)?;
        if printer.json() {
            printer.json_value(&json!({ "untrusted": untrusted }));
        } else if untrusted.is_empty() {
            printer.answer("no installed package has blocked install scripts");
        } else {
            for name in &untrusted {
                printer.answer(name);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let which = if args.all {
        Trust::AllBlocked
    } else {
        Trust::Names(args.packages.clone())
    };
    let outcome = trust::trust(&project, &which, &CliReporter::new(printer))?;
    if printer.json() {
        printer.json_value(&json!({ "trusted": outcome.trusted, "ran": outcome.ran }));
    } else {
        printer.line(format!(
            "trusted {} (install scripts ran in {} place{})",
            outcome.trusted.join(", "),
            outcome.ran,
            if outcome.ran == 1 { "" } else { "s" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}
