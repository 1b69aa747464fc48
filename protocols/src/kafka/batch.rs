//! Kafka record batches (magic 2), inspected without decoding their records: Keel stores a
//! producer's batch exactly as sent (compressed or not) and serves it back with only its base
//! offset and partition leader epoch rewritten, the two fields the CRC does not cover.
//!
//! ```text
//! offset  size  field
//! 0       8     base_offset             i64, set by the broker
//! 8       4     batch_length            i32, bytes after this field
//! 12      4     partition_leader_epoch  i32, set by the broker
//! 16      1     magic                   2
//! 17      4     crc                     CRC-32C of bytes [21, end)
//! 21      2     attributes              bits 0-2 compression, 3 timestamp type,
//!                                       4 transactional, 5 control
//! 23      4     last_offset_delta       i32
//! 27      8     base_timestamp          i64
//! 35      8     max_timestamp           i64
//! 43      8     producer_id             i64, -1 for none
//! 51      2     producer_epoch          i16
//! 53      4     base_sequence           i32
//! 57      4     records_count           i32
//! 61      ...   records (compressed as a whole when compression is not 0)
//! ```

use std::fmt;

use bytes::Bytes;

/// Bytes of a batch header.
pub const HEADER_BYTES: usize = 61;
/// Bytes before `batch_length` counts: base offset and the length itself.
const LOG_OVERHEAD_BYTES: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const CRC_FROM: usize = 21;
/// The only batch format served.
pub const MAGIC: i8 = 2;

const COMPRESSION_MASK: i16 = 0x07;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// A batch header, as parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// The whole batch's length in bytes.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD_BYTES + self.batch_length as usize
    }

    /// The offsets the batch takes.
    pub fn offsets(&self) -> u32 {
        self.last_offset_delta as u32 + 1
    }

    /// The compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether the batch comes from an idempotent producer.
    pub fn has_producer(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Why a batch is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchError {
    /// Not a magic-2 batch (the old message formats are not served).
    UnsupportedMagic(i8),
    /// Cut short, a length that disagrees with the bytes, or impossible counts.
    Corrupt(String),
    /// The CRC does not match the bytes.
    CrcMismatch { stored: u32, computed: u32 },
    /// A batch Keel does not take: transactional or control (there are no transactions).
    Unsupported(&'static str),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::UnsupportedMagic(m) => write!(f, "record batch magic {m}: only magic 2 is served"),
            BatchError::Corrupt(why) => write!(f, "corrupt record batch: {why}"),
            BatchError::CrcMismatch { stored, computed } => {
                write!(f, "record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            BatchError::Unsupported(what) => write!(f, "{what} batches are not supported"),
        }
    }
}

impl std::error::Error for BatchError {}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses the header at the start of `buf` (checks lengths and counts, not the CRC).
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() < MAGIC_AT + 1 {
        return Err(BatchError::Corrupt(format!("{} bytes, short of a batch header", buf.len())));
    }
    let magic = buf[MAGIC_AT] as i8;
    if magic != MAGIC {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    if buf.len() < HEADER_BYTES {
        return Err(BatchError::Corrupt(format!("{} bytes, short of a batch header", buf.len())));
    }
    let h = BatchHeader {
        base_offset: be_i64(buf, 0),
        batch_length: be_i32(buf, 8),
        partition_leader_epoch: be_i32(buf, 12),
        magic,
        crc: u32::from_be_bytes(buf[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
        attributes: be_i16(buf, 21),
        last_offset_delta: be_i32(buf, 23),
        base_timestamp: be_i64(buf, 27),
        max_timestamp: be_i64(buf, 35),
        producer_id: be_i64(buf, 43),
        producer_epoch: be_i16(buf, 51),
        base_sequence: be_i32(buf, 53),
        records_count: be_i32(buf, 57),
    };
    if h.batch_length < (HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32 {
        return Err(BatchError::Corrupt(format!("batch length {} is shorter than a header", h.batch_length)));
    }
    if h.records_count < 1 || h.last_offset_delta != h.records_count - 1 {
        return Err(BatchError::Corrupt(format!(
            "{} records with last offset delta {}",
            h.records_count, h.last_offset_delta
        )));
    }
    Ok(h)
}

/// Splits the records of one partition of a produce request into batches, each checked
/// (header, length, CRC) and refused if Keel does not take it.
pub fn split(records: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let h = parse_header(&records[at..])?;
        let end = at
            .checked_add(h.size())
            .filter(|&e| e <= records.len())
            .ok_or_else(|| BatchError::Corrupt(format!("batch of {} bytes, {} left", h.size(), records.len() - at)))?;
        let batch = records.slice(at..end);
        let computed = crc32c::crc32c(&batch[CRC_FROM..]);
        if computed != h.crc {
            return Err(BatchError::CrcMismatch { stored: h.crc, computed });
        }
        if h.is_transactional() || h.is_control() {
            return Err(BatchError::Unsupported(if h.is_control() { "control" } else { "transactional" }));
        }
        out.push((h, batch));
        at = end;
    }
    if out.is_empty() {
        return Err(BatchError::Corrupt("no record batch".to_string()));
    }
    Ok(out)
}

/// Writes a stored batch's base offset and partition leader epoch (neither is under the CRC).
pub fn rebase(batch: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    assert!(batch.len() >= HEADER_BYTES, "a stored batch has a header");
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// A plain record (no producer, no transaction, create time) at `offset`, for encoding with
/// `RecordBatchEncoder`.
pub fn plain_record(
    offset: i64,
    timestamp_ms: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> kafka_protocol::records::Record {
    kafka_protocol::records::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: timestamp_ms,
        key,
        value,
        headers: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn record(i: i64, producer_id: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch: if producer_id < 0 { -1 } else { 3 },
            timestamp_type: TimestampType::Creation,
            offset: i,
            // The encoder batches records whose offset - sequence agree: -1 + i keeps a
            // producer-less batch's base sequence -1.
            sequence: if producer_id < 0 { i as i32 - 1 } else { 40 + i as i32 },
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: Default::default(),
        }
    }

    fn encoded(n: i64, producer_id: i64) -> Bytes {
        let records: Vec<Record> = (0..n).map(|i| record(i, producer_id)).collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::None };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    #[test]
    fn a_producers_batch_reads_back_its_header_fields() {
        let bytes = encoded(3, 77);
        let batches = split(&bytes).unwrap();
        assert_eq!(batches.len(), 1);
        let (h, batch) = &batches[0];
        assert_eq!(batch.len(), bytes.len());
        assert_eq!((h.base_offset, h.records_count, h.last_offset_delta, h.offsets()), (0, 3, 2, 3));
        assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (77, 3, 40));
        assert_eq!((h.base_timestamp, h.max_timestamp), (1_700_000_000_000, 1_700_000_000_002));
        assert_eq!((h.compression(), h.is_transactional(), h.is_control(), h.has_producer()), (0, false, false, true));
        // The layout: magic at 16, batch_length counting from byte 12.
        assert_eq!((bytes[16], be_i32(&bytes, 8) as usize + 12), (2, bytes.len()));
    }

    #[test]
    fn a_rebased_batch_keeps_its_crc_and_decodes_at_its_new_offsets() {
        let mut batch = BytesMut::from(&encoded(4, -1)[..]);
        rebase(&mut batch, 1_000, 7);
        let bytes = batch.freeze();
        let (h, _) = split(&bytes).unwrap().remove(0);
        assert_eq!((h.base_offset, h.partition_leader_epoch), (1_000, 7));
        let set = RecordBatchDecoder::decode(&mut bytes.clone()).unwrap();
        let offsets: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [1_000, 1_001, 1_002, 1_003]);
    }

    #[test]
    fn several_batches_split_and_damage_is_refused() {
        let mut two = BytesMut::from(&encoded(2, -1)[..]);
        two.extend_from_slice(&encoded(5, -1));
        let two = two.freeze();
        let got: Vec<u32> = split(&two).unwrap().iter().map(|(h, _)| h.offsets()).collect();
        assert_eq!(got, [2, 5]);
        let mut flipped = two.to_vec();
        flipped[70] ^= 1;
        assert!(matches!(split(&Bytes::from(flipped)), Err(BatchError::CrcMismatch { .. })));
        assert!(matches!(split(&two.slice(..two.len() - 1)), Err(BatchError::Corrupt(_))));
        let mut old = two.to_vec();
        old[16] = 1;
        assert_eq!(split(&Bytes::from(old)), Err(BatchError::UnsupportedMagic(1)));
        assert!(matches!(split(&Bytes::new()), Err(BatchError::Corrupt(_))));
    }

    #[test]
    fn transactional_batches_are_refused() {
        let mut b = encoded(1, 5).to_vec();
        b[22] |= 0x10; // the transactional bit, then a fresh CRC
        let crc = crc32c::crc32c(&b[CRC_FROM..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(split(&Bytes::from(b)), Err(BatchError::Unsupported("transactional")));
    }

    #[test]
    fn any_prefix_or_garbage_is_an_error_not_a_panic() {
        let bytes = encoded(3, 9);
        for cut in 0..bytes.len() {
            assert!(split(&bytes.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut garbage = bytes.to_vec();
        garbage[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(split(&Bytes::from(garbage)).is_err());
        let mut negative = bytes.to_vec();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(split(&Bytes::from(negative)).is_err());
    }
}
