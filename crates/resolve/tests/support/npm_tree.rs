//! npm's recorded tree (a `<case>.npm.json` fixture) and the diff against dx's, shared by the
//! agreement tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use dx_resolve::Platform;
use serde_json::Value;

/// What one install put on disk: npm's record, or dx's plan in the same shape.
#[derive(Debug, Default, PartialEq)]
pub struct InstalledTree {
    pub installed: BTreeMap<String, String>,
    pub skipped: BTreeMap<String, String>,
    pub bins: BTreeMap<String, String>,
}

pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().unwrap_or("<not a string>").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn npm_tree(fixture: &Value) -> InstalledTree {
    InstalledTree {
        installed: string_map(fixture.get("installed")),
        skipped: fixture
            .get("skipped")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|p| (p.to_string(), String::new()))
                    .collect()
            })
            .unwrap_or_default(),
        bins: string_map(fixture.get("bins")),
    }
}

pub fn platform_of(fixture: &Value) -> Platform {
    let p = &fixture["platform"];
    Platform {
        os: p["os"].as_str().unwrap_or("linux").to_string(),
        cpu: p["cpu"].as_str().unwrap_or("x64").to_string(),
        libc: p["libc"].as_str().map(str::to_string),
    }
}

/// `- path npm-value` / `+ path dx-value` lines for every key where the two maps disagree.
pub fn diff_lines(
    what: &str,
    npm: &BTreeMap<String, String>,
    dx: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut keys: Vec<&String> = npm.keys().chain(dx.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut lines = Vec::new();
    for key in keys {
        let (n, d) = (npm.get(key), dx.get(key));
        if n == d {
            continue;
        }
        if let Some(n) = n {
            lines.push(format!("    - {what} {key} {n}   (npm)"));
        }
        if let Some(d) = d {
            lines.push(format!("    + {what} {key} {d}   (dx)"));
        }
    }
    lines
}
