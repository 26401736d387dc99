//! Where everything lives under a store root. Only this module spells out paths, so the
//! on-disk layout (documented in docs/store.md) can be read in one place.
//!
//! ```text
//! <root>/v1/
//!   dxp/ab/cdef….dxp          archives, named by the hex BLAKE3 of their bytes (read-only files)
//!   index/sha512/ab/cdef…     integrity → content hash (64 hex digits), one file per integrity
//!   index/sha1/ab/cdef…
//!   unpacked/<hash>/…         the unpacked tier, for reflink / hardlink materialization
//!   dxl/<key>.dxl             compiled lock + layout files
//!   metadata/                 registry-metadata cache (owned by dx-net)
//!   values/<name>             small cached values (e.g. the registry npm answers)
//!   roots/<project-key>       projects that use the store (gc roots)
//!   mounts/<project-key>.lock held (flock) by a live mount daemon
//!   projects/<project-key>/   per-project state: mount files, install record, overlay
//!   quarantine/               archives that failed `verify`
//!   tmp/<session>.lock, tmp/<session>/  per-process temp space on the same filesystem
//!   gc.lock                   shared by inserts, exclusive for gc
//! <root>/mounts/<digest>/     per-project state of dx before it moved into v1/projects
//! ```

use std::path::{Path, PathBuf};

use dx_formats::hash::{ContentHash, Integrity, IntegrityAlgorithm};

/// The top directory of this layout version; a future format lives beside it.
pub(crate) const LAYOUT_VERSION_DIR: &str = "v1";

/// Where dx kept per-project state before it moved into `v1/projects/`, relative to the root.
const LEGACY_STATE_DIR: &str = "mounts";

/// Hex digits of BLAKE3(project path) naming a legacy state directory.
const LEGACY_DIGEST_LEN: usize = 24;

/// Extension of archive files.
const ARCHIVE_EXTENSION: &str = "dxp";

/// Paths of one store.
#[derive(Clone, Debug)]
pub(crate) struct StoreLayout {
    root: PathBuf,
    v1: PathBuf,
}

impl StoreLayout {
    pub(crate) fn new(root: PathBuf) -> Self {
        let v1 = root.join(LAYOUT_VERSION_DIR);
        Self { root, v1 }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Directories `open` creates.
    pub(crate) fn directories(&self) -> Vec<PathBuf> {
        vec![
            self.archives_dir(),
            self.index_dir(IntegrityAlgorithm::Sha512),
            self.index_dir(IntegrityAlgorithm::Sha1),
            self.unpacked_dir(),
            self.dxl_dir(),
            self.metadata_dir(),
            self.values_dir(),
            self.roots_dir(),
            self.mounts_dir(),
            self.projects_dir(),
            self.quarantine_dir(),
            self.tmp_dir(),
        ]
    }

    pub(crate) fn archives_dir(&self) -> PathBuf {
        self.v1.join("dxp")
    }

    pub(crate) fn archive_path(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        let (fan, rest) = hex.split_at(2);
        self.archives_dir()
            .join(fan)
            .join(format!("{rest}.{ARCHIVE_EXTENSION}"))
    }

    /// The hash an archive path names, or `None` for anything else found in `dxp/`.
    pub(crate) fn archive_hash_of(path: &Path) -> Option<ContentHash> {
        let fan = path.parent()?.file_name()?.to_str()?;
        let name = path.file_name()?.to_str()?;
        let rest = name.strip_suffix(ARCHIVE_EXTENSION)?.strip_suffix('.')?;
        if fan.len() != 2 || rest.len() != 62 || !is_lower_hex(fan) || !is_lower_hex(rest) {
            return None;
        }
        format!("{fan}{rest}").parse().ok()
    }

    pub(crate) fn index_root(&self) -> PathBuf {
        self.v1.join("index")
    }

    pub(crate) fn index_dir(&self, algorithm: IntegrityAlgorithm) -> PathBuf {
        self.index_root().join(algorithm_dir(algorithm))
    }

    pub(crate) fn index_path(&self, integrity: &Integrity) -> PathBuf {
        let hex = hex::encode(integrity.digest());
        let (fan, rest) = hex.split_at(2);
        self.index_dir(integrity.algorithm()).join(fan).join(rest)
    }

    pub(crate) fn unpacked_dir(&self) -> PathBuf {
        self.v1.join("unpacked")
    }

    pub(crate) fn unpacked_path(&self, hash: &ContentHash) -> PathBuf {
        self.unpacked_dir().join(hash.to_hex())
    }

    pub(crate) fn dxl_dir(&self) -> PathBuf {
        self.v1.join("dxl")
    }

    pub(crate) fn dxl_path(&self, key: &str) -> PathBuf {
        self.dxl_dir().join(format!("{}.dxl", safe_file_name(key)))
    }

    pub(crate) fn metadata_dir(&self) -> PathBuf {
        self.v1.join("metadata")
    }

    pub(crate) fn values_dir(&self) -> PathBuf {
        self.v1.join("values")
    }

    pub(crate) fn value_path(&self, name: &str) -> PathBuf {
        self.values_dir().join(safe_file_name(name))
    }

    pub(crate) fn roots_dir(&self) -> PathBuf {
        self.v1.join("roots")
    }

    pub(crate) fn root_path(&self, project_key: &str) -> PathBuf {
        self.roots_dir().join(project_key)
    }

    pub(crate) fn mounts_dir(&self) -> PathBuf {
        self.v1.join("mounts")
    }

    pub(crate) fn mount_lock_path(&self, project_key: &str) -> PathBuf {
        self.mounts_dir().join(format!("{project_key}.lock"))
    }

    pub(crate) fn projects_dir(&self) -> PathBuf {
        self.v1.join("projects")
    }

    /// The state directory of the project with this key (see `store::projects`).
    pub(crate) fn project_state_dir(&self, project_key: &str) -> PathBuf {
        self.projects_dir().join(project_key)
    }

    /// Where dx before layout v1's `projects/` kept this (canonical) project's state:
    /// `<root>/mounts/<first 24 hex digits of BLAKE3(path)>`, outside `v1/`.
    pub(crate) fn legacy_state_dir(&self, project: &Path) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let digest = blake3::hash(project.as_os_str().as_bytes()).to_hex();
        self.legacy_states_dir()
            .join(&digest.as_str()[..LEGACY_DIGEST_LEN])
    }

    /// The parent of every legacy state directory.
    pub(crate) fn legacy_states_dir(&self) -> PathBuf {
        self.root.join(LEGACY_STATE_DIR)
    }

    pub(crate) fn quarantine_dir(&self) -> PathBuf {
        self.v1.join("quarantine")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.v1.join("tmp")
    }

    pub(crate) fn gc_lock_path(&self) -> PathBuf {
        self.v1.join("gc.lock")
    }
}

fn algorithm_dir(algorithm: IntegrityAlgorithm) -> &'static str {
    match algorithm {
        IntegrityAlgorithm::Sha512 => "sha512",
        IntegrityAlgorithm::Sha1 => "sha1",
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A caller-chosen key as a single safe file name: plain keys (`[A-Za-z0-9._-]`, not starting
/// with a dot, at most 128 bytes) are used as they are, so files stay recognisable; anything
/// else becomes `h-<blake3 hex>`, so no key can name a path outside its directory.
pub(crate) fn safe_file_name(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && !key.starts_with("h-")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        key.to_owned()
    } else {
        format!("h-{}", blake3::hash(key.as_bytes()).to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_round_trip() {
        let layout = StoreLayout::new(PathBuf::from("/s"));
        let hash = ContentHash::of(b"x");
        let path = layout.archive_path(&hash);
        assert!(path.starts_with("/s/v1/dxp"));
        assert_eq!(StoreLayout::archive_hash_of(&path), Some(hash));
        assert_eq!(
            StoreLayout::archive_hash_of(Path::new("/s/v1/dxp/ab/zz.dxp")),
            None
        );
        assert_eq!(
            StoreLayout::archive_hash_of(&path.with_extension("tmp")),
            None
        );
    }

    #[test]
    fn keys_cannot_escape_their_directory() {
        assert_eq!(safe_file_name("abc123.x_y-z"), "abc123.x_y-z");
        for hostile in ["../x", "a/b", "..", ".", "", "h-fake", "x\0y"] {
            let name = safe_file_name(hostile);
            assert!(
                name.starts_with("h-") && name.len() == 66,
                "{hostile:?} -> {name}"
            );
        }
        assert_ne!(safe_file_name("a/b"), safe_file_name("a/c"));
    }
}
