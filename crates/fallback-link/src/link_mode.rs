//! [`LinkMode`]: how package files get from the store into `node_modules`.

use std::fmt;
use std::str::FromStr;

/// How package files are placed in a materialized `node_modules`.
///
/// The order of the concrete modes is the order dx steps down in: a reflink costs no space and
/// shares nothing writable, a hardlink costs no space but shares the inode with the store, a
/// copy always works but costs the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkMode {
    /// Probe the target filesystem once: reflink where it works (copy-on-write, so a write
    /// cannot reach the store), else hardlink, else copy.
    Auto,
    /// Copy-on-write clone of the store's unpacked file (Linux `FICLONE`): XFS, btrfs, bcachefs.
    Reflink,
    /// A hard link to the store's unpacked file, which is read-only (0444 / 0555).
    Hardlink,
    /// A fresh file written from the package archive.
    Copy,
}

impl LinkMode {
    /// The mode to try after this one fails; `None` for [`LinkMode::Copy`], which has no
    /// fallback, and for [`LinkMode::Auto`], which is resolved by the probe before any file.
    pub fn next(self) -> Option<LinkMode> {
        match self {
            LinkMode::Reflink => Some(LinkMode::Hardlink),
            LinkMode::Hardlink => Some(LinkMode::Copy),
            LinkMode::Copy | LinkMode::Auto => None,
        }
    }

    /// The spelling used by `--materialize=<mode>` and in the layout marker.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Auto => "auto",
            LinkMode::Reflink => "reflink",
            LinkMode::Hardlink => "hardlink",
            LinkMode::Copy => "copy",
        }
    }

    /// Compact code for an atomic shared between placing threads.
    pub(crate) fn code(self) -> u8 {
        match self {
            LinkMode::Auto => 0,
            LinkMode::Reflink => 1,
            LinkMode::Hardlink => 2,
            LinkMode::Copy => 3,
        }
    }

    /// Inverse of [`LinkMode::code`]; unknown codes read as the safest mode, copy.
    pub(crate) fn from_code(code: u8) -> LinkMode {
        match code {
            0 => LinkMode::Auto,
            1 => LinkMode::Reflink,
            2 => LinkMode::Hardlink,
            _ => LinkMode::Copy,
        }
    }
}

impl fmt::Display for LinkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--materialize=` value that is not one of `auto`, `reflink`, `hardlink`, `copy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown link mode `{0}`: expected auto, reflink, hardlink or copy")]
pub struct UnknownLinkMode(pub String);

impl FromStr for LinkMode {
    type Err = UnknownLinkMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(LinkMode::Auto),
            "reflink" | "clone" => Ok(LinkMode::Reflink),
            "hardlink" => Ok(LinkMode::Hardlink),
            "copy" => Ok(LinkMode::Copy),
            other => Err(UnknownLinkMode(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_mode() {
        for mode in [
            LinkMode::Auto,
            LinkMode::Reflink,
            LinkMode::Hardlink,
            LinkMode::Copy,
        ] {
            assert_eq!(mode.as_str().parse::<LinkMode>(), Ok(mode));
            assert_eq!(LinkMode::from_code(mode.code()), mode);
        }
        assert_eq!("clone".parse::<LinkMode>(), Ok(LinkMode::Reflink));
        assert!("symlink".parse::<LinkMode>().is_err());
    }

    #[test]
    fn steps_down_reflink_hardlink_copy() {
        assert_eq!(LinkMode::Reflink.next(), Some(LinkMode::Hardlink));
        assert_eq!(LinkMode::Hardlink.next(), Some(LinkMode::Copy));
        assert_eq!(LinkMode::Copy.next(), None);
    }
}
