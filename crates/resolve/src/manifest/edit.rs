//! Edits package.json the way npm does on `install <pkg>` / `uninstall`: the changed dependency
//! section is re-sorted by name, every other key keeps its place, and the file is written back
//! with the indentation, line endings and final newline it was read with.

use serde_json::{Map, Value};

use super::ManifestError;

/// The dependency sections a command can write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencySection {
    /// `dependencies`
    Dependencies,
    /// `devDependencies`
    DevDependencies,
    /// `optionalDependencies`
    OptionalDependencies,
    /// `peerDependencies`
    PeerDependencies,
}

impl DependencySection {
    /// Every section, in npm's order of precedence.
    pub const ALL: [DependencySection; 4] = [
        DependencySection::Dependencies,
        DependencySection::DevDependencies,
        DependencySection::OptionalDependencies,
        DependencySection::PeerDependencies,
    ];

    /// The JSON key.
    pub fn key(self) -> &'static str {
        match self {
            DependencySection::Dependencies => "dependencies",
            DependencySection::DevDependencies => "devDependencies",
            DependencySection::OptionalDependencies => "optionalDependencies",
            DependencySection::PeerDependencies => "peerDependencies",
        }
    }
}

/// A package.json held as an order-preserving JSON value plus its original formatting.
#[derive(Debug, Clone)]
pub struct ManifestEditor {
    root: Map<String, Value>,
    indent: String,
    crlf: bool,
    trailing_newline: bool,
    bom: bool,
}

impl ManifestEditor {
    /// Reads package.json text, remembering its indentation (first indented line; two spaces if
    /// none), CRLF line endings, final newline and byte-order mark.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let bom = text.starts_with('\u{feff}');
        let body = text.trim_start_matches('\u{feff}');
        let value: Value = serde_json::from_str(body)?;
        let Value::Object(root) = value else {
            return Err(ManifestError::NotAnObject);
        };
        let indent = body
            .lines()
            .skip(1)
            .find_map(|line| {
                let ws: String = line
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect();
                (!ws.is_empty() && ws.len() < line.len()).then_some(ws)
            })
            .unwrap_or_else(|| "  ".to_string());
        Ok(ManifestEditor {
            root,
            indent,
            crlf: body.contains("\r\n"),
            trailing_newline: body.ends_with('\n'),
            bom,
        })
    }

    /// The specifier of `name` in `section`, if any.
    pub fn dependency(&self, section: DependencySection, name: &str) -> Option<&str> {
        self.root.get(section.key())?.get(name)?.as_str()
    }

    /// Sets `name` to `spec` in `section` (created at the end if missing), removes `name` from the
    /// other dependency sections except `peerDependencies` (as npm moves a package between
    /// sections), and sorts the section by name as npm writes it.
    pub fn set_dependency(&mut self, section: DependencySection, name: &str, spec: &str) {
        for other in DependencySection::ALL {
            if other != section && other != DependencySection::PeerDependencies {
                self.remove_from(other, name);
            }
        }
        let entry = self
            .root
            .entry(section.key().to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(map) = entry {
            map.insert(name.to_string(), Value::String(spec.to_string()));
            sort_map(map);
        }
    }

    /// Removes `name` from every dependency section; returns the sections it was in.
    pub fn remove_dependency(&mut self, name: &str) -> Vec<DependencySection> {
        DependencySection::ALL
            .into_iter()
            .filter(|s| self.remove_from(*s, name))
            .collect()
    }

    fn remove_from(&mut self, section: DependencySection, name: &str) -> bool {
        match self.root.get_mut(section.key()) {
            Some(Value::Object(map)) => map.shift_remove(name).is_some(),
            _ => false,
        }
    }

    /// Sets a top-level field (`trustedDependencies`, …), keeping its place when it exists and
    /// appending it otherwise.
    pub fn set_field(&mut self, key: &str, value: Value) {
        self.root.insert(key.to_string(), value);
    }

    /// The whole document, for reads the typed model does not cover.
    pub fn value(&self) -> &Map<String, Value> {
        &self.root
    }

    /// Writes the document back in its original formatting.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serializing a Map of Values into a Vec cannot fail.
        if serde::Serialize::serialize(&self.root, &mut serializer).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if self.trailing_newline {
            text.push('\n');
        }
        if self.crlf {
            text = text.replace('\n', "\r\n");
        }
        if self.bom {
            text.insert(0, '\u{feff}');
        }
        text
    }
}

/// npm sorts dependency objects with `localeCompare('en')` when it saves them.
fn sort_map(map: &mut Map<String, Value>) {
    let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
    entries.sort_by(|a, b| crate::collate::locale_compare(&a.0, &b.0));
    map.extend(entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_keeps_key_order_and_indentation() {
        let text = "{\n    \"name\": \"app\",\n    \"dependencies\": {\n        \"zed\": \"1\",\n        \"abc\": \"2\"\n    },\n    \"scripts\": {}\n}\n";
        let mut e = ManifestEditor::parse(text).expect("parses");
        e.set_dependency(DependencySection::Dependencies, "mid", "^3.0.0");
        let out = e.render();
        assert_eq!(
            out,
            "{\n    \"name\": \"app\",\n    \"dependencies\": {\n        \"abc\": \"2\",\n        \"mid\": \"^3.0.0\",\n        \"zed\": \"1\"\n    },\n    \"scripts\": {}\n}\n"
        );
    }

    #[test]
    fn tabs_crlf_and_no_final_newline_survive() {
        let text =
            "{\r\n\t\"name\": \"app\",\r\n\t\"devDependencies\": {\r\n\t\t\"a\": \"1\"\r\n\t}\r\n}";
        let mut e = ManifestEditor::parse(text).expect("parses");
        e.set_dependency(DependencySection::Dependencies, "a", "^2");
        let out = e.render();
        assert_eq!(
            out,
            "{\r\n\t\"name\": \"app\",\r\n\t\"devDependencies\": {},\r\n\t\"dependencies\": {\r\n\t\t\"a\": \"^2\"\r\n\t}\r\n}"
        );
    }

    #[test]
    fn remove_reports_sections_and_round_trips_untouched() {
        let text = "{\n  \"b\": 1,\n  \"a\": [1, 2],\n  \"dependencies\": {\"x\": \"1\"},\n  \"optionalDependencies\": {\"x\": \"1\"}\n}\n";
        let mut e = ManifestEditor::parse(text).expect("parses");
        assert_eq!(
            e.dependency(DependencySection::Dependencies, "x"),
            Some("1")
        );
        let removed = e.remove_dependency("x");
        assert_eq!(
            removed,
            vec![
                DependencySection::Dependencies,
                DependencySection::OptionalDependencies
            ]
        );
        let out = e.render();
        assert!(
            out.starts_with("{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ],"),
            "{out}"
        );
        assert!(e.remove_dependency("x").is_empty());
    }
}
