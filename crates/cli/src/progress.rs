//! Progress bars for an install, drawn on stderr from dx-net's [`ProgressEvent`]s:
//!
//! ```text
//! ⠙ resolved 412 packages
//! ⠹ downloaded 230 packages (11.52 MB), 1 retry
//! ```
//!
//! Drawn only when the [`Printer`] allows progress (stderr is a terminal and none of `--quiet`,
//! `--json`, `--no-progress`); otherwise no sink is attached, so the network code does not even
//! build events. Events come from many tasks at once: counts go to indicatif's atomic positions,
//! whose drawing is rate-limited, and only a stored package or a retry takes a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dx_net::{ProgressEvent, ProgressSink};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::printer::Printer;

/// How often the spinners turn (and the byte count is redrawn) while nothing else happens.
const TICK: Duration = Duration::from_millis(100);

/// The bars of one install; clears them when dropped.
pub struct InstallProgress {
    bars: Option<Arc<InstallBars>>,
}

impl InstallProgress {
    /// Bars on `printer`'s surface, or nothing when it draws no progress.
    pub fn new(printer: &Printer) -> Self {
        Self {
            bars: printer
                .progress_bars()
                .map(|surface| Arc::new(InstallBars::new(surface.clone()))),
        }
    }

    /// The sink that draws registry events on these bars, when there are any.
    pub fn sink(&self) -> Option<ProgressSink> {
        let bars = Arc::clone(self.bars.as_ref()?);
        Some(Arc::new(move |event| bars.record(&event)))
    }

    /// Takes the bars off the terminal (also done on drop); later events draw nothing.
    pub fn clear(&self) {
        if let Some(bars) = &self.bars {
            bars.clear();
        }
    }
}

impl Drop for InstallProgress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The two lines and the counts behind their text. A line appears on its first event, so an
/// install that downloads nothing shows no download line.
struct InstallBars {
    surface: MultiProgress,
    resolved: OnceLock<ProgressBar>,
    downloads: OnceLock<ProgressBar>,
    stored: AtomicU64,
    retries: AtomicU64,
}

impl InstallBars {
    fn new(surface: MultiProgress) -> Self {
        Self {
            surface,
            resolved: OnceLock::new(),
            downloads: OnceLock::new(),
            stored: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    fn record(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::MetadataResolved { .. } => self.resolved().inc(1),
            ProgressEvent::DownloadStarted { .. } => {
                self.downloads();
            }
            ProgressEvent::DownloadBytes { bytes, .. } => self.downloads().inc(*bytes),
            ProgressEvent::Stored {
                already_stored: false,
                ..
            } => {
                let stored = self.stored.fetch_add(1, Ordering::Relaxed) + 1;
                self.downloads().set_prefix(stored.to_string());
            }
            ProgressEvent::Stored {
                already_stored: true,
                ..
            } => {}
            ProgressEvent::Retrying { .. } => {
                let retries = self.retries.fetch_add(1, Ordering::Relaxed) + 1;
                let text = format!(
                    ", {retries} {}",
                    if retries == 1 { "retry" } else { "retries" }
                );
                // On the line of the phase under way: metadata until downloads start.
                match self.downloads.get() {
                    Some(downloads) => downloads.set_message(text),
                    None => self.resolved().set_message(text),
                }
            }
        }
    }

    fn resolved(&self) -> &ProgressBar {
        self.resolved
            .get_or_init(|| self.line("{spinner} resolved {pos} packages{msg}", "0"))
    }

    fn downloads(&self) -> &ProgressBar {
        self.downloads.get_or_init(|| {
            self.line(
                "{spinner} downloaded {prefix} packages ({decimal_bytes}){msg}",
                "0",
            )
        })
    }

    fn line(&self, template: &str, prefix: &'static str) -> ProgressBar {
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.surface.add(
            ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(prefix),
        );
        bar.enable_steady_tick(TICK);
        bar
    }

    fn clear(&self) {
        for bar in [self.resolved.get(), self.downloads.get()]
            .into_iter()
            .flatten()
        {
            bar.finish_and_clear();
        }
        let _ = self.surface.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::ProgressDrawTarget;

    fn hidden_bars() -> InstallBars {
        InstallBars::new(MultiProgress::with_draw_target(ProgressDrawTarget::hidden()))
    }

    fn package(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn events_become_counts_and_bytes() {
        let bars = hidden_bars();
        for name in ["a", "b", "c"] {
            bars.record(&ProgressEvent::MetadataResolved {
                package: package(name),
                from_cache: false,
            });
        }
        assert!(
            bars.downloads.get().is_none(),
            "no download line before a download"
        );
        bars.record(&ProgressEvent::DownloadStarted {
            package: package("a@1.0.0"),
        });
        bars.record(&ProgressEvent::DownloadBytes {
            package: package("a@1.0.0"),
            bytes: 1500,
        });
        bars.record(&ProgressEvent::DownloadBytes {
            package: package("a@1.0.0"),
            bytes: 500,
        });
        bars.record(&ProgressEvent::Stored {
            package: package("a@1.0.0"),
            bytes: 2000,
            already_stored: false,
        });
        bars.record(&ProgressEvent::Stored {
            package: package("b@1.0.0"),
            bytes: 0,
            already_stored: true,
        });
        let resolved = bars.resolved.get().expect("resolved line");
        let downloads = bars.downloads.get().expect("download line");
        assert_eq!(resolved.position(), 3);
        assert_eq!(downloads.position(), 2000);
        assert_eq!(
            downloads.prefix(),
            "1",
            "a package already stored is not a download"
        );
        bars.clear();
        assert!(resolved.is_finished() && downloads.is_finished());
    }

    #[test]
    fn retries_show_on_the_phase_under_way() {
        let bars = hidden_bars();
        let retry = || ProgressEvent::Retrying {
            what: package("a"),
            attempt: 1,
            delay: Duration::ZERO,
            reason: "HTTP 503".into(),
        };
        bars.record(&retry());
        assert_eq!(
            bars.resolved.get().expect("resolved line").message(),
            ", 1 retry"
        );
        bars.record(&ProgressEvent::DownloadStarted {
            package: package("a@1.0.0"),
        });
        bars.record(&retry());
        assert_eq!(
            bars.downloads.get().expect("download line").message(),
            ", 2 retries"
        );
        bars.clear();
    }
}
