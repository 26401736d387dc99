//! `dx init`: package.json as `npm init -y` writes it (npm 10+: the same keys, in the same
//! order, two-space indent, final newline), named after the directory. dx never asks
//! questions, so `-y` changes nothing. An existing package.json is never touched: npm would
//! merge into it, but silently rewriting a file the user has is the riskier default.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::InitArgs;
use crate::printer::Printer;

/// The longest package name npm accepts.
const MAX_NAME_LEN: usize = 214;

/// Runs `dx init`.
pub fn run(_args: &InitArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    let path = dir.join("package.json");
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = manifest_text(&package_name(&dir_name));
    // create_new: refuse atomically, even if package.json appears while we are here.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists; dx init never overwrites it (edit it, or remove it first)",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if printer.json() {
        printer.answer(text.trim_end());
    } else {
        printer.line(format!("Wrote to {}:\n\n{text}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The package.json text for a package called `name` (already a valid name).
fn manifest_text(name: &str) -> String {
    let name = serde_json::to_string(name).expect("a string serializes");
    format!(
        r#"{{
  "name": {name},
  "version": "1.0.0",
  "description": "",
  "main": "index.js",
  "scripts": {{
    "test": "echo \"Error: no test specified\" && exit 1"
  }},
  "keywords": [],
  "author": "",
  "license": "ISC",
  "type": "commonjs"
}}
"#
    )
}

/// A valid npm package name made from a directory's name: npm's own clean-up (a `node-`
/// prefix and a `.js`/`-js` suffix dropped, spaces to `-`, lowercase), then whatever npm would
/// still reject replaced (other characters to `-`, leading `.`/`_` dropped, at most 214
/// characters); `package` when nothing is left.
fn package_name(dir_name: &str) -> String {
    let mut name = dir_name.trim();
    name = name.strip_prefix("node-").unwrap_or(name);
    name = name
        .strip_suffix(".js")
        .or_else(|| name.strip_suffix("-js"))
        .unwrap_or(name);
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches(['.', '_']);
    let cleaned: String = cleaned.chars().take(MAX_NAME_LEN).collect();
    if cleaned.is_empty() || cleaned == "node_modules" || cleaned == "favicon.ico" {
        "package".to_owned()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_as_npm_does_then_made_valid() {
        assert_eq!(package_name("my-app"), "my-app");
        assert_eq!(
            package_name("My Cool_App"),
            "my-cool_app",
            "npm's own result for this directory"
        );
        assert_eq!(package_name("node-thing.js"), "thing");
        assert_eq!(package_name("thing-js"), "thing");
        assert_eq!(
            package_name(".hidden"),
            "hidden",
            "npm refuses this one; dx drops the dot"
        );
        assert_eq!(package_name("__x"), "x");
        assert_eq!(package_name("café (2)"), "caf---2-");
        assert_eq!(package_name("..."), "package");
        assert_eq!(package_name(""), "package");
        assert_eq!(package_name(&"a".repeat(300)).len(), MAX_NAME_LEN);
        for dir in [
            "My Cool_App",
            ".hidden",
            "café (2)",
            "node_modules",
            "UPPER",
        ] {
            dx_resolve::name::validate_new_package_name(&package_name(dir))
                .unwrap_or_else(|e| panic!("{dir}: {e}"));
        }
    }

    #[test]
    fn the_manifest_has_npms_keys_in_npms_order() {
        let text = manifest_text("a\"b");
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["name"], "a\"b", "the name is escaped");
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  \""))
            .map(|l| l.trim().split('"').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "version",
                "description",
                "main",
                "scripts",
                "keywords",
                "author",
                "license",
                "type"
            ]
        );
        assert!(text.ends_with("}\n"));
    }
}
