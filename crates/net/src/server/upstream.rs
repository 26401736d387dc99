//! Caching-proxy mode: packuments come from the upstream registry with tarball URLs rewritten
//! to point at this server; tarballs missing from the served directory are fetched from the
//! upstream once, stored under `<dir>/<name>/<file>` and served from there afterwards. The last
//! packument seen is kept under `<dir>/.dx-upstream/` and served when the upstream is down.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use dx_formats::registry_url::tarball_url_for_file;
use serde_json::Value;

use crate::NetError;
use crate::client::{escape_package_name, packument_url};

pub(super) struct UpstreamProxy {
    base: String,
    client: reqwest::Client,
    dir: PathBuf,
    /// (name, file) → the upstream's own tarball URL, learned from packuments.
    tarball_urls: Mutex<HashMap<(String, String), String>>,
}

impl UpstreamProxy {
    pub(super) fn new(base: &str, dir: &Path) -> Result<Self, NetError> {
        let client = crate::client::http::build_upstream_client()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
            dir: dir.to_owned(),
            tarball_urls: Mutex::default(),
        })
    }

    fn packument_cache_path(&self, name: &str, abbreviated: bool) -> PathBuf {
        let form = if abbreviated { "abbreviated" } else { "full" };
        self.dir
            .join(".dx-upstream")
            .join(form)
            .join(format!("{}.json", escape_package_name(name)))
    }

    /// The upstream packument with tarball URLs rewritten to `base_url`, or `None` on 404.
    pub(super) async fn packument(
        &self,
        name: &str,
        abbreviated: bool,
        base_url: &str,
    ) -> Result<Option<Bytes>, String> {
        let url = packument_url(&self.base, name);
        let accept = if abbreviated {
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
        } else {
            "application/json"
        };
        let cache_path = self.packument_cache_path(name, abbreviated);
        let fetched = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await;
        let raw = match fetched {
            Ok(response) if response.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
            Ok(response) if response.status().is_success() => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| format!("upstream {url}: {e}"))?;
                if let Some(parent) = cache_path.parent() {
                    let _ = tokio::fs::create_dir_all(parent).await;
                }
                let _ = write_atomic(&cache_path, &bytes).await;
                bytes
            }
            Ok(response) => {
                return self
                    .cached_or(
                        &cache_path,
                        format!("upstream {url}: HTTP {}", response.status()),
                    )
                    .await;
            }
            Err(err) => {
                return self
                    .cached_or(&cache_path, format!("upstream {url}: {err}"))
                    .await;
            }
        }
        .to_vec();
        self.rewrite(name, &raw, base_url).map(Some)
    }

    async fn cached_or(&self, cache_path: &Path, error: String) -> Result<Option<Bytes>, String> {
        match tokio::fs::read(cache_path).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(_) => Err(error),
        }
    }

    fn rewrite(&self, name: &str, raw: &[u8], base_url: &str) -> Result<Bytes, String> {
        let mut doc: Value = serde_json::from_slice(raw)
            .map_err(|e| format!("upstream packument of {name}: {e}"))?;
        let mut learned = Vec::new();
        if let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) {
            for version in versions.values_mut() {
                let Some(dist) = version.get_mut("dist").and_then(Value::as_object_mut) else {
                    continue;
                };
                let Some(original) = dist
                    .get("tarball")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                let file = original.rsplit('/').next().unwrap_or_default().to_owned();
                dist.insert(
                    "tarball".into(),
                    Value::String(tarball_url_for_file(base_url, name, &file)),
                );
                learned.push(((name.to_owned(), file), original));
            }
        }
        self.tarball_urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(learned);
        serde_json::to_vec(&doc)
            .map(Bytes::from)
            .map_err(|e| e.to_string())
    }

    /// Fetches a tarball from the upstream and stores it in the served directory.
    pub(super) async fn tarball(&self, name: &str, file: &str) -> Result<Option<Bytes>, String> {
        if file.contains('/') || file.contains("..") || name.contains("..") {
            return Ok(None);
        }
        let known = self
            .tarball_urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(name.to_owned(), file.to_owned()))
            .cloned();
        let url = known.unwrap_or_else(|| tarball_url_for_file(&self.base, name, file));
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("upstream {url}: {e}"))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(format!("upstream {url}: HTTP {}", response.status()));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("upstream {url}: {e}"))?;
        let target = self.dir.join(name).join(file);
        if let Some(parent) = target.parent() {
            let _ = tokio::fs::create_dir_all(parent).await;
        }
        write_atomic(&target, &bytes)
            .await
            .map_err(|e| format!("storing {}: {e}", target.display()))?;
        Ok(Some(bytes))
    }
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
