//! The registry's view of a package: the packument (abbreviated form is enough) and each
//! version's manifest, deserialized from npm's JSON with unknown and malformed fields ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::bins::normalize_bin;
use crate::lenient::{self, BundleDependencies, RawBin};

/// All published versions of one package, with its dist-tags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Packument {
    /// The package name.
    pub name: String,
    /// `dist-tags`: tag → version (`latest` is what npm prefers when it satisfies).
    #[serde(rename = "dist-tags", deserialize_with = "lenient::string_map")]
    pub dist_tags: BTreeMap<String, String>,
    /// version string → manifest of that version.
    pub versions: BTreeMap<String, VersionManifest>,
}

/// Where a version's tarball is and how to check it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Dist {
    /// Tarball URL.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub tarball: Option<String>,
    /// SRI integrity (sha512 usually).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub integrity: Option<String>,
    /// Legacy sha1 hex, used only when `integrity` is absent.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub shasum: Option<String>,
}

/// Peer dependency metadata (`peerDependenciesMeta`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PeerDependencyMeta {
    /// An optional peer is installed only when something else brings it.
    #[serde(deserialize_with = "lenient::flag")]
    pub optional: bool,
}

/// One version's manifest as the registry serves it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VersionManifest {
    /// Package name.
    pub name: String,
    /// Version string as published.
    pub version: String,
    /// `dependencies`.
    #[serde(deserialize_with = "lenient::string_map")]
    pub dependencies: BTreeMap<String, String>,
    /// `optionalDependencies` (npm also lists them in `dependencies`; these win).
    #[serde(deserialize_with = "lenient::string_map")]
    pub optional_dependencies: BTreeMap<String, String>,
    /// `peerDependencies`.
    #[serde(deserialize_with = "lenient::string_map")]
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`.
    pub peer_dependencies_meta: BTreeMap<String, PeerDependencyMeta>,
    /// `bundleDependencies` / `bundledDependencies`.
    #[serde(alias = "bundledDependencies", deserialize_with = "lenient::bundle")]
    pub bundle_dependencies: BundleDependencies,
    /// `bin` (string or object).
    #[serde(deserialize_with = "lenient::bin")]
    pub bin: RawBin,
    /// `os` filter (`["linux", "!win32"]`).
    #[serde(deserialize_with = "lenient::string_list")]
    pub os: Vec<String>,
    /// `cpu` filter.
    #[serde(deserialize_with = "lenient::string_list")]
    pub cpu: Vec<String>,
    /// `libc` filter (`glibc` / `musl`).
    #[serde(deserialize_with = "lenient::string_list")]
    pub libc: Vec<String>,
    /// `engines` (`node`, `npm`, ...): npm's version choice avoids versions whose `engines.node`
    /// the running node does not meet, so dx's must too to pick the same versions.
    #[serde(deserialize_with = "lenient::string_map")]
    pub engines: BTreeMap<String, String>,
    /// Deprecation message; chosen versions that carry one produce a warning.
    #[serde(deserialize_with = "lenient::deprecated")]
    pub deprecated: Option<String>,
    /// Whether the package has install scripts (abbreviated packuments say so).
    #[serde(deserialize_with = "lenient::flag")]
    pub has_install_script: bool,
    /// Tarball location and checksums.
    pub dist: Dist,
}

impl VersionManifest {
    /// Command name → path inside the package, normalized as npm does.
    pub fn bins(&self) -> BTreeMap<String, String> {
        normalize_bin(&self.name, &self.bin)
    }
}

impl Packument {
    /// Parses a packument from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_abbreviated_packument_with_junk() {
        let json = br#"{
          "name": "@s/pkg",
          "dist-tags": {"latest": "1.0.0", "junk": 5},
          "modified": "2020-01-01",
          "versions": {
            "1.0.0": {
              "name": "@s/pkg", "version": "1.0.0",
              "dependencies": {"a": "^1.0.0", "b": 3},
              "optionalDependencies": {"fsevents": "2"},
              "peerDependencies": {"react": ">=16"},
              "peerDependenciesMeta": {"react": {"optional": true}},
              "bundledDependencies": ["a"],
              "bin": "./cli.js",
              "os": "darwin",
              "cpu": ["x64", "arm64"],
              "deprecated": "use other",
              "hasInstallScript": true,
              "engines": {"node": ">=8"},
              "dist": {"tarball": "http://127.0.0.1/x.tgz", "integrity": "sha512-AA==", "shasum": "00"}
            },
            "0.9.0": {"name": "@s/pkg", "version": "0.9.0", "dependencies": [], "bin": {"x": "y"}, "deprecated": false,
                      "bundleDependencies": true, "dist": {"tarball": "http://127.0.0.1/y.tgz"}}
          }
        }"#;
        let p = Packument::from_json(json).expect("parses");
        assert_eq!(p.dist_tags.len(), 1);
        let v = &p.versions["1.0.0"];
        assert_eq!(v.dependencies.len(), 1);
        assert_eq!(v.optional_dependencies["fsevents"], "2");
        assert!(v.peer_dependencies_meta["react"].optional);
        assert_eq!(
            v.bundle_dependencies,
            BundleDependencies::Names(vec!["a".into()])
        );
        assert_eq!(v.bins().get("pkg").map(String::as_str), Some("cli.js"));
        assert_eq!(v.os, vec!["darwin"]);
        assert_eq!(v.deprecated.as_deref(), Some("use other"));
        assert!(v.has_install_script);
        assert_eq!(v.dist.integrity.as_deref(), Some("sha512-AA=="));
        let old = &p.versions["0.9.0"];
        assert!(old.dependencies.is_empty());
        assert_eq!(old.deprecated, None);
        assert_eq!(old.bundle_dependencies, BundleDependencies::All);
        assert_eq!(old.bins().get("x").map(String::as_str), Some("y"));
    }
}
