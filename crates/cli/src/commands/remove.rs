//! `dx remove`: take packages out of package.json (every dependency section), then install.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dx_resolve::ManifestEditor;

use crate::cli::{GlobalArgs, InstallArgs};
use crate::commands::changes::DirectChanges;
use crate::commands::install::{self, Edit};
use crate::printer::Printer;
use crate::project::Project;

/// Runs `dx remove`.
pub fn run(
    packages: &[String],
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let project =
        Project::open(&std::env::current_dir().context("cannot read the current directory")?)?;
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
    let before = DirectChanges::snapshot(&project)?;
    let edited = project.with_manifest_text(editor.render())?;
    let code = install::install_project(
        edited,
        args,
        global,
        printer,
        &Edit {
            write_manifest: true,
            ..Edit::default()
        },
    )?;
    before.print_against_disk(printer)?;
    Ok(code)
}
