//! The byte format of the meta node's files (layouts in `docs/meta-store.md`), and how recovery
//! tells an append that never completed from damage to what was synced.
//!
//! Every file starts with an 8-byte header (magic, format version, file kind) followed by
//! checked records `[len u32][index u64][crc32c u32][payload]`, the CRC covering the first 12
//! header bytes and the payload. `vote`, `purged` and `snapshot` hold exactly one record and
//! are replaced atomically, so any deviation is damage. `log` is appended; [`scan_log`] reads
//! it and classifies the first record that does not check out:
//! - a valid record (later index) starts somewhere after it: damage in the middle of the log;
//! - it is whole (its length fits in the file) yet fails its checksum, or it passes its
//!   checksum once its length is set to the bytes that are there (the length was flipped):
//!   a synced record was damaged;
//! - otherwise it is the unsynced tail of the last append, cut short by a crash: a torn append,
//!   cut by the caller. A torn write leaves a prefix of the batch, whose last record always
//!   runs past the end of the file (or has no whole header).
//!
//! Damage is reported as [`MetaDamage`], never skipped or cut: a node that lost synced Raft
//! state must not vote or acknowledge as if it had it.

use std::fmt;
use std::io;

/// Bytes of the file header.
pub const FILE_HEADER_BYTES: usize = 8;
/// The first four bytes of every meta file.
pub const MAGIC: [u8; 4] = *b"KMET";
/// The format version this build writes and reads.
pub const VERSION: u8 = 2;
/// Bytes of a record header: length, index and CRC-32C.
pub const RECORD_HEADER_BYTES: usize = 16;
/// The largest payload accepted, in bytes.
pub const PAYLOAD_BYTES_MAX: u32 = 64 * 1024 * 1024;

/// Which file a header belongs to (byte 5 of the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FileKind {
    Log = b'L',
    Vote = b'V',
    Purged = b'P',
    Snapshot = b'S',
}

/// Synced metadata that no longer reads back as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaDamage {
    /// The file, relative to the node's data directory.
    pub file: String,
    /// The byte offset in the file where the damage was found.
    pub offset: u64,
    pub detail: String,
}

impl fmt::Display for MetaDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "meta store damaged: {} at byte {}: {}. This node's Raft state cannot be trusted and it will not \
             start. To recover: on a running meta node, `keel cluster remove-node <this node's id>`; once that \
             succeeded, delete this node's <data_dir>/meta directory, start it, and `keel cluster add-node <id> \
             <rpc addr>` (it rejoins empty and catches up); see docs/meta-store.md",
            self.file, self.offset, self.detail
        )
    }
}

impl std::error::Error for MetaDamage {}

impl From<MetaDamage> for io::Error {
    fn from(d: MetaDamage) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, d)
    }
}

impl MetaDamage {
    pub fn new(file: &str, offset: u64, detail: impl Into<String>) -> Self {
        MetaDamage { file: file.to_string(), offset, detail: detail.into() }
    }

    /// The damage report inside `e`, if `e` is one.
    pub fn find(e: &io::Error) -> Option<&MetaDamage> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<MetaDamage>())
    }
}

/// The header of a file of `kind`.
pub fn file_header(kind: FileKind) -> [u8; FILE_HEADER_BYTES] {
    let m = MAGIC;
    [m[0], m[1], m[2], m[3], VERSION, kind as u8, 0, 0]
}

/// Checks the header at the start of `data` (the file `file`, at least a header long).
pub fn check_file_header(file: &str, kind: FileKind, data: &[u8]) -> Result<(), MetaDamage> {
    let want = file_header(kind);
    let got = data.get(..FILE_HEADER_BYTES).ok_or_else(|| MetaDamage::new(file, 0, "shorter than its header"))?;
    if got[..4] != MAGIC {
        return Err(MetaDamage::new(file, 0, format!("not a meta file of format {VERSION}: magic {:02x?}", &got[..4])));
    }
    if got[4] != VERSION {
        let detail = format!("format version {} (this build reads {VERSION}), or a damaged header", got[4]);
        return Err(MetaDamage::new(file, 4, detail));
    }
    match got.iter().zip(want).position(|(g, w)| *g != w) {
        Some(at) => Err(MetaDamage::new(
            file,
            at as u64,
            format!("header byte {at} is {:#04x}, not {:#04x}", got[at], want[at]),
        )),
        None => Ok(()),
    }
}

fn record_crc(header12: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(header12), payload)
}

/// Appends one record holding `payload` (the entry at `index`; 0 outside the log) to `out`.
pub fn encode_record(index: u64, payload: &[u8], out: &mut Vec<u8>) {
    assert!(!payload.is_empty() && payload.len() <= PAYLOAD_BYTES_MAX as usize, "payload of {} bytes", payload.len());
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&index.to_be_bytes());
    let crc = record_crc(&out[start..start + 12], payload);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A record read back: where it starts in its file, its index and its payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub offset: u64,
    pub index: u64,
    pub payload: &'a [u8],
}

/// Why the bytes at a position are not a valid record.
#[derive(Debug, PartialEq, Eq)]
enum Bad {
    /// Fewer bytes than a record header.
    ShortHeader,
    /// A length of zero or over the maximum.
    Length(u32),
    /// The announced payload runs past the end of the file.
    PastEnd(u32),
    Checksum,
}

fn parse(data: &[u8], pos: usize) -> Result<Record<'_>, Bad> {
    let h = data.get(pos..pos + RECORD_HEADER_BYTES).ok_or(Bad::ShortHeader)?;
    let len = u32::from_be_bytes(h[0..4].try_into().expect("4 bytes"));
    let index = u64::from_be_bytes(h[4..12].try_into().expect("8 bytes"));
    let crc = u32::from_be_bytes(h[12..16].try_into().expect("4 bytes"));
    if len == 0 || len > PAYLOAD_BYTES_MAX {
        return Err(Bad::Length(len));
    }
    let start = pos + RECORD_HEADER_BYTES;
    let payload = data.get(start..start + len as usize).ok_or(Bad::PastEnd(len))?;
    if record_crc(&h[..12], payload) != crc {
        return Err(Bad::Checksum);
    }
    Ok(Record { offset: pos as u64, index, payload })
}

/// The one record of a `vote`, `purged` or `snapshot` file, which must fill the file exactly.
pub fn single_record<'a>(file: &str, kind: FileKind, data: &'a [u8]) -> Result<&'a [u8], MetaDamage> {
    check_file_header(file, kind, data)?;
    match parse(data, FILE_HEADER_BYTES) {
        Ok(r) if FILE_HEADER_BYTES + RECORD_HEADER_BYTES + r.payload.len() == data.len() => Ok(r.payload),
        Ok(r) => {
            let end = FILE_HEADER_BYTES + RECORD_HEADER_BYTES + r.payload.len();
            Err(MetaDamage::new(file, end as u64, format!("{} bytes past its record", data.len() - end)))
        }
        Err(bad) => Err(MetaDamage::new(file, FILE_HEADER_BYTES as u64, format!("its record is invalid: {bad:?}"))),
    }
}

/// What [`scan_log`] found past the last valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// The valid records fill the file.
    Clean,
    /// From `at` on: an append that never completed (cut it).
    Torn { at: u64 },
    /// At `at`: synced data damaged (report it).
    Damaged(MetaDamage),
}

/// The valid records of a `log` file (`data`, all of it, header included) and what follows
/// them. Record indexes must increase.
pub fn scan_log<'a>(file: &str, data: &'a [u8]) -> Result<(Vec<Record<'a>>, Tail), MetaDamage> {
    check_file_header(file, FileKind::Log, data)?;
    let mut records: Vec<Record<'a>> = Vec::new();
    let mut pos = FILE_HEADER_BYTES;
    while pos < data.len() {
        let last = records.last().map(|r| r.index);
        let bad = match parse(data, pos) {
            Ok(r) if last.is_some_and(|l| r.index <= l) => {
                let detail = format!("record of index {} after index {}", r.index, last.unwrap_or(0));
                return Ok((records, Tail::Damaged(MetaDamage::new(file, pos as u64, detail))));
            }
            Ok(r) => {
                pos += RECORD_HEADER_BYTES + r.payload.len();
                records.push(r);
                continue;
            }
            Err(bad) => bad,
        };
        let tail = classify(file, data, pos, last, bad);
        return Ok((records, tail));
    }
    Ok((records, Tail::Clean))
}

/// The first bad record is at `pos`, after valid records ending with index `last`.
fn classify(file: &str, data: &[u8], pos: usize, last: Option<u64>, bad: Bad) -> Tail {
    let damaged = |detail: String| Tail::Damaged(MetaDamage::new(file, pos as u64, detail));
    if let Some(q) = valid_record_after(data, pos, last) {
        return damaged(format!("record invalid ({bad:?}) but a valid record follows at byte {q}"));
    }
    match bad {
        Bad::Checksum => damaged("a whole record fails its checksum".into()),
        Bad::Length(_) | Bad::PastEnd(_) if length_was_flipped(data, pos) => {
            damaged(format!("record length damaged ({bad:?}); the record checks out with the length that fits"))
        }
        Bad::ShortHeader | Bad::Length(_) | Bad::PastEnd(_) => Tail::Torn { at: pos as u64 },
    }
}

/// Whether the record at `pos`, the last in the file, passes its checksum with its length set
/// to the bytes that are there.
fn length_was_flipped(data: &[u8], pos: usize) -> bool {
    let tail = data.len() - pos;
    if tail <= RECORD_HEADER_BYTES || tail - RECORD_HEADER_BYTES > PAYLOAD_BYTES_MAX as usize {
        return false;
    }
    let mut fixed = data[pos..].to_vec();
    fixed[..4].copy_from_slice(&((tail - RECORD_HEADER_BYTES) as u32).to_be_bytes());
    parse(&fixed, 0).is_ok()
}

/// The position of a valid record past `bad` whose index is past `last`, if any.
fn valid_record_after(data: &[u8], bad: usize, last: Option<u64>) -> Option<usize> {
    (bad + 1..data.len().saturating_sub(RECORD_HEADER_BYTES))
        .find(|&q| parse(data, q).is_ok_and(|r| last.is_none_or(|l| r.index > l)))
}

/// A whole `vote`, `purged` or `snapshot` file holding `value`.
pub fn encode_file<T: serde::Serialize>(kind: FileKind, value: &T) -> io::Result<Vec<u8>> {
    let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
    let mut out = file_header(kind).to_vec();
    encode_record(0, &payload, &mut out);
    Ok(out)
}

/// The value in a file written by [`encode_file`]; damage is a [`MetaDamage`].
pub fn decode_file<T: serde::de::DeserializeOwned>(file: &str, kind: FileKind, data: &[u8]) -> io::Result<T> {
    let payload = single_record(file, kind, data)?;
    let at = (FILE_HEADER_BYTES + RECORD_HEADER_BYTES) as u64;
    let undecodable = |e: serde_json::Error| MetaDamage::new(file, at, format!("its value does not decode: {e}"));
    Ok(serde_json::from_slice(payload).map_err(undecodable)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log file with records of `indexes` (payload `entry <i>`).
    fn log(indexes: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        let mut out = file_header(FileKind::Log).to_vec();
        for i in indexes {
            encode_record(i, format!("entry {i}").as_bytes(), &mut out);
        }
        out
    }

    #[test]
    fn layout_is_header_then_length_index_crc_payload() {
        let mut out = Vec::new();
        encode_record(7, b"ab", &mut out);
        let crc = crc32c::crc32c(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, b'a', b'b']).to_be_bytes();
        assert_eq!(out, [&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7][..], &crc, b"ab"].concat());
        assert_eq!(file_header(FileKind::Log), *b"KMET\x02L\0\0");
    }

    #[test]
    fn a_clean_log_reads_back_whole() {
        let data = log(1..=3);
        let (records, tail) = scan_log("log", &data).unwrap();
        assert_eq!(records.iter().map(|r| r.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(records[0].payload, b"entry 1");
        assert_eq!(tail, Tail::Clean);
    }

    #[test]
    fn every_cut_inside_the_last_append_is_a_torn_tail() {
        let synced = log(1..=2);
        let full = log(1..=5); // records 3..=5: one append batch, torn at every byte
        for cut in synced.len() + 1..full.len() {
            let (records, tail) = scan_log("log", &full[..cut]).unwrap();
            let whole = records.last().map_or(0, |r| r.offset as usize + RECORD_HEADER_BYTES + r.payload.len());
            assert!(records.len() >= 2, "cut at {cut}");
            let want = if whole == cut { Tail::Clean } else { Tail::Torn { at: whole as u64 } };
            assert_eq!(tail, want, "cut at {cut}");
        }
    }

    #[test]
    fn a_zero_filled_tail_is_torn() {
        let mut data = log(1..=2);
        let end = data.len() as u64;
        data.extend_from_slice(&[0; 40]);
        assert_eq!(scan_log("log", &data).unwrap().1, Tail::Torn { at: end });
    }

    #[test]
    fn every_bit_flip_in_a_synced_log_is_damage() {
        let data = log(1..=3);
        for byte in FILE_HEADER_BYTES..data.len() {
            for bit in 0..8 {
                let mut flipped = data.clone();
                flipped[byte] ^= 1 << bit;
                let (_, tail) = scan_log("meta/raft/log", &flipped).unwrap();
                assert!(matches!(tail, Tail::Damaged(_)), "flip of bit {bit} of byte {byte}: {tail:?}");
            }
        }
    }

    #[test]
    fn a_flip_in_a_synced_record_followed_by_a_torn_append_is_damage() {
        let synced = log(1..=3);
        let full = log(1..=6);
        let last_synced = synced.len() - 3; // in the payload of record 3
        for cut in synced.len() + 1..full.len() {
            let mut data = full[..cut].to_vec();
            data[last_synced] ^= 0x20;
            let (records, tail) = scan_log("log", &data).unwrap();
            assert_eq!(records.len(), 2);
            assert!(matches!(tail, Tail::Damaged(d) if d.offset == records[1].offset + 23), "cut at {cut}");
        }
    }

    #[test]
    fn every_bit_flip_in_a_header_is_damage() {
        let data = log(1..=1);
        for byte in 0..FILE_HEADER_BYTES {
            let mut flipped = data.clone();
            flipped[byte] ^= 0x01;
            let e = scan_log("meta/raft/log", &flipped).unwrap_err();
            assert_eq!(e.file, "meta/raft/log");
        }
    }

    #[test]
    fn records_out_of_order_are_damage() {
        let mut data = log(1..=2);
        encode_record(2, b"again", &mut data);
        assert!(matches!(scan_log("log", &data).unwrap().1, Tail::Damaged(d) if d.detail.contains("after index 2")));
    }

    #[test]
    fn a_small_file_is_exactly_one_record() {
        let mut data = file_header(FileKind::Vote).to_vec();
        encode_record(0, b"{}", &mut data);
        assert_eq!(single_record("vote", FileKind::Vote, &data).unwrap(), b"{}");
        assert!(single_record("vote", FileKind::Purged, &data).is_err(), "another kind of file");
        for byte in 0..data.len() {
            let mut flipped = data.clone();
            flipped[byte] ^= 0x04;
            assert!(single_record("vote", FileKind::Vote, &flipped).is_err(), "flip in byte {byte}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(single_record("vote", FileKind::Vote, &longer).is_err());
        assert!(single_record("vote", FileKind::Vote, &data[..data.len() - 1]).is_err());
    }

    #[test]
    fn damage_reports_name_the_file_offset_and_way_out() {
        let d = MetaDamage::new("meta/raft/log", 42, "a whole record fails its checksum");
        let e: io::Error = d.clone().into();
        assert_eq!(MetaDamage::find(&e), Some(&d));
        let text = e.to_string();
        assert!(text.contains("meta/raft/log at byte 42") && text.contains("keel cluster remove-node"), "{text}");
    }
}
