//! dx-resolve: npm semver, the package.json model, the resolver and the hoisted layout planner.
//!
//! Invariants:
//! - no I/O but through [`source::PackageSource`] (and reading `file:`/`link:` package.json);
//! - deterministic: the same inputs give the same resolution, warnings and layout, whatever the
//!   order in which a source answers;
//! - the planner needs only a [`graph::Resolution`] (what dx.lock holds), never the network.
#![deny(missing_docs)]

pub mod bins;
pub mod collate;
pub mod graph;
pub mod layout;
mod lenient;
pub mod lock;
pub mod manifest;
pub mod overrides;
pub mod packument;
pub mod platform;
pub mod resolver;
pub mod semver;
pub mod source;
pub mod spec;
mod tree;

pub use graph::{DepKind, Resolution, ResolvedEdge, ResolvedPackage, package_key};
pub use layout::{
    BinLink, LAYOUT_PLANNER_REVISION, LayoutOptions, LayoutPlan, PlacedPackage, plan_layout,
};
pub use lenient::{BundleDependencies, RawBin};
pub use lock::{from_lockfile, root_specs, to_lockfile};
pub use manifest::PackageJson;
pub use manifest::edit::{DependencySection, ManifestEditor};
pub use packument::{Dist, Packument, VersionManifest};
pub use platform::Platform;
pub use resolver::{
    ResolveError, ResolveOptions, ResolveOutcome, ResolveWarning, UpdateSelection, resolve,
};
pub use source::{PackageSource, SourceError};
