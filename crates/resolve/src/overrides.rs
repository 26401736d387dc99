//! npm `overrides` and yarn `resolutions`, flattened to one rule list.
//!
//! Flat form (what the lockfile keeps): `name`, `name@range`, `parent>name`, `parent@range>name`.
//! npm's nested objects become `parent>name` rules and `"."` the parent's own rule; yarn's
//! `**/name` is global and `parent/name` is a parent rule. A parent rule applies to the direct
//! dependencies of that parent (npm applies it to the whole subtree; dx does not yet).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::PackageJson;
use crate::semver::{Range, Version};
use crate::spec::split_name_spec;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Selector {
    name: String,
    range: Option<Range>,
    raw: String,
}

impl Selector {
    fn parse(text: &str) -> Self {
        let (name, range) = split_name_spec(text);
        Selector {
            name: name.to_string(),
            range: (!range.is_empty() && range != "*")
                .then(|| Range::parse(range).ok())
                .flatten(),
            raw: text.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    parent: Option<Selector>,
    target: Selector,
    spec: String,
}

/// The root's override rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    rules: Vec<Rule>,
}

impl Overrides {
    /// Collects `overrides` (npm) and `resolutions` (yarn) from the root package.json;
    /// `$name` values refer to the root's own specifier for `name`.
    pub fn from_manifest(pj: &PackageJson) -> Self {
        let mut flat = BTreeMap::new();
        let root_spec = |name: &str| {
            pj.dependencies
                .get(name)
                .or_else(|| pj.dev_dependencies.get(name))
                .or_else(|| pj.optional_dependencies.get(name))
                .or_else(|| pj.peer_dependencies.get(name))
                .cloned()
        };
        let resolve_value = |key: String, value: &str, flat: &mut BTreeMap<String, String>| {
            let spec = match value.strip_prefix('$') {
                Some(reference) => root_spec(reference),
                None => Some(value.to_string()),
            };
            if let Some(spec) = spec {
                flat.insert(key, spec);
            }
        };
        if let Value::Object(map) = &pj.overrides {
            for (key, value) in map {
                match value {
                    Value::String(s) => resolve_value(key.clone(), s, &mut flat),
                    Value::Object(children) => {
                        for (child, child_value) in children {
                            let Value::String(s) = child_value else {
                                continue;
                            };
                            if child == "." {
                                resolve_value(key.clone(), s, &mut flat);
                            } else {
                                resolve_value(format!("{key}>{child}"), s, &mut flat);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (pattern, spec) in &pj.resolutions {
            let names = yarn_pattern_names(pattern);
            let key = match names.as_slice() {
                [] => continue,
                [only] => only.clone(),
                [.., parent, target] => format!("{parent}>{target}"),
            };
            resolve_value(key, spec, &mut flat);
        }
        Self::from_flat(&flat)
    }

    /// Rebuilds the rules from the flat form stored in a lockfile.
    pub fn from_flat(flat: &BTreeMap<String, String>) -> Self {
        let rules = flat
            .iter()
            .map(|(key, spec)| {
                let (parent, target) = match key.split_once('>') {
                    Some((p, t)) => (Some(Selector::parse(p.trim())), Selector::parse(t.trim())),
                    None => (None, Selector::parse(key.trim())),
                };
                Rule {
                    parent,
                    target,
                    spec: spec.clone(),
                }
            })
            .collect();
        Overrides { rules }
    }

    /// The flat form (for the lockfile).
    pub fn to_flat(&self) -> BTreeMap<String, String> {
        self.rules
            .iter()
            .map(|r| {
                let key = match &r.parent {
                    Some(p) => format!("{}>{}", p.raw, r.target.raw),
                    None => r.target.raw.clone(),
                };
                (key, r.spec.clone())
            })
            .collect()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The overriding specifier for dependency `name@spec` of package `parent@parent_version`,
    /// if a rule applies; a parent rule wins over a global one.
    pub fn apply(
        &self,
        parent: &str,
        parent_version: Option<&Version>,
        name: &str,
        spec: &str,
    ) -> Option<&str> {
        let mut global = None;
        for rule in &self.rules {
            if rule.target.name != name || !selector_matches(&rule.target, spec) {
                continue;
            }
            match &rule.parent {
                Some(p) => {
                    let version_ok = match (&p.range, parent_version) {
                        (Some(range), Some(v)) => range.satisfies(v),
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    if p.name == parent && version_ok {
                        return Some(&rule.spec);
                    }
                }
                None => global = global.or(Some(rule.spec.as_str())),
            }
        }
        global
    }
}

/// `name@range` keys apply when the edge's range and the key's range can meet (npm uses
/// `semver.intersects`; dx checks the lowest version of either side against the other).
fn selector_matches(selector: &Selector, edge_spec: &str) -> bool {
    let Some(key_range) = &selector.range else {
        return true;
    };
    let Ok(edge_range) = Range::parse(edge_spec) else {
        return false;
    };
    edge_range
        .min_version()
        .is_some_and(|v| key_range.satisfies(&v))
        || key_range
            .min_version()
            .is_some_and(|v| edge_range.satisfies(&v))
}

/// `**/a/@s/b` → `["a", "@s/b"]`.
fn yarn_pattern_names(pattern: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut segments = pattern.split('/').filter(|s| !s.is_empty() && *s != "**");
    while let Some(segment) = segments.next() {
        if segment.starts_with('@') {
            if let Some(next) = segments.next() {
                names.push(format!("{segment}/{next}"));
            }
        } else {
            names.push(segment.to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_and_yarn_forms_flatten_and_apply() {
        let pj = PackageJson::parse(
            r#"{
              "dependencies": {"react": "^18.2.0"},
              "overrides": {"a": "1.0.0", "b": {".": "2.0.0", "c": "3.0.0"}, "d@^1": "1.5.0", "react-dom": {"react": "$react"}},
              "resolutions": {"**/e": "4.0.0", "f/@s/g": "5.0.0"}
            }"#,
        )
        .expect("parses");
        let o = Overrides::from_manifest(&pj);
        assert_eq!(o.apply("x", None, "a", "^2"), Some("1.0.0"));
        assert_eq!(o.apply("x", None, "b", "^1"), Some("2.0.0"));
        assert_eq!(o.apply("b", None, "c", "^1"), Some("3.0.0"));
        assert_eq!(o.apply("x", None, "c", "^1"), None);
        assert_eq!(o.apply("x", None, "d", "^1.2.0"), Some("1.5.0"));
        assert_eq!(o.apply("x", None, "d", "^2.0.0"), None);
        assert_eq!(o.apply("react-dom", None, "react", "^17"), Some("^18.2.0"));
        assert_eq!(o.apply("x", None, "e", "1"), Some("4.0.0"));
        assert_eq!(o.apply("f", None, "@s/g", "1"), Some("5.0.0"));
        let round = Overrides::from_flat(&o.to_flat());
        assert_eq!(round, o);
    }
}
