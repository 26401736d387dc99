//! dx-metadata: the registry metadata model, one for all of dx (the registry client fetches
//! and caches it, the resolver reads it), and its compact binary index.
//!
//! Invariants:
//! - one model: [`Packument`] and [`VersionManifest`]; nothing converts between copies of it;
//! - a [`Packument`] is a view over its index ([`index`]): opening decodes only the name, the
//!   dist-tags and the version table; a manifest is decoded when asked for;
//! - untrusted bytes never panic: JSON is read leniently ([`lenient`]), an index is checked on
//!   open and bounds-checked as it is read; a damaged index is an error, never a wrong answer.
//! - no I/O (the registry client reads and writes the cache files).
#![deny(missing_docs)]

pub mod bins;
pub mod index;
pub mod lenient;
pub mod packument;

pub use index::{IndexBytes, IndexError, Meta};
pub use lenient::{BundleDependencies, RawBin};
pub use packument::{
    Dist, Packument, PeerDependencyMeta, RawPackument, VersionEntry, VersionManifest,
};
