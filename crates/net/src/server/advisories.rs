//! `POST /-/npm/v1/security/advisories/bulk`: the request names packages and versions, the
//! answer lists the advisories of `<dir>/advisories.json` (`{ "<name>": [advisory, ...] }`,
//! the bulk endpoint's own response shape) for the packages asked about.

use std::path::Path;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use serde_json::{Map, Value};

use super::{ResponseBody, json_error, json_response};

pub(super) async fn bulk(dir: &Path, request: Request<Incoming>) -> Response<ResponseBody> {
    let gzipped = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let Ok(collected) = request.into_body().collect().await else {
        return json_error(StatusCode::BAD_REQUEST, "unreadable request body");
    };
    let asked = match super::request::parse_audit_body(gzipped, &collected.to_bytes()) {
        Ok(asked) => asked,
        Err(message) => return json_error(StatusCode::BAD_REQUEST, message),
    };
    let known: Map<String, Value> = match tokio::fs::read(dir.join("advisories.json")).await {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(map) => map,
            Err(err) => {
                return json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("advisories.json: {err}"),
                );
            }
        },
        Err(_) => Map::new(),
    };
    let answer: Map<String, Value> = known
        .into_iter()
        .filter(|(name, _)| asked.contains_key(name))
        .collect();
    json_response(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(&answer).unwrap_or_default()),
        "application/json",
    )
}
