//! dx-resolve: npm semver, the package.json model, the resolver and the hoisted layout planner.
//!
//! Invariants:
//! - no I/O but through [`source::PackageSource`] (and reading `file:`/`link:` package.json);
//! - deterministic: the same inputs give the same resolution, warnings and layout, whatever the
//!   order in which a source answers;
//! - one model of a resolved graph, [`Lockfile`] (dx-formats): the resolver produces it, the
//!   planner reads it (what dx.lock holds), never the network; nothing is converted between them.
#![deny(missing_docs)]

pub mod bins;
pub mod collate;
pub mod layout;

pub mod lockfile;
pub mod manifest;
pub mod name;
pub mod overrides;
pub mod packument;
pub mod platform;
pub mod resolver;
pub mod semver;
pub mod source;
pub mod spec;
mod tree;

pub use dx_formats::lockfile::{
    EdgeKind, Importer, LockedEdge, LockedPackage, Lockfile, Workspace, package_key, workspace_key,
};
pub use dx_metadata::{BundleDependencies, RawBin};
pub use layout::{
    BinLink, DirLink, LAYOUT_PLANNER_REVISION, LayoutOptions, LayoutPlan, PlacedPackage,
    WorkspaceLayout, plan_layout,
};
pub use lockfile::{infer_root_targets, manifest_importer, member_importer};
pub use manifest::PackageJson;
pub use manifest::edit::{DependencySection, ManifestEditor};
pub use packument::{Dist, Packument, VersionManifest};
pub use platform::Platform;
pub use resolver::{
    ResolveError, ResolveOptions, ResolveOutcome, ResolveWarning, UpdateSelection, WorkspaceMember,
    drop_in_background, resolve,
};
pub use source::{PackageSource, SourceError};
pub use tree::package::join_relative;
