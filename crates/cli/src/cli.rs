//! The command-line grammar: global flags and every subcommand, with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// dx — a JavaScript package manager whose node_modules is a virtual filesystem.
#[derive(Debug, Parser)]
#[command(
    name = "dx",
    version,
    about = "A JavaScript package manager whose node_modules is served lazily from a shared store",
    after_help = "Examples:\n  dx install                 install package.json's dependencies (mounted node_modules)\n  dx install --materialize   write node_modules to disk (CI)\n  dx add react               add a dependency (^latest) and install\n  dx add -D typescript       add a devDependency\n  dx remove react            remove a dependency and install\n  dx update                  newest versions the ranges allow\n  dx test                    run package.json's `test` script (same as `dx run test`)\n  dx why debug               every path that pulls a package in\n  dx migrate                 import package-lock.json, bun.lock or yarn.lock\n  dx mount --reset           drop edits made inside node_modules, then mount\n  dx cache dir               print where the store is"
)]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run as if dx was started in DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// The registry to use, overriding DX_REGISTRY, NPM_CONFIG_REGISTRY and .npmrc.
    #[arg(long, global = true, value_name = "URL")]
    pub registry: Option<String>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors and the command's answer.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more, including the chain of causes of an error.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Never draw progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// dx's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install dependencies: mount node_modules (or materialize it without FUSE).
    #[command(visible_alias = "i")]
    Install {
        /// How to install.
        #[command(flatten)]
        install: InstallArgs,
        /// Workspace members (accepted as pnpm does; a workspace is always installed whole).
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Add packages to package.json and install.
    #[command(
        after_help = "Examples:\n  dx add react                 newest version, saved as ^X.Y.Z\n  dx add -D typescript@~5.6    a devDependency with the given range\n  dx add -E lodash@latest      saved as the exact version\n  dx add alias@npm:real@^2     an alias"
    )]
    Add(AddArgs),
    /// Remove packages from package.json and install.
    #[command(visible_alias = "rm", alias = "uninstall", alias = "un")]
    Remove {
        /// Package names.
        #[arg(required = true)]
        packages: Vec<String>,
        /// How to install afterwards.
        #[command(flatten)]
        install: InstallArgs,
        /// The workspace members whose package.json to edit.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Move dependencies to the newest versions their specifiers allow.
    #[command(
        visible_alias = "up",
        alias = "upgrade",
        after_help = "Examples:\n  dx update              re-resolve every dependency within its range\n  dx update react        only react (wherever it appears in the tree)\n  dx update --latest     rewrite direct ranges to ^latest, then install"
    )]
    Update {
        /// Only these packages (every package when none is given).
        packages: Vec<String>,
        /// Rewrite the direct dependencies' specifiers to the `latest` dist-tag's version.
        #[arg(long, short = 'L')]
        latest: bool,
        /// How to install afterwards.
        #[command(flatten)]
        install: InstallArgs,
        /// The workspace members whose package.json to edit.
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Mount node_modules as a virtual filesystem served from the store.
    Mount(MountArgs),
    /// Unmount node_modules (lazily when a file is still open).
    Unmount,
    /// Show the installed tree, from dx.lock (node_modules need not exist).
    #[command(
        visible_alias = "ls",
        after_help = "Examples:\n  dx list                      the direct dependencies\n  dx ls --depth 2              two levels below them\n  dx ls --all --json           the whole tree, as `npm ls --all --json` prints it\n  dx ls --prod                 without devDependencies\n\nA package already shown higher in the tree is marked `deduped` and not expanded again."
    )]
    List(ListArgs),
    /// Show why a package is installed: every path to it, with the specifiers.
    #[command(
        visible_alias = "explain",
        after_help = "Examples:\n  dx why react                 every installed version of react, and who requires it\n  dx why react@^17             only the versions a range matches\n  dx why react --json          the same, as `npm explain --json` shapes it"
    )]
    Why(WhyArgs),
    /// Run a package.json script (`dx <script>` works too when no dx command has that name).
    #[command(
        after_help = "Examples:\n  dx run                       list the scripts\n  dx run build                 run `build` (and `prebuild` / `postbuild` if present)\n  dx run test -- --watch       arguments after the name are appended to the script\n  dx test --watch              the same, when the script's name is not a dx command\n  dx run build -r              in every workspace member, dependencies first\n  dx run test --filter ui...   in `ui` and the members it depends on (pnpm's selectors)\n  dx run dev -r --parallel     every member at once, ignoring their order\n  dx run lint -w app -w api    in two members (by name or directory)\n\nScripts run with `sh -c` in the project's directory, with every node_modules/.bin from there\nup on PATH and npm's variables (npm_lifecycle_event, npm_package_name, INIT_CWD…).\nThe script's exit status is dx's."
    )]
    Run(RunArgs),
    /// Run an installed dependency's executable from node_modules/.bin.
    #[command(
        visible_alias = "x",
        after_help = "Examples:\n  dx exec tsc --noEmit         run node_modules/.bin/tsc with arguments\n  dx x eslint .                the same, shorter\n  dx exec -r tsc --noEmit      in every workspace member, dependencies first\n\nIn a workspace member, its node_modules/.bin comes first on PATH, then the root's.\nNothing is downloaded: a command that is not installed is an error (add its package first\nwith `dx add -D <package>`)."
    )]
    Exec(ExecArgs),
    /// Create a package.json, as `npm init -y` writes it.
    #[command(
        after_help = "Examples:\n  dx init                      write package.json named after the directory\n  dx init -y                   the same (dx never asks questions)\n\nAn existing package.json is never touched: dx init fails instead (npm init would merge\ninto it)."
    )]
    Init(InitArgs),
    /// A package.json script run by its name, as `dx <script>` (any name that is not a command).
    #[command(external_subcommand)]
    External(Vec<String>),
    /// Allow dependencies' install scripts and run them now (no argument: list blocked ones).
    #[command(
        after_help = "Examples:\n  dx trust                list installed packages whose install scripts are blocked\n  dx trust esbuild        run esbuild's scripts now and on every install\n  dx trust --all          trust every blocked package"
    )]
    Trust(TrustArgs),
    /// Inspect and maintain the package store.
    Cache {
        /// What to do with the store.
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Report known vulnerabilities of the installed packages; `dx audit fix` updates them.
    #[command(
        after_help = "Examples:\n  dx audit                       list advisories; exit 1 if any\n  dx audit --audit-level high    exit 1 only for high or critical\n  dx audit --json\n  dx audit fix                   re-resolve vulnerable packages within their ranges"
    )]
    Audit(AuditArgs),
    /// Show current, wanted and latest versions of direct dependencies (exit 1 if any is outdated).
    #[command(after_help = "Examples:\n  dx outdated\n  dx outdated react --json")]
    Outdated {
        /// Only these direct dependencies.
        packages: Vec<String>,
    },
    /// Import package-lock.json, bun.lock or yarn.lock into dx.lock with the same versions.
    #[command(
        after_help = "Examples:\n  dx migrate                       the first lockfile found\n  dx migrate --from yarn.lock      a given file"
    )]
    Migrate(MigrateArgs),
    /// Serve an npm-compatible registry from a directory of tarballs.
    Registry {
        /// Registry actions.
        #[command(subcommand)]
        action: RegistryAction,
    },
    /// Internal: removes a node_modules tree an install replaced (`node_modules.dx-old-<pid>`),
    /// started detached by the install so it does not wait for the removal.
    #[command(hide = true, name = "remove-leftover")]
    RemoveLeftover {
        /// The set-aside tree.
        path: std::path::PathBuf,
    },
}

/// `dx install` flags (also taken by `add`, `remove` and `update`).
#[derive(Debug, Args, Default)]
pub struct InstallArgs {
    /// Fail if dx.lock does not match package.json (default when CI=true).
    #[arg(long)]
    pub frozen_lockfile: bool,
    /// Write dx.lock and install nothing.
    #[arg(long)]
    pub lockfile_only: bool,
    /// Write node_modules to disk instead of mounting it: auto, reflink, hardlink or copy
    /// (remembered for the project's next installs).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "auto", value_name = "MODE", conflicts_with = "no_materialize")]
    pub materialize: Option<MaterializeMode>,
    /// Mount node_modules even if the project's last install materialized it.
    #[arg(long)]
    pub no_materialize: bool,
    /// Skip devDependencies.
    #[arg(long, visible_alias = "prod")]
    pub production: bool,
    /// Do not run lifecycle scripts.
    #[arg(long)]
    pub ignore_scripts: bool,
    /// Never touch the network.
    #[arg(long, conflicts_with_all = ["prefer_offline", "prefer_online"])]
    pub offline: bool,
    /// Use cached metadata without revalidating it.
    #[arg(long, conflicts_with = "prefer_online")]
    pub prefer_offline: bool,
    /// Revalidate all cached metadata, even what is still fresh.
    #[arg(long)]
    pub prefer_online: bool,
}

/// How `--materialize` links files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MaterializeMode {
    /// Reflink where the filesystem can, else hardlink, else copy.
    Auto,
    /// Copy-on-write clones only.
    Reflink,
    /// Hardlinks to the store's read-only files.
    Hardlink,
    /// Plain copies.
    Copy,
}

/// `dx add` flags.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Packages, as `name`, `name@range`, `name@tag` or `alias@npm:name@range`.
    #[arg(required = true)]
    pub packages: Vec<String>,
    /// Save to devDependencies.
    #[arg(short = 'D', long = "save-dev", visible_alias = "dev", conflicts_with_all = ["optional", "peer"])]
    pub dev: bool,
    /// Save to optionalDependencies.
    #[arg(
        short = 'O',
        long = "save-optional",
        visible_alias = "optional",
        conflicts_with = "peer"
    )]
    pub optional: bool,
    /// Save to peerDependencies (and devDependencies, so it is installed).
    #[arg(long = "save-peer", visible_alias = "peer")]
    pub peer: bool,
    /// Save the exact version instead of a ^range.
    #[arg(short = 'E', long = "save-exact", visible_alias = "exact")]
    pub exact: bool,
    /// How to install afterwards.
    #[command(flatten)]
    pub install: InstallArgs,
    /// The workspace members whose package.json to edit.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

/// The workspace members a command acts on (`add`, `remove`, `update`, `install`): npm's
/// `-w`, pnpm's `--filter`, and `-W` for the workspace root. Without them, the package whose
/// directory dx runs in.
#[derive(Debug, Args, Default, Clone)]
pub struct WorkspaceArgs {
    /// A workspace member, by name or directory (a directory holding members selects them
    /// all); repeatable.
    #[arg(short = 'w', long = "workspace", value_name = "NAME|PATH")]
    pub workspace: Vec<String>,
    /// pnpm's selectors: `name`, `@scope/*`, `./dir`, `{dir}`, `name...` (with its
    /// dependencies), `...name` (with its dependents), `^` (without itself), `!sel`; repeatable.
    #[arg(short = 'F', long = "filter", value_name = "SELECTOR")]
    pub filter: Vec<String>,
    /// The workspace root's own package.json.
    #[arg(short = 'W', long = "workspace-root")]
    pub workspace_root: bool,
}

/// `dx run` flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The script to run; without one, the scripts are listed.
    pub script: Option<String>,
    /// Arguments appended to the script, shell-quoted (a `--` before them is optional).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
    /// Succeed without doing anything when the script does not exist.
    #[arg(long)]
    pub if_present: bool,
    /// Skip the pre<script> and post<script> scripts.
    #[arg(long)]
    pub ignore_scripts: bool,
    /// Every workspace member (npm: `--workspaces`).
    #[arg(
        short = 'r',
        long = "recursive",
        visible_alias = "workspaces",
        alias = "ws"
    )]
    pub recursive: bool,
    /// Which members: by name, directory or pnpm selector; and `-W` for the root.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Run every selected member at once, ignoring the order of their dependencies (pnpm's
    /// `--parallel`, for watchers and dev servers).
    #[arg(long)]
    pub parallel: bool,
    /// How many members run at once when their dependencies allow (pnpm's default).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub workspace_concurrency: u16,
}

/// `dx exec` flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// In every workspace member (npm: `--workspaces`).
    #[arg(
        short = 'r',
        long = "recursive",
        visible_alias = "workspaces",
        alias = "ws"
    )]
    pub recursive: bool,
    /// Which members: by name, directory or pnpm selector; and `-W` for the root.
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// The command, a name in node_modules/.bin.
    pub command: String,
    /// Its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// `dx init` flags.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Accept every default (dx init never asks questions, so this changes nothing; accepted
    /// for npm's muscle memory).
    #[arg(short, long)]
    pub yes: bool,
}

/// `dx list` flags.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// How many levels below the direct dependencies to show.
    #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "all")]
    pub depth: usize,
    /// Show the whole tree (every depth).
    #[arg(short, long)]
    pub all: bool,
    /// Leave out devDependencies.
    #[arg(long, visible_alias = "production", conflicts_with = "dev")]
    pub prod: bool,
    /// Show only devDependencies (and what they pull in).
    #[arg(long)]
    pub dev: bool,
    /// Leave out a kind of dependency: dev, optional or peer (repeatable).
    #[arg(long, value_enum, value_name = "KIND")]
    pub omit: Vec<OmitKind>,
    /// Show only this workspace member, by name or directory (repeatable), as `npm ls -w`;
    /// in a member's directory that member is shown unless a member is named.
    #[arg(short = 'w', long = "workspace", value_name = "NAME|PATH")]
    pub workspaces: Vec<String>,
}

/// A kind of dependency `dx list --omit` leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OmitKind {
    /// devDependencies of the project.
    Dev,
    /// optionalDependencies, everywhere in the tree.
    Optional,
    /// peerDependencies, everywhere in the tree.
    Peer,
}

/// `dx why` flags.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The package: `name`, or `name@range` for only the versions the range matches.
    pub package: String,
}

/// `dx audit` flags.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// `fix` to update vulnerable packages.
    #[arg(value_enum, value_name = "fix")]
    pub action: Option<AuditAction>,
    /// Exit 1 only for advisories at or above this severity.
    #[arg(long, value_enum, default_value = "low", value_name = "LEVEL")]
    pub audit_level: AuditLevel,
    /// How `dx audit fix` installs (also: `--production` audits without devDependencies).
    #[command(flatten)]
    pub install: InstallArgs,
}

/// What `dx audit` does besides reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditAction {
    /// Re-resolve vulnerable packages within their ranges, install, and audit again.
    Fix,
}

/// The lowest advisory severity that makes `dx audit` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum AuditLevel {
    /// Every advisory.
    Info,
    /// Low and above.
    Low,
    /// Moderate and above.
    Moderate,
    /// High and critical.
    High,
    /// Critical only.
    Critical,
    /// Never exit 1 for advisories.
    None,
}

/// `dx trust` flags.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Packages to trust.
    pub packages: Vec<String>,
    /// Trust every installed package whose scripts are blocked.
    #[arg(long, conflicts_with = "packages")]
    pub all: bool,
}

/// `dx migrate` flags.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The lockfile to import (default: the first of package-lock.json, npm-shrinkwrap.json,
    /// bun.lock, yarn.lock found in the project).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Overwrite an existing dx.lock.
    #[arg(long)]
    pub force: bool,
}

/// `dx mount` flags.
#[derive(Debug, Args)]
pub struct MountArgs {
    /// Serve in this process until interrupted (for debugging), instead of a daemon.
    #[arg(long)]
    pub foreground: bool,
    /// Discard everything written into node_modules (the overlay) before mounting.
    #[arg(long)]
    pub reset: bool,
    /// Internal: run as the background daemon started by `dx mount` / `dx install`.
    #[arg(long, hide = true)]
    pub daemon_child: bool,
}

/// `dx cache` actions.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Print the store's directory.
    Dir,
    /// Rehash every stored archive; quarantine corrupt ones.
    Verify,
    /// Empty the store, keeping what live mounts use.
    Clean,
}

/// `dx registry` actions.
#[derive(Debug, Subcommand)]
pub enum RegistryAction {
    /// Serve the npm registry API from a directory of tarballs.
    Serve {
        /// Directory of .tgz files.
        #[arg(long)]
        dir: PathBuf,
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 4873)]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Act as a caching proxy of this registry.
        #[arg(long)]
        upstream: Option<String>,
    },
}
