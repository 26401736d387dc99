//! Reading a directory's workspaces config: the root package.json's `workspaces` (array, or
//! object with `packages`, `catalog`, `catalogs`; Bun also accepts top-level `catalog` and
//! `catalogs`) and pnpm-workspace.yaml (`packages`, `catalog`, `catalogs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::catalog::Catalogs;
use crate::error::{Error, Result};

/// pnpm's workspace file, beside the root package.json.
pub const PNPM_WORKSPACE_FILE: &str = "pnpm-workspace.yaml";

/// What a workspace root declares.
#[derive(Debug, Default)]
pub(crate) struct WorkspaceConfig {
    /// The member patterns, as written.
    pub(crate) patterns: Vec<String>,
    /// The file they come from (for errors).
    pub(crate) patterns_file: PathBuf,
    /// The catalogs of both files.
    pub(crate) catalogs: Catalogs,
}

/// A YAML scalar read as the string it spells (`react: 18` is `"18"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    String(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Uint(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

type YamlCatalog = BTreeMap<String, Scalar>;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PnpmWorkspace {
    packages: Option<Vec<String>>,
    catalog: Option<YamlCatalog>,
    catalogs: Option<BTreeMap<String, Option<YamlCatalog>>>,
}

fn strings(map: YamlCatalog) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, v.into_string())).collect()
}

impl WorkspaceConfig {
    /// The config of `dir`, `None` when it has neither a package.json `workspaces` field nor a
    /// pnpm-workspace.yaml. A package.json or pnpm-workspace.yaml that exists but cannot be
    /// parsed is an error naming it.
    pub(crate) fn read(dir: &Path) -> Result<Option<Self>> {
        let yaml_path = dir.join(PNPM_WORKSPACE_FILE);
        let json_path = dir.join("package.json");
        let yaml = read_optional(&yaml_path)?;
        let json = read_optional(&json_path)?;
        let manifest = match &json {
            Some(text) => Some(parse_json(text, &json_path)?),
            None => None,
        };
        let workspaces = manifest.as_ref().and_then(|m| m.get("workspaces"));
        if yaml.is_none() && workspaces.is_none() {
            return Ok(None);
        }
        let mut config = WorkspaceConfig::default();
        let mut from_yaml = false;
        if let Some(text) = &yaml {
            let parsed = parse_yaml(text, &yaml_path)?;
            if let Some(packages) = parsed.packages {
                config.patterns = packages;
                config.patterns_file = yaml_path.clone();
                from_yaml = true;
            }
            if let Some(default) = parsed.catalog {
                config.catalogs.default = strings(default);
            }
            for (name, entries) in parsed.catalogs.unwrap_or_default() {
                config
                    .catalogs
                    .merge_named(&name, strings(entries.unwrap_or_default()));
            }
        }
        if let Some(manifest) = &manifest {
            let bad = |reason: &str| Error::WorkspaceConfig {
                file: json_path.clone(),
                reason: reason.to_owned(),
            };
            let (packages, object) = match workspaces {
                None => (None, None),
                Some(Value::Array(list)) => (Some(list.as_slice()), None),
                Some(Value::Object(object)) => (
                    match object.get("packages") {
                        None => None,
                        Some(Value::Array(list)) => Some(list.as_slice()),
                        Some(_) => {
                            return Err(bad("`workspaces.packages` must be an array of globs"));
                        }
                    },
                    Some(object),
                ),
                Some(_) => {
                    return Err(bad(
                        "`workspaces` must be an array of globs or an object with `packages`",
                    ));
                }
            };
            if !from_yaml {
                config.patterns_file = json_path.clone();
                for pattern in packages.unwrap_or_default() {
                    let Some(pattern) = pattern.as_str() else {
                        return Err(bad("workspace patterns must be strings"));
                    };
                    config.patterns.push(pattern.to_owned());
                }
            }
            // Bun: `workspaces.catalog(s)`, and the top-level `catalog(s)` it also accepts.
            for holder in [object, manifest.as_object()].into_iter().flatten() {
                if let Some(default) = holder.get("catalog") {
                    config
                        .catalogs
                        .merge_default(json_catalog(default, "catalog", &json_path)?);
                }
                if let Some(named) = holder.get("catalogs") {
                    let Value::Object(named) = named else {
                        return Err(bad("`catalogs` must be an object of catalogs"));
                    };
                    for (name, entries) in named {
                        let entries =
                            json_catalog(entries, &format!("catalogs.{name}"), &json_path)?;
                        config.catalogs.merge_named(name, entries);
                    }
                }
            }
        }
        if config.patterns_file.as_os_str().is_empty() {
            config.patterns_file = if yaml.is_some() { yaml_path } else { json_path };
        }
        Ok(Some(config))
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A directory named package.json, or an unreadable ancestor: not a config.
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Ok(None),
        Err(e) => Err(Error::WorkspaceConfig {
            file: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        }),
    }
}

fn parse_json(text: &str, path: &Path) -> Result<Value> {
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| Error::WorkspaceConfig {
        file: path.to_path_buf(),
        reason: format!("invalid JSON: {e}"),
    })
}

fn parse_yaml(text: &str, path: &Path) -> Result<PnpmWorkspace> {
    if text.trim().is_empty() {
        return Ok(PnpmWorkspace::default());
    }
    serde_saphyr::from_str::<Option<PnpmWorkspace>>(text)
        .map(Option::unwrap_or_default)
        .map_err(|e| Error::WorkspaceConfig {
            file: path.to_path_buf(),
            reason: format!(
                "invalid YAML: {}",
                e.to_string().lines().next().unwrap_or_default()
            ),
        })
}

fn json_catalog(value: &Value, field: &str, path: &Path) -> Result<BTreeMap<String, String>> {
    let bad = || Error::WorkspaceConfig {
        file: path.to_path_buf(),
        reason: format!("`{field}` must map package names to version specifiers"),
    };
    let Value::Object(map) = value else {
        return Err(bad());
    };
    map.iter()
        .map(|(name, spec)| Ok((name.clone(), spec.as_str().ok_or_else(bad)?.to_owned())))
        .collect()
}
