//! All user-facing output goes through [`Printer`], so `--quiet` and `--json` hold everywhere.

use std::io::{IsTerminal as _, Write as _};

use crate::cli::GlobalArgs;

/// Where and how dx talks to the user.
pub struct Printer {
    quiet: bool,
    verbose: bool,
    json: bool,
    /// Progress bars only on a terminal, never with `--no-progress`, `--quiet` or `--json`.
    #[allow(dead_code)]
    progress: bool,
}

impl Printer {
    /// A printer configured by the global flags.
    pub fn new(global: &GlobalArgs) -> Self {
        let progress = !global.no_progress
            && !global.quiet
            && !global.json
            && std::io::stderr().is_terminal();
        Self { quiet: global.quiet, verbose: global.verbose, json: global.json, progress }
    }

    /// Whether machine-readable output was asked for.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A line of human output on stdout (suppressed by `--quiet` and `--json`).
    pub fn line(&self, text: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            write_stdout(&format!("{text}\n"));
        }
    }

    /// The result of a command on stdout: printed even with `--quiet`, because it is the answer
    /// (for example `dx cache dir`).
    pub fn answer(&self, text: impl std::fmt::Display) {
        write_stdout(&format!("{text}\n"));
    }

    /// A JSON document on stdout.
    pub fn json_value(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        write_stdout(&format!("{text}\n"));
    }

    /// A detail on stderr, only with `--verbose`.
    pub fn verbose(&self, text: impl std::fmt::Display) {
        if self.verbose {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr (suppressed by `--quiet`).
    pub fn warn(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("warning: {text}");
        }
    }

    /// An error on stderr: one line, plus the chain of causes with `--verbose`.
    pub fn error(&self, err: &anyhow::Error) {
        if self.verbose {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        } else {
            // One line: the outermost context, then the root cause if it adds something.
            let root = err.root_cause().to_string();
            let top = err.to_string();
            if root == top {
                eprintln!("error: {top}");
            } else {
                eprintln!("error: {top}: {root}");
            }
        }
    }
}

/// Writes to stdout; a closed pipe (`dx list | head`) is not an error, so it is ignored.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
