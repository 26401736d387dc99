//! `bin` normalization as npm-normalize-package-bin does it: command names are reduced to a
//! base name, targets are normalized inside the package (a `..` can never climb out of it).

use std::collections::BTreeMap;

use crate::lenient::RawBin;

/// Normalizes `bin` (string or object) of package `package_name` into command → relative path.
pub fn normalize_bin(package_name: &str, raw: &RawBin) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match raw {
        RawBin::None => {}
        RawBin::Single(target) => {
            let command = package_name.rsplit('/').next().unwrap_or(package_name);
            insert_bin(&mut out, command, target);
        }
        RawBin::Map(map) => {
            for (command, target) in map {
                insert_bin(&mut out, command, target);
            }
        }
    }
    out
}

/// Adds command → target to `out` as npm does: the command reduced to a base name, the target
/// normalized inside the package; empty or `..` results are dropped.
pub fn insert_bin(out: &mut BTreeMap<String, String>, command: &str, target: &str) {
    let command = command.replace(['\\', ':'], "/");
    let command = command.rsplit('/').next().unwrap_or("");
    let command = normalize_inside(command);
    let target = normalize_inside(&target.replace('\\', "/"));
    if !command.is_empty() && !target.is_empty() && command != ".." {
        out.insert(command, target);
    }
}

/// `path.join('/', p).slice(1)`: resolves `.` and `..` without ever leaving the root.
pub fn normalize_inside(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_bin_is_named_after_the_unscoped_package() {
        let bins = normalize_bin("@scope/tool", &RawBin::Single("./bin/cli.js".into()));
        assert_eq!(bins.get("tool").map(String::as_str), Some("bin/cli.js"));
    }

    #[test]
    fn object_bin_cannot_escape_the_package() {
        let mut map = BTreeMap::new();
        map.insert("../evil".to_string(), "../../etc/passwd".to_string());
        map.insert("ok".to_string(), "./lib/../cli.js".to_string());
        let bins = normalize_bin("x", &RawBin::Map(map));
        assert_eq!(bins.get("evil").map(String::as_str), Some("etc/passwd"));
        assert_eq!(bins.get("ok").map(String::as_str), Some("cli.js"));
    }
}
