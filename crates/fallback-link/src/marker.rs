//! The layout marker, `node_modules/.dx-layout`: what a materialized tree was built from, and
//! the fingerprint of its top level, so a repeat install can tell in a few system calls that
//! there is nothing to do.
//!
//! Format (text, one item per line, version 2):
//!
//! ```text
//! dx-layout 2
//! key <the DXL key the tree was built from>
//! mode <requested mode> <mode used>
//! counts <files> <dirs> <symlinks> <bytes>
//! private <install path of a package placed as private copies>   (zero or more)
//! dir <inode> <mtime seconds> <mtime nanoseconds> <path relative to node_modules, "." for itself>
//! end
//! ```
//!
//! Version 1 (no `private` lines) is not read: a tree it describes is rebuilt once. An empty
//! marker is also what an in-place update leaves while it renames packages into place: a tree
//! caught midway is never taken as intact, and the next install rebuilds it whole.
//!
//! "Intact" means: `node_modules` is the very directory dx built (same inode), and it and each
//! of its top-level layout directories (`@scope`, `.bin`) still hold every entry the layout
//! puts there, plus at most dot-named extras (tool caches such as `.cache`). The fast check is
//! the fingerprint (same mtimes: nothing added, removed or renamed); only when it differs is
//! each of those directories listed once and the fingerprint refreshed. Edits deeper down (a file changed inside `react/`) are not seen;
//! the files are read-only, which makes such edits deliberate. The marker is written in two
//! steps: created empty in the staging tree, filled in place after the swap (writing a file's
//! contents does not touch its directory's mtime). A torn or empty marker never matches.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use dx_formats::dxl::Dxl;

use crate::LinkMode;
use crate::error::LinkError;

/// File name of the marker inside `node_modules`.
pub const MARKER_FILE: &str = ".dx-layout";

const HEADER: &str = "dx-layout 2";

/// What a marker records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayoutMarker {
    pub(crate) key: String,
    pub(crate) requested: LinkMode,
    pub(crate) used: LinkMode,
    pub(crate) files: u64,
    pub(crate) dirs: u64,
    pub(crate) symlinks: u64,
    pub(crate) bytes: u64,
    /// Packages (install paths) placed as private copies whatever the mode, sorted.
    pub(crate) private: Vec<String>,
    /// (path relative to node_modules, inode, mtime seconds, mtime nanoseconds).
    pub(crate) fingerprint: Vec<(String, u64, i64, i64)>,
}

impl LayoutMarker {
    /// Stats `node_modules` and each of `watched` (relative paths) to take the fingerprint.
    pub(crate) fn fingerprint(
        node_modules: &Path,
        watched: &[String],
    ) -> Result<Vec<(String, u64, i64, i64)>, LinkError> {
        std::iter::once(".")
            .chain(watched.iter().map(String::as_str))
            .map(|relative| {
                let path = if relative == "." {
                    node_modules.to_path_buf()
                } else {
                    node_modules.join(relative)
                };
                let meta = fs::symlink_metadata(&path).map_err(LinkError::io("stat", &path))?;
                Ok((
                    relative.to_owned(),
                    meta.ino(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                ))
            })
            .collect()
    }

    fn render(&self) -> String {
        let mut text = format!(
            "{HEADER}\nkey {}\nmode {} {}\ncounts {} {} {} {}\n",
            self.key, self.requested, self.used, self.files, self.dirs, self.symlinks, self.bytes
        );
        for path in &self.private {
            text.push_str(&format!("private {path}\n"));
        }
        for (path, ino, sec, nsec) in &self.fingerprint {
            text.push_str(&format!("dir {ino} {sec} {nsec} {path}\n"));
        }
        text.push_str("end\n");
        text
    }

    fn parse(text: &str) -> Option<LayoutMarker> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let key = lines.next()?.strip_prefix("key ")?.to_owned();
        let mut mode = lines.next()?.strip_prefix("mode ")?.split(' ');
        let requested = mode.next()?.parse().ok()?;
        let used = mode.next()?.parse().ok()?;
        let counts: Vec<u64> = lines
            .next()?
            .strip_prefix("counts ")?
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [files, dirs, symlinks, bytes] = counts[..] else {
            return None;
        };
        let mut fingerprint = Vec::new();
        let mut private = Vec::new();
        let mut ended = false;
        for line in lines {
            if ended {
                return None;
            }
            if line == "end" {
                ended = true;
                continue;
            }
            if let Some(path) = line.strip_prefix("private ") {
                if !fingerprint.is_empty() {
                    return None;
                }
                private.push(path.to_owned());
                continue;
            }
            let mut parts = line.strip_prefix("dir ")?.splitn(4, ' ');
            let ino = parts.next()?.parse().ok()?;
            let sec = parts.next()?.parse().ok()?;
            let nsec = parts.next()?.parse().ok()?;
            fingerprint.push((parts.next()?.to_owned(), ino, sec, nsec));
        }
        // The first fingerprint entry is node_modules itself; without it nothing is checked.
        (ended && fingerprint.first()?.0 == ".").then_some(LayoutMarker {
            key,
            requested,
            used,
            files,
            dirs,
            symlinks,
            bytes,
            private,
            fingerprint,
        })
    }

    /// Reads the marker of `node_modules`, if there is a well-formed one.
    pub(crate) fn read(node_modules: &Path) -> Option<LayoutMarker> {
        let text = fs::read_to_string(node_modules.join(MARKER_FILE)).ok()?;
        LayoutMarker::parse(&text)
    }

    /// Whether `node_modules` still matches this marker's fingerprint (a few stats, no walk).
    pub(crate) fn is_intact(&self, node_modules: &Path) -> bool {
        self.fingerprint.iter().all(|(relative, ino, sec, nsec)| {
            let path = if relative == "." {
                node_modules.to_path_buf()
            } else {
                node_modules.join(relative)
            };
            fs::symlink_metadata(&path).is_ok_and(|meta| {
                meta.is_dir()
                    && meta.ino() == *ino
                    && meta.mtime() == *sec
                    && meta.mtime_nsec() == *nsec
            })
        })
    }

    /// The slower check when the fingerprint differs: `node_modules` is still the directory dx
    /// built (same inode), and it and each watched directory still hold every entry the layout
    /// puts there. Extra entries whose names start with a dot are allowed: tools keep caches
    /// there (`.cache`, `.vite`), and rebuilding the tree would throw them away. One `readdir`
    /// per watched directory; nothing deeper is read.
    pub(crate) fn holds_top_level(&self, dxl: &Dxl<'_>, node_modules: &Path) -> bool {
        let same_dir = self.fingerprint.first().is_some_and(|(_, ino, _, _)| {
            fs::symlink_metadata(node_modules).is_ok_and(|meta| meta.is_dir() && meta.ino() == *ino)
        });
        if !same_dir {
            return false;
        }
        self.fingerprint.iter().all(|(relative, _, _, _)| {
            let (dir, node) = if relative == "." {
                (node_modules.to_path_buf(), Some(dxl.root()))
            } else {
                (node_modules.join(relative), dxl.lookup(relative))
            };
            let (Some(node), Ok(listing)) = (node, fs::read_dir(&dir)) else {
                return false;
            };
            let mut present = HashSet::new();
            for entry in listing {
                let Ok(entry) = entry else { return false };
                present.insert(entry.file_name());
            }
            let expected: HashSet<OsString> = dxl
                .children(node)
                .map(|child| OsString::from(child.name()))
                .collect();
            let extras_are_dotfiles = present
                .iter()
                .filter(|name| !expected.contains(*name))
                .all(|name| name.as_encoded_bytes().starts_with(b"."));
            extras_are_dotfiles && expected.iter().all(|name| present.contains(name))
        })
    }

    /// Takes a new fingerprint of an accepted tree and rewrites the marker in place, so the
    /// next check is the fast one again.
    pub(crate) fn refresh(&mut self, node_modules: &Path) -> Result<(), LinkError> {
        let watched: Vec<String> = self
            .fingerprint
            .iter()
            .skip(1)
            .map(|(path, _, _, _)| path.clone())
            .collect();
        self.fingerprint = LayoutMarker::fingerprint(node_modules, &watched)?;
        self.fill(node_modules)
    }

    /// Whether a tree with this marker satisfies an install of `key` in mode `requested`, with
    /// `private` (sorted) placed as private copies.
    pub(crate) fn satisfies(&self, key: &str, requested: LinkMode, private: &[String]) -> bool {
        self.key == key && self.private == private && self.mode_fits(requested)
    }

    /// Whether files placed the way this tree's were serve an install asking for `requested`.
    pub(crate) fn mode_fits(&self, requested: LinkMode) -> bool {
        requested == LinkMode::Auto || requested == self.requested || requested == self.used
    }

    /// Empties the marker in place: the tree is about to change under it, and an empty marker
    /// never matches (see the module docs).
    pub(crate) fn clear(node_modules: &Path) -> Result<(), LinkError> {
        let path = node_modules.join(MARKER_FILE);
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map(drop)
            .map_err(LinkError::io("open", &path))
    }

    /// Creates the empty marker in a tree being built, so the swap carries it along and the
    /// later in-place fill does not change any directory's mtime.
    pub(crate) fn create_empty(tree: &Path) -> Result<(), LinkError> {
        let path = tree.join(MARKER_FILE);
        fs::write(&path, b"").map_err(LinkError::io("create", &path))
    }

    /// Fills the (existing) marker in place; see the module docs for why not a rename.
    pub(crate) fn fill(&self, node_modules: &Path) -> Result<(), LinkError> {
        let path = node_modules.join(MARKER_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(LinkError::io("open", &path))?;
        file.write_all(self.render().as_bytes())
            .map_err(LinkError::io("write", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LayoutMarker {
        LayoutMarker {
            key: "abc123-linux-x64".into(),
            requested: LinkMode::Auto,
            used: LinkMode::Hardlink,
            files: 10,
            dirs: 3,
            symlinks: 1,
            bytes: 4096,
            private: vec!["cli-tool".into(), "@s/with space".into()],
            fingerprint: vec![
                (".".into(), 42, 1_700_000_000, 5),
                ("@scope with space".into(), 43, 1, 2),
            ],
        }
    }

    #[test]
    fn round_trips() {
        let marker = sample();
        assert_eq!(LayoutMarker::parse(&marker.render()), Some(marker));
    }

    #[test]
    fn torn_or_foreign_markers_never_match() {
        let text = sample().render();
        for cut in 0..text.len() - 1 {
            assert_eq!(LayoutMarker::parse(&text[..cut]), None, "cut at {cut}");
        }
        assert_eq!(LayoutMarker::parse(""), None);
        assert_eq!(LayoutMarker::parse("dx-layout 1\n"), None);
        assert_eq!(LayoutMarker::parse("dx-layout 3\n"), None);
    }

    #[test]
    fn satisfies_same_key_and_compatible_mode() {
        let marker = sample();
        let private = marker.private.clone();
        assert!(marker.satisfies("abc123-linux-x64", LinkMode::Auto, &private));
        assert!(marker.satisfies("abc123-linux-x64", LinkMode::Hardlink, &private));
        assert!(!marker.satisfies("abc123-linux-x64", LinkMode::Copy, &private));
        assert!(!marker.satisfies("other", LinkMode::Auto, &private));
        assert!(
            !marker.satisfies("abc123-linux-x64", LinkMode::Auto, &[]),
            "a package that must now be a private copy is not one yet"
        );
    }

    #[test]
    fn an_added_top_level_entry_breaks_the_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node_modules = dir.path().join("node_modules");
        fs::create_dir_all(node_modules.join("@scope")).expect("mkdir");
        LayoutMarker::create_empty(&node_modules).expect("create");
        let mut marker = sample();
        marker.fingerprint =
            LayoutMarker::fingerprint(&node_modules, &["@scope".into()]).expect("fingerprint");
        marker.fill(&node_modules).expect("fill");
        let read = LayoutMarker::read(&node_modules).expect("read back");
        assert!(
            read.is_intact(&node_modules),
            "filling the marker must not change the fingerprint"
        );
        fs::create_dir(node_modules.join("@scope/new")).expect("mkdir");
        assert!(!read.is_intact(&node_modules));
    }
}
