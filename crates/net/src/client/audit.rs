//! The registry's bulk advisory endpoint (`POST /-/npm/v1/security/advisories/bulk`), as npm 7+
//! calls it for `npm audit`: a gzipped `{ name: [versions] }`, answered with
//! `{ name: [advisory, …] }`.

use std::collections::BTreeMap;
use std::io::Write as _;

use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};

use super::RegistryClient;
use crate::NetError;

/// The path of the bulk advisory endpoint under a registry URL.
pub const BULK_ADVISORY_PATH: &str = "-/npm/v1/security/advisories/bulk";

impl RegistryClient {
    /// Asks the default registry for the advisories that affect `packages` (name → installed
    /// versions). The answer is the endpoint's JSON object, unchanged.
    pub async fn bulk_advisories(
        &self,
        packages: &BTreeMap<String, Vec<String>>,
    ) -> Result<serde_json::Value, NetError> {
        let registry = self.registry_for("")?.trim_end_matches('/').to_owned();
        let url = format!("{registry}/{BULK_ADVISORY_PATH}");
        let what = "the security advisories".to_owned();
        let body = serde_json::to_vec(packages).map_err(|e| NetError::Server(e.to_string()))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&body)
            .and_then(|()| gz.flush())
            .map_err(|e| NetError::Server(format!("gzip: {e}")))?;
        let gzipped = gz
            .finish()
            .map_err(|e| NetError::Server(format!("gzip: {e}")))?;
        super::http::prepare_request(&url);
        let mut request = self
            .inner
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(gzipped);
        if let Some(credential) = self.inner.config.credential_for(&url) {
            request = request.header(AUTHORIZATION, credential.header_value());
        }
        let transport = |e: reqwest::Error| NetError::Transport {
            url: url.clone(),
            what: what.clone(),
            reason: e.to_string(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(NetError::AuthenticationRequired {
                registry,
                what,
                status,
            });
        }
        if !response.status().is_success() {
            return Err(NetError::HttpStatus { url, what, status });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        serde_json::from_slice(&bytes).map_err(|e| NetError::Transport {
            url: url.clone(),
            what,
            reason: format!("the answer is not JSON: {e}"),
        })
    }
}
