//! `bin` handling: [`normalize_bin`] (npm-normalize-package-bin, in dx-metadata beside the
//! manifest model that uses it) and `directories.bin` expansion.

use std::collections::BTreeMap;

pub use dx_metadata::bins::normalize_bin;
use dx_metadata::bins::{insert_bin as insert, normalize_inside};

/// `directories.bin`: every file under `dir` (paths relative to the package root, as listed from
/// its archive) becomes a command named after the file. Used only when `bin` is absent.
pub fn expand_directories_bin<'a>(
    dir: &str,
    files: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, String> {
    let dir = normalize_inside(dir);
    let mut out = BTreeMap::new();
    if dir.is_empty() {
        return out;
    }
    let prefix = format!("{dir}/");
    for file in files {
        let file = normalize_inside(file);
        if let Some(rest) = file.strip_prefix(&prefix)
            && !rest.is_empty()
        {
            let command = rest.rsplit('/').next().unwrap_or(rest);
            insert(&mut out, command, &file);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_bin_lists_files() {
        let bins = expand_directories_bin(
            "./bin",
            ["bin/a", "bin/sub/b.js", "lib/c.js", "package.json"],
        );
        assert_eq!(bins.len(), 2);
        assert_eq!(bins.get("a").map(String::as_str), Some("bin/a"));
        assert_eq!(bins.get("b.js").map(String::as_str), Some("bin/sub/b.js"));
    }
}
