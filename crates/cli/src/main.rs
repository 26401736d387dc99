//! The `dx` binary: parse the command line, run the command, render errors once.
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc (measured with it preloaded under the same binary):
/// resolving react-small took 47 ms of CPU instead of 60, a re-resolution of a 1,350-package
/// project 220 ms instead of 290 (glibc grows a 64 MB heap per worker thread by `mprotect`
/// and trims and re-faults it; see docs/architecture.md, "What every command pays").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    dx_cli::main()
}
