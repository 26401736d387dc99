//! The packument model: what the resolver needs of a package's registry document, read
//! leniently (registries hold decades of odd manifests: `"os": "linux"`, `"deprecated": false`,
//! dependency maps with non-string values) so one strange old version never fails a resolve.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A package's registry document, abbreviated form.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Packument {
    /// The package name.
    pub name: String,
    /// Tag → version (`latest`, `next`, ...).
    #[serde(rename = "dist-tags", default, deserialize_with = "lenient_string_map")]
    pub dist_tags: BTreeMap<String, String>,
    /// Version → manifest.
    #[serde(default)]
    pub versions: BTreeMap<String, PackageVersion>,
    /// When the document last changed (RFC 3339), if the registry says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub modified: Option<String>,
}

/// One version's manifest, as far as installing needs it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageVersion {
    /// The package name.
    #[serde(default)]
    pub name: String,
    /// The exact version.
    #[serde(default)]
    pub version: String,
    /// `dependencies`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "lenient_string_map"
    )]
    pub dependencies: BTreeMap<String, String>,
    /// `optionalDependencies`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "lenient_string_map"
    )]
    pub optional_dependencies: BTreeMap<String, String>,
    /// `peerDependencies`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "lenient_string_map"
    )]
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`: which peers are optional.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "lenient_peer_meta"
    )]
    pub peer_dependencies_meta: BTreeMap<String, PeerDependencyMeta>,
    /// `bin` (a string or a map), kept as the registry wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<Value>,
    /// `directories` (only `directories.bin` matters), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directories: Option<Value>,
    /// `engines`, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Value>,
    /// `os` constraints (`["linux", "!win32"]`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_string_list"
    )]
    pub os: Vec<String>,
    /// `cpu` constraints.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_string_list"
    )]
    pub cpu: Vec<String>,
    /// `libc` constraints (`glibc`, `musl`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient_string_list"
    )]
    pub libc: Vec<String>,
    /// The deprecation message, if deprecated.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub deprecated: Option<String>,
    /// Whether the package has preinstall/install/postinstall scripts.
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "lenient_bool"
    )]
    pub has_install_script: bool,
    /// `bundleDependencies` (`bundledDependencies` accepted), as written.
    #[serde(
        default,
        alias = "bundledDependencies",
        skip_serializing_if = "Option::is_none"
    )]
    pub bundle_dependencies: Option<Value>,
    /// Where the tarball is and how to check it.
    #[serde(default)]
    pub dist: Dist,
}

/// `peerDependenciesMeta.<name>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerDependencyMeta {
    /// A missing optional peer is not a warning.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub optional: bool,
}

/// `dist`: the tarball and its hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dist {
    /// The tarball URL.
    #[serde(default)]
    pub tarball: String,
    /// SRI (`sha512-…`), if the registry has one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub integrity: Option<String>,
    /// Legacy hex sha1, used only when there is no integrity.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_string"
    )]
    pub shasum: Option<String>,
}

impl Dist {
    /// The integrity to check the tarball against: `integrity`, else `shasum` as sha1.
    pub fn checked_integrity(&self) -> Option<dx_formats::hash::Integrity> {
        if let Some(sri) = self.integrity.as_deref().and_then(|s| s.parse().ok()) {
            return Some(sri);
        }
        self.shasum
            .as_deref()
            .and_then(|hex| dx_formats::hash::Integrity::from_sha1_hex(hex).ok())
    }
}

fn lenient_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Value::deserialize(d)?;
    let Value::Object(map) = value else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| {
            if let Value::String(s) = v {
                Some((k, s))
            } else {
                None
            }
        })
        .collect())
}

fn lenient_peer_meta<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, PeerDependencyMeta>, D::Error> {
    let value = Value::deserialize(d)?;
    let Value::Object(map) = value else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let optional = v
                .get("optional")
                .is_some_and(|o| o.as_bool() == Some(true) || o.as_str() == Some("true"));
            (k, PeerDependencyMeta { optional })
        })
        .collect())
}

fn lenient_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| {
                if let Value::String(s) = v {
                    Some(s)
                } else {
                    None
                }
            })
            .collect(),
        _ => Vec::new(),
    })
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_manifests_parse_leniently() {
        let doc = r#"{"name":"x","dist-tags":{"latest":"1.0.0","bad":3},"versions":{"1.0.0":{
            "name":"x","version":"1.0.0","os":"linux","deprecated":false,"dependencies":{"a":"^1","b":null},
            "peerDependenciesMeta":{"p":{"optional":true}},"bundledDependencies":["a"],"hasInstallScript":true,
            "dist":{"tarball":"http://127.0.0.1/x/-/x-1.0.0.tgz","shasum":"aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"}}}}"#;
        let p: Packument = serde_json::from_str(doc).unwrap();
        let v = &p.versions["1.0.0"];
        assert_eq!(p.dist_tags.len(), 1);
        assert_eq!(v.os, ["linux"]);
        assert_eq!(v.deprecated, None);
        assert_eq!(v.dependencies.len(), 1);
        assert!(v.peer_dependencies_meta["p"].optional);
        assert!(v.has_install_script);
        assert!(v.bundle_dependencies.is_some());
        let integrity = v.dist.checked_integrity().unwrap();
        assert_eq!(
            integrity.algorithm(),
            dx_formats::hash::IntegrityAlgorithm::Sha1
        );
        // Round trip through the cache form keeps everything.
        let again: Packument = serde_json::from_slice(&serde_json::to_vec(&p).unwrap()).unwrap();
        assert_eq!(again, p);
    }
}
