//! One settings resolution per command: the flags of a command (every field destructured, so
//! none is silently dropped), the environment (`CI`) and the global flags become the engine's
//! typed [`InstallSettings`].

use dx_fallback_link::LinkMode;
use dx_install::{InstallSettings, LinkerChoice, NetworkMode};

use crate::cli::{GlobalArgs, InstallArgs, MaterializeMode};

/// Whether the command edits package.json or re-resolves on purpose (`add`, `remove`,
/// `update`, `audit fix`): `CI=true` then does not imply `--frozen-lockfile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// `dx install` (and `dx mount`).
    Install,
    /// A command that asks for a new dx.lock.
    Edit,
}

/// The install settings of a command run with `args` and `global`.
pub fn install_settings(
    args: &InstallArgs,
    global: &GlobalArgs,
    intent: Intent,
) -> InstallSettings {
    let InstallArgs {
        frozen_lockfile,
        lockfile_only,
        materialize,
        no_materialize,
        production,
        ignore_scripts,
        offline,
        prefer_offline,
        prefer_online,
    } = args;
    let linker = match (materialize, no_materialize) {
        (Some(mode), _) => LinkerChoice::Materialize(link_mode(*mode)),
        (None, true) => LinkerChoice::Mount,
        (None, false) => LinkerChoice::Remembered,
    };
    let network = if *offline {
        NetworkMode::Offline
    } else if *prefer_offline {
        NetworkMode::PreferOffline
    } else if *prefer_online {
        NetworkMode::PreferOnline
    } else {
        NetworkMode::Online
    };
    InstallSettings {
        frozen_lockfile: *frozen_lockfile || (intent == Intent::Install && dx_install::is_ci()),
        lockfile_only: *lockfile_only,
        linker,
        production: *production,
        ignore_scripts: *ignore_scripts,
        network,
        registry: global.registry.clone(),
    }
}

fn link_mode(mode: MaterializeMode) -> LinkMode {
    match mode {
        MaterializeMode::Auto => LinkMode::Auto,
        MaterializeMode::Reflink => LinkMode::Reflink,
        MaterializeMode::Hardlink => LinkMode::Hardlink,
        MaterializeMode::Copy => LinkMode::Copy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn settings(flags: &[&str]) -> InstallSettings {
        let cli = crate::cli::Cli::parse_from(["dx", "install"].iter().chain(flags));
        let crate::cli::Command::Install { install: args, .. } = cli.command else {
            panic!("not install")
        };
        install_settings(&args, &cli.global, Intent::Edit)
    }

    #[test]
    fn every_flag_reaches_the_settings() {
        let s = settings(&[
            "--frozen-lockfile",
            "--lockfile-only",
            "--materialize=copy",
            "--production",
            "--ignore-scripts",
            "--prefer-offline",
            "--registry",
            "http://127.0.0.1:1/",
        ]);
        assert!(s.frozen_lockfile && s.lockfile_only && s.production && s.ignore_scripts);
        assert_eq!(s.linker, LinkerChoice::Materialize(LinkMode::Copy));
        assert_eq!(s.network, NetworkMode::PreferOffline);
        assert_eq!(s.registry.as_deref(), Some("http://127.0.0.1:1/"));
        assert_eq!(settings(&["--offline"]).network, NetworkMode::Offline);
        assert_eq!(
            settings(&["--prefer-online"]).network,
            NetworkMode::PreferOnline
        );
        assert_eq!(
            settings(&["--materialize"]).linker,
            LinkerChoice::Materialize(LinkMode::Auto)
        );
        assert_eq!(settings(&["--no-materialize"]).linker, LinkerChoice::Mount);
        assert_eq!(settings(&[]).linker, LinkerChoice::Remembered);
    }
}
