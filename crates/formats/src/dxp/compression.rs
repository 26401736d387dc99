//! Which files get compressed, with what, and bounded decoding.
//!
//! The default policy was chosen by measuring 1,293 real npm packages (numbers in
//! `docs/dxp.md`): tiny files and files whose bytes are already compressed are stored raw, the
//! rest go through LZ4 and keep the result only when it saves enough. Archives built with an
//! earlier policy (zstd level 3) stay readable: the codec is recorded per entry.

use std::cell::RefCell;

use super::{Compression, DxpError};

/// A codec the builder may use for a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// LZ4 block format: cheap to decode, modest ratio.
    Lz4,
    /// zstd at a fixed level (fixed so output is deterministic).
    Zstd {
        /// zstd compression level: 1..=22, or negative for zstd's fast levels.
        level: i32,
    },
}

/// How the builder stores each file.
///
/// The root `package.json` is always raw whatever the policy, so the manifest is readable
/// without decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressionPolicy {
    /// The codec to try; `None` stores everything raw.
    pub codec: Option<Codec>,
    /// Files shorter than this are stored raw without trying: their saving is a few bytes and
    /// decoding them costs a syscall's worth of time on first read.
    pub raw_below: usize,
    /// A compressed form is kept only when it is at least this many percent smaller than the
    /// real content; otherwise the file is stored raw.
    pub min_saving_percent: u8,
    /// Store files that look already compressed (by extension or magic bytes: images, fonts,
    /// archives) raw without trying.
    pub skip_compressed_types: bool,
    /// Store native executables and shared libraries (ELF, Mach-O, and PE by extension) raw.
    /// The dynamic loader maps them and touches pages here and there; raw, the mount serves
    /// each page straight from the archive's mapping instead of decoding the whole file (tens of
    /// MB for a bundled compiler) before the first page.
    pub raw_executables: bool,
}

impl Default for CompressionPolicy {
    /// The measured choice: LZ4 on files of at least 512 bytes that are not already
    /// compressed, kept when it saves at least 10%. Building costs about a third less CPU and
    /// decoding less than half of zstd level 3, for archives 1.47× as large (docs/dxp.md).
    fn default() -> Self {
        Self {
            codec: Some(Codec::Lz4),
            raw_below: 512,
            min_saving_percent: 10,
            skip_compressed_types: true,
            raw_executables: true,
        }
    }
}

impl CompressionPolicy {
    /// Every file raw (for comparison; archives are then about the unpacked size).
    pub fn all_raw() -> Self {
        Self {
            codec: None,
            raw_below: 0,
            min_saving_percent: 0,
            skip_compressed_types: false,
            raw_executables: false,
        }
    }

    /// Every file (but the manifest) through `codec`, kept unless it grows (for comparison).
    pub fn always(codec: Codec) -> Self {
        Self {
            codec: Some(codec),
            raw_below: 0,
            min_saving_percent: 0,
            skip_compressed_types: false,
            raw_executables: false,
        }
    }
}

/// Extensions whose content is already compressed.
const COMPRESSED_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "gz", "tgz", "zip", "br", "zst",
    "xz", "bz2", "7z", "mp3", "mp4", "webm", "ogg", "jar", "lz4", "heic",
];

/// Magic numbers of compressed formats.
const COMPRESSED_MAGICS: &[&[u8]] = &[
    &[0x1f, 0x8b],                         // gzip
    &[0x89, b'P', b'N', b'G'],             // png
    &[b'P', b'K', 0x03, 0x04],             // zip, jar
    &[0x28, 0xb5, 0x2f, 0xfd],             // zstd
    &[0xff, 0xd8, 0xff],                   // jpeg
    b"wOF2",                               // woff2
    b"wOFF",                               // woff
    &[0xfd, b'7', b'z', b'X', b'Z', 0x00], // xz
    b"BZh",                                // bzip2
    b"GIF8",                               // gif
];

/// Magic numbers of native executables and shared libraries: ELF and Mach-O (thin, both byte
/// orders, 32/64-bit; fat binaries).
const EXECUTABLE_MAGICS: &[&[u8]] = &[
    &[0x7f, b'E', b'L', b'F'],
    &[0xfe, 0xed, 0xfa, 0xce],
    &[0xfe, 0xed, 0xfa, 0xcf],
    &[0xce, 0xfa, 0xed, 0xfe],
    &[0xcf, 0xfa, 0xed, 0xfe],
    &[0xca, 0xfe, 0xba, 0xbe],
];

/// Extensions of Windows executables and libraries (PE files start with `MZ`).
const PE_EXTENSIONS: &[&str] = &["exe", "dll", "node"];

/// Whether `path`/`contents` look like a native executable or shared library.
pub(crate) fn looks_executable(path: &str, contents: &[u8]) -> bool {
    if EXECUTABLE_MAGICS
        .iter()
        .any(|magic| contents.starts_with(magic))
    {
        return true;
    }
    contents.starts_with(b"MZ") && has_extension(path, PE_EXTENSIONS)
}

/// Whether the file name of `path` ends in one of `extensions` (ASCII case-insensitive).
fn has_extension(path: &str, extensions: &[&str]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        extensions
            .iter()
            .any(|known| known.eq_ignore_ascii_case(ext))
    })
}

/// Whether `path`/`contents` look already compressed.
pub(crate) fn looks_compressed(path: &str, contents: &[u8]) -> bool {
    has_extension(path, COMPRESSED_EXTENSIONS)
        || COMPRESSED_MAGICS
            .iter()
            .any(|magic| contents.starts_with(magic))
}

/// The largest real size `stored` bytes of `compression` can possibly decode to. An LZ4
/// sequence of n bytes yields at most ~255n bytes; a zstd block of at least 4 bytes
/// (3-byte header, 1 byte RLE) yields at most 128 KiB. A record claiming more is corrupt, and
/// rejecting it keeps hostile archives from making the reader allocate without bound.
pub(crate) fn max_real_size(compression: Compression, stored: u64) -> u64 {
    match compression {
        Compression::Raw => stored,
        Compression::Lz4 => stored.saturating_mul(256),
        Compression::Zstd => stored.saturating_mul(32 * 1024),
    }
}

/// A reusable encoder for one builder.
pub(crate) struct Encoder {
    policy: CompressionPolicy,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// LZ4 output space, reused across files: `lz4_flex::block::compress` would allocate and
    /// zero a worst-case buffer per file.
    lz4_out: Vec<u8>,
}

impl Encoder {
    /// An encoder following `policy`.
    pub(crate) fn new(policy: CompressionPolicy) -> Self {
        Self {
            policy,
            zstd: None,
            lz4_out: Vec::new(),
        }
    }

    /// The policy this encoder follows.
    pub(crate) fn policy(&self) -> CompressionPolicy {
        self.policy
    }

    /// The stored form of `contents`: encoded when [`Self::encode`] says so, else the contents
    /// themselves, raw.
    pub(crate) fn store(
        &mut self,
        path: &str,
        contents: std::borrow::Cow<'_, [u8]>,
    ) -> Result<(Compression, Vec<u8>), DxpError> {
        Ok(match self.encode(path, &contents)? {
            Some(encoded) => encoded,
            None => (Compression::Raw, contents.into_owned()),
        })
    }

    /// Chooses how to store `contents` and returns the stored bytes, or `None` to store raw.
    pub(crate) fn encode(
        &mut self,
        path: &str,
        contents: &[u8],
    ) -> Result<Option<(Compression, Vec<u8>)>, DxpError> {
        let Some(codec) = self.policy.codec else {
            return Ok(None);
        };
        if path == "package.json"
            || contents.len() < self.policy.raw_below
            || contents.is_empty()
            || (self.policy.skip_compressed_types && looks_compressed(path, contents))
            || (self.policy.raw_executables && looks_executable(path, contents))
        {
            return Ok(None);
        }
        let (compression, stored) = match codec {
            Codec::Lz4 => match self.lz4(path, contents)? {
                Some(stored) => (Compression::Lz4, stored),
                None => return Ok(None),
            },
            Codec::Zstd { level } => {
                let compressor = match &mut self.zstd {
                    Some(compressor) => compressor,
                    slot @ None => slot.insert(new_compressor(level, path)?),
                };
                let stored =
                    compressor
                        .compress(contents)
                        .map_err(|source| DxpError::Compress {
                            path: path.to_owned(),
                            source,
                        })?;
                (Compression::Zstd, stored)
            }
        };
        let decodable = max_real_size(compression, stored.len() as u64) >= contents.len() as u64;
        Ok(
            (self.worth_keeping(stored.len(), contents.len()) && decodable)
                .then_some((compression, stored)),
        )
    }

    /// LZ4 of `contents`, or `None` when it does not save enough (then nothing is copied out).
    fn lz4(&mut self, path: &str, contents: &[u8]) -> Result<Option<Vec<u8>>, DxpError> {
        let worst = lz4_flex::block::get_maximum_output_size(contents.len());
        if self.lz4_out.len() < worst {
            self.lz4_out.resize(worst, 0);
        }
        let written = lz4_flex::block::compress_into(contents, &mut self.lz4_out).map_err(|e| {
            DxpError::Compress {
                path: path.to_owned(),
                source: std::io::Error::other(e),
            }
        })?;
        Ok(self
            .worth_keeping(written, contents.len())
            .then(|| self.lz4_out[..written].to_vec()))
    }

    /// Whether `stored` bytes for `real` bytes save at least the policy's percentage.
    fn worth_keeping(&self, stored: usize, real: usize) -> bool {
        (stored as u128) * 100
            <= (real as u128) * u128::from(100 - self.policy.min_saving_percent.min(100))
    }
}

/// A zstd compressor at `level`.
fn new_compressor(level: i32, path: &str) -> Result<zstd::bulk::Compressor<'static>, DxpError> {
    zstd::bulk::Compressor::new(level).map_err(|source| DxpError::Compress {
        path: path.to_owned(),
        source,
    })
}

thread_local! {
    /// One zstd decoding context per thread: creating one per read costs more than small reads.
    static ZSTD_DECODER: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// Decodes `stored` into exactly `real_size` bytes, never producing more.
pub(crate) fn decode(
    compression: Compression,
    stored: &[u8],
    real_size: u64,
    path: &str,
) -> Result<Vec<u8>, DxpError> {
    let fail = |detail: String| DxpError::Decompress {
        path: path.to_owned(),
        codec: compression,
        detail,
    };
    if real_size > max_real_size(compression, stored.len() as u64) {
        return Err(fail(format!(
            "recorded size {real_size} is impossible for {} stored bytes",
            stored.len()
        )));
    }
    let real = usize::try_from(real_size).map_err(|_| fail("size exceeds memory".into()))?;
    let out = match compression {
        Compression::Raw => stored.to_vec(),
        Compression::Lz4 => {
            let mut out = vec![0u8; real];
            let written = lz4_flex::block::decompress_into(stored, &mut out)
                .map_err(|e| fail(e.to_string()))?;
            out.truncate(written);
            out
        }
        Compression::Zstd => ZSTD_DECODER.with(|cell| {
            let mut cell = cell.borrow_mut();
            let decoder = match &mut *cell {
                Some(decoder) => decoder,
                slot @ None => {
                    slot.insert(zstd::bulk::Decompressor::new().map_err(|e| fail(e.to_string()))?)
                }
            };
            decoder
                .decompress(stored, real)
                .map_err(|e| fail(e.to_string()))
        })?,
    };
    if out.len() != real {
        return Err(fail(format!(
            "decoded {} bytes, recorded size is {real}",
            out.len()
        )));
    }
    Ok(out)
}
