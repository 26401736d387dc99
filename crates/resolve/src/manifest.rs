//! The project's package.json: the fields dx reads (a typed model), and a formatting-preserving
//! editor for `dx add` / `remove` / `update` (see [`edit`]).

pub mod edit;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::bins::normalize_bin;
use crate::packument::PeerDependencyMeta;
use dx_metadata::lenient::{self, BundleDependencies, RawBin};

/// Why package.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not an object at the top.
    #[error("package.json is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The top level is not an object.
    #[error("package.json must hold a JSON object at the top level")]
    NotAnObject,
}

/// `directories` (only `bin` matters to an installer).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Directories {
    /// A directory whose every file is a command, used when `bin` is absent.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub bin: Option<String>,
}

/// `workspaces`: a list of globs, or `{ "packages": [...] }` (yarn's form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workspaces(pub Vec<String>);

impl<'de> Deserialize<'de> for Workspaces {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let list = match &value {
            Value::Array(_) => &value,
            Value::Object(map) => map.get("packages").unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
        Ok(Workspaces(match list {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }))
    }
}

/// The fields of a project's package.json that installing needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PackageJson {
    /// Package name (may be absent in an application).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Version (may be absent).
    #[serde(deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    /// `dependencies`.
    #[serde(deserialize_with = "lenient::string_map")]
    pub dependencies: BTreeMap<String, String>,
    /// `devDependencies` (skipped by `--production`).
    #[serde(deserialize_with = "lenient::string_map")]
    pub dev_dependencies: BTreeMap<String, String>,
    /// `optionalDependencies`.
    #[serde(deserialize_with = "lenient::string_map")]
    pub optional_dependencies: BTreeMap<String, String>,
    /// `peerDependencies` (installed like npm 7+ does).
    #[serde(deserialize_with = "lenient::string_map")]
    pub peer_dependencies: BTreeMap<String, String>,
    /// `peerDependenciesMeta`.
    pub peer_dependencies_meta: BTreeMap<String, PeerDependencyMeta>,
    /// `bundleDependencies` / `bundledDependencies`.
    #[serde(alias = "bundledDependencies", deserialize_with = "lenient::bundle")]
    pub bundle_dependencies: BundleDependencies,
    /// npm `overrides`, kept raw (nested objects, `.` keys and `$name` references).
    pub overrides: Value,
    /// yarn `resolutions` (`"**/name"`, `"parent/name"`, `"name"`).
    #[serde(deserialize_with = "lenient::string_map")]
    pub resolutions: BTreeMap<String, String>,
    /// `workspaces` globs.
    pub workspaces: Workspaces,
    /// `bin`, raw (normalize with [`PackageJson::bins`]).
    #[serde(deserialize_with = "lenient::bin")]
    pub bin: RawBin,
    /// `directories`.
    pub directories: Directories,
    /// `os` filter.
    #[serde(deserialize_with = "lenient::string_list")]
    pub os: Vec<String>,
    /// `cpu` filter.
    #[serde(deserialize_with = "lenient::string_list")]
    pub cpu: Vec<String>,
    /// `libc` filter.
    #[serde(deserialize_with = "lenient::string_list")]
    pub libc: Vec<String>,
    /// `scripts`.
    #[serde(deserialize_with = "lenient::string_map")]
    pub scripts: BTreeMap<String, String>,
    /// Dependencies whose lifecycle scripts the project allows to run.
    #[serde(deserialize_with = "lenient::string_list")]
    pub trusted_dependencies: Vec<String>,
}

impl PackageJson {
    /// Parses package.json text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))?;
        if !value.is_object() {
            return Err(ManifestError::NotAnObject);
        }
        Ok(serde_json::from_value(value)?)
    }

    /// Command → path, normalized; `directories.bin` needs the file list, see
    /// [`crate::bins::expand_directories_bin`].
    pub fn bins(&self) -> BTreeMap<String, String> {
        normalize_bin(self.name.as_deref().unwrap_or(""), &self.bin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_install_field() {
        let pj = PackageJson::parse(
            r#"{
            "name": "app", "version": "1.0.0",
            "dependencies": {"a": "^1"}, "devDependencies": {"d": "2"},
            "optionalDependencies": {"o": "3"}, "peerDependencies": {"p": "4"},
            "peerDependenciesMeta": {"p": {"optional": true}},
            "bundledDependencies": ["a"],
            "overrides": {"x": "1.0.0", "y": {".": "2", "z": "3"}},
            "resolutions": {"**/q": "5"},
            "workspaces": {"packages": ["packages/*"]},
            "bin": {"app": "./bin/app.js"}, "directories": {"bin": "./bin"},
            "os": ["linux"], "cpu": "x64", "libc": ["glibc"],
            "scripts": {"test": "node t.js"},
            "trustedDependencies": ["esbuild"]
        }"#,
        )
        .expect("parses");
        assert_eq!(pj.dependencies["a"], "^1");
        assert_eq!(pj.dev_dependencies["d"], "2");
        assert_eq!(pj.optional_dependencies["o"], "3");
        assert!(pj.peer_dependencies_meta["p"].optional);
        assert_eq!(
            pj.bundle_dependencies,
            BundleDependencies::Names(vec!["a".into()])
        );
        assert_eq!(pj.overrides["y"]["z"], "3");
        assert_eq!(pj.resolutions["**/q"], "5");
        assert_eq!(pj.workspaces.0, vec!["packages/*"]);
        assert_eq!(pj.bins()["app"], "bin/app.js");
        assert_eq!(pj.directories.bin.as_deref(), Some("./bin"));
        assert_eq!(pj.cpu, vec!["x64"]);
        assert_eq!(pj.scripts["test"], "node t.js");
        assert_eq!(pj.trusted_dependencies, vec!["esbuild"]);
        assert!(PackageJson::parse("[]").is_err());
        assert!(PackageJson::parse("{").is_err());
    }
}
