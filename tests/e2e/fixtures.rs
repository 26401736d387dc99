//! The registry every end-to-end test runs against, defined once: which packages exist, with
//! which versions, dependencies, bins and files. [`TestContext::with_fixtures`] serves all of
//! them; a test that needs more publishes a [`Package`] of its own (before the server starts,
//! through the builder, or later with [`TestContext::publish`]).
//!
//! The groups below do not depend on each other, so a project only sees the packages its
//! package.json asks for:
//!
//! - nesting: `a@1.0.0` needs `b@^2` while a project wants `b@^1`, so npm's layout nests
//!   `a/node_modules/b`; `a` has the `a-cli` bin and a deep file; `@scope/c` is scoped;
//! - a shared tree for `dx list` / `dx why` (named so they sort as the tree is drawn):
//!   `dep-b@2.0.0` needs `dep-c@^2` and `dep-a@^1`, `dep-a` needs `dep-c@^1`; `hello` has a
//!   `hello-tool` command (a shell script, so no node is needed);
//! - editing: `pad` 1.0.0, 1.1.0 and a `next`-tagged 2.0.0-beta.1; `util` 3.0.0 with a bin;
//! - auditing: `dep` needs `vuln@^1`, and an advisory covers vuln 1.0.0; `ok` is clean (its
//!   advisory is for versions that do not exist);
//! - migrating: `pinned` 1.0.0 and 1.1.0 (each needing `pinned-dep@^1`, with a `pinned` bin),
//!   `pinned-dep` 1.0.0 and 1.5.0, so a fresh resolution differs from an imported lockfile;
//! - install scripts: `tool` (preinstall, install) needs `lib` (postinstall, writing a file into
//!   its own directory); each appends `<name>:<event>` to `$INIT_CWD/ran.txt`; `failing`'s
//!   postinstall exits 7;
//! - `solo`, one package with one file.
//!
//! [`TestContext::with_fixtures`]: crate::support::TestContext::with_fixtures
//! [`TestContext::publish`]: crate::support::TestContext::publish

use std::path::{Path, PathBuf};

use dx_formats::hash::{IntegrityAlgorithm, IntegrityHasher};
use serde_json::{Value, json};

/// One package version to publish into a test registry's directory.
#[derive(Clone, Debug)]
pub struct Package {
    name: String,
    version: String,
    manifest: Value,
    files: Vec<(String, Vec<u8>)>,
}

impl Package {
    /// `name@version` with a package.json of just those two fields and no files.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            manifest: json!({}),
            files: Vec::new(),
        }
    }

    /// Merges `fields` (an object: `dependencies`, `bin`, `scripts`, `os`, …) into package.json.
    pub fn manifest(mut self, fields: Value) -> Self {
        if let (Value::Object(into), Value::Object(from)) = (&mut self.manifest, fields) {
            into.extend(from);
        }
        self
    }

    /// Adds a file at `path` (relative to the package root).
    pub fn file(mut self, path: &str, contents: impl AsRef<[u8]>) -> Self {
        self.files
            .push((path.to_owned(), contents.as_ref().to_vec()));
        self
    }

    /// Adds `index.js` exporting the string `text`, so a test can tell versions apart.
    pub fn exporting(self, text: &str) -> Self {
        self.file("index.js", format!("module.exports = '{text}';\n"))
    }

    /// Writes the tarball to `<dir>/<name>/<basename>-<version>.tgz` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let files: Vec<(&str, &[u8])> = self
            .files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
            .collect();
        dx_net::write_test_package(
            dir,
            &self.name,
            &self.version,
            self.manifest.clone(),
            &files,
        )
    }
}

/// Every package of the standard registry (see the module documentation).
pub fn standard() -> Vec<Package> {
    let mut packages = Vec::new();
    // Nesting.
    packages.extend([
        Package::new("b", "1.0.0")
            .manifest(json!({ "main": "index.js" }))
            .exporting("b1"),
        Package::new("b", "2.0.0")
            .manifest(json!({ "main": "index.js" }))
            .exporting("b2"),
        Package::new("a", "1.0.0")
            .manifest(json!({
                "main": "index.js", "bin": { "a-cli": "cli.js" }, "dependencies": { "b": "^2.0.0" }
            }))
            .file("index.js", "module.exports = 'a+' + require('b');\n")
            .file("cli.js", "#!/usr/bin/env node\nconsole.log('a-cli ran');\n")
            .file("lib/deep/file.txt", "deep\n"),
        Package::new("@scope/c", "3.0.0")
            .manifest(json!({ "main": "c.js" }))
            .file("c.js", "module.exports = 'c';\n"),
    ]);
    // The tree for list and why.
    let one = |p: Package| p.file("index.js", "module.exports = 1;\n");
    packages.extend([
        one(Package::new("dep-c", "1.0.0")),
        one(Package::new("dep-c", "2.0.0")),
        one(Package::new("dep-a", "1.0.0")
            .manifest(json!({ "dependencies": { "dep-c": "^1.0.0" } }))),
        one(Package::new("dep-b", "2.0.0")
            .manifest(json!({ "dependencies": { "dep-c": "^2.0.0", "dep-a": "^1.0.0" } }))),
        Package::new("hello", "1.0.0")
            .manifest(json!({ "bin": { "hello-tool": "cli.sh" } }))
            .file(
                "cli.sh",
                "#!/bin/sh\necho \"hello-tool says: $*\"\nexit ${HELLO_EXIT:-0}\n",
            ),
    ]);
    // Editing.
    for version in ["1.0.0", "1.1.0", "2.0.0-beta.1"] {
        packages.push(
            Package::new("pad", version)
                .manifest(json!({ "main": "index.js" }))
                .exporting(&format!("pad {version}")),
        );
    }
    packages.push(
        Package::new("util", "3.0.0")
            .manifest(json!({ "main": "index.js", "bin": { "util": "cli.js" } }))
            .file("index.js", "module.exports = 'util';\n")
            .file("cli.js", "#!/usr/bin/env node\n"),
    );
    // Auditing.
    packages.extend([
        one(Package::new("vuln", "1.0.0").manifest(json!({ "dependencies": {} }))),
        one(Package::new("dep", "1.0.0").manifest(json!({ "dependencies": { "vuln": "^1.0.0" } }))),
        one(Package::new("ok", "1.0.0").manifest(json!({ "dependencies": {} }))),
    ]);
    // Migrating.
    for version in ["1.0.0", "1.1.0"] {
        packages.push(
            Package::new("pinned", version)
                .manifest(json!({
                    "dependencies": { "pinned-dep": "^1.0.0" }, "bin": { "pinned": "pinned.js" }
                }))
                .file("pinned.js", "#!/usr/bin/env node\n"),
        );
    }
    for version in ["1.0.0", "1.5.0"] {
        packages.push(Package::new("pinned-dep", version).exporting(version));
    }
    // Install scripts.
    let log = |event: &str| format!("echo \"$npm_package_name:{event}\" >> \"$INIT_CWD/ran.txt\"");
    packages.extend([
        Package::new("lib", "1.0.0")
            .manifest(json!({ "scripts": {
                "postinstall": format!("{} && echo built > built.txt", log("postinstall"))
            } }))
            .file("index.js", "module.exports = 1;\n"),
        Package::new("tool", "1.0.0")
            .manifest(json!({
                "dependencies": { "lib": "^1.0.0" },
                "scripts": { "preinstall": log("preinstall"), "install": log("install") }
            }))
            .file("index.js", "module.exports = 2;\n"),
        Package::new("failing", "1.0.0")
            .manifest(json!({ "scripts": { "postinstall": "exit 7" } }))
            .file("index.js", "\n"),
    ]);
    packages.push(Package::new("solo", "1.0.0").file("index.js", "1"));
    packages
}

/// Writes the standard registry into `dir`: every package, `dist-tags.json` and
/// `advisories.json` (which the server reads from its directory).
pub fn write_standard(dir: &Path) {
    for package in standard() {
        package.write(dir);
    }
    write_json(
        &dir.join("dist-tags.json"),
        &json!({ "pad": { "next": "2.0.0-beta.1" } }),
    );
    write_json(
        &dir.join("advisories.json"),
        &json!({
            "vuln": [{ "id": 1001, "url": "https://example.invalid/advisories/1001",
                       "title": "Prototype pollution", "severity": "high",
                       "vulnerable_versions": "<1.0.1", "cwe": [], "cvss": {} }],
            "ok": [{ "id": 1002, "url": "https://example.invalid/advisories/1002",
                     "title": "Old bug", "severity": "critical", "vulnerable_versions": "<0.5.0" }]
        }),
    );
}

/// A published tarball as a lockfile records it.
pub struct Published {
    /// `sha512-…` of the tarball's bytes.
    pub integrity: String,
    /// Where the registry at `registry_url` serves it.
    pub url: String,
}

/// The integrity and URL of `name@version` as written into `dir` by [`Package::write`] and
/// served from `registry_url`.
pub fn published(dir: &Path, registry_url: &str, name: &str, version: &str) -> Published {
    let base = name.rsplit('/').next().unwrap_or(name);
    let path = dir.join(name).join(format!("{base}-{version}.tgz"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{name}@{version} is not published ({}): {e}",
            path.display()
        )
    });
    let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    hasher.update(&bytes);
    Published {
        integrity: hasher.finish().to_string(),
        url: format!(
            "{}/{name}/-/{base}-{version}.tgz",
            registry_url.trim_end_matches('/')
        ),
    }
}

/// An operating system other than this one, for a package that must not install here.
pub fn other_os() -> &'static str {
    if cfg!(target_os = "linux") {
        "darwin"
    } else {
        "linux"
    }
}

fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("serialize fixture JSON");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
