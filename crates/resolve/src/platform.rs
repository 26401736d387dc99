//! The machine's platform in node's names, and npm's `os` / `cpu` / `libc` matching
//! (npm-install-checks): `!name` excludes, any positive entry must match, `libc` only on linux.

use std::path::Path;

/// Where packages will run: `process.platform`, `process.arch` and the C library.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`, `darwin`, `win32`, `freebsd`, …
    pub os: String,
    /// `x64`, `arm64`, `ia32`, `arm`, …
    pub cpu: String,
    /// `glibc` or `musl` on linux; `None` elsewhere or when unknown.
    pub libc: Option<String>,
}

impl Platform {
    /// Detects this machine: OS and CPU from the Rust target mapped to node's names, libc by
    /// looking for musl's dynamic loader.
    pub fn current() -> Self {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            other => other,
        };
        let cpu = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "ia32",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let libc = (os == "linux").then(|| detect_libc(Path::new("/lib")));
        Platform {
            os: os.to_string(),
            cpu: cpu.to_string(),
            libc,
        }
    }

    /// Whether a package with these `os`, `cpu` and `libc` fields can be installed here.
    pub fn accepts(&self, os: &[String], cpu: &[String], libc: &[String]) -> bool {
        list_accepts(os, &self.os)
            && list_accepts(cpu, &self.cpu)
            && (self.os != "linux"
                || libc.is_empty()
                || self.libc.as_deref().is_some_and(|l| list_accepts(libc, l)))
    }
}

/// musl systems ship `/lib/ld-musl-<arch>.so.1`; glibc ones do not.
fn detect_libc(lib_dir: &Path) -> String {
    let musl = std::fs::read_dir(lib_dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("ld-musl-"))
        })
        .unwrap_or(false);
    if musl { "musl" } else { "glibc" }.to_string()
}

fn list_accepts(list: &[String], value: &str) -> bool {
    if list.is_empty() {
        return true;
    }
    let mut positive = false;
    let mut matched = false;
    for entry in list {
        if entry == "any" {
            return true;
        }
        if let Some(negated) = entry.strip_prefix('!') {
            if negated == value {
                return false;
            }
        } else {
            positive = true;
            matched |= entry == value;
        }
    }
    !positive || matched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matches_npm_install_checks() {
        let linux = Platform {
            os: "linux".into(),
            cpu: "x64".into(),
            libc: Some("glibc".into()),
        };
        assert!(linux.accepts(&[], &[], &[]));
        assert!(linux.accepts(&s(&["linux"]), &s(&["x64", "arm64"]), &s(&["glibc"])));
        assert!(!linux.accepts(&s(&["darwin"]), &[], &[]));
        assert!(!linux.accepts(&s(&["!linux"]), &[], &[]));
        assert!(linux.accepts(&s(&["!win32"]), &[], &[]));
        assert!(!linux.accepts(&[], &s(&["arm64"]), &[]));
        assert!(!linux.accepts(&[], &[], &s(&["musl"])));
        let mac = Platform {
            os: "darwin".into(),
            cpu: "arm64".into(),
            libc: None,
        };
        assert!(mac.accepts(&[], &[], &s(&["musl"])));
    }

    #[test]
    fn detects_musl_by_loader() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(detect_libc(dir.path()), "glibc");
        std::fs::write(dir.path().join("ld-musl-x86_64.so.1"), b"").expect("write");
        assert_eq!(detect_libc(dir.path()), "musl");
        let here = Platform::current();
        assert!(!here.os.is_empty() && !here.cpu.is_empty());
    }
}
