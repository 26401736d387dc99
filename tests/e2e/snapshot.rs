//! What a `dx` run showed the user, and snapshot assertions on it.
//!
//! [`DxOutput`] is one finished run: the command line, exit code, stdout and stderr.
//! [`assert_dx_snapshot!`] renders it as text (`$ dx …`, `exit code: N`, then both streams) and
//! compares that with `tests/e2e/snapshots/<module>__<name>.snap`, after masking what changes
//! from run to run: the test's temporary directory, the registry's port, durations, sizes,
//! hashes and integrity strings, and the link mode the filesystem allowed.
//!
//! A mismatch fails the test and leaves a `.snap.new` beside the snapshot (review it, then
//! rename it over the `.snap`, or run `cargo insta review` where cargo-insta is installed). With
//! `CI=true` nothing is written and a missing or different snapshot fails: CI never accepts one.

use std::ops::Deref;
use std::path::PathBuf;
use std::process::Output;

/// A finished `dx` run. Derefs to the process [`Output`], so `out.status`, `out.stdout` and
/// `out.stderr` read as they do on a plain `Command::output()`.
pub struct DxOutput {
    /// Shown before `dx` on the command line: environment changes, another directory.
    prefix: Vec<String>,
    args: Vec<String>,
    output: Output,
    /// Paths shown as `[CTX]` (the test's temporary directory, as given and canonical).
    masked_paths: Vec<PathBuf>,
}

impl DxOutput {
    /// Wraps the output of `prefix… dx args…` (`prefix`: what the test changed about the
    /// command, such as `CI=true`); `masked_paths` are shown as `[CTX]` by
    /// [`DxOutput::render`].
    pub fn new(
        prefix: &[String],
        args: &[&str],
        output: Output,
        masked_paths: Vec<PathBuf>,
    ) -> Self {
        Self {
            prefix: prefix.to_vec(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            output,
            masked_paths,
        }
    }

    /// The exit code (`None` when a signal ended the process).
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    /// Whether dx exited 0.
    pub fn success(&self) -> bool {
        self.output.status.success()
    }

    /// stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Asserts dx exited with `code`, showing the whole run if not.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "{}", self.render());
        self
    }

    /// The run as one text: the command line, the exit code, stdout and stderr, with the test's
    /// temporary directory shown as `[CTX]` (the other masks are the snapshot filters).
    pub fn render(&self) -> String {
        let code = self
            .code()
            .map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
        let command: Vec<std::borrow::Cow<'_, str>> = self
            .prefix
            .iter()
            .map(|p| p.as_str().into())
            .chain(std::iter::once("dx".into()))
            .chain(self.args.iter().map(|arg| quoted(arg)))
            .collect();
        let mut text = format!(
            "$ {}\nexit code: {code}\n--- stdout ---\n{}--- stderr ---\n{}",
            command.join(" "),
            with_final_newline(&self.stdout_text()),
            with_final_newline(&self.stderr_text()),
        );
        for path in &self.masked_paths {
            text = text.replace(&*path.to_string_lossy(), "[CTX]");
        }
        text
    }
}

impl Deref for DxOutput {
    type Target = Output;

    fn deref(&self) -> &Output {
        &self.output
    }
}

/// `arg` as a shell would need it written: in single quotes when it holds a space or a quote.
fn quoted(arg: &str) -> std::borrow::Cow<'_, str> {
    if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || "'\"\\$".contains(c)) {
        format!("'{}'", arg.replace('\'', r"'\''")).into()
    } else {
        arg.into()
    }
}

fn with_final_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// What changes between runs of the same test, as (regex, replacement), applied in order.
pub const FILTERS: &[(&str, &str)] = &[
    // Integrity strings and long hex digests (store keys, ETags, tarball hashes).
    (r"\bsha(?:1|256|384|512)-[A-Za-z0-9+/]+=*", "[INTEGRITY]"),
    (r"\b[0-9a-f]{16,}\b", "[HASH]"),
    // The registry's port, wherever a 127.0.0.1 URL is printed.
    (r"\b127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
    // Another test context's temporary directory (the run's own is masked by `render`).
    (r"/tmp/\.tmp[A-Za-z0-9]+", "[TMP]"),
    // Durations: `in 12 ms`, `in 1.5 s`, `12ms`.
    (
        r"\b\d+(?:\.\d+)? ?(?:ns|µs|us|ms|s|seconds?|minutes?)\b",
        "[TIME]",
    ),
    // Sizes: `12 KiB`, `3.4 MB`, `512 B`.
    (r"\b\d+(?:\.\d+)? ?(?:[KMGT]i?B|kB|B|bytes)\b", "[SIZE]"),
    // How files were placed depends on the filesystem (reflink, hardlink or copy).
    (
        r"\b(?:files|file) by (?:reflink|hardlink|copy|auto)\b",
        "files by [LINK]",
    ),
];

/// The insta settings for [`assert_dx_snapshot!`]: the [`FILTERS`], no expression in the
/// snapshot header.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (regex, replacement) in FILTERS {
        settings.add_filter(regex, *replacement);
    }
    settings.set_omit_expression(true);
    settings
}

/// Asserts a [`DxOutput`]'s [`render`](DxOutput::render)ing, filtered, against the named
/// snapshot in tests/e2e/snapshots/: `assert_dx_snapshot!("install", ctx.dx(&["install"]))`.
macro_rules! assert_dx_snapshot {
    ($name:expr, $out:expr $(,)?) => {{
        let rendered: String = $crate::snapshot::DxOutput::render(&$out);
        $crate::snapshot::settings().bind(|| insta::assert_snapshot!($name, rendered));
    }};
}
pub(crate) use assert_dx_snapshot;
