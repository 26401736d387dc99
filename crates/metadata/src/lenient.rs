//! Deserializers that accept what real manifests contain: a field of the wrong type is treated
//! as absent rather than failing the whole packument (npm itself tolerates the same junk).

use std::collections::BTreeMap;

use serde::de::{Deserialize, Deserializer};
use serde_json::Value;

/// An object of strings; non-string values are dropped; anything but an object is empty.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// A string or a list of strings (`"os": "linux"` or `"os": ["linux"]`).
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// `bundleDependencies`: `true` means "all dependencies", a list names them.
pub fn bundle<'de, D: Deserializer<'de>>(d: D) -> Result<BundleDependencies, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(true) => BundleDependencies::All,
        Value::Array(items) => BundleDependencies::Names(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
        ),
        _ => BundleDependencies::None,
    })
}

/// `deprecated`: a message; `false` or `""` mean not deprecated.
pub fn deprecated<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Bool(true) => Some("deprecated".to_string()),
        _ => None,
    })
}

/// `bin`: kept raw (string or object) so that normalization can use the package name.
pub fn bin<'de, D: Deserializer<'de>>(d: D) -> Result<RawBin, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => RawBin::Single(s),
        Value::Object(map) => RawBin::Map(
            map.into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    _ => None,
                })
                .collect(),
        ),
        _ => RawBin::None,
    })
}

/// `peerDependenciesMeta`: name → `{ "optional": bool }`; entries that are not objects are
/// dropped, as is anything but an object.
pub fn peer_meta<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, crate::packument::PeerDependencyMeta>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Object(meta) => Some((
                    k,
                    crate::packument::PeerDependencyMeta {
                        optional: matches!(meta.get("optional"), Some(Value::Bool(true))),
                    },
                )),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    })
}

/// A bool that tolerates junk (anything but `true` is false).
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
}

/// An optional string that tolerates junk.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// Which dependencies travel inside the package's own tarball.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum BundleDependencies {
    /// Nothing is bundled.
    #[default]
    None,
    /// `true`: every entry of `dependencies` is bundled.
    All,
    /// The named dependencies are bundled.
    Names(Vec<String>),
}

impl BundleDependencies {
    /// Whether `name` comes inside the tarball (so the resolver must not fetch it).
    pub fn contains(&self, name: &str, dependencies: &BTreeMap<String, String>) -> bool {
        match self {
            BundleDependencies::None => false,
            BundleDependencies::All => dependencies.contains_key(name),
            BundleDependencies::Names(names) => names.iter().any(|n| n == name),
        }
    }
}

/// The `bin` field before normalization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RawBin {
    /// Absent.
    #[default]
    None,
    /// `"bin": "cli.js"`: one command named after the package.
    Single(String),
    /// `"bin": { "cmd": "cli.js" }`.
    Map(BTreeMap<String, String>),
}
