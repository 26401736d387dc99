//! Running a package's scripts and executables the way npm does: `sh -c` in the package's
//! directory, every `node_modules/.bin` from there up to `/` prepended to PATH, and npm's
//! environment (`npm_lifecycle_event`, `npm_package_*`, `npm_config_user_agent`, `INIT_CWD`…)
//! so tools that read it behave as under npm. `dx run`, `dx exec` and (later) lifecycle scripts
//! share it.
//!
//! While a child runs, dx ignores Ctrl-C (SIGINT and SIGQUIT reach the whole foreground process
//! group, so the child receives them itself): dx then waits for the child and passes its exit
//! status on, as npm does, instead of returning to the shell while the child still runs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::error::{Context as _, Result};
use dx_resolve::PackageJson;

/// The scripts npm runs by their own name around `npm install`, `npm test`, `npm start`…;
/// `dx run` alone lists them apart from the others, as `npm run` does.
pub const LIFECYCLE_SCRIPTS: &[&str] = &[
    "prepare",
    "prepublishOnly",
    "prepack",
    "postpack",
    "dependencies",
    "preinstall",
    "install",
    "postinstall",
    "prepublish",
    "publish",
    "postpublish",
    "prerestart",
    "restart",
    "postrestart",
    "prestart",
    "start",
    "poststart",
    "prestop",
    "stop",
    "poststop",
    "pretest",
    "test",
    "posttest",
    "preuninstall",
    "uninstall",
    "postuninstall",
    "preversion",
    "version",
    "postversion",
];

/// Where and with what environment a package's scripts run.
pub struct ScriptRunner {
    /// The package's directory: the scripts' working directory.
    dir: PathBuf,
    /// Variables set for every script (PATH included), on top of dx's own environment.
    env: Vec<(OsString, OsString)>,
    /// The `node_modules/.bin` directories on PATH, nearest first.
    bin_dirs: Vec<PathBuf>,
}

impl ScriptRunner {
    /// A runner for the package in `dir` whose package.json is `manifest` (`None` when there is
    /// none, as for `dx exec` outside a project). `init_cwd` is where the user started dx.
    pub fn new(dir: &Path, manifest: Option<&PackageJson>, init_cwd: &Path) -> Result<Self> {
        let bin_dirs = bin_dirs(dir);
        let original_path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            bin_dirs
                .iter()
                .cloned()
                .chain(std::env::split_paths(&original_path)),
        )
        .context("a node_modules/.bin directory cannot be put on PATH (its path contains ':')")?;
        let platform = dx_resolve::Platform::current();
        let mut env: Vec<(OsString, OsString)> = vec![
            ("PATH".into(), path),
            ("INIT_CWD".into(), init_cwd.into()),
            (
                "npm_config_user_agent".into(),
                format!(
                    "dx/{} {} {}",
                    env!("CARGO_PKG_VERSION"),
                    platform.os,
                    platform.cpu
                )
                .into(),
            ),
        ];
        if let Ok(exe) = std::env::current_exe() {
            env.push(("npm_execpath".into(), exe.into()));
        }
        if let Some(node) = find_on_path("node", &original_path) {
            env.push(("npm_node_execpath".into(), node.clone().into()));
            env.push(("NODE".into(), node.into()));
        }
        if let Some(manifest) = manifest {
            env.push(("npm_package_json".into(), dir.join("package.json").into()));
            if let Some(name) = &manifest.name {
                env.push(("npm_package_name".into(), name.into()));
            }
            if let Some(version) = &manifest.version {
                env.push(("npm_package_version".into(), version.into()));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            env,
            bin_dirs,
        })
    }

    /// The `node_modules/.bin` directories put on PATH, nearest first.
    pub fn bin_dirs(&self) -> &[PathBuf] {
        &self.bin_dirs
    }

    /// Runs `script` (the text of package.json's `scripts[event]`) with `args` appended
    /// shell-quoted, through `sh -c` in the package's directory, and waits for it.
    pub fn run_script(&self, event: &str, script: &str, args: &[String]) -> Result<ExitStatus> {
        self.wait(self.script_command(event, script, args))
            .with_context(|| format!("cannot start `sh` to run script `{event}`"))
    }

    /// The command [`Self::run_script`] runs (`sh -c`, the package's directory, npm's
    /// environment), not started: for callers that capture its output (`dx run -r` prefixes
    /// each line with the member's name). Raise an [`InterruptShield`] while waiting for it.
    pub fn script_command(&self, event: &str, script: &str, args: &[String]) -> Command {
        let mut command_line = script.to_owned();
        for arg in args {
            command_line.push(' ');
            command_line.push_str(&shell_quote(arg));
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&command_line)
            .env("npm_lifecycle_event", event)
            .env("npm_lifecycle_script", script)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs the executable at `program` with `args`, in the package's directory, and waits.
    pub fn run_program(&self, program: &Path, args: &[String]) -> Result<ExitStatus> {
        let mut command = Command::new(program);
        command.args(args);
        self.wait(command)
            .with_context(|| format!("cannot run {}", program.display()))
    }

    /// The command [`Self::run_program`] runs, not started (see [`Self::script_command`]).
    pub fn program_command(&self, program: &Path, args: &[String]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn wait(&self, mut command: Command) -> std::io::Result<ExitStatus> {
        command
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let _shield = InterruptShield::raise();
        command.spawn()?.wait()
    }
}

/// The nearest directory from `start` up that holds a package.json: where npm runs scripts
/// when started in a subdirectory of a package.
pub fn nearest_package_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("package.json").is_file())
        .map(Path::to_path_buf)
}

/// `<dir>/node_modules/.bin` and the same under every ancestor of `dir`, nearest first, as npm
/// puts them on PATH (whether or not they exist: a later install may create them).
pub fn bin_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .map(|d| d.join("node_modules").join(".bin"))
        .collect()
}

/// `arg` as one word for `sh`: bare when it holds only characters the shell never interprets,
/// single-quoted otherwise (a `'` inside written as `'\''`).
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b',' | b':' | b'=' | b'+' | b'@' | b'%'
                )
        });
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The exit code a shell would report for `status`: the child's own code, or 128 + the signal
/// that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + signal).min(255) as u8,
        (None, None) => 1,
    }
}

/// The first executable file called `name` in the PATH list `path`.
pub fn find_on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file (after symlinks) someone may execute.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// While alive, SIGINT and SIGQUIT do nothing to dx (a handler that returns, not SIG_IGN: an
/// ignored disposition would be inherited by the children spawned afterwards, a handler is
/// reset by exec). The previous dispositions come back on drop.
pub struct InterruptShield {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

extern "C" fn ignore_signal(_: libc::c_int) {}

impl InterruptShield {
    /// Makes SIGINT and SIGQUIT do nothing to dx until the shield is dropped (the children,
    /// in the same process group, still get them).
    pub fn raise() -> Self {
        let mut previous = Vec::new();
        for signal in [libc::SIGINT, libc::SIGQUIT] {
            // SAFETY: sigaction with a zeroed struct, an empty mask and a handler that touches
            // nothing (async-signal-safe); `old` is written by the kernel before it is read.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = ignore_signal as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, &action, &mut old) == 0 {
                    previous.push((signal, old));
                }
            }
        }
        Self { previous }
    }
}

impl Drop for InterruptShield {
    fn drop(&mut self) {
        for (signal, old) in &self.previous {
            // SAFETY: restores a disposition the kernel gave us in `raise`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_each_argument_one_word() {
        assert_eq!(shell_quote("--watch"), "--watch");
        assert_eq!(shell_quote("src/a.ts"), "src/a.ts");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("*.js"), "'*.js'");
    }

    #[test]
    fn quoted_arguments_reach_the_program_unchanged() {
        let tricky = [
            "a b",
            "it's",
            "$HOME",
            "*",
            "",
            "--x=\"y\"",
            "back\\slash",
            "new\nline",
        ];
        let line = std::iter::once("printf '%s|'".to_owned())
            .chain(tricky.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .output()
            .expect("run sh");
        let expected: String = tricky.iter().map(|a| format!("{a}|")).collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn bin_dirs_go_from_the_package_up_to_the_root() {
        let dirs = bin_dirs(Path::new("/w/app/packages/ui"));
        assert_eq!(
            dirs.first().unwrap(),
            Path::new("/w/app/packages/ui/node_modules/.bin")
        );
        assert_eq!(dirs[1], Path::new("/w/app/packages/node_modules/.bin"));
        assert_eq!(dirs.last().unwrap(), Path::new("/node_modules/.bin"));
        assert_eq!(dirs.len(), 5);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        let status = |script: &str| {
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .status()
                .expect("run sh")
        };
        assert_eq!(exit_code(status("exit 0")), 0);
        assert_eq!(exit_code(status("exit 3")), 3);
        assert_eq!(
            exit_code(status("kill -TERM $$")),
            128 + libc::SIGTERM as u8
        );
    }
}
