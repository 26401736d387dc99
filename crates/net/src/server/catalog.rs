//! The packages a served directory holds: every `*.tgz` under it, read once (manifest, sha512,
//! sha1), and the packuments generated from them.
//!
//! A rescan only re-reads tarballs whose size or mtime changed, so tests can drop packages into
//! a live server's directory and the next miss picks them up cheaply.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use sha1::Digest as _;

use crate::NetError;
use crate::version_order::default_latest;

/// One tarball of the served directory.
#[derive(Debug)]
pub(crate) struct ServedTarball {
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) manifest: Map<String, Value>,
    pub(crate) integrity: String,
    pub(crate) shasum: String,
    pub(crate) has_binding_gyp: bool,
    pub(crate) modified: SystemTime,
    stamp: (u64, SystemTime),
}

impl ServedTarball {
    /// The file name npm gives this tarball in its URL: `<basename>-<version>.tgz`.
    pub(crate) fn url_file_name(&self) -> String {
        dx_formats::registry_url::tarball_file_name(&self.name, &self.version)
    }
}

/// Every package of a served directory, indexed for the routes.
#[derive(Default)]
pub(crate) struct Catalog {
    /// name → version → tarball.
    packages: BTreeMap<String, BTreeMap<String, Arc<ServedTarball>>>,
    /// (name, url file name) → tarball.
    tarballs: HashMap<(String, String), Arc<ServedTarball>>,
    /// Tag overrides: name → tag → version.
    dist_tag_overrides: BTreeMap<String, BTreeMap<String, String>>,
    /// path → what was read from it, to skip unchanged files on rescan.
    by_path: HashMap<PathBuf, Arc<ServedTarball>>,
}

impl Catalog {
    /// Scans `dir`, reusing entries of `previous` whose files did not change.
    pub(crate) fn scan(dir: &Path, previous: Option<&Catalog>) -> Result<Self, NetError> {
        let mut files = Vec::new();
        collect_tarballs(dir, &mut files)?;
        files.sort();
        let mut reused = Vec::new();
        let mut to_read = Vec::new();
        for path in files {
            let meta = std::fs::metadata(&path).map_err(|e| NetError::io("reading", &path, e))?;
            let stamp = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            match previous.and_then(|p| p.by_path.get(&path)) {
                Some(old) if old.stamp == stamp => reused.push(old.clone()),
                _ => to_read.push((path, stamp)),
            }
        }
        let read = read_in_parallel(to_read);
        let mut catalog = Catalog {
            dist_tag_overrides: read_dist_tag_overrides(dir)?,
            ..Default::default()
        };
        for tarball in reused.into_iter().chain(read.into_iter().flatten()) {
            catalog.insert(tarball);
        }
        Ok(catalog)
    }

    fn insert(&mut self, tarball: Arc<ServedTarball>) {
        let versions = self.packages.entry(tarball.name.clone()).or_default();
        if versions.contains_key(&tarball.version) {
            return; // the first file (in path order) wins; duplicates are ignored
        }
        versions.insert(tarball.version.clone(), tarball.clone());
        self.tarballs.insert(
            (tarball.name.clone(), tarball.url_file_name()),
            tarball.clone(),
        );
        self.by_path.insert(tarball.path.clone(), tarball);
    }

    /// Number of package versions served.
    pub(crate) fn version_count(&self) -> usize {
        self.tarballs.len()
    }

    /// Every package name served, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.packages.keys().map(String::as_str)
    }

    /// Whether the directory has any version of `name`.
    pub(crate) fn has_package(&self, name: &str) -> bool {
        self.packages.contains_key(name)
    }

    /// The tarball behind `/<name>/-/<file>`.
    pub(crate) fn tarball(&self, name: &str, file: &str) -> Option<&Arc<ServedTarball>> {
        self.tarballs.get(&(name.to_owned(), file.to_owned()))
    }

    /// The dist-tags of `name`: `latest` computed, then overrides applied.
    pub(crate) fn dist_tags(&self, name: &str) -> BTreeMap<String, String> {
        let mut tags = BTreeMap::new();
        if let Some(versions) = self.packages.get(name)
            && let Some(latest) = default_latest(versions.keys().map(String::as_str))
        {
            tags.insert("latest".to_owned(), latest.to_owned());
        }
        if let Some(overrides) = self.dist_tag_overrides.get(name) {
            tags.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        tags
    }

    /// The packument of `name` (full or abbreviated) with tarball URLs under `base_url`.
    pub(crate) fn packument(&self, name: &str, base_url: &str, abbreviated: bool) -> Option<Value> {
        let versions = self.packages.get(name)?;
        let modified = versions
            .values()
            .map(|t| t.modified)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut version_docs = Map::new();
        let mut times = Map::new();
        for (version, tarball) in versions {
            let doc = if abbreviated {
                abbreviated_version(tarball, base_url)
            } else {
                full_version(tarball, base_url)
            };
            version_docs.insert(version.clone(), doc);
            times.insert(version.clone(), Value::String(iso8601(tarball.modified)));
        }
        let tags = self.dist_tags(name);
        let modified = iso8601(modified);
        Some(if abbreviated {
            json!({ "name": name, "modified": modified, "dist-tags": tags, "versions": version_docs })
        } else {
            let created = versions
                .values()
                .map(|t| t.modified)
                .min()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            times.insert("created".into(), Value::String(iso8601(created)));
            times.insert("modified".into(), Value::String(modified.clone()));
            json!({ "_id": name, "name": name, "dist-tags": tags, "versions": version_docs, "time": times, "modified": modified })
        })
    }

    /// One version's manifest (what `GET /<name>/<version-or-tag>` answers).
    pub(crate) fn version_manifest(
        &self,
        name: &str,
        version_or_tag: &str,
        base_url: &str,
    ) -> Option<Value> {
        let versions = self.packages.get(name)?;
        let tags = self.dist_tags(name);
        let version = tags
            .get(version_or_tag)
            .map(String::as_str)
            .unwrap_or(version_or_tag);
        versions.get(version).map(|t| full_version(t, base_url))
    }
}

fn dist(tarball: &ServedTarball, base_url: &str) -> Value {
    json!({
        "tarball": dx_formats::registry_url::tarball_url(base_url, &tarball.name, &tarball.version),
        "integrity": tarball.integrity,
        "shasum": tarball.shasum,
    })
}

/// Whether npm would report `hasInstallScript`, and the implicit `node-gyp rebuild` npm adds
/// for a package that ships binding.gyp without an install script of its own.
fn install_scripts(tarball: &ServedTarball) -> (bool, Option<Value>) {
    let mut scripts = tarball
        .manifest
        .get("scripts")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if tarball.has_binding_gyp
        && !scripts.contains_key("install")
        && !scripts.contains_key("preinstall")
    {
        scripts.insert("install".into(), Value::String("node-gyp rebuild".into()));
    }
    let has = ["preinstall", "install", "postinstall"]
        .iter()
        .any(|k| scripts.contains_key(*k));
    (has, (!scripts.is_empty()).then_some(Value::Object(scripts)))
}

fn full_version(tarball: &ServedTarball, base_url: &str) -> Value {
    let mut doc = tarball.manifest.clone();
    doc.insert(
        "_id".into(),
        Value::String(format!("{}@{}", tarball.name, tarball.version)),
    );
    doc.insert("name".into(), Value::String(tarball.name.clone()));
    doc.insert("version".into(), Value::String(tarball.version.clone()));
    let (has_install_script, scripts) = install_scripts(tarball);
    if let Some(scripts) = scripts {
        doc.insert("scripts".into(), scripts);
    }
    if has_install_script {
        doc.insert("hasInstallScript".into(), Value::Bool(true));
    }
    doc.insert("dist".into(), dist(tarball, base_url));
    Value::Object(doc)
}

/// The fields npm's abbreviated ("corgi") document keeps.
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bin",
    "directories",
    "engines",
    "os",
    "cpu",
    "libc",
    "deprecated",
    "bundleDependencies",
    "bundledDependencies",
    "funding",
    "acceptDependencies",
];

fn abbreviated_version(tarball: &ServedTarball, base_url: &str) -> Value {
    let mut doc = Map::new();
    for field in ABBREVIATED_FIELDS {
        if let Some(value) = tarball.manifest.get(*field) {
            doc.insert((*field).to_owned(), value.clone());
        }
    }
    doc.insert("name".into(), Value::String(tarball.name.clone()));
    doc.insert("version".into(), Value::String(tarball.version.clone()));
    if install_scripts(tarball).0 {
        doc.insert("hasInstallScript".into(), Value::Bool(true));
    }
    doc.insert("dist".into(), dist(tarball, base_url));
    Value::Object(doc)
}

fn collect_tarballs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), NetError> {
    let entries = std::fs::read_dir(dir).map_err(|e| NetError::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| NetError::io("listing", dir, e))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .map_err(|e| NetError::io("listing", &path, e))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if file_type.is_dir() && !hidden {
            collect_tarballs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "tgz") {
            out.push(path);
        }
    }
    Ok(())
}

fn read_in_parallel(files: Vec<(PathBuf, (u64, SystemTime))>) -> Vec<Option<Arc<ServedTarball>>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(path, stamp)| match read_tarball(path, *stamp) {
                            Ok(t) => Some(Arc::new(t)),
                            Err(err) => {
                                // A broken file must not take the whole directory down: skip it.
                                eprintln!("dx registry: skipping {err}");
                                None
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

fn read_tarball(path: &Path, stamp: (u64, SystemTime)) -> Result<ServedTarball, NetError> {
    let bytes = std::fs::read(path).map_err(|e| NetError::io("reading", path, e))?;
    let bad = |reason: String| NetError::BadTarball {
        path: path.to_owned(),
        reason,
    };
    let sha512 = sha2::Sha512::digest(&bytes);
    let sha1 = sha1::Sha1::digest(&bytes);
    let integrity = dx_formats::hash::Integrity::from_digest(
        dx_formats::hash::IntegrityAlgorithm::Sha512,
        &sha512,
    )
    .map_err(|e| bad(e.to_string()))?
    .to_string();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut manifest_text = None;
    let mut has_binding_gyp = false;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let entry_path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let mut components = entry_path.components();
        components.next(); // npm strips the first component, whatever it is called
        let rest = components.as_path();
        if rest == Path::new("package.json") && manifest_text.is_none() {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("package.json: {e}")))?;
            manifest_text = Some(text);
        } else if rest == Path::new("binding.gyp") {
            has_binding_gyp = true;
        }
    }
    let text = manifest_text.ok_or_else(|| bad("no package/package.json".into()))?;
    let manifest: Map<String, Value> = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| bad(format!("package.json: {e}")))?;
    let field = |key: &str| manifest.get(key).and_then(Value::as_str).map(str::to_owned);
    let name = field("name").ok_or_else(|| bad("package.json has no name".into()))?;
    let version = field("version").ok_or_else(|| bad("package.json has no version".into()))?;
    Ok(ServedTarball {
        path: path.to_owned(),
        name,
        version,
        manifest,
        integrity,
        shasum: hex::encode(sha1),
        has_binding_gyp,
        modified: stamp.1,
        stamp,
    })
}

/// Reads `<dir>/dist-tags.json` (`{ "<name>": { "<tag>": "<version>" } }`) and per-package
/// `<dir>/<name>/dist-tags.json` (`{ "<tag>": "<version>" }`), the latter winning.
fn read_dist_tag_overrides(
    dir: &Path,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, NetError> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let root = dir.join("dist-tags.json");
    if let Some(all) = read_json_file::<BTreeMap<String, BTreeMap<String, String>>>(&root)? {
        out = all;
    }
    let mut per_package = Vec::new();
    find_named(dir, "dist-tags.json", &mut per_package)?;
    for path in per_package {
        if path == root {
            continue;
        }
        let Some(parent) = path.parent().and_then(|p| p.strip_prefix(dir).ok()) else {
            continue;
        };
        let name = parent.to_string_lossy().replace('\\', "/");
        if let Some(tags) = read_json_file::<BTreeMap<String, String>>(&path)? {
            out.entry(name).or_default().extend(tags);
        }
    }
    Ok(out)
}

fn find_named(dir: &Path, file_name: &str, out: &mut Vec<PathBuf>) -> Result<(), NetError> {
    let entries = std::fs::read_dir(dir).map_err(|e| NetError::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && !entry.file_name().to_string_lossy().starts_with('.')
        {
            find_named(&path, file_name, out)?;
        } else if entry.file_name() == file_name {
            out.push(path);
        }
    }
    Ok(())
}

fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, NetError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NetError::BadTarball {
                path: path.to_owned(),
                reason: format!("invalid JSON: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NetError::io("reading", path, e)),
    }
}

/// RFC 3339 UTC timestamp with milliseconds, as the registry writes `time` and `modified`.
pub(crate) fn iso8601(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso8601_formats_known_instants() {
        assert_eq!(iso8601(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.123Z");
    }
}
