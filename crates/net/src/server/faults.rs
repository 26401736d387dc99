//! Fault injection: the failures a registry client must survive, on demand, so every retry
//! path has a test that does not depend on a flaky network.

use std::sync::Mutex;
use std::time::Duration;

/// One kind of failure the server can produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long before answering (applies to every matching request, never used up).
    Latency(Duration),
    /// Answer with this HTTP status (e.g. 500) and an empty body.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>`.
    TooManyRequests {
        /// The value of the Retry-After header, in seconds.
        retry_after_secs: u64,
    },
    /// Close the connection without answering.
    DropConnection,
    /// Send the headers (with the full Content-Length) and half the body, then close.
    TruncateBody,
    /// Send a body of the right length whose bytes were changed, so integrity fails.
    CorruptBody,
}

/// A fault, where it applies and how many more times it fires.
#[derive(Clone, Debug)]
pub struct FaultRule {
    fault: Fault,
    path_contains: Option<String>,
    remaining: Option<u32>,
}

impl FaultRule {
    /// A rule that fires on every request until limited with [`FaultRule::times`].
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            path_contains: None,
            remaining: None,
        }
    }

    /// Only requests whose decoded path contains `fragment` (e.g. `"/left-pad/-/"` for its
    /// tarballs, `"/left-pad"` for everything about it).
    pub fn on_path_containing(mut self, fragment: impl Into<String>) -> Self {
        self.path_contains = Some(fragment.into());
        self
    }

    /// Fire `n` times, then let requests through ("N× 500 then success").
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }
}

/// The set of active fault rules of one server, shared with its handle.
#[derive(Debug, Default)]
pub struct FaultInjector {
    rules: Mutex<Vec<FaultRule>>,
}

impl FaultInjector {
    /// Adds a rule; rules are tried in the order they were added.
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        // A panic while holding this lock cannot leave the Vec half-updated; keep serving.
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latency to add and the (first) failing fault for a request to `path`, consuming one
    /// use of each counted rule that fires.
    pub(crate) fn take(&self, path: &str) -> (Duration, Option<Fault>) {
        let mut rules = self.lock();
        let mut latency = Duration::ZERO;
        let mut failure = None;
        for rule in rules.iter_mut() {
            if rule
                .path_contains
                .as_deref()
                .is_some_and(|f| !path.contains(f))
            {
                continue;
            }
            if rule.remaining == Some(0) {
                continue;
            }
            match &rule.fault {
                Fault::Latency(d) => latency += *d,
                other if failure.is_none() => failure = Some(other.clone()),
                _ => continue,
            }
            if let Some(n) = &mut rule.remaining {
                *n -= 1;
            }
        }
        rules.retain(|r| r.remaining != Some(0));
        (latency, failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_fire_then_let_requests_through() {
        let faults = FaultInjector::default();
        faults.add(
            FaultRule::new(Fault::Status(500))
                .on_path_containing("/a/-/")
                .times(2),
        );
        assert_eq!(faults.take("/b/-/b-1.0.0.tgz").1, None);
        assert_eq!(faults.take("/a/-/a-1.0.0.tgz").1, Some(Fault::Status(500)));
        assert_eq!(faults.take("/a/-/a-1.0.0.tgz").1, Some(Fault::Status(500)));
        assert_eq!(faults.take("/a/-/a-1.0.0.tgz").1, None);
    }

    #[test]
    fn latency_adds_up_and_is_not_a_failure() {
        let faults = FaultInjector::default();
        faults.add(FaultRule::new(Fault::Latency(Duration::from_millis(5))));
        faults.add(FaultRule::new(Fault::Latency(Duration::from_millis(7))).times(1));
        assert_eq!(faults.take("/x"), (Duration::from_millis(12), None));
        assert_eq!(faults.take("/x"), (Duration::from_millis(5), None));
    }
}
