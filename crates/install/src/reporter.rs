//! How the engine tells its caller what is happening while it works. The engine never prints:
//! the CLI implements [`Reporter`] (lines on stderr, progress bars on a terminal), tests use
//! [`Silent`] or a recorder. What an operation *did* comes back in its outcome, not here.

use dx_net::ProgressSink;

/// Receives warnings, details and progress while the engine works.
pub trait Reporter: Sync {
    /// Something the user should know that does not stop the operation.
    fn warn(&self, message: &str);
    /// A detail shown only when asked for (`--verbose`).
    fn verbose(&self, message: &str);
    /// Where the registry client sends progress events (resolved, downloaded, retries); `None`
    /// when nothing draws them, so no event is built.
    fn progress(&self) -> Option<ProgressSink> {
        None
    }
    /// The network part of an install is over (progress bars can go) — called before scripts
    /// run and before the operation returns.
    fn progress_done(&self) {}
}

/// A reporter that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn warn(&self, _: &str) {}
    fn verbose(&self, _: &str) {}
}

/// A reporter that keeps what it is told, for tests and for callers that print later.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every warning, in order.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn warn(&self, message: &str) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.to_owned());
    }
    fn verbose(&self, _: &str) {}
}
