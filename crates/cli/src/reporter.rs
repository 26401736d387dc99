//! The engine's [`Reporter`] on the terminal: warnings and `--verbose` details through the
//! [`Printer`], registry progress on bars (only where the printer draws them).

use std::sync::OnceLock;

use dx_install::Reporter;
use dx_net::ProgressSink;

use crate::printer::Printer;
use crate::progress::InstallProgress;

/// Reports one command's engine work to the user.
pub struct CliReporter<'p> {
    printer: &'p Printer,
    progress: OnceLock<InstallProgress>,
}

impl<'p> CliReporter<'p> {
    /// A reporter printing through `printer`.
    pub fn new(printer: &'p Printer) -> Self {
        Self {
            printer,
            progress: OnceLock::new(),
        }
    }
}

impl Reporter for CliReporter<'_> {
    fn warn(&self, message: &str) {
        self.printer.warn(message);
    }

    fn verbose(&self, message: &str) {
        self.printer.verbose(message);
    }

    fn progress(&self) -> Option<ProgressSink> {
        self.progress
            .get_or_init(|| InstallProgress::new(self.printer))
            .sink()
    }

    fn progress_done(&self) {
        if let Some(progress) = self.progress.get() {
            progress.clear();
        }
    }
}
