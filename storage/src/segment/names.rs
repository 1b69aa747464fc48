//! File names of a segment directory.
//!
//! Every file of a segment is named by the segment's base offset, zero-padded to 20 digits
//! (the width of `u64::MAX`) so that names sort like offsets:
//! `00000000000000000000.log`, `.index`, `.timeindex`. A `.log.tmp` file is a segment being
//! rewritten by a truncation; one found on open is the debris of a crash and is removed.

/// What a file in a segment directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Log,
    Index,
    TimeIndex,
    Temp,
}

const LOG_SUFFIX: &str = ".log";
const INDEX_SUFFIX: &str = ".index";
const TIME_INDEX_SUFFIX: &str = ".timeindex";
const TEMP_SUFFIX: &str = ".log.tmp";
/// Digits of a base offset in a file name.
const BASE_DIGITS: usize = 20;

fn name(base: u64, suffix: &str) -> String {
    format!("{base:0width$}{suffix}", width = BASE_DIGITS)
}

/// The log file of the segment starting at `base`.
pub fn log(base: u64) -> String {
    name(base, LOG_SUFFIX)
}

/// The offset index of the segment starting at `base`.
pub fn index(base: u64) -> String {
    name(base, INDEX_SUFFIX)
}

/// The time index of the segment starting at `base`.
pub fn time_index(base: u64) -> String {
    name(base, TIME_INDEX_SUFFIX)
}

/// The temporary file a truncation rewrites the segment starting at `base` into.
pub fn temp(base: u64) -> String {
    name(base, TEMP_SUFFIX)
}

/// The base offset and kind of a segment file, or `None` for a foreign name.
pub fn parse(file: &str) -> Option<(u64, FileKind)> {
    let kinds = [
        (TEMP_SUFFIX, FileKind::Temp),
        (LOG_SUFFIX, FileKind::Log),
        (INDEX_SUFFIX, FileKind::Index),
        (TIME_INDEX_SUFFIX, FileKind::TimeIndex),
    ];
    let (digits, kind) = kinds.iter().find_map(|(s, k)| file.strip_suffix(s).map(|d| (d, *k)))?;
    if digits.len() != BASE_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_sort_like_offsets() {
        assert_eq!(log(42), "00000000000000000042.log");
        assert_eq!(parse(&log(u64::MAX)), Some((u64::MAX, FileKind::Log)));
        assert_eq!(parse(&index(7)), Some((7, FileKind::Index)));
        assert_eq!(parse(&time_index(7)), Some((7, FileKind::TimeIndex)));
        assert_eq!(parse(&temp(7)), Some((7, FileKind::Temp)));
        assert!(log(9) < log(10));
        for foreign in ["x.log", "0042.log", "00000000000000000042.idx", "-0000000000000000042.log", ""] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
        assert_eq!(parse("99999999999999999999.log"), None, "past u64::MAX");
    }
}
