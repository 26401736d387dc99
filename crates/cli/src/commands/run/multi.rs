//! Running a script (or a command) in several workspace members: each member's steps in order,
//! members started as soon as the members they wait for are done, at most `concurrency` at
//! once; each output line prefixed with the member's name (pnpm's style) when more than one
//! member runs. The first failure stops new members from starting; those already running are
//! waited for (not killed), and the failure is what the run reports.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use anyhow::Context as _;
use dx_install::util::{self as scripts, InterruptShield};

/// One step of a member's job: a script (`prebuild`, `build`…) or a program.
pub struct Step {
    /// The script's name (`build`), or the program's, for the failure message.
    pub event: String,
    /// The line echoed (`$ tsc -b`) before it runs, `None` to echo nothing.
    pub echo: Option<String>,
    /// The command, with its directory and environment set.
    pub command: Command,
}

/// What one member runs.
pub struct Job {
    /// The member's name: the output prefix and the name in a failure.
    pub label: String,
    /// Its directory, root-relative (for the failure message).
    pub path: String,
    /// Its steps, run in order; none for a member skipped by `--if-present`.
    pub steps: Vec<Step>,
}

/// How a run of several members ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every member succeeded.
    Success,
    /// A member's step exited non-zero.
    Failed {
        /// The member's name.
        label: String,
        /// Its path.
        path: String,
        /// The step (`build`).
        event: String,
        /// Its exit code (at least 1).
        code: u8,
    },
}

/// The options of [`execute`].
pub struct Options {
    /// How many members run at once.
    pub concurrency: usize,
    /// Prefix every output line with `<label>: `.
    pub prefix: bool,
}

/// Runs `jobs`; `waits[i]` lists the jobs job `i` starts after (each earlier in `jobs`).
pub fn execute(jobs: Vec<Job>, waits: &[Vec<usize>], options: &Options) -> anyhow::Result<Outcome> {
    let count = jobs.len();
    let mut remaining: Vec<usize> = waits.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); count];
    for (i, list) in waits.iter().enumerate() {
        for &w in list {
            dependents[w].push(i);
        }
    }
    let mut jobs: Vec<Option<Job>> = jobs.into_iter().map(Some).collect();
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<Outcome>)>();
    let _shield = InterruptShield::raise();
    let mut running = 0usize;
    let mut failure: Option<anyhow::Result<Outcome>> = None;
    let prefix = options.prefix;
    loop {
        if failure.is_none() {
            for (i, slot) in jobs.iter_mut().enumerate() {
                if running >= options.concurrency.max(1) {
                    break;
                }
                if remaining[i] != 0 {
                    continue;
                }
                let Some(job) = slot.take() else {
                    continue;
                };
                running += 1;
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let result = run_job(job, prefix);
                    // The receiver outlives every job.
                    let _ = tx.send((i, result));
                });
            }
        }
        if running == 0 {
            break;
        }
        let (i, result) = rx.recv().context("a workspace job vanished")?;
        running -= 1;
        match result {
            Ok(Outcome::Success) => {
                for &d in &dependents[i] {
                    remaining[d] -= 1;
                }
            }
            other => {
                failure.get_or_insert(other);
            }
        }
    }
    failure.unwrap_or(Ok(Outcome::Success))
}

fn run_job(job: Job, prefix: bool) -> anyhow::Result<Outcome> {
    for mut step in job.steps {
        let label = prefix.then_some(job.label.as_str());
        if let Some(echo) = &step.echo {
            write_line(&mut std::io::stderr().lock(), label, echo.as_bytes());
        }
        let status = if prefix {
            step.command.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = step
                .command
                .spawn()
                .with_context(|| format!("cannot start `{}` in {}", step.event, job.path))?;
            let out = child
                .stdout
                .take()
                .map(|s| copy_prefixed(s, job.label.clone(), false));
            let err = child
                .stderr
                .take()
                .map(|s| copy_prefixed(s, job.label.clone(), true));
            let status = child.wait();
            for reader in [out, err].into_iter().flatten() {
                let _ = reader.join();
            }
            status
        } else {
            step.command.status()
        }
        .with_context(|| format!("cannot run `{}` in {}", step.event, job.path))?;
        if !status.success() {
            return Ok(Outcome::Failed {
                label: job.label,
                path: job.path,
                event: step.event,
                code: scripts::exit_code(status).max(1),
            });
        }
    }
    Ok(Outcome::Success)
}

/// Copies `stream` line by line to dx's stdout (or stderr), each line prefixed with `label: `.
fn copy_prefixed(
    stream: impl Read + Send + 'static,
    label: String,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = line.strip_suffix(b"\n").unwrap_or(&line);
                    if to_stderr {
                        write_line(&mut std::io::stderr().lock(), Some(&label), text);
                    } else {
                        write_line(&mut std::io::stdout().lock(), Some(&label), text);
                    }
                }
            }
        }
    })
}

/// Writes `label: text\n` (or `text\n`) in one go, so lines of concurrent members never mix.
fn write_line(out: &mut impl Write, label: Option<&str>, text: &[u8]) {
    let mut buffer = Vec::with_capacity(text.len() + 32);
    if let Some(label) = label {
        buffer.extend_from_slice(label.as_bytes());
        buffer.extend_from_slice(b": ");
    }
    buffer.extend_from_slice(text);
    buffer.push(b'\n');
    // A closed stdout (`dx run -r build | head`) must not stop the members.
    let _ = out.write_all(&buffer).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &std::path::Path, line: &str) -> Step {
        let mut command = Command::new("sh");
        command.arg("-c").arg(line).current_dir(dir);
        Step {
            event: "build".into(),
            echo: None,
            command,
        }
    }

    fn job(dir: &std::path::Path, label: &str, line: &str) -> Job {
        Job {
            label: label.into(),
            path: format!("packages/{label}"),
            steps: vec![sh(dir, line)],
        }
    }

    #[test]
    fn dependents_start_after_what_they_wait_for() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // b waits for a; a sleeps first, so without the wait b would log first.
        let jobs = vec![
            job(d, "a", "sleep 0.2; echo a >> log"),
            job(d, "b", "echo b >> log"),
            job(d, "c", "echo c >> other"),
        ];
        let options = Options {
            concurrency: 4,
            prefix: true,
        };
        let outcome = execute(jobs, &[vec![], vec![0], vec![]], &options).unwrap();
        assert_eq!(outcome, Outcome::Success);
        assert_eq!(std::fs::read_to_string(d.join("log")).unwrap(), "a\nb\n");
    }

    #[test]
    fn a_failure_stops_what_has_not_started_and_reports_the_member() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let jobs = vec![job(d, "a", "exit 3"), job(d, "b", "touch ran-b")];
        let options = Options {
            concurrency: 1,
            prefix: false,
        };
        let outcome = execute(jobs, &[vec![], vec![]], &options).unwrap();
        assert_eq!(
            outcome,
            Outcome::Failed {
                label: "a".into(),
                path: "packages/a".into(),
                event: "build".into(),
                code: 3
            }
        );
        assert!(!d.join("ran-b").exists());
    }

    #[test]
    fn lines_are_written_whole_with_their_prefix() {
        let mut out = Vec::new();
        write_line(&mut out, Some("@s/a"), b"hello");
        write_line(&mut out, None, b"plain");
        assert_eq!(out, b"@s/a: hello\nplain\n");
    }
}
