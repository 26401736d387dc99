//! All user-facing output goes through [`Printer`], so `--quiet` and `--json` hold everywhere,
//! and lines printed while progress bars are drawn appear above them instead of through them.

use std::io::{IsTerminal as _, Write as _};

use indicatif::MultiProgress;

use crate::cli::GlobalArgs;

/// Where and how dx talks to the user.
pub struct Printer {
    quiet: bool,
    verbose: bool,
    json: bool,
    /// Where progress bars are drawn (stderr): only on a terminal, never with `--no-progress`,
    /// `--quiet` or `--json`; `None` otherwise.
    bars: Option<MultiProgress>,
}

impl Printer {
    /// A printer configured by the global flags.
    pub fn new(global: &GlobalArgs) -> Self {
        let bars = draws_progress(global, std::io::stderr().is_terminal()).then(MultiProgress::new);
        Self {
            quiet: global.quiet,
            verbose: global.verbose,
            json: global.json,
            bars,
        }
    }

    /// The progress bars' surface, when progress may be drawn at all.
    pub fn progress_bars(&self) -> Option<&MultiProgress> {
        self.bars.as_ref()
    }

    /// Runs `print` with the progress bars (if any) lifted off the terminal, then redraws them.
    fn around_bars(&self, print: impl FnOnce()) {
        match &self.bars {
            Some(bars) => bars.suspend(print),
            None => print(),
        }
    }

    /// Whether machine-readable output was asked for.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A line of human output on stdout (suppressed by `--quiet` and `--json`).
    pub fn line(&self, text: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            self.around_bars(|| write_stdout(&format!("{text}\n")));
        }
    }

    /// The result of a command on stdout: printed even with `--quiet`, because it is the answer
    /// (for example `dx cache dir`).
    pub fn answer(&self, text: impl std::fmt::Display) {
        self.around_bars(|| write_stdout(&format!("{text}\n")));
    }

    /// A JSON document on stdout.
    pub fn json_value(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
        write_stdout(&format!("{text}\n"));
    }

    /// A detail on stderr, only with `--verbose`.
    pub fn verbose(&self, text: impl std::fmt::Display) {
        if self.verbose {
            self.around_bars(|| eprintln!("{text}"));
        }
    }

    /// A warning on stderr (suppressed by `--quiet`).
    pub fn warn(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            self.around_bars(|| eprintln!("warning: {text}"));
        }
    }

    /// An error on stderr: one line, plus the chain of causes with `--verbose`.
    pub fn error(&self, err: &anyhow::Error) {
        self.around_bars(|| self.write_error(err));
    }

    fn write_error(&self, err: &anyhow::Error) {
        // The engine's hint, from wherever its error sits in the chain.
        let hint = err
            .chain()
            .find_map(|e| e.downcast_ref::<dx_install::Error>())
            .and_then(dx_install::Error::help)
            .map(|help| format!(" (hint: {help})"))
            .unwrap_or_default();
        if self.verbose {
            eprintln!("error: {err}{hint}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
        } else {
            // One line: the outermost context, then the root cause if it adds something.
            let root = err.root_cause().to_string();
            let top = err.to_string();
            if root == top {
                eprintln!("error: {top}{hint}");
            } else {
                eprintln!("error: {top}: {root}{hint}");
            }
        }
    }
}

/// Whether progress bars may be drawn: on a terminal, unless told to keep quiet or to print JSON.
fn draws_progress(global: &GlobalArgs, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && !global.no_progress && !global.quiet && !global.json
}

/// Writes to stdout; a closed pipe (`dx list | head`) is not an error, so it is ignored.
fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `1 package`, `2 packages`: a count with its noun.
pub(crate) fn count<N: std::fmt::Display + PartialEq + From<u8>>(
    n: N,
    one: &str,
    many: &str,
) -> String {
    if n == N::from(1) {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The global flags of `dx <flags> cache dir`.
    fn flags(flags: &[&str]) -> GlobalArgs {
        use clap::Parser as _;
        let args = ["dx"].iter().chain(flags).chain(&["cache", "dir"]);
        crate::cli::Cli::parse_from(args).global
    }

    #[test]
    fn progress_only_on_a_terminal_and_never_when_told_not_to() {
        assert!(draws_progress(&flags(&[]), true));
        assert!(!draws_progress(&flags(&[]), false), "piped stderr");
        assert!(!draws_progress(&flags(&["--no-progress"]), true));
        assert!(!draws_progress(&flags(&["--quiet"]), true));
        assert!(!draws_progress(&flags(&["--json"]), true));
        assert!(draws_progress(&flags(&["--verbose"]), true));
    }

    #[test]
    fn counts_say_one_or_many() {
        assert_eq!(count(1usize, "package", "packages"), "1 package");
        assert_eq!(count(0usize, "package", "packages"), "0 packages");
        assert_eq!(count(2u64, "file", "files"), "2 files");
    }
}
