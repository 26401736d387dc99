//! End-to-end tests: each drives the real `dx` binary in a temporary project with its own store
//! and, where it needs one, dx's own registry server on 127.0.0.1. No test touches the internet.

mod fixtures;
mod snapshot;
mod support;

mod audit;
mod bad_input;
mod bench_smoke;
mod bundled;
mod cache;
mod cli;
mod crash;
mod edit;
mod engine;
mod everyday;
mod hostile_registry;
mod install;
mod list_layout;
mod load;
mod lockfile;
mod materialize_update;
mod migrate;
mod mount;
mod remote_deps;
mod scripts;
mod workspace_run;
mod workspaces;
