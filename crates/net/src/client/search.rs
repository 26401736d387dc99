//! The registry's search endpoint (`GET /-/v1/search?text=…&size=N`), used to suggest a name
//! when a package is not found.

use reqwest::header::ACCEPT;

use super::RegistryClient;
use crate::NetError;

impl RegistryClient {
    /// Up to `size` package names the default registry finds for `text`, best first.
    pub async fn search_names(&self, text: &str, size: usize) -> Result<Vec<String>, NetError> {
        let registry = self.registry_for("")?.trim_end_matches('/').to_owned();
        let url = format!("{registry}/-/v1/search");
        let what = format!("a search for `{text}`");
        let transport = |e: reqwest::Error| NetError::Transport {
            url: url.clone(),
            what: what.clone(),
            reason: e.to_string(),
        };
        let response = self
            .get(&url)
            .query(&[("text", text), ("size", &size.to_string())])
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        if !response.status().is_success() {
            return Err(NetError::HttpStatus {
                url: url.clone(),
                what,
                status: response.status().as_u16(),
            });
        }
        let bytes = response.bytes().await.map_err(transport)?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| NetError::Transport {
                url: url.clone(),
                what: what.clone(),
                reason: format!("the answer is not JSON: {e}"),
            })?;
        Ok(body
            .get("objects")
            .and_then(|o| o.as_array())
            .into_iter()
            .flatten()
            .filter_map(|o| {
                o.pointer("/package/name")
                    .and_then(|n| n.as_str())
                    .map(str::to_owned)
            })
            .collect())
    }
}
