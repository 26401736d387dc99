//! dx-net: everything dx does over HTTP.
//!
//! - [`config`]: which registry serves which package, and with which credentials, read where
//!   npm reads it (flags, environment, `.npmrc` files);
//! - [`client`]: packuments (abbreviated by default), cached and revalidated;
//! - [`fetch`]: tarballs streamed through integrity checking and DXP conversion into the store;
//! - [`server`]: dx's own registry server, used by tests, benchmarks and as a caching proxy.
//!
//! The `test-support` feature (on for this crate's own tests, and for the crates whose tests or
//! benchmarks need it) adds `TestRegistry`, a server on its own thread for plain `#[test]`s,
//! synthetic tarballs (`write_test_package`, `tarball_bytes`) and the server's fault injection
//! (`Fault`, `FaultRule`). None of it is in a production build.
//!
//! Invariants: a credential is only ever sent to the registry it is configured for, and never
//! appears in an error, a log line or a progress event; nothing is stored before its integrity
//! matched; no test in this crate reaches beyond 127.0.0.1.
#![deny(missing_docs)]

pub mod client;
pub mod config;

mod error;
pub mod fetch;
pub mod progress;

pub mod server;
#[cfg(any(test, feature = "test-support"))]
mod test_registry;
mod version_order;

#[cfg(any(test, feature = "test-support"))]
pub use client::http::native_roots_loaded;
pub use client::{CacheMode, RegistryClient};
pub use config::RegistryConfig;
pub use error::NetError;
pub use fetch::{StoredTarball, TarballFetcher, TarballRequest};
pub use progress::{ProgressEvent, ProgressSink};
#[cfg(any(test, feature = "test-support"))]
pub use server::{Fault, FaultRule};
pub use server::{ServerConfig, ServerHandle, serve};
#[cfg(any(test, feature = "test-support"))]
pub use test_registry::{TestRegistry, tarball_bytes, try_write_test_package, write_test_package};
