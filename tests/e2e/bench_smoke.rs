//! The benchmark suite's smoke mode (`bench/suite/run.py --smoke`), end to end, so the
//! harness cannot rot: three generated packages served by `dx registry serve`, every install
//! scenario with dx (mount and `--materialize`), one run each, the report and its charts.
//! Hermetic: no network, and no hyperfine, Bun, pnpm or npm needed (smoke mode times runs
//! itself and drives dx only).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{TestContext, describe};

const SCENARIOS: [&str; 6] = [
    "clean install",
    "cold, with lockfile (CI)",
    "warm, with lockfile",
    "full resolution",
    "re-resolution (+1 dependency)",
    "no-op",
];

fn repo_root() -> PathBuf {
    // This test belongs to crates/cli; the suite lives at the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn single(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read report dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one *{suffix} in {}, found {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap_or_default()
}

#[test]
fn bench_suite_smoke_mode_measures_every_scenario_and_writes_the_report() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED bench_suite_smoke_mode: python3 is missing (the suite is Python 3.11 stdlib)"
        );
        return;
    }
    let ctx = TestContext::new();
    let work = ctx.project.join("work");
    let out_dir = ctx.project.join("results");
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("bench/suite/run.py"))
        .arg("--smoke")
        .arg("--dx")
        .arg(env!("CARGO_BIN_EXE_dx"))
        .arg("--work")
        .arg(&work)
        .arg("--out")
        .arg(&out_dir)
        .env("HOME", &ctx.home)
        .env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        let upper = key.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("NPM_CONFIG_") || upper.starts_with("DX_") {
            cmd.env_remove(&key);
        }
    }
    let output = cmd.output().expect("run python3");
    assert!(
        output.status.success(),
        "smoke mode failed:\n{}",
        describe(&output)
    );

    let report = std::fs::read_to_string(single(&out_dir, "-smoke.md")).expect("read report");
    for scenario in SCENARIOS {
        for tool in ["dx (mount)", "dx --materialize"] {
            let row = format!("| {scenario} | {tool} | ");
            let line = report.lines().find(|l| l.starts_with(&row));
            let line = line.unwrap_or_else(|| panic!("no row {row:?} in the report:\n{report}"));
            assert!(!line.contains("failed"), "{line}");
            // The median column holds a number of seconds.
            let median = line[row.len()..].split(" |").next().unwrap_or_default();
            assert!(
                median.trim().parse::<f64>().is_ok(),
                "median {median:?} in {line}"
            );
        }
    }
    // Resolution alone (`--lockfile-only`) is the same command for both dx variants: one row.
    assert!(
        report.contains("| resolution only (lockfile-only) | dx (mount) | "),
        "no resolution row:\n{report}"
    );
    let chart =
        std::fs::read_to_string(single(&out_dir, "-smoke-install.svg")).expect("read chart");
    assert!(
        chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"),
        "not an SVG:\n{chart}"
    );
    assert!(
        chart.contains("no-op") && chart.contains("dx --materialize"),
        "chart lacks labels:\n{chart}"
    );
    assert!(
        report.contains("-smoke-install.svg)"),
        "the report does not link its chart:\n{report}"
    );
    // The suite unmounted what it mounted.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&*work.to_string_lossy()),
        "a mount was left under {}",
        work.display()
    );
}
