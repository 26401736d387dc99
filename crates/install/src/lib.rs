//! dx's install engine, as a library: everything `dx install`, `add`, `remove`, `update`,
//! `migrate`, `audit fix`, `trust` and `mount` do between the command line and the lower crates.
//!
//! - [`Project`]: a directory with package.json and (maybe) dx.lock.
//! - [`InstallSettings`]: every option of an install, typed, resolved once by the caller.
//! - [`Install`]: built from a project, a store and settings; [`Install::run`] takes a
//!   [`Reporter`] and returns an [`InstallOutcome`] (which path ran and what it did) or an
//!   [`Error`] that names what failed and carries a hint ([`Error::help`]).
//!
//! The data flow of one install (see docs/architecture.md): package.json → dx.lock (reused, or
//! resolved by `dx_resolve` from the registry) → the store (missing archives fetched by
//! `dx_net`) → the compiled layout (DXL, in the store) → node_modules, mounted by a `dx_vfs`
//! daemon or materialized by `dx_fallback_link` → lifecycle scripts.

mod changes;
mod config;
mod content_check;
pub mod edit;
mod error;
mod fetch_other;
mod git;
mod install;
mod layout;
mod lifecycle;
mod lookup;
pub mod migrate;
pub mod mount;
mod node_modules;
mod packlist;
mod prepare;
mod project;
mod reporter;
pub mod runtime;
mod scripts;
mod settings;
mod source;
mod suggest;
pub mod trust;
pub mod workspace;

pub use changes::{DirectChange, DirectChanges};
pub use config::{is_ci, open_store, registry_config, store_root};
pub use error::{Context, Error, Result};
pub use install::{Edit, Install, InstallOutcome, InstallPath, NodeModules};
pub use layout::{InstalledLayout, LayoutSource, StoredMiss, load_layout, stored_layout};
pub use lifecycle::{Placement, ScriptPlan};
pub use lookup::Lookup;
pub use mount::{MountOutcome, Unmounted};
pub use node_modules::{remove_leftover_tree, remove_replaced_trees_with};
pub use prepare::{PreparedLayout, installed_node_version};
pub use project::{LOCKFILE_NAME, Project, ReadLockfile};
pub use reporter::{Recorder, Reporter, Silent};
pub use scripts::{LIFECYCLE_SCRIPTS, ScriptRunner};
pub use settings::{InstallSettings, LinkerChoice, NetworkMode};
pub use workspace::{Catalogs, Member, WorkspaceSet, find_workspace_root};

/// Script running and lookup helpers the CLI's `run`, `exec` and `init` use.
pub mod util {
    pub use crate::scripts::{
        InterruptShield, bin_dirs, exit_code, find_on_path, is_executable, nearest_package_dir,
        shell_quote,
    };
    pub use crate::suggest::{closest, did_you_mean, edit_distance};
}
