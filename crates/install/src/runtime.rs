//! The one async runtime of a dx process.
//!
//! Resolution, tarball fetches, one-off registry lookups (`dx add` learning a version) and the
//! remote packages of `fetch_other` all run their network futures here. It is built on first
//! use (a warm install or a no-op never builds it) and then shared, so a command that looks a
//! package up and then installs starts its worker threads once, not once per step.
//!
//! Work still on it when the command is over is speculative (packuments prefetched for names
//! the resolver did not ask for in the end): nothing waits for it. Each step's own runtime used
//! to wait for it when the step returned (258–477 ms of a re-resolution of a 1,350-package
//! project, measured), and a grace period of 100 ms at exit was used up by the same decodes.
//! [`shutdown`] stops the runtime without waiting; the CLI first calls
//! `dx_store::quiesce_writes`, so an exit never cuts a file write short.

use std::sync::Mutex;

use tokio::runtime::{Handle, Runtime};

use crate::error::{Context as _, Result};

/// The shared runtime, once built; taken out again by [`shutdown`].
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// A handle to the process's runtime, building it on first use. The handle drives futures with
/// [`Handle::block_on`] from any thread that is not itself one of the runtime's workers.
pub fn handle() -> Result<Handle> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(runtime) = slot.as_ref() {
        return Ok(runtime.handle().clone());
    }
    // Multi-threaded: the resolver drives requests through `Handle::block_on` from its own
    // thread, which a current-thread runtime would never poll.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dx-async")
        .build()
        .context("cannot start the async runtime")?;
    let handle = runtime.handle().clone();
    *slot = Some(runtime);
    Ok(handle)
}

/// Whether the runtime has been built (and not shut down) in this process.
pub fn is_running() -> bool {
    RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Shuts the runtime down if it was built, without waiting: tasks not yet started are dropped,
/// ones being polled finish on their own (or end with the process). Called once the command's
/// work is done (the CLI calls it before exiting); a later [`handle`] builds a new runtime.
pub fn shutdown() {
    let runtime = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(runtime) = runtime {
        runtime.shutdown_background();
    }
}

/// The resolver's background drop, for what an install no longer needs (packuments, the
/// previous lock).
#[doc(inline)]
pub use dx_resolve::drop_in_background;

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes the tests below: they share the process's one runtime slot.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn one_runtime_serves_every_caller_until_shutdown() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let first = handle().unwrap();
        let second = handle().unwrap();
        assert_eq!(
            first.id(),
            second.id(),
            "the second caller built a runtime of its own"
        );
        // Usable from another thread, as the resolver uses it.
        let answer = std::thread::spawn(move || second.block_on(async { 6 * 7 }))
            .join()
            .unwrap();
        assert_eq!(answer, 42);
        assert!(is_running());
        shutdown();
        assert!(!is_running());
        let rebuilt = handle().unwrap();
        assert_ne!(rebuilt.id(), first.id());
        shutdown();
    }

    #[test]
    fn shutdown_does_not_wait_for_abandoned_work() {
        use std::time::Duration;
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let handle = handle().unwrap();
        // A poll that does not yield for 3 s (stands for a speculative packument decode) and
        // a task that would run for a minute.
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_secs(3));
        });
        handle.spawn(async { tokio::time::sleep(Duration::from_secs(60)).await });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let started = std::time::Instant::now();
        shutdown();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "shutdown waited {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn dropped_in_background_values_are_dropped() {
        use std::time::Duration;
        struct Flag(std::sync::mpsc::Sender<()>);
        impl Drop for Flag {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        drop_in_background(Flag(tx));
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the value was never dropped");
    }
}
