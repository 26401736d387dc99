//! Serializing a [`Lockfile`] to its canonical text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::token::push_token;
use super::{
    EdgeKind, Importer, LOCKFILE_VERSION, LockedEdge, LockedPackage, Lockfile, Workspace,
    split_package_key,
};

/// The comment that opens every `dx.lock`; the parser skips comments.
pub(crate) const BANNER: &str =
    "# dx.lock: written by dx. One package per block, sorted, so merges stay simple.";

/// Writes one line: two-space indentation when `indented`, then the tokens.
fn line(out: &mut String, indented: bool, keyword: &str, values: &[&str]) {
    if indented {
        out.push_str("  ");
    }
    out.push_str(keyword);
    for v in values {
        out.push(' ');
        push_token(out, v);
    }
    out.push('\n');
}

fn pairs(out: &mut String, keyword: &str, map: &BTreeMap<String, String>) {
    for (k, v) in map {
        line(out, true, keyword, &[k, v]);
    }
}

fn list(out: &mut String, keyword: &str, values: &[String]) {
    if !values.is_empty() {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        line(out, true, keyword, &refs);
    }
}

fn package(out: &mut String, key: &str, pkg: &LockedPackage) {
    out.push('\n');
    line(out, false, "package", &[key]);
    // Name and version are written only where the key does not already say them.
    let derived = split_package_key(key);
    if derived.is_none_or(|(name, _)| name != pkg.name) {
        line(out, true, "name", &[&pkg.name]);
    }
    if derived.is_none_or(|(_, version)| version != pkg.version) {
        line(out, true, "version", &[&pkg.version]);
    }
    if let Some(resolved) = &pkg.resolved {
        line(out, true, "resolved", &[resolved]);
    }
    if let Some(integrity) = &pkg.integrity {
        // `<algorithm>-<base64>` is always a bare token: written without a String of its own.
        let _ = writeln!(out, "  integrity {integrity}");
    }
    list(out, "os", &pkg.os);
    list(out, "cpu", &pkg.cpu);
    list(out, "libc", &pkg.libc);
    pairs(out, "bin", &pkg.bin);
    if pkg.has_install_script {
        line(out, true, "has-install-script", &[]);
    }
    if let Some(deprecated) = &pkg.deprecated {
        line(out, true, "deprecated", &[deprecated]);
    }
    if pkg.optional {
        line(out, true, "optional", &[]);
    }
    if pkg.dev {
        line(out, true, "dev", &[]);
    }
    for (name, edge) in &pkg.dependencies {
        edge_line(out, name, edge);
    }
}

/// `<kind> NAME SPEC [TARGET]`, the same for package and root edges.
fn edge_line(out: &mut String, name: &str, edge: &LockedEdge) {
    match &edge.target {
        Some(target) => line(
            out,
            true,
            edge.kind.keyword(),
            &[name, &edge.specifier, target],
        ),
        None => line(out, true, edge.kind.keyword(), &[name, &edge.specifier]),
    }
}

/// An importer's edges by kind, then name: the manifest's sections, in package.json's order.
fn importer_edges(out: &mut String, importer: &Importer) {
    for kind in EdgeKind::ALL {
        for (name, edge) in importer.edges.iter().filter(|(_, e)| e.kind == kind) {
            edge_line(out, name, edge);
        }
    }
}

/// `workspace PATH`, then name, version (when not empty), bins and edges. A member's
/// overrides are not written: npm reads overrides from the root only.
fn workspace(out: &mut String, path: &str, member: &Workspace) {
    out.push('\n');
    line(out, false, "workspace", &[path]);
    line(out, true, "name", &[&member.name]);
    if !member.version.is_empty() {
        line(out, true, "version", &[&member.version]);
    }
    pairs(out, "bin", &member.bin);
    importer_edges(out, &member.importer);
}

/// The canonical text of `lock`.
pub(crate) fn write(lock: &Lockfile) -> String {
    // 300–350 bytes per package in practice (a registry URL, an integrity, two or three
    // edges): one allocation for most locks, never a copy of a megabyte grown halfway.
    let mut out = String::with_capacity(256 + lock.packages.len() * 400);
    out.push_str(BANNER);
    out.push('\n');
    out.push_str(&format!("dx-lock {LOCKFILE_VERSION}\n\nroot\n"));
    importer_edges(&mut out, &lock.root);
    pairs(&mut out, "override", &lock.root.overrides);
    for (path, member) in &lock.workspaces {
        workspace(&mut out, path, member);
    }
    for (key, pkg) in &lock.packages {
        package(&mut out, key, pkg);
    }
    out
}
