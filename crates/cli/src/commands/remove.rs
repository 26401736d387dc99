//! `dx remove`: take packages out of package.json (every dependency section), then install.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_resolve::ManifestEditor;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::commands::changes::install_edited;
use crate::commands::install::Edit;
use crate::printer::Printer;
use crate::project::Project;

/// Runs `dx remove`.
pub fn run(
    packages: &[String],
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let project = Project::open_current()?;
    let mut editor =
        ManifestEditor::parse(&project.manifest_text).context("package.json is not valid")?;
    for name in packages {
        if editor.remove_dependency(name).is_empty() {
            bail!(
                "cannot remove {name}: it is not a dependency in {}",
                project.dir.join("package.json").display()
            );
        }
    }
    install_edited(
        &project,
        editor.render(),
        args,
        global,
        printer,
        &Edit {
            write_manifest: true,
            ..Edit::default()
        },
    )
}
