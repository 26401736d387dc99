//! The registry's view of a package: the packument and each version's manifest.
//!
//! One model for the whole of dx: the registry client fetches and caches it, the resolver reads
//! it. A [`Packument`] is a view over its compact binary index ([`crate::index`]): opening one
//! decodes the name, the dist-tags and the version table; a version's manifest is decoded only
//! when asked for ([`Packument::manifest`]), so resolving one range in a packument of thousands
//! of versions reads one manifest, not thousands. Packuments parsed from JSON go through the
//! same index (encoded in memory), so a fetched and a cached packument behave alike.
//!
//! JSON is read leniently ([`crate::lenient`]): a field of the wrong type is treated as absent.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use crate::bins::normalize_bin;
use crate::index::{self, Index, IndexBytes, IndexError, Meta};
use crate::lenient::{self, BundleDependencies, RawBin};

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

/// One version's manifest as the registry serves it, reduced to what installing reads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
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
    #[serde(deserialize_with = "lenient::peer_meta")]
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

/// A packument as npm's JSON holds it, every version decoded: what [`index::encode`] writes.
/// Only the fetch path (one parse per download) and tests build one; everything else reads a
/// [`Packument`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RawPackument {
    /// The package name.
    pub name: String,
    /// `dist-tags`: tag → version.
    #[serde(rename = "dist-tags", deserialize_with = "lenient::string_map")]
    pub dist_tags: BTreeMap<String, String>,
    /// version string → manifest of that version.
    pub versions: BTreeMap<String, VersionManifest>,
}

/// What the version table says of one version without decoding its manifest: enough for
/// npm's version choice (which ranks by deprecation and `engines.node`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionEntry<'a> {
    /// The version key (as the packument's `versions` object spells it).
    pub version: &'a str,
    /// Whether the version is deprecated.
    pub deprecated: bool,
    /// `engines.node`, when the manifest has one.
    pub engines_node: Option<&'a str>,
    /// (major, minor, patch) when the key is a plain release `N.N.N` (no prerelease, no build,
    /// no leading zeros or `v`), so choosing among versions needs no parsing.
    pub release: Option<(u64, u64, u64)>,
    /// (major, minor, patch) when the key is a prerelease for certain (`N.N.N-…`): it
    /// satisfies only ranges with a prerelease comparator on the same numbers (npm's semver),
    /// so a choice for any other range can skip it unparsed.
    pub prerelease: Option<(u64, u64, u64)>,
}

/// All published versions of one package, with its dist-tags: a view over the packument's
/// index. Cheap to clone (the index is shared).
#[derive(Clone)]
pub struct Packument {
    /// The package name.
    pub name: String,
    /// `dist-tags`: tag → version (`latest` is what npm prefers when it satisfies).
    pub dist_tags: BTreeMap<String, String>,
    index: Arc<Index>,
}

impl Packument {
    /// Parses a packument from npm's JSON (abbreviated or full).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let raw: RawPackument = serde_json::from_slice(bytes)?;
        Ok(Self::from_raw(&raw, &Meta::default()))
    }

    /// The packument of `raw`, indexed in memory with `meta` (the cache's validators).
    pub fn from_raw(raw: &RawPackument, meta: &Meta) -> Self {
        let bytes = index::encode(raw, meta);
        Self::open(IndexBytes::Owned(bytes), None)
            .expect("an index dx just encoded decodes (index::encode and Index::open agree)")
    }

    /// Opens an index (from the cache, usually memory-mapped). With `expect` =
    /// `(registry, package)`, an index written for anything else is refused.
    pub fn open(bytes: IndexBytes, expect: Option<(&str, &str)>) -> Result<Self, IndexError> {
        let index = Index::open(bytes)?;
        if let Some((registry, package)) = expect
            && (index.meta_registry() != registry || index.meta_package() != package)
        {
            return Err(IndexError::WrongPackage);
        }
        let (name, dist_tags) = index.header_fields()?;
        Ok(Self {
            name,
            dist_tags,
            index: Arc::new(index),
        })
    }

    /// The index bytes (header included): what the cache writes to disk.
    pub fn index_bytes(&self) -> &[u8] {
        self.index.bytes()
    }

    /// The validators and origin recorded with the index.
    pub fn meta(&self) -> Meta {
        self.index.meta()
    }

    /// How many versions there are.
    pub fn version_count(&self) -> usize {
        self.index.version_count()
    }

    /// Every version, in the order of their keys (byte order), without decoding manifests.
    pub fn versions(&self) -> impl Iterator<Item = VersionEntry<'_>> + '_ {
        (0..self.index.version_count()).filter_map(|i| self.index.entry(i))
    }

    /// Whether `version` is published.
    pub fn contains(&self, version: &str) -> bool {
        self.index.find(version).is_some()
    }

    /// The table entry of `version`.
    pub fn entry(&self, version: &str) -> Option<VersionEntry<'_>> {
        self.index.entry(self.index.find(version)?)
    }

    /// The manifest of `version`, decoded now. `None` when it is not published (or, for an
    /// index whose checksum matched but whose manifest is malformed, unreadable).
    pub fn manifest(&self, version: &str) -> Option<VersionManifest> {
        self.index.manifest(self.index.find(version)?)
    }

    /// Every version with its manifest (decodes them all: for tests and whole-document tools).
    pub fn manifests(&self) -> impl Iterator<Item = (String, VersionManifest)> + '_ {
        (0..self.index.version_count()).filter_map(|i| {
            let entry = self.index.entry(i)?;
            Some((entry.version.to_owned(), self.index.manifest(i)?))
        })
    }

    /// The whole document decoded (every version).
    pub fn to_raw(&self) -> RawPackument {
        RawPackument {
            name: self.name.clone(),
            dist_tags: self.dist_tags.clone(),
            versions: self.manifests().collect(),
        }
    }
}

impl fmt::Debug for Packument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packument")
            .field("name", &self.name)
            .field("dist_tags", &self.dist_tags)
            .field("versions", &self.version_count())
            .finish()
    }
}

/// Equal when the documents are (name, dist-tags, every version's manifest); the validators
/// recorded with the index do not count.
impl PartialEq for Packument {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.dist_tags == other.dist_tags
            && self.version_count() == other.version_count()
            && self.manifests().eq(other.manifests())
    }
}

impl<'de> Deserialize<'de> for Packument {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawPackument::deserialize(d)?;
        Ok(Self::from_raw(&raw, &Meta::default()))
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
              "peerDependenciesMeta": {"react": {"optional": true}, "x": 5},
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
        assert_eq!(p.version_count(), 2);
        let v = p.manifest("1.0.0").expect("1.0.0");
        assert_eq!(v.dependencies.len(), 1);
        assert_eq!(v.optional_dependencies["fsevents"], "2");
        assert!(v.peer_dependencies_meta["react"].optional);
        assert_eq!(v.peer_dependencies_meta.len(), 1);
        assert_eq!(
            v.bundle_dependencies,
            BundleDependencies::Names(vec!["a".into()])
        );
        assert_eq!(v.bins().get("pkg").map(String::as_str), Some("cli.js"));
        assert_eq!(v.os, vec!["darwin"]);
        assert_eq!(v.deprecated.as_deref(), Some("use other"));
        assert!(v.has_install_script);
        assert_eq!(v.dist.integrity.as_deref(), Some("sha512-AA=="));
        let entry = p.entry("1.0.0").expect("entry");
        assert!(entry.deprecated);
        assert_eq!(entry.engines_node, Some(">=8"));
        let old = p.manifest("0.9.0").expect("0.9.0");
        assert!(old.dependencies.is_empty());
        assert_eq!(old.deprecated, None);
        assert!(!p.entry("0.9.0").expect("entry").deprecated);
        assert_eq!(old.bundle_dependencies, BundleDependencies::All);
        assert_eq!(old.bins().get("x").map(String::as_str), Some("y"));
        assert!(p.manifest("2.0.0").is_none());
        let versions: Vec<&str> = p.versions().map(|e| e.version).collect();
        assert_eq!(versions, ["0.9.0", "1.0.0"]);
    }

    #[test]
    fn a_packument_survives_its_index() {
        let json = br#"{"name":"a","dist-tags":{"latest":"1.0.0"},"versions":{
            "1.0.0":{"name":"a","version":"1.0.0","dependencies":{"b":"^1"},"dist":{"tarball":"t"}}}}"#;
        let p = Packument::from_json(json).unwrap();
        let again = Packument::open(IndexBytes::Owned(p.index_bytes().to_vec()), None).unwrap();
        assert_eq!(p, again);
        assert_eq!(again.to_raw(), p.to_raw());
    }
}
