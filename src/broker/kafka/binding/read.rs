//! Fetch from a bound topic: the MQTT namespace log's partition read from the consumer's
//! offset, the messages whose topic the binding's filter matches shown as Kafka records at their
//! own offsets (one batch, with gaps where other topics' messages are, as a compacted topic has),
//! everything else left out. When a read finds nothing for the binding it goes on further up the
//! log (at most [`SCAN_BYTES_MAX`] per request, waiting within the request's time for new
//! messages), and remembers the empty range ([`super::skips`]) so the consumer's next fetch
//! starts past it.

use bytes::{Bytes, BytesMut};
use keel_protocols::kafka::kafka_protocol::records::{Compression, RecordBatchEncoder, RecordEncodeOptions};
use keel_protocols::kafka::kafka_protocol::ResponseError;
use keel_protocols::mqtt::topic::matches;
use keel_rt::time::{self, Duration};

use super::convert::to_kafka;
use crate::broker::kafka::{errors, Core};
use crate::broker::mqtt::record::MqttRecord;

/// How much of the log one partition's read scans for matching messages before it answers
/// without any.
pub const SCAN_BYTES_MAX: usize = 8 << 20;

/// What a partition of a bound topic answers.
pub struct Read {
    pub high_watermark: i64,
    pub start_offset: i64,
    /// Whether `offset` is outside the log (no records then).
    pub out_of_range: bool,
    pub records: Bytes,
}

/// One partition read: binding `name` of `filter` over partition `partition` of topic `log`.
pub struct Want<'a> {
    pub log: &'a str,
    pub name: &'a str,
    pub filter: &'a str,
    pub partition: u32,
    pub offset: i64,
    pub bytes_max: u32,
}

/// Reads the binding's records from `w.offset`, waiting up to `wait_ms` for some.
pub async fn read(core: &Core, w: &Want<'_>, wait_ms: u32) -> Result<Read, ResponseError> {
    let deadline = time::now() + Duration::from_millis(u64::from(wait_ms));
    let mut at = core.skips.start(w.name, w.filter, w.partition, w.offset);
    let mut scanned = 0usize;
    loop {
        let wait = deadline.saturating_duration_since(time::now()).as_millis() as u32;
        let fetched = core
            .data
            .fetch(w.log, w.partition, at as u64, w.bytes_max, wait)
            .await
            .map_err(|e| errors::of_client(&e))?;
        let (hw, start) = (fetched.high_watermark as i64, fetched.start_offset as i64);
        let mut read = Read { high_watermark: hw, start_offset: start, out_of_range: false, records: Bytes::new() };
        if fetched.out_of_range(w.offset) {
            read.out_of_range = true;
            return Ok(read);
        }
        let Some(last) = fetched.records.last() else {
            core.skips.note(w.name, w.filter, w.partition, w.offset, at);
            return Ok(read);
        };
        let end = (last.offset + u64::from(last.span())) as i64;
        let mut records = Vec::new();
        for r in &fetched.records {
            scanned += r.value.len();
            let Ok(m) = MqttRecord::decode(r.key.as_deref().unwrap_or_default(), r.value.clone()) else { continue };
            if matches(w.filter, &m.topic) {
                records.push(to_kafka(&m, r.offset as i64, r.timestamp_ms as i64));
            }
        }
        if let Some(matched) = records.last() {
            core.skips.note(w.name, w.filter, w.partition, matched.offset + 1, end);
            read.records = encode(&records);
            return Ok(read);
        }
        at = end;
        if scanned >= SCAN_BYTES_MAX || (wait_ms > 0 && time::now() >= deadline) {
            core.skips.note(w.name, w.filter, w.partition, w.offset, at);
            return Ok(read);
        }
    }
}

/// The records as one uncompressed batch.
fn encode(records: &[keel_protocols::kafka::kafka_protocol::records::Record]) -> Bytes {
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    if let Err(e) = RecordBatchEncoder::encode(&mut out, records, &options) {
        tracing::warn!(error = %e, "kafka: bound records do not encode as a batch");
        return Bytes::new();
    }
    out.freeze()
}
