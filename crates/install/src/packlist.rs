//! The files npm would pack from a directory (npm-packlist's rules) and a deterministic
//! tarball of them, for git dependencies.
//!
//! Rules, as npm-packlist applies them:
//! - never: `.git`, `.svn`, `.hg`, `CVS` and `node_modules` directories anywhere; `.npmignore`,
//!   `.gitignore`, `.npmrc`, `npm-debug.log`, `.DS_Store`, `._*`, `.*.swp`, `*.orig` anywhere;
//!   at the root `package-lock.json`, `yarn.lock`, `pnpm-lock.yaml`, `.lock-wscript`,
//!   `.wafpickle-*`, `build/config.gypi`; symbolic links;
//! - with a `files` field, only what it lists (a path, a directory and what is under it, or a
//!   glob with `*`, `**`, `?`); without one, everything that the directories' `.npmignore` (or,
//!   where a directory has none, its `.gitignore`) does not exclude, as git reads those files;
//! - always: the root package.json, README, LICENSE / LICENCE (any extension), and the `main`
//!   and `bin` files.
//!
//! The tarball is the same bytes for the same files whatever git, filesystem or clock made
//! them: entries `package/<path>` sorted by path, regular files only, mode 0644 (0755 when
//! any execute bit is set), uid/gid 0, no user names, mtime 1985-10-26T08:15:00Z (npm's fixed
//! date), then gzip with stored (uncompressed) deflate blocks written here, so no compressor
//! version can change the bytes. The store keeps the DXP archive, not this tarball, so its size
//! does not matter; its sha512 is what dx.lock records.

use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use dx_formats::dxp::gzip_stored;
use dx_formats::hash::{Integrity, IntegrityAlgorithm, IntegrityHasher};

/// npm's fixed mtime for packed entries (1985-10-26T08:15:00Z).
const PACK_MTIME: u64 = 499_162_500;

/// The files (paths relative to `dir`, `/`-separated, sorted) npm would pack. `dir` is a
/// scratch checkout inside a git work tree: where a directory has a `.npmignore`, its
/// `.gitignore` is overwritten with it so that git applies npm's precedence.
pub fn files(dir: &Path, manifest: &serde_json::Value) -> io::Result<Vec<String>> {
    let mut all = Vec::new();
    walk(dir, "", &mut all)?;
    all.retain(|p| !default_excluded(p));
    let always = |p: &str| always_included(p, manifest);
    let kept: Vec<String> = match manifest.get("files").and_then(|f| f.as_array()) {
        Some(patterns) => {
            let patterns: Vec<String> = patterns
                .iter()
                .filter_map(|p| p.as_str())
                .map(normalize_pattern)
                .filter(|p| !p.is_empty())
                .collect();
            all.into_iter()
                .filter(|p| always(p) || patterns.iter().any(|pat| listed(pat, p)))
                .collect()
        }
        None => {
            let ignored = git_ignored(dir, &all)?;
            all.into_iter()
                .filter(|p| always(p) || !ignored.contains(p))
                .collect()
        }
    };
    let mut kept = kept;
    kept.sort();
    Ok(kept)
}

/// The gzipped tarball of `files` under `dir` (see the module documentation).
pub fn pack(dir: &Path, files: &[String]) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut sorted: Vec<&String> = files.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut tar = tar::Builder::new(Vec::new());
    for rel in sorted {
        let path = dir.join(rel);
        let bytes = std::fs::read(&path)?;
        let executable = std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0;
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(PACK_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, format!("package/{rel}"), &bytes[..])?;
    }
    let raw = tar.into_inner()?;
    Ok(gzip_stored(&raw))
}

/// The sha512 integrity of `bytes`.
pub fn sha512(bytes: &[u8]) -> Integrity {
    let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    hasher.update(bytes);
    hasher.finish()
}

/// Every regular file under `dir/prefix`, skipping the directories npm never packs and links.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let here = if prefix.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(prefix)
    };
    let mut entries: Vec<_> = std::fs::read_dir(&here)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // npm cannot name it either
        };
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !matches!(
                name.as_str(),
                ".git" | ".svn" | ".hg" | "CVS" | "node_modules"
            ) {
                walk(dir, &rel, out)?;
            }
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

fn default_excluded(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let anywhere = matches!(
        name,
        ".npmignore" | ".gitignore" | ".npmrc" | "npm-debug.log" | ".DS_Store"
    ) || name.starts_with("._")
        || (name.starts_with('.') && name.ends_with(".swp"))
        || name.ends_with(".orig");
    let at_root = matches!(
        path,
        "package-lock.json"
            | "yarn.lock"
            | "pnpm-lock.yaml"
            | ".lock-wscript"
            | "build/config.gypi"
    ) || path.starts_with(".wafpickle-");
    anywhere || at_root
}

fn always_included(path: &str, manifest: &serde_json::Value) -> bool {
    if path == "package.json" {
        return true;
    }
    if !path.contains('/') {
        let stem = path.split('.').next().unwrap_or(path).to_ascii_lowercase();
        if matches!(stem.as_str(), "readme" | "license" | "licence" | "copying") {
            return true;
        }
    }
    let same = |p: &str| normalize_pattern(p) == path;
    if manifest
        .get("main")
        .and_then(|m| m.as_str())
        .is_some_and(same)
    {
        return true;
    }
    match manifest.get("bin") {
        Some(serde_json::Value::String(b)) => same(b),
        Some(serde_json::Value::Object(map)) => map.values().filter_map(|v| v.as_str()).any(same),
        _ => false,
    }
}

fn normalize_pattern(pattern: &str) -> String {
    let p = pattern.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    p.trim_start_matches('/').trim_end_matches('/').to_owned()
}

/// Whether a `files` entry lists `path`: the path itself, a directory above it, or a glob
/// matching it or a directory above it.
fn listed(pattern: &str, path: &str) -> bool {
    let mut candidate = path;
    loop {
        if candidate == pattern || glob(pattern.as_bytes(), candidate.as_bytes()) {
            return true;
        }
        match candidate.rfind('/') {
            Some(i) => candidate = &candidate[..i],
            None => return false,
        }
    }
}

/// `*` (within a segment), `**` (any segments) and `?`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', b'/', rest @ ..] => {
            glob(rest, text)
                || text
                    .iter()
                    .enumerate()
                    .any(|(i, &c)| c == b'/' && glob(rest, &text[i + 1..]))
        }
        [b'*', b'*'] => true,
        [b'*', rest @ ..] => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'/')
            .any(|i| glob(rest, &text[i..])),
        [b'?', rest @ ..] => text.first().is_some_and(|&c| c != b'/') && glob(rest, &text[1..]),
        [c, rest @ ..] => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The paths among `paths` that the ignore files exclude, as git reads them (with each
/// directory's `.npmignore` taking its `.gitignore`'s place).
fn git_ignored(dir: &Path, paths: &[String]) -> io::Result<std::collections::HashSet<String>> {
    let mut ignore_dirs = Vec::new();
    collect_npmignore(dir, &mut ignore_dirs)?;
    for d in &ignore_dirs {
        std::fs::copy(d.join(".npmignore"), d.join(".gitignore"))?;
    }
    let mut child = Command::new("git")
        .args([
            "-c",
            "core.excludesFile=/dev/null",
            "check-ignore",
            "--no-index",
            "-z",
            "--stdin",
        ])
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = Vec::new();
    for p in paths {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(&input)
    });
    let out = child.wait_with_output()?;
    writer
        .join()
        .map_err(|_| io::Error::other("writing to git check-ignore failed"))??;
    // 0: some paths are ignored, 1: none are.
    if !matches!(out.status.code(), Some(0 | 1)) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(io::Error::other(format!("git check-ignore failed: {last}")));
    }
    Ok(out
        .stdout
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

fn collect_npmignore(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    if dir.join(".npmignore").is_file() {
        out.push(dir.to_path_buf());
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_dir() && name != ".git" && name != "node_modules" {
            collect_npmignore(&entry.path(), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let temp = tempfile::tempdir().expect("temp dir");
        let status = Command::new("git")
            .args(["init", "--quiet"])
            .current_dir(temp.path())
            .status()
            .expect("git");
        assert!(status.success());
        for (path, text) in files {
            let full = temp.path().join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        temp
    }

    #[test]
    fn npmignore_wins_over_gitignore_and_defaults_always_apply() {
        let dir = repo(&[
            ("package.json", "{}"),
            ("README.md", "r"),
            ("index.js", ""),
            ("dist/out.js", ""),
            ("src/a.ts", ""),
            ("test/t.js", ""),
            (".gitignore", "dist/\n"),
            (".npmignore", "test/\n*.ts\n"),
            ("package-lock.json", "{}"),
            ("node_modules/x/index.js", ""),
            ("lib/.DS_Store", ""),
            ("lib/keep.js", ""),
        ]);
        let files = files(dir.path(), &json!({})).expect("files");
        assert_eq!(
            files,
            [
                "README.md",
                "dist/out.js",
                "index.js",
                "lib/keep.js",
                "package.json"
            ]
        );
    }

    #[test]
    fn gitignore_applies_without_npmignore() {
        let dir = repo(&[
            ("package.json", "{}"),
            ("index.js", ""),
            ("dist/out.js", ""),
            (".gitignore", "dist/\n"),
        ]);
        assert_eq!(
            files(dir.path(), &json!({})).expect("files"),
            ["index.js", "package.json"]
        );
    }

    #[test]
    fn the_files_field_lists_paths_dirs_and_globs_plus_the_always_included() {
        let dir = repo(&[
            ("package.json", "{}"),
            ("LICENSE", "l"),
            ("lib/a.js", ""),
            ("lib/deep/b.js", ""),
            ("types/x.d.ts", ""),
            ("types/x.js", ""),
            ("cli.js", ""),
            ("main.js", ""),
            ("other.js", ""),
        ]);
        let manifest = json!({
            "files": ["lib/", "types/*.d.ts"],
            "main": "./main.js",
            "bin": {"x": "cli.js"}
        });
        assert_eq!(
            files(dir.path(), &manifest).expect("files"),
            [
                "LICENSE",
                "cli.js",
                "lib/a.js",
                "lib/deep/b.js",
                "main.js",
                "package.json",
                "types/x.d.ts"
            ]
        );
    }

    #[test]
    fn globs() {
        assert!(glob(b"*.js", b"a.js"));
        assert!(!glob(b"*.js", b"d/a.js"));
        assert!(glob(b"**/*.js", b"d/e/a.js"));
        assert!(glob(b"**/*.js", b"a.js"));
        assert!(glob(b"d/**", b"d/e/a.js"));
        assert!(glob(b"a?.js", b"ab.js"));
        assert!(!glob(b"a?.js", b"a/.js"));
    }

    #[test]
    fn packing_is_deterministic_and_readable() {
        use std::os::unix::fs::PermissionsExt as _;
        let one = repo(&[
            ("package.json", "{\"name\":\"p\"}"),
            ("b.js", "b"),
            ("a/c.sh", "c"),
        ]);
        // The same files written in another order, with other times and modes.
        let two = repo(&[
            ("a/c.sh", "c"),
            ("b.js", "b"),
            ("package.json", "{\"name\":\"p\"}"),
        ]);
        for dir in [&one, &two] {
            let sh = dir.path().join("a/c.sh");
            std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        std::fs::set_permissions(
            two.path().join("b.js"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        let list = [
            "package.json".to_owned(),
            "b.js".to_owned(),
            "a/c.sh".to_owned(),
        ];
        let a = pack(one.path(), &list).expect("pack");
        let b = pack(two.path(), &list).expect("pack");
        assert_eq!(a, b);
        assert_eq!(sha512(&a), sha512(&b));
        // Readable by gzip and tar, in sorted order with the fixed metadata.
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&a[..]));
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    e.path().expect("path").display().to_string(),
                    h.mode().expect("mode"),
                    h.mtime().expect("mtime"),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("package/a/c.sh".to_owned(), 0o755, PACK_MTIME),
                ("package/b.js".to_owned(), 0o644, PACK_MTIME),
                ("package/package.json".to_owned(), 0o644, PACK_MTIME),
            ]
        );
    }

    #[test]
    fn stored_gzip_round_trips_large_and_empty_inputs() {
        use std::io::Read as _;
        for data in [Vec::new(), vec![7u8; 200_000]] {
            let gz = gzip_stored(&data);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .expect("decode");
            assert_eq!(back, data);
        }
    }
}
