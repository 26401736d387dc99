//! Retries with exponential backoff: on timeouts, resets, truncated bodies, 5xx, 408 and 429
//! (honouring Retry-After), never on other 4xx.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::NetError;
use crate::config::RegistryConfig;
use crate::progress::{ProgressEvent, ProgressSink};

/// The outcome of one failed attempt.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Worth another attempt, after `after` if the server said so.
    Retry {
        /// The error to report if no attempt is left.
        error: NetError,
        /// The server's Retry-After.
        after: Option<Duration>,
    },
    /// Final.
    Fatal(NetError),
}

/// Runs `attempt` until it succeeds, fails fatally, or the retries are used up.
pub(crate) async fn with_retries<T, F, Fut>(
    config: &RegistryConfig,
    progress: Option<&ProgressSink>,
    what: &str,
    mut attempt: F,
) -> Result<T, NetError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let mut retries_done = 0u32;
    loop {
        match attempt(retries_done).await {
            Ok(value) => return Ok(value),
            Err(AttemptError::Fatal(error)) => return Err(error),
            Err(AttemptError::Retry { error, after }) => {
                if retries_done >= config.fetch_retries {
                    return Err(error);
                }
                let backoff = config
                    .retry_min_delay
                    .saturating_mul(1u32 << retries_done.min(16));
                let delay = after.unwrap_or(backoff).min(config.retry_max_delay);
                retries_done += 1;
                if let Some(sink) = progress {
                    sink(ProgressEvent::Retrying {
                        what: Arc::from(what),
                        attempt: retries_done,
                        delay,
                        reason: error.to_string(),
                    });
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Classifies an unsuccessful status. `not_found` is the error a 404 means for this request.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    url: &str,
    registry: &str,
    what: &str,
    not_found: impl FnOnce() -> NetError,
) -> AttemptError {
    let code = status.as_u16();
    match code {
        401 | 403 => AttemptError::Fatal(NetError::AuthenticationRequired {
            registry: registry.to_owned(),
            what: what.to_owned(),
            status: code,
        }),
        404 => AttemptError::Fatal(not_found()),
        408 | 429 | 500..=599 => AttemptError::Retry {
            error: NetError::HttpStatus {
                url: url.to_owned(),
                what: what.to_owned(),
                status: code,
            },
            after: retry_after(headers),
        },
        _ => AttemptError::Fatal(NetError::HttpStatus {
            url: url.to_owned(),
            what: what.to_owned(),
            status: code,
        }),
    }
}

/// A transport error: retried unless the request itself could not be built.
pub(crate) fn transport_error(error: &reqwest::Error, url: &str, what: &str) -> AttemptError {
    let net = NetError::Transport {
        url: url.to_owned(),
        what: what.to_owned(),
        reason: describe(error),
    };
    if error.is_builder() {
        AttemptError::Fatal(net)
    } else {
        AttemptError::Retry {
            error: net,
            after: None,
        }
    }
}

/// The error with its sources, without the URL reqwest would repeat.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = kind_of(error).to_owned();
    let mut source = std::error::Error::source(error);
    let mut previous = String::new();
    while let Some(inner) = source {
        let message = inner.to_string();
        // hyper-util's wrapper ("client error (SendRequest)") names its own call, not the
        // failure; the source after it does. reqwest repeats a body error's kind at two levels.
        let wrapper = message.starts_with("client error (") && inner.source().is_some();
        if !wrapper && message != previous {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
        source = inner.source();
    }
    text
}

/// Retry-After as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// What kind of transport failure this is; reqwest's own Display would repeat the URL.
fn kind_of(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body failed"
    } else if error.is_request() {
        "request failed"
    } else {
        "HTTP error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let nf = || NetError::Server("nf".into());
        assert!(matches!(
            status_error(StatusCode::BAD_GATEWAY, &h, "u", "r", "w", nf),
            AttemptError::Retry { .. }
        ));
        assert!(matches!(
            status_error(StatusCode::TOO_MANY_REQUESTS, &h, "u", "r", "w", nf),
            AttemptError::Retry { .. }
        ));
        assert!(matches!(
            status_error(StatusCode::UNAUTHORIZED, &h, "u", "r", "w", nf),
            AttemptError::Fatal(NetError::AuthenticationRequired { status: 401, .. })
        ));
        assert!(matches!(
            status_error(StatusCode::BAD_REQUEST, &h, "u", "r", "w", nf),
            AttemptError::Fatal(NetError::HttpStatus { .. })
        ));
        assert!(matches!(
            status_error(StatusCode::NOT_FOUND, &h, "u", "r", "w", nf),
            AttemptError::Fatal(NetError::Server(_))
        ));
    }
}
