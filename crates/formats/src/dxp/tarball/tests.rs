//! Tarballs built in-process: npm layouts, hostile entries, bombs.

use std::io::{self, Read};

use flate2::Compression as GzLevel;
use flate2::read::GzEncoder;
use flate2::write::GzEncoder as GzWriter;
use tar::{EntryType, Header};

use super::super::{Compression, EntryKind, PackageArchive};
use super::*;

/// One tar member for [`tgz`].
struct Member<'a> {
    path: &'a str,
    kind: EntryType,
    mode: u32,
    contents: &'a [u8],
}

fn file<'a>(path: &'a str, contents: &'a [u8]) -> Member<'a> {
    Member {
        path,
        kind: EntryType::Regular,
        mode: 0o644,
        contents,
    }
}

/// A gzipped tarball. Paths go into the header verbatim (the tar crate's own setters refuse
/// `..`, which hostile tarballs are made of).
fn tgz(members: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzWriter::new(Vec::new(), GzLevel::default()));
    for member in members {
        let mut header = Header::new_gnu();
        if member.path.len() <= 100 {
            let name = &mut header.as_old_mut().name;
            name[..member.path.len()].copy_from_slice(member.path.as_bytes());
        }
        header.set_entry_type(member.kind);
        header.set_mode(member.mode);
        header.set_size(member.contents.len() as u64);
        if member.kind == EntryType::Symlink || member.kind == EntryType::Link {
            header.set_link_name("target").unwrap();
        }
        header.set_cksum();
        if member.path.len() <= 100 {
            builder.append(&header, member.contents).unwrap();
        } else {
            builder
                .append_data(&mut header, member.path, member.contents)
                .unwrap();
        }
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn build(tarball: &[u8]) -> Result<BuiltArchive, DxpError> {
    build_from_tarball(tarball, &BuildLimits::default())
}

#[test]
fn npm_tarball_round_trips() {
    let js = "module.exports = 42;\n".repeat(100);
    let long_path = format!("package/{}/deep.js", "nested".repeat(20));
    let tarball = tgz(&[
        Member {
            path: "package/",
            kind: EntryType::Directory,
            mode: 0o755,
            contents: b"",
        },
        file("package/package.json", br#"{"name":"p"}"#),
        file("package/index.js", js.as_bytes()),
        Member {
            path: "package/bin/run",
            kind: EntryType::Regular,
            mode: 0o755,
            contents: b"#!/bin/sh\n",
        },
        Member {
            path: "package/empty/",
            kind: EntryType::Directory,
            mode: 0o755,
            contents: b"",
        },
        file(&long_path, b"deep"),
    ]);
    let built = build(&tarball).unwrap();
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    assert_eq!(built.file_count, 4);
    let archive = PackageArchive::parse(&built.bytes).unwrap();
    archive.verify().unwrap();
    assert_eq!(archive.manifest().unwrap(), br#"{"name":"p"}"#);
    let index = archive.get("index.js").unwrap();
    assert_eq!(archive.read(&index).unwrap().as_ref(), js.as_bytes());
    assert_ne!(index.compression(), Compression::Raw);
    let run = archive.get("bin/run").unwrap();
    assert!(run.is_executable());
    assert!(!index.is_executable());
    assert_eq!(archive.get("empty").unwrap().kind(), EntryKind::Dir);
    let deep = archive.get(&long_path["package/".len()..]).unwrap();
    assert_eq!(archive.read(&deep).unwrap().as_ref(), b"deep");
    // Same tarball, same bytes.
    assert_eq!(build(&tarball).unwrap().bytes, built.bytes);
}

#[test]
fn first_component_is_stripped_whatever_its_name() {
    let tarball = tgz(&[
        file("node/package.json", b"{}"),
        file("node/lib/a.js", b"a"),
        file("./node/lib/b.js", b"b"),
        file("toplevel.txt", b"dropped"),
    ]);
    let built = build(&tarball).unwrap();
    let archive = PackageArchive::parse(&built.bytes).unwrap();
    let paths: Vec<_> = archive.entries().map(|e| e.path()).collect();
    assert_eq!(paths, ["", "lib", "lib/a.js", "lib/b.js", "package.json"]);
    assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    assert!(built.warnings[0].contains("toplevel.txt"));
}

#[test]
fn links_and_devices_are_skipped_with_warnings() {
    let tarball = tgz(&[
        file("package/a.js", b"a"),
        Member {
            path: "package/link",
            kind: EntryType::Symlink,
            mode: 0o777,
            contents: b"",
        },
        Member {
            path: "package/hard",
            kind: EntryType::Link,
            mode: 0o644,
            contents: b"",
        },
        Member {
            path: "package/fifo",
            kind: EntryType::Fifo,
            mode: 0o644,
            contents: b"",
        },
        Member {
            path: "package/dev",
            kind: EntryType::Char,
            mode: 0o644,
            contents: b"",
        },
    ]);
    let built = build(&tarball).unwrap();
    assert_eq!(built.file_count, 1);
    assert_eq!(built.warnings.len(), 4, "{:?}", built.warnings);
    assert!(built.warnings[0].contains("package/link") && built.warnings[0].contains("symlink"));
    let archive = PackageArchive::parse(&built.bytes).unwrap();
    assert!(archive.get("link").is_none() && archive.get("hard").is_none());
}

#[test]
fn hostile_paths_fail_naming_the_entry() {
    for path in [
        "/etc/passwd",
        "package/../../x",
        "../x",
        "package/a/../../../etc/passwd",
    ] {
        let err = build(&tgz(&[file("package/ok.js", b"ok"), file(path, b"evil")])).unwrap_err();
        match &err {
            DxpError::UnsafeTarEntry { entry, .. } => assert_eq!(entry, path),
            other => panic!("{path}: unexpected {other}"),
        }
        assert!(err.to_string().contains(path));
    }
}

#[test]
fn pax_global_headers_are_ignored() {
    let mut builder = tar::Builder::new(GzWriter::new(Vec::new(), GzLevel::default()));
    let mut global = Header::new_ustar();
    let record = b"20 comment=ignored!\n";
    global.set_entry_type(EntryType::XGlobalHeader);
    global.set_path("pax_global_header").unwrap();
    global.set_size(record.len() as u64);
    global.set_cksum();
    builder.append(&global, &record[..]).unwrap();
    let mut header = Header::new_ustar();
    header.set_size(1);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "package/a", &b"a"[..])
        .unwrap();
    let tarball = builder.into_inner().unwrap().finish().unwrap();
    let built = build(&tarball).unwrap();
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    assert_eq!(built.file_count, 1);
}

/// Endless zeros.
struct Zeros;

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        buf.fill(0);
        Ok(buf.len())
    }
}

/// A gzip stream of `header` followed by `zeros` zero bytes, compressed lazily as it is read
/// (so the test never holds the bomb).
fn bomb(header: Header, zeros: u64) -> impl Read {
    let tar = io::Cursor::new(header.as_bytes().to_vec()).chain(Zeros.take(zeros));
    GzEncoder::new(tar, GzLevel::fast())
}

const TWO_GIB: u64 = 2 << 30;

#[test]
fn gzip_bomb_with_an_honest_header_fails_before_reading() {
    let mut header = Header::new_gnu();
    header.set_path("package/zeros.bin").unwrap();
    header.set_size(TWO_GIB);
    header.set_mode(0o644);
    header.set_cksum();
    let limits = BuildLimits {
        max_unpacked_bytes: 1 << 20,
        max_files: 100,
    };
    let err = build_from_tarball(bomb(header, TWO_GIB), &limits).unwrap_err();
    assert!(
        matches!(&err, DxpError::TooLarge { path, .. } if path == "zeros.bin"),
        "{err}"
    );
}

#[test]
fn gzip_bomb_in_a_pax_header_hits_the_stream_cap() {
    // The tar reader buffers pax headers whole; only the stream cap stops this one.
    let mut header = Header::new_ustar();
    header.set_path("package/PaxHeader").unwrap();
    header.set_entry_type(EntryType::XHeader);
    header.set_size(TWO_GIB);
    header.set_cksum();
    let limits = BuildLimits {
        max_unpacked_bytes: 1 << 20,
        max_files: 100,
    };
    let err = build_from_tarball(bomb(header, TWO_GIB), &limits).unwrap_err();
    assert!(matches!(err, DxpError::TooLarge { .. }), "{err}");
}

#[test]
fn many_small_files_hit_the_file_limit() {
    let names: Vec<String> = (0..20).map(|i| format!("package/f{i}")).collect();
    let members: Vec<_> = names.iter().map(|n| file(n, b"x")).collect();
    let limits = BuildLimits {
        max_unpacked_bytes: 1 << 20,
        max_files: 10,
    };
    let err = build_from_tarball(tgz(&members).as_slice(), &limits).unwrap_err();
    assert!(
        matches!(err, DxpError::TooManyFiles { limit: 10, .. }),
        "{err}"
    );
}

#[test]
fn corrupt_gzip_is_an_error() {
    let mut tarball = tgz(&[file("package/a", &[7; 5000])]);
    let middle = tarball.len() / 2;
    tarball[middle] ^= 0xff;
    tarball.truncate(tarball.len() - 4);
    assert!(build(&tarball).is_err());
    assert!(build(b"not gzip at all").is_err());
}

#[test]
fn directory_builds_like_its_tarball() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lib/empty")).unwrap();
    std::fs::write(dir.path().join("package.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("lib/a.js"), "a;".repeat(500)).unwrap();
    let bin = dir.path().join("lib/run");
    std::fs::write(&bin, b"#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.js", dir.path().join("lib/link")).unwrap();
    }
    let built = build_from_dir(dir.path(), &BuildLimits::default()).unwrap();
    let archive = PackageArchive::parse(&built.bytes).unwrap();
    archive.verify().unwrap();
    let paths: Vec<_> = archive.entries().map(|e| e.path()).collect();
    assert_eq!(
        paths,
        [
            "",
            "lib",
            "lib/a.js",
            "lib/empty",
            "lib/run",
            "package.json"
        ]
    );
    #[cfg(unix)]
    {
        assert!(archive.get("lib/run").unwrap().is_executable());
        assert_eq!(built.warnings.len(), 1, "{:?}", built.warnings);
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let limits = BuildLimits { max_unpacked_bytes: 1 << 20, max_files: 100 };
        let _ = build_from_tarball(bytes.as_slice(), &limits);
        // The same bytes gzipped reach the tar parser.
        let mut gz = GzWriter::new(Vec::new(), GzLevel::fast());
        io::Write::write_all(&mut gz, &bytes).unwrap();
        let _ = build_from_tarball(gz.finish().unwrap().as_slice(), &limits);
    }
}
