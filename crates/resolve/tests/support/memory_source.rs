//! An in-memory registry for tests: packuments built from compact case data.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;

use dx_resolve::semver::Version;
use dx_resolve::{PackageSource, Packument, SourceError, VersionManifest};
use serde_json::Value;

/// A well-formed sha512 SRI value (of nothing in particular) for synthetic packages.
pub const INTEGRITY: &str = "sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

/// Packuments by name, counting every request.
#[derive(Default)]
pub struct MemorySource {
    pub packuments: HashMap<String, Arc<Packument>>,
    pub requests: Mutex<Vec<String>>,
    pub prefetched: Mutex<Vec<String>>,
}

impl MemorySource {
    /// From `{ name: { "dist-tags"?, "versions": { v: manifest } } }`.
    pub fn from_case(packages: &Value) -> Self {
        let mut source = MemorySource::default();
        if let Value::Object(map) = packages {
            for (name, doc) in map {
                source.add(name, doc);
            }
        }
        source
    }

    /// Adds one package from compact JSON.
    pub fn add(&mut self, name: &str, doc: &Value) {
        let mut versions = serde_json::Map::new();
        let mut highest: Option<Version> = None;
        if let Some(Value::Object(vs)) = doc.get("versions") {
            for (version, manifest) in vs {
                let mut m = manifest.as_object().cloned().unwrap_or_default();
                m.insert("name".into(), Value::String(name.to_string()));
                m.insert("version".into(), Value::String(version.clone()));
                m.entry("dist").or_insert_with(|| {
                    serde_json::json!({
                        "tarball": dx_formats::registry_url::tarball_url("http://127.0.0.1:4873", name, version),
                        "integrity": INTEGRITY
                    })
                });
                versions.insert(version.clone(), Value::Object(m));
                if let Ok(v) = Version::parse(version)
                    && !v.is_prerelease()
                    && highest.as_ref().is_none_or(|h| v > *h)
                {
                    highest = Some(v);
                }
            }
        }
        let mut tags = doc
            .get("dist-tags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if !tags.contains_key("latest")
            && let Some(h) = highest
        {
            tags.insert("latest".into(), Value::String(h.to_string()));
        }
        let packument = serde_json::json!({"name": name, "dist-tags": tags, "versions": versions});
        let parsed: Packument = serde_json::from_value(packument).expect("test packument parses");
        self.packuments.insert(name.to_string(), Arc::new(parsed));
    }

    /// Adds a packument directly.
    pub fn insert(&mut self, packument: Packument) {
        self.packuments
            .insert(packument.name.clone(), Arc::new(packument));
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
}

impl PackageSource for MemorySource {
    fn packument(&self, name: &str) -> Result<Arc<Packument>, SourceError> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(name.to_string());
        }
        self.packuments
            .get(name)
            .cloned()
            .ok_or_else(|| SourceError::NotFound {
                name: name.to_string(),
                registry: "the in-memory registry".into(),
            })
    }

    fn prefetch(&self, names: &[&str]) {
        if let Ok(mut p) = self.prefetched.lock() {
            p.extend(names.iter().map(|n| n.to_string()));
        }
    }
}

/// A manifest with the given dependencies, for programmatic packuments.
pub fn manifest(name: &str, version: &str, deps: &[(&str, &str)]) -> VersionManifest {
    VersionManifest {
        name: name.to_string(),
        version: version.to_string(),
        dependencies: deps
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect::<BTreeMap<_, _>>(),
        dist: dx_resolve::Dist {
            tarball: Some(dx_formats::registry_url::tarball_url(
                "http://127.0.0.1:4873",
                name,
                version,
            )),
            integrity: Some(INTEGRITY.into()),
            shasum: None,
        },
        ..VersionManifest::default()
    }
}
