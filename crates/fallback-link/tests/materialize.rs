//! Materializing real trees: every link mode on the filesystem that supports it (ext4 for
//! hardlinks, a loop-mounted XFS for reflinks, a tmpfs for copies across devices), step-downs,
//! interrupted installs, no-op repeats and the read-only store.

#[path = "materialize/filesystems.rs"]
mod filesystems;
#[path = "materialize/fixture.rs"]
mod fixture;
#[path = "materialize/lifecycle.rs"]
mod lifecycle;
#[path = "materialize/store_safety.rs"]
mod store_safety;
#[path = "materialize/update.rs"]
mod update;
