//! Produce to a bound topic: each record of the producer's batches becomes one MQTT message in
//! the namespace log (`convert::to_mqtt`: key = MQTT topic inside the binding's filter, headers =
//! QoS and properties), one offset each, so an idempotent producer's sequences still count one
//! per record and the shard leader deduplicates them as it does any producer's. MQTT subscribers
//! of the topic get them from the log like any MQTT publish.
//!
//! Compressed batches (gzip, snappy, lz4, zstd) are decompressed to read their records
//! (`keel_protocols::kafka::decompress`), within a [`Budget`]: what one Produce request may
//! decompress to, all its partitions together (`[kafka] decompressed_bytes_max`), so that a
//! small request cannot expand to GiBs. A batch past it is refused INVALID_RECORD (sending it
//! again would not help), one that does not decompress CORRUPT_MESSAGE.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use keel_protocols::kafka::batch::BatchHeader;
use keel_protocols::kafka::decompress::{decompress, DecompressError};
use keel_protocols::kafka::kafka_protocol::records::{Compression, RecordBatchDecoder};
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::convert::to_mqtt;
use crate::rpc::shard::WireRecord;

/// Why a partition's batches were refused, with a message for the client.
pub type Refusal = (ResponseError, String);

/// The bytes a request's compressed batches may still decompress to.
#[derive(Debug)]
pub struct Budget {
    left: AtomicUsize,
    bytes_max: usize,
}

impl Budget {
    /// A request's budget: `bytes_max` decompressed bytes in all.
    pub fn new(bytes_max: usize) -> Self {
        Budget { left: AtomicUsize::new(bytes_max), bytes_max }
    }

    /// `input` decompressed with `codec`, taken from the budget.
    fn decompress(&self, codec: Compression, input: &[u8]) -> Result<Bytes, DecompressError> {
        let out = decompress(codec, input, self.left.load(Ordering::Relaxed))?;
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(out.len()))
            .map_err(|_| DecompressError::TooLarge(self.bytes_max))?;
        Ok(out)
    }
}

/// The log records the batches (checked already: CRC, magic, lengths) are as MQTT messages of
/// a binding of `filter`; `now_ms` stamps records without a timestamp, compressed batches are
/// decompressed within `budget`.
pub fn records(
    filter: &str,
    batches: &[(BatchHeader, Bytes)],
    now_ms: u64,
    budget: &Budget,
) -> Result<Vec<WireRecord>, Refusal> {
    let mut out = Vec::new();
    for (h, bytes) in batches {
        let set = RecordBatchDecoder::decode_with_custom_compression(
            &mut bytes.clone(),
            Some(|b: &mut Bytes, codec| match codec {
                Compression::None => Ok(b.clone()),
                codec => Ok(budget.decompress(codec, b)?),
            }),
        )
        .map_err(|e| match e.downcast_ref::<DecompressError>() {
            Some(DecompressError::TooLarge(_)) => {
                let why = format!(
                    "the request's compressed batches decompress to more than {} bytes ([kafka] decompressed_bytes_max)",
                    budget.bytes_max
                );
                (ResponseError::InvalidRecord, why)
            }
            _ => (ResponseError::CorruptMessage, format!("record batch: {e}")),
        })?;
        if set.records.len() != h.offsets() as usize {
            let why = format!("batch of {} offsets holds {} records", h.offsets(), set.records.len());
            return Err((ResponseError::InvalidRecord, why));
        }
        for r in &set.records {
            let m = to_mqtt(r, filter).map_err(|why| (ResponseError::InvalidRecord, why))?;
            let value = m.encode_value().map_err(|e| (ResponseError::InvalidRecord, e.to_string()))?;
            out.push(WireRecord {
                timestamp_ms: if r.timestamp >= 0 { r.timestamp as u64 } else { now_ms },
                key: Some(Bytes::from(m.topic)),
                value,
                ..Default::default()
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::mqtt::record::MqttRecord;
    use bytes::BytesMut;
    use keel_protocols::kafka::batch;
    use keel_protocols::kafka::kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use keel_protocols::mqtt::QoS;
    use std::io::Write;

    fn record(key: &str, value: &str, offset: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: 7,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp: 1000 + offset,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
            headers: Default::default(),
        }
    }

    /// One batch of `records`; compressed, with gzip (each codec is tested in keel-protocols).
    fn batches(records: &[Record], compression: Compression) -> Vec<(BatchHeader, Bytes)> {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression };
        let gzip = |records: &mut BytesMut, out: &mut BytesMut, c| {
            match c {
                Compression::None => out.extend_from_slice(records),
                _ => out.extend_from_slice(&gzip(records)),
            }
            Ok(())
        };
        RecordBatchEncoder::encode_with_custom_compression(&mut buf, records, &options, Some(gzip)).unwrap();
        batch::split(&buf.freeze()).unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn unlimited() -> Budget {
        Budget::new(usize::MAX)
    }

    #[test]
    fn each_record_becomes_one_mqtt_message_of_its_key() {
        let b = batches(&[record("s/a", "1", 0), record("s/b", "2", 1)], Compression::None);
        let out = records("s/+", &b, 5, &unlimited()).unwrap();
        assert_eq!(out.len(), 2);
        let m = MqttRecord::decode(out[1].key.as_ref().unwrap(), out[1].value.clone()).unwrap();
        assert_eq!((m.topic.as_str(), m.payload.as_ref(), m.qos), ("s/b", &b"2"[..], QoS::AtLeastOnce));
        assert_eq!((out[0].timestamp_ms, out[0].extra_offsets), (1000, 0));
    }

    #[test]
    fn one_record_outside_the_filter_refuses_the_whole_partition() {
        let b = batches(&[record("s/a", "1", 0), record("t/b", "2", 1)], Compression::None);
        let (e, why) = records("s/+", &b, 5, &unlimited()).unwrap_err();
        assert_eq!(e, ResponseError::InvalidRecord);
        assert!(why.contains("outside"), "{why}");
    }

    #[test]
    fn compressed_batches_are_read_record_by_record() {
        let b = batches(&[record("s/a", "1", 0), record("s/b", "2", 1)], Compression::Gzip);
        assert_eq!(b[0].0.compression(), Compression::Gzip as i16);
        let out = records("s/+", &b, 5, &unlimited()).unwrap();
        let m = MqttRecord::decode(out[1].key.as_ref().unwrap(), out[1].value.clone()).unwrap();
        assert_eq!((m.topic.as_str(), m.payload.as_ref()), ("s/b", &b"2"[..]));
    }

    #[test]
    fn a_batch_decompressing_past_the_budget_is_refused() {
        let big = "x".repeat(100_000);
        let b = batches(&[record("s/a", &big, 0)], Compression::Gzip);
        assert!(b[0].1.len() < 1000);
        let (e, why) = records("s/+", &b, 5, &Budget::new(64 * 1024)).unwrap_err();
        assert_eq!(e, ResponseError::InvalidRecord);
        assert!(why.contains("decompressed_bytes_max"), "{why}");
        // The budget is the request's: two batches that fit alone do not fit together.
        let budget = Budget::new(150_000);
        records("s/+", &b, 5, &budget).unwrap();
        assert_eq!(records("s/+", &b, 5, &budget).unwrap_err().0, ResponseError::InvalidRecord);
    }

    #[test]
    fn records_that_do_not_decompress_are_corrupt() {
        // A gzip batch whose records are garbage (with a right CRC over it).
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::Gzip };
        let garbage = |_: &mut BytesMut, out: &mut BytesMut, _| {
            out.extend_from_slice(b"\x1f\x8b not a gzip stream");
            Ok(())
        };
        RecordBatchEncoder::encode_with_custom_compression(&mut buf, &[record("s/a", "1", 0)], &options, Some(garbage))
            .unwrap();
        let b = batch::split(&buf.freeze()).unwrap();
        let (e, why) = records("s/+", &b, 5, &unlimited()).unwrap_err();
        assert_eq!(e, ResponseError::CorruptMessage);
        assert!(why.contains("Gzip"), "{why}");
    }
}
