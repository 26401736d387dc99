//! What the server was asked, so tests can assert on the client's traffic ("no request when
//! everything is cached", "the token for registry A never reaches B").

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// The raw request path (still percent-encoded), with the query.
    pub path: String,
    /// The `Authorization` header as sent. Kept only in this test-facing log, in memory.
    pub authorization: Option<String>,
    /// The `Accept` header as sent.
    pub accept: Option<String>,
    /// The status the server answered (0 when the connection was dropped on purpose).
    pub status: u16,
}

/// Every request of one server, in arrival order.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<RecordedRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight<'a>(&'a RequestLog);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RequestLog {
    pub(crate) fn begin(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// The most requests that were being answered at the same moment (concurrency tests).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn push(&self, request: RecordedRequest) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(request);
    }

    /// A copy of every request so far.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// How many requests were made so far.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no request was made.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every request (between phases of a test).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}
