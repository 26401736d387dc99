//! Liveness for gc: projects register the archives they use ("roots"), and mount daemons hold
//! a lock per mounted project while they run.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dx_formats::hash::ContentHash;

use super::Store;
use crate::error::StoreError;
use crate::lock::{FileLock, LockMode};

/// First line of a root file; bump with the format.
const ROOT_HEADER: &str = "dx-root 1";

/// The lockfile whose presence keeps a project's root alive.
pub const PROJECT_LOCKFILE: &str = "dx.lock";

/// One project's claim on the store: gc keeps these archives and this DXL file while the project
/// (and its `dx.lock`) exists, or while its node_modules is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootRecord {
    /// The project directory (canonical when it was registered).
    pub project: PathBuf,
    /// Key of the project's compiled DXL file (see [`Store::dxl_path`]).
    pub dxl_key: String,
    /// Every package archive the project's layout uses.
    pub hashes: Vec<ContentHash>,
}

/// Proof that a live mount serves a project: while held, gc keeps everything the project's root
/// references even if the project directory disappears. Released when dropped or when the
/// process dies (it is an `flock`).
#[derive(Debug)]
pub struct MountGuard {
    _lock: FileLock,
    path: PathBuf,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        // Unlink while still holding the lock; a contender that opened the file before the
        // unlink notices (`still_linked`) and retries on a fresh file.
        let _ = fs::remove_file(&self.path);
    }
}

impl Store {
    /// Records (atomically, replacing any previous record) that `project_dir` uses `hashes` and
    /// the DXL file `dxl_key`. Call it while still holding the [`InsertGuard`](super::InsertGuard)
    /// under which the archives were stored.
    pub fn register_root(
        &self,
        project_dir: &Path,
        dxl_key: &str,
        hashes: &[ContentHash],
    ) -> Result<PathBuf, StoreError> {
        let project = canonical_project(project_dir);
        let record = RootRecord {
            project: project.clone(),
            dxl_key: dxl_key.to_owned(),
            hashes: hashes.to_vec(),
        };
        let path = self.layout.root_path(&project_key(&project));
        let encoded = record.encode();
        // A repeat install of an unchanged project must not pay for an fsync'd write.
        if fs::read(&path).is_ok_and(|existing| existing == encoded) {
            return Ok(path);
        }
        self.write_file(&path, &encoded, 0o644)?;
        Ok(path)
    }

    /// The DXL key of `project_dir`'s registered root, reading only the record's header: while
    /// it names a key, gc keeps that DXL file and every archive it uses.
    pub fn root_dxl_key(&self, project_dir: &Path) -> Option<String> {
        let path = self
            .layout
            .root_path(&project_key(&canonical_project(project_dir)));
        let mut head = Vec::with_capacity(512);
        fs::File::open(path)
            .ok()?
            .take(512)
            .read_to_end(&mut head)
            .ok()?;
        RootRecord::decode_dxl_key(&head).map(|(key, _)| key)
    }

    /// Removes the project's root, if any; its archives become collectable.
    pub fn unregister_root(&self, project_dir: &Path) -> Result<bool, StoreError> {
        let path = self
            .layout
            .root_path(&project_key(&canonical_project(project_dir)));
        crate::atomic::remove_file_if_exists(&path).map_err(StoreError::io("remove root", &path))
    }

    /// Every registered root that parses, with its file's key.
    pub fn roots(&self) -> Result<Vec<RootRecord>, StoreError> {
        let mut roots = Vec::new();
        for (_, _, parsed) in self.read_roots()? {
            if let Some(record) = parsed {
                roots.push(record);
            }
        }
        Ok(roots)
    }

    /// Root files as (path, project key, parsed record or `None` when unreadable).
    pub(crate) fn read_roots(
        &self,
    ) -> Result<Vec<(PathBuf, String, Option<RootRecord>)>, StoreError> {
        let dir = self.layout.roots_dir();
        let mut out = Vec::new();
        for path in crate::atomic::list_dir(&dir).map_err(StoreError::io("list roots", &dir))? {
            let Some(key) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            let parsed = match fs::read(&path) {
                Ok(bytes) => RootRecord::decode(&bytes),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StoreError::io("read root", &path)(e)),
            };
            out.push((path, key, parsed));
        }
        Ok(out)
    }

    /// Takes the mount lock of `project_dir`, to be held by the mount daemon for as long as it
    /// serves the project. Fails with [`StoreError::MountBusy`] if another live process holds it.
    pub fn mount_guard(&self, project_dir: &Path) -> Result<MountGuard, StoreError> {
        let project = canonical_project(project_dir);
        let path = self.layout.mount_lock_path(&project_key(&project));
        // gc removes stale mount files under its exclusive lock; holding the shared side here
        // means it cannot remove ours between our open and our flock.
        let _no_gc = self.insert_guard()?;
        loop {
            let lock = FileLock::try_acquire(&path, LockMode::Exclusive)
                .map_err(StoreError::io("lock", &path))?
                .ok_or_else(|| StoreError::MountBusy {
                    project: project.clone(),
                })?;
            if !lock.still_linked().map_err(StoreError::io("lock", &path))? {
                continue;
            }
            // Informational: who holds it.
            let mut file = lock.file();
            let _ = file.set_len(0);
            let _ = file.write_all(project.as_os_str().as_bytes());
            return Ok(MountGuard { _lock: lock, path });
        }
    }
}

/// The project directory as registered: canonical when it exists, so `./app` and `/home/u/app`
/// are one root.
pub(crate) fn canonical_project(project_dir: &Path) -> PathBuf {
    fs::canonicalize(project_dir)
        .unwrap_or_else(|_| std::path::absolute(project_dir).unwrap_or(project_dir.into()))
}

/// The file name a project's root and mount lock use: BLAKE3 of its canonical path.
pub(crate) fn project_key(project: &Path) -> String {
    blake3::hash(project.as_os_str().as_bytes())
        .to_hex()
        .to_string()
}

impl RootRecord {
    /// Text form: a header line, `dxl <key>`, `project <path>`, then one content hash per line.
    /// Backslashes and newlines in the key and path are escaped, so any path round-trips.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.hashes.len() * 65);
        out.extend_from_slice(ROOT_HEADER.as_bytes());
        out.extend_from_slice(b"\ndxl ");
        escape_into(&mut out, self.dxl_key.as_bytes());
        out.extend_from_slice(b"\nproject ");
        escape_into(&mut out, self.project.as_os_str().as_bytes());
        out.push(b'\n');
        for hash in &self.hashes {
            out.extend_from_slice(hash.to_hex().as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The header and DXL key line of an encoded record, and the bytes after them. `None`
    /// unless the key line is complete (ends in a newline), so a prefix of a record will do.
    fn decode_dxl_key(bytes: &[u8]) -> Option<(String, &[u8])> {
        let rest = bytes
            .strip_prefix(ROOT_HEADER.as_bytes())?
            .strip_prefix(b"\n")?;
        let end = rest.iter().position(|&b| b == b'\n')?;
        let key = String::from_utf8(unescape(rest[..end].strip_prefix(b"dxl ")?)?).ok()?;
        Some((key, &rest[end + 1..]))
    }

    fn decode(bytes: &[u8]) -> Option<RootRecord> {
        let (dxl_key, rest) = Self::decode_dxl_key(bytes)?;
        let mut lines = rest.split(|&b| b == b'\n');
        let project = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(
            lines.next()?.strip_prefix(b"project ")?,
        )?));
        let mut hashes = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            hashes.push(std::str::from_utf8(line).ok()?.parse().ok()?);
        }
        Some(RootRecord {
            project,
            dxl_key,
            hashes,
        })
    }
}

fn escape_into(out: &mut Vec<u8>, raw: &[u8]) {
    for &b in raw {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

fn unescape(escaped: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&b) = bytes.next() {
        if b == b'\\' {
            match bytes.next()? {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                _ => return None,
            }
        } else {
            out.push(b);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_records_round_trip_with_odd_paths() {
        let record = RootRecord {
            project: PathBuf::from("/home/u/we\\ird\nname"),
            dxl_key: "k\\1".into(),
            hashes: vec![ContentHash::of(b"a"), ContentHash::of(b"b")],
        };
        assert_eq!(RootRecord::decode(&record.encode()), Some(record));
        assert_eq!(RootRecord::decode(b"dx-root 2\ndxl k\nproject /p\n"), None);
        assert_eq!(
            RootRecord::decode(b"dx-root 1\ndxl k\nproject /p\nnot-a-hash\n"),
            None
        );
    }

    #[test]
    fn the_root_dxl_key_is_read_from_the_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.root_dxl_key(project.path()), None);
        let hashes: Vec<ContentHash> = (0..50u32)
            .map(|i| ContentHash::of(&i.to_le_bytes()))
            .collect();
        store
            .register_root(project.path(), "key-1", &hashes)
            .unwrap();
        assert_eq!(store.root_dxl_key(project.path()).as_deref(), Some("key-1"));
        store.unregister_root(project.path()).unwrap();
        assert_eq!(store.root_dxl_key(project.path()), None);
    }

    #[test]
    fn a_project_can_be_mounted_once_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let guard = store.mount_guard(project.path()).unwrap();
        assert!(matches!(
            store.mount_guard(project.path()),
            Err(StoreError::MountBusy { .. })
        ));
        drop(guard);
        let again = store.mount_guard(project.path()).unwrap();
        drop(again);
    }
}
