//! dx-resolve: see ../../docs and DESIGN.md for this crate's role.
#![deny(missing_docs)]
