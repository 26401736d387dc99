//! The registry's view of a package: dx-metadata's model, the one the registry client fetches
//! and caches (re-exported so resolver code and its callers name it from here).

pub use dx_metadata::packument::{
    Dist, Packument, PeerDependencyMeta, RawPackument, VersionEntry, VersionManifest,
};
