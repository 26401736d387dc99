//! Identities and integrity: the content hash that addresses the store, and npm's
//! Subresource-Integrity strings (`sha512-…`, `sha1-…`) that vouch for tarballs.
//!
//! xxh3 is used inside formats as a fast checksum only; identity is always BLAKE3 (store) or
//! the registry's sha512 (tarballs), which a hostile package cannot collide.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::Digest as _;

/// The BLAKE3 hash of a DXP archive's bytes: the key of a package in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hashes `bytes` (a whole DXP archive).
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters: the form used in file names and dx.lock.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl FromStr for ContentHash {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashError::BadContentHash(s.into()))?;
        Ok(Self(out))
    }
}

/// Errors from parsing hashes and integrity strings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HashError {
    /// Not 64 hex digits.
    #[error("invalid content hash `{0}`: expected 64 hex digits")]
    BadContentHash(String),
    /// Not a `sha512-<base64>` / `sha1-<base64>` string, or a digest of the wrong length.
    #[error("invalid integrity `{0}`: expected sha512-<base64> or sha1-<base64>")]
    BadIntegrity(String),
}

/// The algorithm of an [`Integrity`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrityAlgorithm {
    /// SHA-1 (npm's legacy `shasum`); accepted only when the registry gives nothing better.
    Sha1,
    /// SHA-512, what npm's `dist.integrity` carries.
    Sha512,
}

/// An npm Subresource-Integrity value for one tarball.
///
/// Where a string lists several hashes (`sha1-… sha512-…`), the strongest is kept.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Integrity {
    algorithm: IntegrityAlgorithm,
    digest: Vec<u8>,
}

impl Integrity {
    /// An integrity from a raw digest; the length must fit the algorithm.
    pub fn from_digest(algorithm: IntegrityAlgorithm, digest: &[u8]) -> Result<Self, HashError> {
        let want = match algorithm {
            IntegrityAlgorithm::Sha1 => 20,
            IntegrityAlgorithm::Sha512 => 64,
        };
        if digest.len() != want {
            return Err(HashError::BadIntegrity(format!(
                "{algorithm:?} digest of {} bytes",
                digest.len()
            )));
        }
        Ok(Self {
            algorithm,
            digest: digest.to_vec(),
        })
    }

    /// An integrity from npm's legacy hex `shasum` (sha1).
    pub fn from_sha1_hex(shasum: &str) -> Result<Self, HashError> {
        let mut d = [0u8; 20];
        hex::decode_to_slice(shasum, &mut d).map_err(|_| HashError::BadIntegrity(shasum.into()))?;
        Self::from_digest(IntegrityAlgorithm::Sha1, &d)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> IntegrityAlgorithm {
        self.algorithm
    }

    /// The raw digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// A streaming checker for this integrity.
    pub fn hasher(&self) -> IntegrityHasher {
        IntegrityHasher::new(self.algorithm)
    }

    /// Whether `bytes` hash to this integrity.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let mut h = self.hasher();
        h.update(bytes);
        h.finish() == *self
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.algorithm {
            IntegrityAlgorithm::Sha1 => "sha1",
            IntegrityAlgorithm::Sha512 => "sha512",
        };
        // A sha512 digest is 88 base64 characters: encoded on the stack, not in a String
        // (dx.lock writes one per package).
        let mut buf = [0u8; 128];
        match BASE64.encode_slice(&self.digest, &mut buf) {
            Ok(len) => {
                let encoded = std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?;
                write!(f, "{name}-{encoded}")
            }
            Err(_) => write!(f, "{name}-{}", BASE64.encode(&self.digest)),
        }
    }
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Integrity({self})")
    }
}

impl FromStr for Integrity {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut best: Option<Integrity> = None;
        for part in s.split_ascii_whitespace() {
            // SRI allows `?options` after the digest; npm ignores them.
            let part = part.split('?').next().unwrap_or(part);
            let Some((alg, b64)) = part.split_once('-') else {
                continue;
            };
            let algorithm = match alg {
                "sha512" => IntegrityAlgorithm::Sha512,
                "sha1" => IntegrityAlgorithm::Sha1,
                _ => continue,
            };
            let Ok(digest) = BASE64.decode(b64) else {
                continue;
            };
            let Ok(candidate) = Self::from_digest(algorithm, &digest) else {
                continue;
            };
            if best
                .as_ref()
                .is_none_or(|b| candidate.algorithm > b.algorithm)
            {
                best = Some(candidate);
            }
        }
        best.ok_or_else(|| HashError::BadIntegrity(s.into()))
    }
}

/// Incremental hashing for [`Integrity`], fed as bytes stream in.
pub enum IntegrityHasher {
    /// SHA-1 state.
    Sha1(sha1::Sha1),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl IntegrityHasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: IntegrityAlgorithm) -> Self {
        match algorithm {
            IntegrityAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            IntegrityAlgorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    /// The integrity of everything fed so far.
    pub fn finish(self) -> Integrity {
        match self {
            Self::Sha1(h) => Integrity {
                algorithm: IntegrityAlgorithm::Sha1,
                digest: h.finalize().to_vec(),
            },
            Self::Sha512(h) => Integrity {
                algorithm: IntegrityAlgorithm::Sha512,
                digest: h.finalize().to_vec(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_round_trips_and_prefers_sha512() {
        let bytes = b"hello";
        let mut h = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
        h.update(bytes);
        let i = h.finish();
        let s = i.to_string();
        assert!(s.starts_with("sha512-"));
        assert_eq!(s.parse::<Integrity>().unwrap(), i);
        let sha1 = Integrity::from_sha1_hex("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d").unwrap();
        assert!(sha1.matches(bytes));
        let both = format!("{sha1} {s}");
        assert_eq!(both.parse::<Integrity>().unwrap(), i);
        assert!(i.matches(bytes));
        assert!(!i.matches(b"hellO"));
    }

    #[test]
    fn bad_integrity_is_an_error() {
        assert!("md5-abc".parse::<Integrity>().is_err());
        assert!("sha512-!!!".parse::<Integrity>().is_err());
        assert!("sha512-aGVsbG8=".parse::<Integrity>().is_err()); // wrong length
        assert!("".parse::<Integrity>().is_err());
    }

    #[test]
    fn content_hash_hex_round_trips() {
        let h = ContentHash::of(b"x");
        assert_eq!(h.to_hex().parse::<ContentHash>().unwrap(), h);
        assert!("zz".parse::<ContentHash>().is_err());
    }
}
