//! What an `add` / `remove` / `update` changed among the project's direct dependencies, printed
//! after the install as npm and Bun do (`+ react 18.3.1`, `- lodash 4.17.21`, `~ a 1.0.0 → 1.2.0`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use dx_formats::lockfile::Lockfile;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::commands::install::{self, Edit};
use crate::printer::Printer;
use crate::project::Project;

/// Installs `project` with its package.json edited to `manifest_text` (written only once the
/// install succeeds, as `edit` says), then prints what changed among the direct dependencies:
/// the common tail of `add`, `remove` and `update`.
pub fn install_edited(
    project: &Project,
    manifest_text: String,
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
    edit: &Edit,
) -> anyhow::Result<ExitCode> {
    let before = DirectChanges::snapshot(project)?;
    let edited = project.with_manifest_text(manifest_text)?;
    let code = install::install_project(edited, args, global, printer, edit)?;
    before.print_against_disk(printer)?;
    Ok(code)
}

/// The direct dependencies' versions recorded in dx.lock at one moment.
pub struct DirectChanges {
    lock_path: PathBuf,
    before: BTreeMap<String, String>,
}

impl DirectChanges {
    /// Records the versions dx.lock holds now (none without a dx.lock).
    pub fn snapshot(project: &Project) -> anyhow::Result<Self> {
        let before = project
            .read_lockfile()?
            .map(|(_, lock)| direct_versions(&lock))
            .unwrap_or_default();
        Ok(Self {
            lock_path: project.lockfile_path(),
            before,
        })
    }

    /// Compares with dx.lock as it is now and prints one line per changed direct dependency.
    pub fn print_against_disk(&self, printer: &Printer) -> anyhow::Result<()> {
        let text = match std::fs::read_to_string(&self.lock_path) {
            Ok(text) => text,
            Err(_) => return Ok(()),
        };
        let Ok(lock) = dx_resolve::lockfile::parse(&text) else {
            return Ok(());
        };
        for line in diff(&self.before, &direct_versions(&lock)) {
            printer.line(line);
        }
        Ok(())
    }
}

/// Direct dependency name → the version dx.lock resolved it to.
fn direct_versions(lock: &Lockfile) -> BTreeMap<String, String> {
    lock.root
        .edges
        .iter()
        .filter_map(|(name, edge)| {
            let target = edge.target.as_ref()?;
            Some((name.clone(), lock.packages.get(target)?.version.clone()))
        })
        .collect()
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, version) in after {
        match before.get(name) {
            None => lines.push(format!("+ {name} {version}")),
            Some(old) if old != version => lines.push(format!("~ {name} {old} → {version}")),
            Some(_) => {}
        }
    }
    for (name, version) in before {
        if !after.contains_key(name) {
            lines.push(format!("- {name} {version}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_added_changed_and_removed() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let before = map(&[("a", "1.0.0"), ("b", "1.0.0"), ("c", "2.0.0")]);
        let after = map(&[("a", "1.0.0"), ("b", "1.1.0"), ("d", "3.0.0")]);
        assert_eq!(
            diff(&before, &after),
            vec!["~ b 1.0.0 → 1.1.0", "+ d 3.0.0", "- c 2.0.0"]
        );
    }
}
