//! Fault injection: the failures a registry client must survive, on demand, so every retry
//! path has a test that does not depend on a flaky network.
//!
//! Compiled only for tests (the `test-support` feature): a production server has no rules to
//! consult on each request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::{ResponseBody, ServerState, full, route, status_response};

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
    /// Answer 200 with an HTML page (what a proxy's error or login page looks like).
    HtmlPage,
    /// Send the route's answer one byte at a time, this long apart (a stalled server).
    Trickle(Duration),
    /// Send the first half of the route's answer under a `Content-Length` that says that is
    /// all (a server whose length is short: the client stops reading there).
    ShortContentLength,
    /// Answer 200 with this body and `Content-Type` instead of the route's answer (invalid
    /// JSON, a gzip stream that is garbage, another package's tarball).
    Respond {
        /// The `Content-Type` header.
        content_type: &'static str,
        /// The whole body.
        body: Bytes,
    },
    /// Answer with a redirect (301, 302, 307, 308) to `to` followed by the request's own path
    /// and query: another server, or this one again (a loop).
    Redirect {
        /// The status code.
        status: u16,
        /// What the request's path and query are appended to, e.g. `http://127.0.0.1:4873`.
        to: String,
    },
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

/// The error a handler returns to make hyper drop the connection (the `DropConnection` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(crate) struct DroppedOnPurpose;

/// Answers `request` as the server's fault rules say: after their latency, with a failure, with
/// a damaged body, or (no failing rule) with the route's own answer.
pub(super) async fn respond(
    state: &Arc<ServerState>,
    request: Request<Incoming>,
    path: &str,
) -> Result<Response<ResponseBody>, DroppedOnPurpose> {
    let (latency, fault) = state.faults.take(path);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    Ok(match fault {
        Some(Fault::DropConnection) => return Err(DroppedOnPurpose),
        Some(Fault::Status(code)) => {
            status_response(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut response = status_response(StatusCode::TOO_MANY_REQUESTS);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Some(Fault::HtmlPage) => {
            let mut response = Response::new(full(Bytes::from_static(
                b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Proxy login</body></html>\n",
            )));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Some(Fault::Respond { content_type, body }) => {
            let mut response = Response::new(full(body));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        Some(Fault::Redirect { status, to }) => {
            let target = format!(
                "{to}{}",
                request
                    .uri()
                    .path_and_query()
                    .map_or(request.uri().path(), |p| p.as_str())
            );
            let mut response =
                status_response(StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND));
            if let Ok(location) = HeaderValue::from_str(&target) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Some(
            body_fault @ (Fault::TruncateBody
            | Fault::CorruptBody
            | Fault::Trickle(_)
            | Fault::ShortContentLength),
        ) => {
            let response = route(state, request).await;
            damage_body(response, &body_fault).await
        }
        Some(Fault::Latency(_)) | None => route(state, request).await,
    })
}

/// Applies a body fault: half the bytes then a broken connection, a lying length, flipped
/// bytes, or a trickle.
async fn damage_body(response: Response<ResponseBody>, fault: &Fault) -> Response<ResponseBody> {
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return status_response(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let bytes = collected.to_bytes();
    if parts.status != StatusCode::OK || bytes.is_empty() {
        return Response::from_parts(parts, full(bytes));
    }
    match fault {
        Fault::Trickle(every) => {
            let every = *every;
            let bytes_left = futures_util::stream::unfold(bytes, move |rest| async move {
                if rest.is_empty() {
                    return None;
                }
                tokio::time::sleep(every).await;
                let frame: Result<Frame<Bytes>, std::io::Error> = Ok(Frame::data(rest.slice(..1)));
                Some((frame, rest.slice(1..)))
            });
            Response::from_parts(parts, StreamBody::new(bytes_left).boxed())
        }
        Fault::ShortContentLength => {
            // What a client reads from a server whose length is short: the first half, as if
            // it were the whole body (the rest would be garbage on the connection).
            let half = bytes.slice(..bytes.len() / 2);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(half.len()));
            Response::from_parts(parts, full(half))
        }
        Fault::CorruptBody => {
            let mut damaged = bytes.to_vec();
            let middle = damaged.len() / 2;
            for byte in damaged.iter_mut().skip(middle).take(16) {
                *byte ^= 0x5a;
            }
            Response::from_parts(parts, full(Bytes::from(damaged)))
        }
        _ => {
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            let half = bytes.slice(..bytes.len() / 2);
            // The headers and the first half go out (a pause lets hyper flush them) before the
            // connection breaks: the client sees a reset in the middle of the body.
            let first: Result<Frame<Bytes>, std::io::Error> = Ok(Frame::data(half));
            let frames = futures_util::StreamExt::chain(
                futures_util::stream::iter([first]),
                futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "body truncated by fault injection",
                    ))
                }),
            );
            Response::from_parts(parts, StreamBody::new(frames).boxed())
        }
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
