//! The stall guard for response bodies: a body that delivers less than [`MIN_PROGRESS`] bytes
//! in any window of `fetch-stall-timeout` has stalled, and the attempt fails (and is retried
//! like a timeout) instead of holding the install for the whole `fetch-timeout`. A server that
//! sends one byte a second makes "progress" on every read, so a read timeout alone (which
//! reqwest also gets, for a server that sends nothing) would not catch it.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use crate::NetError;
use crate::client::retry::{AttemptError, transport_error};

/// Bytes a body must deliver per window: a trickle below this (34 bytes a second at the
/// default window) is a stall, as cargo's `low-speed-limit` is.
pub(crate) const MIN_PROGRESS: u64 = 1024;

/// Counts a body's bytes per window.
pub(crate) struct StallGuard {
    window: Option<Duration>,
    started: Instant,
    bytes: u64,
}

impl StallGuard {
    /// A guard with `window` (`None`: never stalls).
    pub(crate) fn new(window: Option<Duration>) -> Self {
        Self {
            window,
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// The body's next chunk, or `Err` when the current window ends with too little progress.
    pub(crate) async fn next<S>(
        &mut self,
        body: &mut S,
    ) -> Result<Option<reqwest::Result<Bytes>>, Stalled>
    where
        S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
    {
        let Some(window) = self.window else {
            return Ok(body.next().await);
        };
        loop {
            let deadline = self.started + window;
            // `next` is cancel-safe: a chunk not yet taken stays in the stream.
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(item) => {
                    if let Some(Ok(chunk)) = &item {
                        self.bytes += chunk.len() as u64;
                    }
                    if Instant::now() >= deadline {
                        self.end_window(window)?;
                    }
                    return Ok(item);
                }
                Err(_) => self.end_window(window)?,
            }
        }
    }

    fn end_window(&mut self, window: Duration) -> Result<(), Stalled> {
        if self.bytes < MIN_PROGRESS {
            return Err(Stalled { window });
        }
        self.started = Instant::now();
        self.bytes = 0;
        Ok(())
    }
}

/// A body that stalled.
#[derive(Debug)]
pub(crate) struct Stalled {
    window: Duration,
}

impl Stalled {
    /// The attempt's error: retried, as a timeout is.
    pub(crate) fn attempt_error(&self, url: &str, what: &str) -> AttemptError {
        AttemptError::Retry {
            error: NetError::Transport {
                url: url.to_owned(),
                what: what.to_owned(),
                reason: format!(
                    "the download stalled: less than {MIN_PROGRESS} bytes in {:.1} s \
                     (fetch-stall-timeout)",
                    self.window.as_secs_f64()
                ),
            },
            after: None,
        }
    }
}

/// The whole body of `response`, guarded.
pub(crate) async fn read_body(
    response: reqwest::Response,
    window: Option<Duration>,
    url: &str,
    what: &str,
) -> Result<Bytes, AttemptError> {
    let mut guard = StallGuard::new(window);
    let mut body = response.bytes_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    loop {
        match guard.next(&mut body).await {
            Ok(Some(Ok(chunk))) => chunks.push(chunk),
            Ok(Some(Err(e))) => return Err(transport_error(&e, url, what)),
            Ok(None) => break,
            Err(stalled) => return Err(stalled.attempt_error(url, what)),
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body of `chunks`, each sent `every` apart.
    fn trickle(
        chunks: Vec<&'static [u8]>,
        every: Duration,
    ) -> impl Stream<Item = reqwest::Result<Bytes>> + Unpin {
        Box::pin(futures_util::stream::unfold(
            chunks.into_iter(),
            move |mut rest| async move {
                let chunk = rest.next()?;
                tokio::time::sleep(every).await;
                Some((Ok(Bytes::from_static(chunk)), rest))
            },
        ))
    }

    async fn drain(
        window: Option<Duration>,
        mut body: impl Stream<Item = reqwest::Result<Bytes>> + Unpin,
    ) -> Result<u64, Stalled> {
        let mut guard = StallGuard::new(window);
        let mut total = 0;
        while let Some(chunk) = guard.next(&mut body).await? {
            total += chunk.expect("chunk").len() as u64;
        }
        Ok(total)
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_a_second_stalls_and_a_steady_body_does_not() {
        let window = Some(Duration::from_secs(5));
        let bytes: Vec<&'static [u8]> = vec![b"x"; 100];
        let stalled = drain(window, trickle(bytes.clone(), Duration::from_secs(1))).await;
        assert!(stalled.is_err(), "a byte a second is a stall");

        let kib: &'static [u8] = &[0u8; 1024];
        let steady = drain(window, trickle(vec![kib; 20], Duration::from_secs(1))).await;
        assert_eq!(steady.expect("steady"), 20 * 1024);

        // Nothing for longer than the window.
        let silent = drain(window, trickle(vec![kib], Duration::from_secs(6))).await;
        assert!(silent.is_err(), "silence is a stall");

        // Turned off: the trickle completes.
        let off = drain(None, trickle(bytes, Duration::from_secs(1))).await;
        assert_eq!(off.expect("no guard"), 100);
    }
}
