//! Catalogs: pnpm's and Bun's `catalog:` specifiers. A member writes `"react": "catalog:"` (the
//! default catalog) or `"catalog:react18"` (a named one), and the workspace root defines the
//! ranges once: `catalog`/`catalogs` in pnpm-workspace.yaml, or (Bun) in the root
//! package.json's `workspaces` object or at its top level.
//!
//! `dx update` of a catalog entry rewrites the one line (pnpm-workspace.yaml) or field
//! (package.json) that defines it, keeping the rest of the file as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dx_resolve::ManifestEditor;
use serde_json::Value;

use super::config::PNPM_WORKSPACE_FILE;
use crate::error::{Error, Result};

/// The name of the catalog `catalog:` refers to.
pub const DEFAULT_CATALOG: &str = "default";

/// A workspace's catalogs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogs {
    /// The default catalog (`catalog:`, `catalog:default`): package name → specifier.
    pub default: BTreeMap<String, String>,
    /// The named catalogs (`catalog:<name>`): catalog name → package name → specifier.
    pub named: BTreeMap<String, BTreeMap<String, String>>,
}

/// The catalog a specifier refers to: `Some("default")` for `catalog:`, `Some("react18")` for
/// `catalog:react18`, `None` for any other specifier.
pub fn catalog_name(spec: &str) -> Option<&str> {
    let rest = spec.trim().strip_prefix("catalog:")?.trim();
    Some(if rest.is_empty() {
        DEFAULT_CATALOG
    } else {
        rest
    })
}

impl Catalogs {
    /// Whether no catalog is defined.
    pub fn is_empty(&self) -> bool {
        self.default.is_empty() && self.named.values().all(BTreeMap::is_empty)
    }

    /// The catalog named `name` (`default` is the default catalog).
    pub fn get(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        if name == DEFAULT_CATALOG {
            (!self.default.is_empty()).then_some(&self.default)
        } else {
            self.named.get(name)
        }
    }

    /// The specifier `spec` of `dep_name` stands for: `None` when `spec` is not a `catalog:`
    /// specifier, the catalog's entry when it is; an error when the catalog or its entry for
    /// `dep_name` is missing.
    pub fn resolve(&self, dep_name: &str, spec: &str) -> Result<Option<String>> {
        self.resolve_inner(None, dep_name, spec)
    }

    /// [`Self::resolve`] for a dependency of the package.json at `manifest` (named in errors).
    pub fn resolve_in(
        &self,
        manifest: &Path,
        dep_name: &str,
        spec: &str,
    ) -> Result<Option<String>> {
        self.resolve_inner(Some(manifest), dep_name, spec)
    }

    fn resolve_inner(
        &self,
        manifest: Option<&Path>,
        dep_name: &str,
        spec: &str,
    ) -> Result<Option<String>> {
        let Some(catalog) = catalog_name(spec) else {
            return Ok(None);
        };
        let Some(entries) = self.get(catalog) else {
            return Err(Error::CatalogMissing {
                manifest: manifest.map(Path::to_path_buf),
                dependency: dep_name.to_owned(),
                spec: spec.to_owned(),
                catalog: catalog.to_owned(),
            });
        };
        match entries.get(dep_name) {
            Some(entry) => Ok(Some(entry.clone())),
            None => Err(Error::CatalogEntryMissing {
                manifest: manifest.map(Path::to_path_buf),
                dependency: dep_name.to_owned(),
                spec: spec.to_owned(),
                catalog: catalog.to_owned(),
            }),
        }
    }

    /// Sets `dep_name` to `spec` in `catalog` (`default` for the default one); returns the
    /// previous specifier. The files are written by [`write_catalog_entry`].
    pub fn set(&mut self, catalog: &str, dep_name: &str, spec: &str) -> Option<String> {
        let entries = if catalog == DEFAULT_CATALOG {
            &mut self.default
        } else {
            self.named.entry(catalog.to_owned()).or_default()
        };
        entries.insert(dep_name.to_owned(), spec.to_owned())
    }

    /// Adds the entries of `entries` that the default catalog does not have yet.
    pub(crate) fn merge_default(&mut self, entries: BTreeMap<String, String>) {
        for (name, spec) in entries {
            self.default.entry(name).or_insert(spec);
        }
    }

    /// Adds the entries of `entries` that catalog `name` does not have yet (`catalogs.default`
    /// is the default catalog, as pnpm reads it).
    pub(crate) fn merge_named(&mut self, name: &str, entries: BTreeMap<String, String>) {
        if name == DEFAULT_CATALOG {
            return self.merge_default(entries);
        }
        let target = self.named.entry(name.to_owned()).or_default();
        for (dep, spec) in entries {
            target.entry(dep).or_insert(spec);
        }
    }
}

/// The kind of file a catalog is defined in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogFile {
    /// pnpm-workspace.yaml (`catalog:`, `catalogs:`).
    PnpmWorkspaceYaml,
    /// The root package.json (`workspaces.catalog(s)` or top-level `catalog(s)`).
    PackageJson,
}

/// Rewrites the entry of `dep_name` in `catalog` (`default` for the default one) of a file's
/// `text` to `spec`, keeping everything else as it is (comments, order, quoting, formatting).
/// `Ok(None)` when the file does not define that entry.
pub fn rewrite_catalog_entry(
    text: &str,
    file: CatalogFile,
    catalog: &str,
    dep_name: &str,
    spec: &str,
) -> Result<Option<String>> {
    match file {
        CatalogFile::PnpmWorkspaceYaml => Ok(yaml::rewrite(text, catalog, dep_name, spec)),
        CatalogFile::PackageJson => rewrite_json(text, catalog, dep_name, spec),
    }
}

/// Sets `dep_name` to `spec` in `catalog` where the workspace at `root` defines it
/// (pnpm-workspace.yaml first, then the root package.json), writing the file atomically.
/// Returns the file written; an error when neither defines the entry.
pub fn write_catalog_entry(
    root: &Path,
    catalog: &str,
    dep_name: &str,
    spec: &str,
) -> Result<PathBuf> {
    for (name, kind) in [
        (PNPM_WORKSPACE_FILE, CatalogFile::PnpmWorkspaceYaml),
        ("package.json", CatalogFile::PackageJson),
    ] {
        let path = root.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Some(new_text) =
            rewrite_catalog_entry(&text, kind, catalog, dep_name, spec).map_err(|e| {
                Error::WorkspaceConfig {
                    file: path.clone(),
                    reason: e.to_string(),
                }
            })?
        else {
            continue;
        };
        dx_store::write_atomic(&path, new_text.as_bytes()).map_err(|e| Error::Context {
            context: format!("cannot write {}", path.display()),
            source: Box::new(e),
        })?;
        return Ok(path);
    }
    Err(Error::CatalogEntryMissing {
        manifest: None,
        dependency: dep_name.to_owned(),
        spec: if catalog == DEFAULT_CATALOG {
            "catalog:".to_owned()
        } else {
            format!("catalog:{catalog}")
        },
        catalog: catalog.to_owned(),
    })
}

fn rewrite_json(text: &str, catalog: &str, dep_name: &str, spec: &str) -> Result<Option<String>> {
    let mut editor = ManifestEditor::parse(text)
        .map_err(|e| Error::msg(format!("invalid package.json: {e}")))?;
    // Where Bun reads a catalog from: the `workspaces` object, then the top level.
    let mut places: Vec<Vec<&str>> = Vec::new();
    for holder in [&["workspaces"][..], &[][..]] {
        if catalog == DEFAULT_CATALOG {
            places.push([holder, &["catalog"]].concat());
        }
        places.push([holder, &["catalogs", catalog]].concat());
    }
    for place in places {
        let (top, rest) = place.split_first().expect("a place has a field");
        let Some(mut value) = editor.value().get(*top).cloned() else {
            continue;
        };
        let entry = rest
            .iter()
            .try_fold(&mut value, |v, key| v.get_mut(*key))
            .and_then(|entries| entries.as_object_mut())
            .and_then(|entries| entries.get_mut(dep_name));
        let Some(entry) = entry else {
            continue;
        };
        *entry = Value::String(spec.to_owned());
        editor.set_field(top, value);
        return Ok(Some(editor.render()));
    }
    Ok(None)
}

/// Line-level editing of pnpm-workspace.yaml's block mappings.
mod yaml {
    use super::DEFAULT_CATALOG;

    /// The indentation of a line, `None` for blank lines and comments.
    fn indent(line: &str) -> Option<usize> {
        let trimmed = line.trim_start_matches(' ');
        (!trimmed.trim().is_empty() && !trimmed.starts_with('#'))
            .then(|| line.len() - trimmed.len())
    }

    /// The key of a `key: value` line and the byte offset just after its `:`.
    fn key(line: &str) -> Option<(String, usize)> {
        let start = line.len() - line.trim_start().len();
        let body = &line[start..];
        let (key, after) = match body.chars().next()? {
            q @ ('"' | '\'') => {
                let end = body[1..].find(q)? + 1;
                (body[1..end].to_owned(), end + 1)
            }
            _ => {
                let colon = body
                    .char_indices()
                    .find(|&(i, c)| {
                        c == ':' && body[i + 1..].chars().next().is_none_or(char::is_whitespace)
                    })?
                    .0;
                (body[..colon].trim_end().to_owned(), colon)
            }
        };
        let rest = &body[after..];
        let colon = rest.find(':')?;
        rest[..colon]
            .trim()
            .is_empty()
            .then(|| (key, start + after + colon + 1))
    }

    /// The line range (`start..end`) of the block under the key line `at`.
    fn block(lines: &[&str], at: usize) -> (usize, usize) {
        let own = indent(lines[at]).unwrap_or(0);
        let mut end = at + 1;
        while end < lines.len() && indent(lines[end]).is_none_or(|i| i > own) {
            end += 1;
        }
        // Trailing blank lines and comments belong to what follows.
        while end > at + 1 && indent(lines[end - 1]).is_none() {
            end -= 1;
        }
        (at + 1, end)
    }

    /// The line of key `name` directly in the block `range` (at its first indentation).
    fn find(lines: &[&str], range: (usize, usize), name: &str) -> Option<usize> {
        let level = (range.0..range.1).find_map(|i| indent(lines[i]))?;
        (range.0..range.1).find(|&i| {
            indent(lines[i]) == Some(level) && key(lines[i]).is_some_and(|(k, _)| k == name)
        })
    }

    /// Whether a plain scalar `value` would be read as something else and needs quotes.
    fn needs_quotes(value: &str) -> bool {
        value.is_empty()
            || value.starts_with(|c: char| "*&!|>'\"%@`#,[]{}?:-~ ".contains(c))
            || value.contains(": ")
            || value.contains(" #")
            || value.ends_with([' ', ':'])
    }

    fn render(value: &str, quote: Option<char>) -> String {
        match quote {
            Some('"') => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
            Some(_) => format!("'{}'", value.replace('\'', "''")),
            None if needs_quotes(value) => format!("'{}'", value.replace('\'', "''")),
            None => value.to_owned(),
        }
    }

    /// Replaces the value of the entry line, keeping its key, quoting and trailing comment.
    fn replace_value(line: &str, value_at: usize, spec: &str) -> String {
        let rest = &line[value_at..];
        let lead = rest.len() - rest.trim_start().len();
        let value = &rest[lead..];
        let (quote, value_len) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let mut end = 1;
                let bytes = value.as_bytes();
                while end < bytes.len() {
                    if bytes[end] == q as u8 {
                        if q == '\'' && bytes.get(end + 1) == Some(&b'\'') {
                            end += 2;
                            continue;
                        }
                        break;
                    }
                    if q == '"' && bytes[end] == b'\\' {
                        end += 1;
                    }
                    end += 1;
                }
                (Some(q), (end + 1).min(value.len()))
            }
            _ => {
                let comment = value.find(" #").unwrap_or(value.len());
                (None, value[..comment].trim_end().len())
            }
        };
        let space = if lead == 0 { " " } else { &rest[..lead] };
        format!(
            "{}{}{}{}",
            &line[..value_at],
            space,
            render(spec, quote),
            &value[value_len..]
        )
    }

    /// The text with the entry rewritten; `None` when the file does not define it.
    pub(super) fn rewrite(text: &str, catalog: &str, dep_name: &str, spec: &str) -> Option<String> {
        let lines: Vec<&str> = text.split('\n').collect();
        let whole = (0, lines.len());
        let mut blocks = Vec::new();
        if catalog == DEFAULT_CATALOG
            && let Some(at) = find_top(&lines, whole, "catalog")
        {
            blocks.push(block(&lines, at));
        }
        if let Some(at) = find_top(&lines, whole, "catalogs") {
            let named = block(&lines, at);
            if let Some(at) = find(&lines, named, catalog) {
                blocks.push(block(&lines, at));
            }
        }
        for range in blocks {
            let Some(at) = find(&lines, range, dep_name) else {
                continue;
            };
            let (_, value_at) = key(lines[at])?;
            let (line, cr) = match lines[at].strip_suffix('\r') {
                Some(line) => (line, "\r"),
                None => (lines[at], ""),
            };
            let new_line = format!("{}{cr}", replace_value(line, value_at, spec));
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            out[at] = new_line;
            return Some(out.join("\n"));
        }
        None
    }

    fn find_top(lines: &[&str], range: (usize, usize), name: &str) -> Option<usize> {
        (range.0..range.1)
            .find(|&i| indent(lines[i]) == Some(0) && key(lines[i]).is_some_and(|(k, _)| k == name))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rewrites_only_the_value_keeping_quotes_and_comments() {
            let text = "packages:\n  - 'packages/*'\n\ncatalog:\n  # ui\n  react: ^18.2.0 # pinned\n  '@types/node': \"^20.0.0\"\ncatalogs:\n  react17:\n    react: ^17.0.2\n";
            let out = rewrite(text, "default", "react", "^18.3.1").unwrap();
            assert_eq!(out, text.replace("^18.2.0 # pinned", "^18.3.1 # pinned"));
            let out = rewrite(text, "default", "@types/node", "^22.1.0").unwrap();
            assert!(out.contains("'@types/node': \"^22.1.0\"\n"), "{out}");
            let out = rewrite(text, "react17", "react", "~17.0.3").unwrap();
            assert!(out.ends_with("  react17:\n    react: '~17.0.3'\n"), "{out}");
            assert_eq!(rewrite(text, "react17", "vue", "1"), None);
            assert_eq!(rewrite(text, "nope", "react", "1"), None);
        }

        #[test]
        fn catalogs_default_is_the_default_catalog() {
            let text = "catalogs:\n  default:\n    lodash: 4.17.20\n";
            let out = rewrite(text, "default", "lodash", "4.17.21").unwrap();
            assert_eq!(out, "catalogs:\n  default:\n    lodash: 4.17.21\n");
        }
    }
}
