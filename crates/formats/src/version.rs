//! A package version squeezed into one `u64`, so lock tables and layout records can hold and
//! compare versions without strings.
//!
//! Layout (bit 63 is the tag):
//! - **compact** (bit 63 = 0): `major << 40 | minor << 20 | patch`, for plain `MAJOR.MINOR.PATCH`
//!   strings with `major < 2^23` and `minor, patch < 2^20`. The design asked for `major < 2^24`,
//!   but bit 63 has to stay free for the tag, so majors from 2^23 on take the escape. Compact
//!   keys order exactly as semver orders their versions, and decode back to the string.
//! - **escape** (bit 63 = 1): the low 63 bits of the xxh3-64 of the whole version string. Used for
//!   prereleases, build metadata and out-of-range numbers. An escape identifies its string (it is
//!   a checksum, not a cryptographic identity: callers that keep the string keep the truth) and
//!   sorts after every compact key; two escapes order arbitrarily, so semver comparisons involving
//!   an escape must go back to the string.

use std::fmt;

/// The tag bit: set on escape keys.
const ESCAPE_BIT: u64 = 1 << 63;
/// Largest major (exclusive) a compact key holds: bits 40..63.
const MAJOR_LIMIT: u64 = 1 << 23;
/// Largest minor/patch (exclusive) a compact key holds: 20 bits each.
const PART_LIMIT: u64 = 1 << 20;

/// Compact version key: `major << 40 | minor << 20 | patch` when the version is a plain release
/// that fits; otherwise an escape (bit 63 set, the rest a 63-bit hash of the string) so it still
/// identifies the version. See the module documentation for the ordering guarantees.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncodedVersion(pub u64);

impl EncodedVersion {
    /// Encodes a version string. Never fails: anything that is not a plain, in-range
    /// `MAJOR.MINOR.PATCH` (no leading zeros, no `v`, no prerelease or build) takes the escape.
    pub fn encode(version: &str) -> Self {
        match parse_plain(version) {
            Some((major, minor, patch)) => Self((major << 40) | (minor << 20) | patch),
            None => Self(ESCAPE_BIT | (xxhash_rust::xxh3::xxh3_64(version.as_bytes()) >> 1)),
        }
    }

    /// Builds the compact key of `major.minor.patch`, or `None` when a part is out of range.
    pub fn from_parts(major: u64, minor: u64, patch: u64) -> Option<Self> {
        (major < MAJOR_LIMIT && minor < PART_LIMIT && patch < PART_LIMIT)
            .then_some(Self((major << 40) | (minor << 20) | patch))
    }

    /// Whether this key is compact, i.e. decodes and orders like semver.
    pub fn is_compact(self) -> bool {
        self.0 & ESCAPE_BIT == 0
    }

    /// `(major, minor, patch)` of a compact key; `None` for an escape, whose string is gone.
    pub fn decode(self) -> Option<(u64, u64, u64)> {
        self.is_compact().then_some((
            self.0 >> 40,
            (self.0 >> 20) & (PART_LIMIT - 1),
            self.0 & (PART_LIMIT - 1),
        ))
    }

    /// The version string of a compact key (`"1.2.3"`); `None` for an escape.
    pub fn decode_string(self) -> Option<String> {
        self.decode()
            .map(|(major, minor, patch)| format!("{major}.{minor}.{patch}"))
    }
}

/// Shorthand for [`EncodedVersion::encode`].
pub fn encode(version: &str) -> EncodedVersion {
    EncodedVersion::encode(version)
}

/// Shorthand for [`EncodedVersion::decode_string`].
pub fn decode(version: EncodedVersion) -> Option<String> {
    version.decode_string()
}

impl fmt::Debug for EncodedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Some((major, minor, patch)) => write!(f, "EncodedVersion({major}.{minor}.{patch})"),
            None => write!(f, "EncodedVersion(escape {:#018x})", self.0),
        }
    }
}

/// Parses `MAJOR.MINOR.PATCH` with in-range parts and no leading zeros.
fn parse_plain(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.');
    let major = parse_part(parts.next()?, MAJOR_LIMIT)?;
    let minor = parse_part(parts.next()?, PART_LIMIT)?;
    let patch = parse_part(parts.next()?, PART_LIMIT)?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// One numeric part: ASCII digits only, no leading zero (semver), below `limit`.
fn parse_part(part: &str, limit: u64) -> Option<u64> {
    let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = part.len() > 1 && part.starts_with('0');
    if !digits_only || leading_zero || part.len() > 8 {
        return None;
    }
    let value: u64 = part.parse().ok()?;
    (value < limit).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_versions_are_compact_and_decode() {
        for v in ["0.0.0", "1.2.3", "10.20.30", "8388607.1048575.1048575"] {
            let encoded = encode(v);
            assert!(encoded.is_compact(), "{v}");
            assert_eq!(decode(encoded).as_deref(), Some(v));
        }
        assert_eq!(encode("1.2.3").0, (1 << 40) | (2 << 20) | 3);
    }

    #[test]
    fn everything_else_escapes() {
        for v in [
            "1.2.3-beta.1",
            "1.2.3+build",
            "v1.2.3",
            "01.2.3",
            "1.02.3",
            "1.2",
            "1.2.3.4",
            "",
            "8388608.0.0",
            "1.1048576.0",
            "1.0.1048576",
            "99999999999999999999.0.0",
            "1.-2.3",
        ] {
            let encoded = encode(v);
            assert!(!encoded.is_compact(), "{v} should escape");
            assert_eq!(encoded.decode(), None);
        }
    }

    #[test]
    fn escapes_identify_their_string_and_sort_after_compact() {
        assert_eq!(encode("1.0.0-rc.1"), encode("1.0.0-rc.1"));
        assert_ne!(encode("1.0.0-rc.1"), encode("1.0.0-rc.2"));
        assert!(encode("1.0.0-rc.1") > encode("8388607.1048575.1048575"));
    }

    #[test]
    fn from_parts_checks_ranges() {
        assert_eq!(EncodedVersion::from_parts(1, 2, 3), Some(encode("1.2.3")));
        assert_eq!(EncodedVersion::from_parts(MAJOR_LIMIT, 0, 0), None);
        assert_eq!(EncodedVersion::from_parts(0, PART_LIMIT, 0), None);
        assert_eq!(EncodedVersion::from_parts(0, 0, PART_LIMIT), None);
    }

    proptest! {
        #[test]
        fn compact_order_is_semver_order(
            a in (0u64..MAJOR_LIMIT, 0u64..PART_LIMIT, 0u64..PART_LIMIT),
            b in (0u64..MAJOR_LIMIT, 0u64..PART_LIMIT, 0u64..PART_LIMIT),
        ) {
            let ea = encode(&format!("{}.{}.{}", a.0, a.1, a.2));
            let eb = encode(&format!("{}.{}.{}", b.0, b.1, b.2));
            prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
            prop_assert_eq!(ea.decode(), Some(a));
        }

        #[test]
        fn encode_never_panics(s in ".*") {
            let encoded = encode(&s);
            if let Some(text) = encoded.decode_string() {
                prop_assert_eq!(text, s);
            }
        }
    }
}
