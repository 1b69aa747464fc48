//! The record batch: the unit the segment engine writes, checksums, caches and reads.
//!
//! A batch is a fixed 56-byte header followed by its records (`docs/segment-format.md` has
//! the full layout). All integers are big-endian; record fields are varints ([`super::varint`]).
//! The CRC sits right after the magic and version bytes so that it covers every later byte:
//! the header fields (offsets, count, length, timestamps) as well as the records. Decoding
//! never panics on bad bytes: every length is checked and every problem is an `Err(detail)`.

use bytes::Bytes;

use super::varint;
use crate::engine::{ProducerSeq, Record, StoredRecord};

// Batch header, big-endian:
//
// offset  size  field
// 0       1     magic              0x4B ('K')
// 1       1     version            3
// 2       4     crc                CRC-32C (Castagnoli) of bytes [6, batch_bytes)
// 6       8     base_offset        offset of the first record
// 14      4     record_count       number of records, >= 1
// 18      4     batch_bytes        length of the whole batch, this header included
// 22      8     base_timestamp_ms  smallest record timestamp in the batch
// 30      8     max_timestamp_ms   largest record timestamp in the batch
// 38      8     producer_id        idempotent producer, 0 for none
// 46      2     producer_epoch     0 when producer_id is 0
// 48      4     base_sequence      sequence of the first offset (offset o: base + o - base_offset);
//                                  0 for none
// 52      4     offset_count       offsets the batch takes, >= record_count: a record takes the
//                                  offsets up to the next record's (the last, up to the end)
// 56      ...   records
//
// Record (varints: LEB128; "zigzag" maps -1 to 1):
//   offset_delta     varint      offset - base_offset: 0 for the first record, then increasing
//   timestamp_delta  varint      timestamp_ms - base_timestamp_ms
//   key_len          zigzag      key length, -1 for no key
//   key              key_len bytes
//   value_len        varint      value length
//   value            value_len bytes
const MAGIC_AT: usize = 0;
const VERSION_AT: usize = 1;
const CRC_AT: usize = 2;
const BASE_OFFSET_AT: usize = 6;
const RECORD_COUNT_AT: usize = 14;
pub(crate) const BATCH_BYTES_AT: usize = 18;
const BASE_TIMESTAMP_AT: usize = 22;
const MAX_TIMESTAMP_AT: usize = 30;
const PRODUCER_ID_AT: usize = 38;
const PRODUCER_EPOCH_AT: usize = 46;
const BASE_SEQUENCE_AT: usize = 48;
const OFFSET_COUNT_AT: usize = 52;
/// Bytes of a batch header.
pub const HEADER_BYTES: usize = 56;
/// The CRC covers the batch from here to its end.
pub const CRC_FROM: usize = BASE_OFFSET_AT;

/// The first byte of every batch.
pub const MAGIC: u8 = 0x4B;
/// The layout version this code writes and reads.
pub const VERSION: u8 = 3;
/// The largest batch the format admits, in bytes: a sanity bound for a length read from disk
/// (`SegmentConfig::batch_bytes_max`, at most this, bounds what is written).
pub const BATCH_BYTES_LIMIT: usize = 64 * 1024 * 1024;
/// The smallest encoded record (four one-byte varints, empty value), in bytes.
const RECORD_BYTES_MIN: usize = 4;

/// A batch header, as parsed (not yet checked against the CRC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub crc: u32,
    pub base_offset: u64,
    pub record_count: u32,
    /// The offsets the batch takes (`record_count` unless a record spans several).
    pub offset_count: u32,
    pub batch_bytes: u32,
    pub base_timestamp_ms: u64,
    pub max_timestamp_ms: u64,
    /// The producer and sequence of the first offset; offset `base_offset + d` has
    /// `sequence + d`.
    pub producer: Option<ProducerSeq>,
}

impl BatchHeader {
    /// One past the batch's last offset.
    pub fn end_offset(&self) -> u64 {
        self.base_offset + u64::from(self.offset_count)
    }

    /// The batch length in bytes.
    pub fn size(&self) -> usize {
        self.batch_bytes as usize
    }
}

fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4-byte slice"))
}

fn be_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(buf[at..at + 8].try_into().expect("8-byte slice"))
}

fn be_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(buf[at..at + 2].try_into().expect("2-byte slice"))
}

/// Splits `records` into runs that can each be one batch: maximal stretches of records
/// without a producer, or of one producer and epoch with consecutive sequences. Returns the
/// runs' lengths, in order.
pub fn runs(records: &[Record]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match out.last_mut() {
            Some(n) if joins(&records[i - 1], r) => *n += 1,
            _ => out.push(1),
        }
    }
    out
}

/// Whether `next` may follow `prev` in one batch: both without a producer, or one producer's
/// consecutive sequences.
fn joins(prev: &Record, next: &Record) -> bool {
    match (&prev.producer, &next.producer) {
        (None, None) => true,
        (Some(a), Some(b)) => a.is_followed_by(prev.span, b),
        _ => false,
    }
}

/// Each record's offset delta within a batch of `records`.
fn deltas(records: &[Record]) -> impl Iterator<Item = u64> + '_ {
    records.iter().scan(0u64, |next, r| {
        let d = *next;
        *next += u64::from(r.span);
        Some(d)
    })
}

/// Whether `records` form one run (see [`runs`]).
fn is_run(records: &[Record]) -> bool {
    records.windows(2).all(|w| joins(&w[0], &w[1]))
}

/// The encoded length of one record given its offset delta and the batch's base timestamp.
fn record_len(delta: u64, r: &Record, base_timestamp_ms: u64) -> usize {
    let key = match &r.key {
        Some(k) => varint::len_i64(k.len() as i64) + k.len(),
        None => varint::len_i64(-1),
    };
    varint::len_u64(delta)
        + varint::len_u64(r.timestamp_ms - base_timestamp_ms)
        + key
        + varint::len_u64(r.value.len() as u64)
        + r.value.len()
}

fn timestamp_bounds(records: &[Record]) -> (u64, u64) {
    let min = records.iter().map(|r| r.timestamp_ms).min().unwrap_or(0);
    let max = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
    (min, max)
}

/// The encoded length of `records`, in bytes: one batch per run (see [`runs`]).
pub fn encoded_len(records: &[Record]) -> usize {
    let mut total = 0;
    let mut at = 0;
    for n in runs(records) {
        let run = &records[at..at + n];
        let (min_ts, _) = timestamp_bounds(run);
        total += HEADER_BYTES + run.iter().zip(deltas(run)).map(|(r, d)| record_len(d, r, min_ts)).sum::<usize>();
        at += n;
    }
    total
}

/// Encodes `records` as one batch per run (see [`runs`]), the first starting at
/// `base_offset`, appending to `out`. Returns the batches' headers, in order.
pub fn encode_runs(base_offset: u64, records: &[Record], out: &mut Vec<u8>) -> Vec<BatchHeader> {
    let mut headers = Vec::new();
    let (mut at, mut base) = (0, base_offset);
    for n in runs(records) {
        let h = encode(base, &records[at..at + n], out);
        base = h.end_offset();
        headers.push(h);
        at += n;
    }
    headers
}

/// Encodes `records`, which must form one run (see [`runs`]), as a batch starting at
/// `base_offset`, appending to `out`. The caller has checked the size against
/// [`BATCH_BYTES_LIMIT`] (or a smaller limit).
pub fn encode(base_offset: u64, records: &[Record], out: &mut Vec<u8>) -> BatchHeader {
    assert!(!records.is_empty(), "a batch holds at least one record");
    assert!(records.iter().all(|r| r.span >= 1), "a record takes at least one offset");
    assert!(is_run(records), "a batch holds one producer's consecutive sequences");
    let offset_count = u32::try_from(crate::engine::span_of(records)).expect("a batch's offsets fit in u32");
    let (base_ts, max_ts) = timestamp_bounds(records);
    let producer = records[0].producer;
    let start = out.len();
    out.extend_from_slice(&[MAGIC, VERSION, 0, 0, 0, 0]);
    out.extend_from_slice(&base_offset.to_be_bytes());
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&base_ts.to_be_bytes());
    out.extend_from_slice(&max_ts.to_be_bytes());
    let p = producer.unwrap_or(ProducerSeq { producer_id: 0, producer_epoch: 0, sequence: 0 });
    assert!(producer.is_none() || p.producer_id != 0, "producer id 0 means no producer");
    out.extend_from_slice(&p.producer_id.to_be_bytes());
    out.extend_from_slice(&p.producer_epoch.to_be_bytes());
    out.extend_from_slice(&p.sequence.to_be_bytes());
    out.extend_from_slice(&offset_count.to_be_bytes());
    for (r, delta) in records.iter().zip(deltas(records)) {
        varint::put_u64(out, delta);
        varint::put_u64(out, r.timestamp_ms - base_ts);
        match &r.key {
            Some(k) => {
                varint::put_i64(out, k.len() as i64);
                out.extend_from_slice(k);
            }
            None => varint::put_i64(out, -1),
        }
        varint::put_u64(out, r.value.len() as u64);
        out.extend_from_slice(&r.value);
    }
    let batch_bytes = out.len() - start;
    assert!(batch_bytes <= BATCH_BYTES_LIMIT, "batch of {batch_bytes} bytes passed the size check");
    let batch = &mut out[start..];
    batch[BATCH_BYTES_AT..BATCH_BYTES_AT + 4].copy_from_slice(&(batch_bytes as u32).to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    BatchHeader {
        crc,
        base_offset,
        record_count: records.len() as u32,
        offset_count,
        batch_bytes: batch_bytes as u32,
        base_timestamp_ms: base_ts,
        max_timestamp_ms: max_ts,
        producer,
    }
}

/// Parses and sanity-checks the header at the start of `buf` (the CRC is checked by
/// [`verify`]). `Err` if `buf` is shorter than a header or a field is impossible.
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, String> {
    if buf.len() < HEADER_BYTES {
        return Err(format!("{} bytes, short of a batch header", buf.len()));
    }
    if buf[MAGIC_AT] != MAGIC || buf[VERSION_AT] != VERSION {
        return Err(format!("bad magic/version {:#04x}/{}", buf[MAGIC_AT], buf[VERSION_AT]));
    }
    let h = BatchHeader {
        crc: be_u32(buf, CRC_AT),
        base_offset: be_u64(buf, BASE_OFFSET_AT),
        record_count: be_u32(buf, RECORD_COUNT_AT),
        offset_count: be_u32(buf, OFFSET_COUNT_AT),
        batch_bytes: be_u32(buf, BATCH_BYTES_AT),
        base_timestamp_ms: be_u64(buf, BASE_TIMESTAMP_AT),
        max_timestamp_ms: be_u64(buf, MAX_TIMESTAMP_AT),
        producer: None,
    };
    let (producer_id, producer_epoch, sequence) =
        (be_u64(buf, PRODUCER_ID_AT), be_u16(buf, PRODUCER_EPOCH_AT), be_u32(buf, BASE_SEQUENCE_AT));
    let h = match producer_id {
        0 if producer_epoch != 0 || sequence != 0 => return Err("impossible batch: sequence without a producer".into()),
        0 => h,
        _ => BatchHeader { producer: Some(ProducerSeq { producer_id, producer_epoch, sequence }), ..h },
    };
    let records_min = (h.record_count as usize).saturating_mul(RECORD_BYTES_MIN);
    if h.record_count == 0 || h.size() < HEADER_BYTES.saturating_add(records_min) || h.size() > BATCH_BYTES_LIMIT {
        return Err(format!("impossible batch: {} records in {} bytes", h.record_count, h.batch_bytes));
    }
    if h.offset_count < h.record_count {
        return Err(format!("impossible batch: {} records in {} offsets", h.record_count, h.offset_count));
    }
    if h.max_timestamp_ms < h.base_timestamp_ms || h.base_offset.checked_add(u64::from(h.offset_count)).is_none() {
        return Err("impossible batch: timestamps or offsets out of order".to_string());
    }
    if h.producer.is_some_and(|p| p.sequence.checked_add(h.offset_count - 1).is_none()) {
        return Err("impossible batch: sequences overflow".to_string());
    }
    Ok(h)
}

/// Checks that `batch` is exactly the batch `h` describes and that its CRC matches.
pub fn verify(batch: &[u8], h: &BatchHeader) -> Result<(), String> {
    if batch.len() != h.size() {
        return Err(format!("batch cut short: {} of {} bytes", batch.len(), h.batch_bytes));
    }
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    if crc != h.crc {
        return Err(format!("crc mismatch: stored {:#010x}, computed {crc:#010x}", h.crc));
    }
    Ok(())
}

/// Decodes the records of a verified batch, pushing those that end past `from` to `out`.
/// Keys and values share `batch`'s memory.
pub fn decode(batch: &Bytes, h: &BatchHeader, from: u64, out: &mut Vec<StoredRecord>) -> Result<(), String> {
    if batch.len() != h.size() {
        return Err(format!("batch of {} bytes, header says {}", batch.len(), h.batch_bytes));
    }
    let mut pos = HEADER_BYTES;
    let (mut min_ts, mut max_ts) = (u64::MAX, 0);
    // A record's span is known once the next record's delta (or the batch's end) is.
    let mut pending: Option<StoredRecord> = None;
    let push = |r: StoredRecord, out: &mut Vec<StoredRecord>| {
        if r.end_offset() > from {
            out.push(r);
        }
    };
    for i in 0..u64::from(h.record_count) {
        let (delta, ts, key, value) = decode_record(batch, &mut pos, i, h, pending.as_ref())?;
        min_ts = min_ts.min(ts);
        max_ts = max_ts.max(ts);
        if let Some(mut prev) = pending.take() {
            prev.span = (h.base_offset + delta - prev.offset) as u32;
            push(prev, out);
        }
        let producer = h.producer.map(|p| ProducerSeq { sequence: p.sequence + delta as u32, ..p });
        let offset = h.base_offset + delta;
        pending = Some(StoredRecord { offset, timestamp_ms: ts, key, value, producer, span: 0 });
    }
    if let Some(mut last) = pending.take() {
        last.span = (h.end_offset() - last.offset) as u32;
        push(last, out);
    }
    if pos != batch.len() {
        return Err(format!("{} stray bytes after the last record", batch.len() - pos));
    }
    if min_ts != h.base_timestamp_ms || max_ts != h.max_timestamp_ms {
        return Err("record timestamps disagree with the header".to_string());
    }
    Ok(())
}

/// A record's offset delta, timestamp, key and value.
type Decoded = (u64, u64, Option<Bytes>, Bytes);

/// Decodes record `index` of the batch `h`, which follows `prev` (if it is not the first).
fn decode_record(
    batch: &Bytes,
    pos: &mut usize,
    index: u64,
    h: &BatchHeader,
    prev: Option<&StoredRecord>,
) -> Result<Decoded, String> {
    let buf = &batch[..];
    let bad = |what: &str| format!("record {index}: bad {what}");
    let delta = varint::get_u64(buf, pos).ok_or_else(|| bad("offset delta"))?;
    let after_prev = match prev {
        None => delta == 0,
        Some(p) => delta > p.offset - h.base_offset,
    };
    // Every record after this one needs an offset of its own.
    let room = u64::from(h.offset_count) - (u64::from(h.record_count) - index);
    if !after_prev || delta > room {
        return Err(bad("offset delta"));
    }
    let ts_delta = varint::get_u64(buf, pos).ok_or_else(|| bad("timestamp delta"))?;
    let ts = h.base_timestamp_ms.checked_add(ts_delta).ok_or_else(|| bad("timestamp delta"))?;
    let key = match varint::get_i64(buf, pos).ok_or_else(|| bad("key length"))? {
        -1 => None,
        n if n >= 0 => Some(take(batch, pos, n as u64).ok_or_else(|| bad("key length"))?),
        _ => return Err(bad("key length")),
    };
    let value_len = varint::get_u64(buf, pos).ok_or_else(|| bad("value length"))?;
    let value = take(batch, pos, value_len).ok_or_else(|| bad("value length"))?;
    Ok((delta, ts, key, value))
}

fn take(batch: &Bytes, pos: &mut usize, len: u64) -> Option<Bytes> {
    let end = pos.checked_add(usize::try_from(len).ok()?)?;
    if end > batch.len() {
        return None;
    }
    let b = batch.slice(*pos..end);
    *pos = end;
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                timestamp_ms: 1_000 + (i as u64 * 7) % 5,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Bytes::from(vec![i as u8; i * 3]),
                producer: None,
                span: 1,
            })
            .collect()
    }

    fn encoded(base: u64, recs: &[Record]) -> (Vec<u8>, BatchHeader) {
        let mut out = Vec::new();
        let h = encode(base, recs, &mut out);
        (out, h)
    }

    #[test]
    fn roundtrips_records_offsets_and_lengths() {
        let recs = records(9);
        let (buf, h) = encoded(40, &recs);
        assert_eq!(buf.len(), encoded_len(&recs));
        assert_eq!(parse_header(&buf).unwrap(), h);
        verify(&buf, &h).unwrap();
        let mut out = Vec::new();
        decode(&Bytes::from(buf), &h, 43, &mut out).unwrap();
        assert_eq!(out.len(), 6, "records below `from` are skipped");
        for (r, want) in out.iter().zip(&recs[3..]) {
            assert_eq!(r.to_record(), *want);
        }
        assert_eq!(out[0].offset, 43);
        assert_eq!((h.base_timestamp_ms, h.max_timestamp_ms), (1_000, 1_004));
    }

    #[test]
    fn an_empty_key_is_not_a_missing_key() {
        let recs = vec![Record::new(0, Some(Bytes::new()), Bytes::new())];
        let (buf, h) = encoded(0, &recs);
        let mut out = Vec::new();
        decode(&Bytes::from(buf), &h, 0, &mut out).unwrap();
        assert_eq!(out[0].key, Some(Bytes::new()));
    }

    #[test]
    fn extreme_timestamps_roundtrip() {
        let recs: Vec<Record> = [u64::MAX, 0].iter().map(|&t| Record::new(t, None, Bytes::new())).collect();
        let (buf, h) = encoded(0, &recs);
        let mut out = Vec::new();
        decode(&Bytes::from(buf), &h, 0, &mut out).unwrap();
        assert_eq!(out.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(), [u64::MAX, 0]);
    }

    fn tagged(id: u64, epoch: u16, seqs: &[u32]) -> Vec<Record> {
        let seq = |s| ProducerSeq { producer_id: id, producer_epoch: epoch, sequence: s };
        seqs.iter().map(|&s| Record { producer: Some(seq(s)), ..Record::new(7, None, Bytes::from("v")) }).collect()
    }

    #[test]
    fn producer_runs_become_batches_and_roundtrip() {
        let mut recs = records(2);
        recs.extend(tagged(9, 1, &[4, 5, 6]));
        recs.extend(tagged(9, 1, &[8])); // a gap starts a new batch
        recs.extend(tagged(9, 2, &[9])); // so does a new epoch
        recs.extend(tagged(3, 2, &[10]));
        assert_eq!(runs(&recs), vec![2, 3, 1, 1, 1]);
        let mut buf = Vec::new();
        let headers = encode_runs(100, &recs, &mut buf);
        assert_eq!(buf.len(), encoded_len(&recs));
        assert_eq!(headers.iter().map(|h| h.base_offset).collect::<Vec<_>>(), [100, 102, 105, 106, 107]);
        let (mut out, mut pos) = (Vec::new(), 0);
        for h in &headers {
            let bytes = Bytes::copy_from_slice(&buf[pos..pos + h.size()]);
            assert_eq!(parse_header(&bytes).unwrap(), *h);
            verify(&bytes, h).unwrap();
            decode(&bytes, h, 0, &mut out).unwrap();
            pos += h.size();
        }
        assert_eq!(out.iter().map(StoredRecord::to_record).collect::<Vec<_>>(), recs);
    }

    #[test]
    fn spanning_records_take_their_offsets_and_sequences() {
        let mut recs = tagged(9, 1, &[4]);
        recs[0].span = 3; // sequences 4, 5, 6
        recs.extend(tagged(9, 1, &[7, 8]));
        recs[1].span = 5; // 7..=11, so 8 does not follow: a new batch
        recs.extend(tagged(9, 1, &[13])); // nor does 13 follow 8
        assert_eq!(runs(&recs), vec![2, 1, 1]);
        let mut buf = Vec::new();
        let headers = encode_runs(100, &recs, &mut buf);
        assert_eq!(buf.len(), encoded_len(&recs));
        let ends: Vec<_> = headers.iter().map(|h| (h.base_offset, h.record_count, h.end_offset())).collect();
        assert_eq!(ends, [(100, 2, 108), (108, 1, 109), (109, 1, 110)]);
        let bytes = Bytes::copy_from_slice(&buf[..headers[0].size()]);
        verify(&bytes, &headers[0]).unwrap();
        let mut out = Vec::new();
        decode(&bytes, &headers[0], 0, &mut out).unwrap();
        let got: Vec<_> = out.iter().map(|r| (r.offset, r.span, r.producer.unwrap().sequence)).collect();
        assert_eq!(got, [(100, 3, 4), (103, 5, 7)]);
        assert_eq!(out.iter().map(StoredRecord::to_record).collect::<Vec<_>>(), recs[..2]);
        for (from, first) in [(100, 100), (102, 100), (103, 103), (107, 103)] {
            let mut out = Vec::new();
            decode(&bytes, &headers[0], from, &mut out).unwrap();
            assert_eq!(out[0].offset, first, "the record holding {from} comes first");
        }
        let mut out = Vec::new();
        decode(&bytes, &headers[0], 108, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn offset_deltas_must_leave_room_for_the_records_after_them() {
        let mut recs = records(2);
        recs[0].span = 2;
        let (buf, h) = encoded(0, &recs);
        // Claim 2 offsets for the 2 records: the second record's delta (2) leaves no room.
        let buf = patched(&buf, OFFSET_COUNT_AT, &2u32.to_be_bytes());
        let h2 = parse_header(&buf).unwrap();
        assert_eq!((h.offset_count, h2.offset_count), (3, 2));
        let err = decode(&Bytes::from(buf), &h2, 0, &mut Vec::new()).unwrap_err();
        assert!(err.contains("offset delta"), "{err}");
    }

    #[test]
    fn a_sequence_without_a_producer_is_refused() {
        let (buf, _) = encoded(0, &records(1));
        let buf = patched(&buf, BASE_SEQUENCE_AT, &1u32.to_be_bytes());
        assert!(parse_header(&buf).unwrap_err().contains("without a producer"));
    }

    /// `buf` with `bytes` written at `at` and its CRC recomputed: a batch that passes its
    /// checksum yet says what it says (a writer's bug, or damage that happens to match).
    fn patched(buf: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut buf = buf.to_vec();
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        let crc = crc32c::crc32c(&buf[CRC_FROM..]);
        buf[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        buf
    }

    #[test]
    fn impossible_headers_are_refused_even_with_a_matching_crc() {
        let (plain, h) = encoded(5, &records(3));
        let (tagged_buf, _) = encoded(5, &tagged(9, 1, &[0, 1, 2]));
        let min_bytes = (HEADER_BYTES + 3 * RECORD_BYTES_MIN - 1) as u32;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("no records", patched(&plain, RECORD_COUNT_AT, &0u32.to_be_bytes()), "records in"),
            ("too small for its records", patched(&plain, BATCH_BYTES_AT, &min_bytes.to_be_bytes()), "records in"),
            (
                "past the size limit",
                patched(&plain, BATCH_BYTES_AT, &(BATCH_BYTES_LIMIT as u32 + 1).to_be_bytes()),
                "records in",
            ),
            ("fewer offsets than records", patched(&plain, OFFSET_COUNT_AT, &2u32.to_be_bytes()), "offsets"),
            (
                "timestamps out of order",
                patched(&plain, MAX_TIMESTAMP_AT, &(h.base_timestamp_ms - 1).to_be_bytes()),
                "out of order",
            ),
            ("offsets past u64", patched(&plain, BASE_OFFSET_AT, &(u64::MAX - 2).to_be_bytes()), "out of order"),
            ("an epoch without a producer", patched(&plain, PRODUCER_EPOCH_AT, &1u16.to_be_bytes()), "producer"),
            (
                "sequences past u32",
                patched(&tagged_buf, BASE_SEQUENCE_AT, &(u32::MAX - 1).to_be_bytes()),
                "sequences overflow",
            ),
        ];
        for (what, buf, why) in cases {
            let err = parse_header(&buf).expect_err(what);
            assert!(err.contains(why), "{what}: {err}");
        }
    }

    #[test]
    fn headers_at_the_limits_are_accepted() {
        let (plain, _) = encoded(5, &records(1));
        let at_limit = patched(&plain, BATCH_BYTES_AT, &(BATCH_BYTES_LIMIT as u32).to_be_bytes());
        assert_eq!(parse_header(&at_limit[..HEADER_BYTES]).unwrap().size(), BATCH_BYTES_LIMIT);
        let (buf, h) = encoded(5, &tagged(9, 1, &[u32::MAX]));
        assert_eq!(parse_header(&buf).unwrap(), h, "the last sequence may be u32::MAX");
        let (buf, h) = encoded(u64::MAX - 1, &records(1)[..1]);
        assert_eq!(parse_header(&buf).unwrap(), h, "the last offset may be u64::MAX - 1");
        let smallest = vec![Record::new(0, None, Bytes::new())];
        let (buf, h) = encoded(0, &smallest);
        assert_eq!((parse_header(&buf).unwrap(), buf.len()), (h, HEADER_BYTES + RECORD_BYTES_MIN));
    }

    #[test]
    fn two_records_at_one_offset_are_refused() {
        let recs = vec![Record::new(0, None, Bytes::new()); 2];
        let (buf, _) = encoded(0, &recs);
        // Each record is 4 bytes (offset delta, timestamp delta, no key, empty value): the
        // second one's offset delta 1 becomes 0.
        assert_eq!(buf[HEADER_BYTES + RECORD_BYTES_MIN], 1);
        let buf = patched(&buf, HEADER_BYTES + RECORD_BYTES_MIN, &[0]);
        let h = parse_header(&buf).unwrap();
        let err = decode(&Bytes::from(buf), &h, 0, &mut Vec::new()).unwrap_err();
        assert!(err.contains("record 1: bad offset delta"), "{err}");
    }

    #[test]
    fn a_header_timestamp_that_disagrees_with_the_records_is_refused() {
        // Timestamps 1000, 1002, 1004; each record starts with its one-byte offset delta then
        // its one-byte timestamp delta.
        let (buf, h) = encoded(5, &records(3));
        assert_eq!((h.base_timestamp_ms, h.max_timestamp_ms), (1_000, 1_004));
        let max_wrong = patched(&buf, MAX_TIMESTAMP_AT, &1_005u64.to_be_bytes());
        let min_wrong = patched(&buf, HEADER_BYTES + 1, &[1]);
        for (what, buf) in [("max alone", max_wrong), ("min alone", min_wrong)] {
            let h = parse_header(&buf).expect(what);
            verify(&buf, &h).expect(what);
            let err = decode(&Bytes::from(buf), &h, 0, &mut Vec::new()).expect_err(what);
            assert!(err.contains("timestamps disagree"), "{what}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_detected(bit in 0usize..(8 * 200)) {
            let (mut buf, _) = encoded(5, &records(6));
            let bit = bit % (8 * buf.len());
            buf[bit / 8] ^= 1 << (bit % 8);
            let detected = match parse_header(&buf) {
                Err(_) => true,
                Ok(h) => verify(&buf, &h).is_err() || h.base_offset != 5,
            };
            prop_assert!(detected, "flip of bit {} went unnoticed", bit);
        }

        #[test]
        fn damaged_batches_decode_to_errors_not_panics(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)
        ) {
            let (mut buf, _) = encoded(5, &records(6));
            for (at, x) in edits {
                let at = at % buf.len();
                buf[at] ^= x;
            }
            if let Ok(h) = parse_header(&buf) {
                let mut out = Vec::new();
                if decode(&Bytes::from(buf.clone()), &h, 0, &mut out).is_ok() {
                    prop_assert_eq!(out.len(), h.record_count as usize, "decoded exactly the header's count");
                }
            }
        }
    }
}
