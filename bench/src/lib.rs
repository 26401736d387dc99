//! Shared helpers for dx benchmarks (timing, ratio printing).
