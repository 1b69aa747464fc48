//! The object keys of one log under its prefix (`docs/object-tier.md`).
//!
//! ```text
//! <prefix>/manifest                                          the manifest
//! <prefix>/segments/<base:020>-<end:020>.log                 one uploaded segment
//! ```
//!
//! A segment's key is a function of its offsets only, so an upload retried after a crash or
//! an error writes the same key again (a put is atomic and replaces): idempotent. Offsets are
//! zero-padded to 20 digits so keys sort like offsets.

use object_store::path::Path;

const MANIFEST: &str = "manifest";
const SEGMENTS: &str = "segments";
const SEGMENT_SUFFIX: &str = ".log";
const OFFSET_DIGITS: usize = 20;

/// The keys of one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`/`-separated, without leading or trailing `/`; may be empty).
    pub fn new(prefix: &str) -> Self {
        Keys { prefix: prefix.trim_matches('/').to_string() }
    }

    fn under(&self, rest: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.prefix))
        }
    }

    /// The manifest's key.
    pub fn manifest(&self) -> Path {
        self.under(MANIFEST)
    }

    /// The folder of the segment objects (for listing).
    pub fn segments(&self) -> Path {
        self.under(SEGMENTS)
    }

    /// The key of the segment `[base, end)`.
    pub fn segment(&self, base: u64, end: u64) -> Path {
        self.under(&format!("{SEGMENTS}/{base:0w$}-{end:0w$}{SEGMENT_SUFFIX}", w = OFFSET_DIGITS))
    }

    /// `(base, end)` of a segment key, or `None` for a foreign key.
    pub fn parse_segment(&self, key: &Path) -> Option<(u64, u64)> {
        let name = key.filename()?;
        let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
        let (base, end) = digits.split_once('-')?;
        let ok = |d: &str| d.len() == OFFSET_DIGITS && d.bytes().all(|b| b.is_ascii_digit());
        if !ok(base) || !ok(end) || self.segment(base.parse().ok()?, end.parse().ok()?) != *key {
            return None;
        }
        Some((base.parse().ok()?, end.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roundtrip_and_foreign_keys_are_refused() {
        let k = Keys::new("/orders/3/");
        assert_eq!(k.manifest().as_ref(), "orders/3/manifest");
        let s = k.segment(5, 17);
        assert_eq!(s.as_ref(), "orders/3/segments/00000000000000000005-00000000000000000017.log");
        assert_eq!(k.parse_segment(&s), Some((5, 17)));
        assert_eq!(Keys::new("other").parse_segment(&s), None, "another log's key");
        for foreign in ["orders/3/segments/5-17.log", "orders/3/segments/x.log", "orders/3/manifest"] {
            assert_eq!(k.parse_segment(&Path::from(foreign)), None, "{foreign}");
        }
        assert_eq!(Keys::new("").manifest().as_ref(), "manifest");
    }
}
