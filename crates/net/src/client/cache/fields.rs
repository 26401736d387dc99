//! The concrete shapes the cache stores for the manifest fields the packument model keeps as
//! `serde_json::Value` (`bin`, `directories`, `engines`, `bundleDependencies`).
//!
//! Registries hold these fields in many odd forms; the cache keeps only the part a consumer
//! can use (the same reading the CLI applies when it converts a packument for the resolver),
//! so the binary layout has no free-form JSON in it. [`normalize`] applies the same reduction
//! to a freshly fetched packument, so a fresh and a cached load give equal values.

use serde_json::{Map, Value};

use crate::client::packument::{PackageVersion, Packument};

/// `bin`: one command named after the package, or command → path. Non-string paths dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BinField<'a> {
    /// `"bin": "cli.js"`.
    Single(&'a str),
    /// `"bin": { "cmd": "cli.js" }`, in the document's key order.
    Map(Vec<(&'a str, &'a str)>),
}

impl<'a> BinField<'a> {
    /// The usable part of a `bin` value; `None` for shapes no consumer reads (numbers, arrays).
    pub(crate) fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::String(path) => Some(Self::Single(path)),
            Value::Object(map) => Some(Self::Map(string_pairs(map))),
            _ => None,
        }
    }

    /// Back to the JSON shape the packument model holds.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::Single(path) => Value::String((*path).to_owned()),
            Self::Map(pairs) => pairs_to_object(pairs),
        }
    }
}

/// `bundleDependencies`: `true` (everything in `dependencies`) or a list of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BundleField<'a> {
    /// `true`.
    All,
    /// The named dependencies (non-strings dropped).
    Names(Vec<&'a str>),
}

impl<'a> BundleField<'a> {
    /// The usable part of a `bundleDependencies` value; `false` and other shapes mean none.
    pub(crate) fn from_value(value: &'a Value) -> Option<Self> {
        match value {
            Value::Bool(true) => Some(Self::All),
            Value::Array(items) => Some(Self::Names(
                items.iter().filter_map(Value::as_str).collect(),
            )),
            _ => None,
        }
    }

    /// Back to the JSON shape the packument model holds.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Self::All => Value::Bool(true),
            Self::Names(names) => Value::Array(
                names
                    .iter()
                    .map(|n| Value::String((*n).to_owned()))
                    .collect(),
            ),
        }
    }
}

/// `directories.bin`, the only part of `directories` that installing reads.
pub(crate) fn directories_bin(value: &Value) -> Option<&str> {
    value.get("bin").and_then(Value::as_str)
}

/// `{"bin": path}`: the `directories` value a cached `directories.bin` stands for.
pub(crate) fn directories_value(bin: &str) -> Value {
    let mut map = Map::new();
    map.insert("bin".to_owned(), Value::String(bin.to_owned()));
    Value::Object(map)
}

/// `engines` as engine → range (non-string ranges dropped); `None` when not an object.
pub(crate) fn engines_pairs(value: &Value) -> Option<Vec<(&str, &str)>> {
    value.as_object().map(string_pairs)
}

/// An object of string values, in the given order.
pub(crate) fn pairs_to_object(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect(),
    )
}

fn string_pairs(map: &Map<String, Value>) -> Vec<(&str, &str)> {
    map.iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect()
}

/// `packument` reduced to what the cache keeps: the `Value` fields in their concrete shapes.
pub(crate) fn normalize(mut packument: Packument) -> Packument {
    for version in packument.versions.values_mut() {
        normalize_version(version);
    }
    packument
}

fn normalize_version(version: &mut PackageVersion) {
    version.bin = version
        .bin
        .as_ref()
        .and_then(BinField::from_value)
        .map(|b| b.to_value());
    version.directories = version
        .directories
        .as_ref()
        .and_then(directories_bin)
        .map(directories_value);
    version.engines = version
        .engines
        .as_ref()
        .and_then(engines_pairs)
        .map(|pairs| pairs_to_object(&pairs));
    version.bundle_dependencies = version
        .bundle_dependencies
        .as_ref()
        .and_then(BundleField::from_value)
        .map(|b| b.to_value());
}
