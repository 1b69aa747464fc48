//! Produce to a bound topic: each record of the producer's batches becomes one MQTT message in
//! the namespace log (`convert::to_mqtt`: key = MQTT topic inside the binding's filter, headers =
//! QoS and properties), one offset each, so an idempotent producer's sequences still count one
//! per record and the shard leader deduplicates them as it does any producer's. MQTT subscribers
//! of the topic get them from the log like any MQTT publish. Compressed batches are refused
//! (UNSUPPORTED_COMPRESSION_TYPE): their records would have to be decompressed to be read.

use bytes::Bytes;
use keel_protocols::kafka::batch::BatchHeader;
use keel_protocols::kafka::kafka_protocol::records::RecordBatchDecoder;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::convert::to_mqtt;
use crate::rpc::shard::WireRecord;

/// Why a partition's batches were refused, with a message for the client.
pub type Refusal = (ResponseError, String);

/// The log records the batches (checked already: CRC, magic, lengths) are as MQTT messages of
/// a binding of `filter`; `now_ms` stamps records without a timestamp.
pub fn records(filter: &str, batches: &[(BatchHeader, Bytes)], now_ms: u64) -> Result<Vec<WireRecord>, Refusal> {
    let mut out = Vec::new();
    for (h, bytes) in batches {
        if h.compression() != 0 {
            return Err((
                ResponseError::UnsupportedCompressionType,
                "a bound topic takes uncompressed batches only".into(),
            ));
        }
        let set = RecordBatchDecoder::decode_with_custom_compression(
            &mut bytes.clone(),
            Some(|b: &mut Bytes, _| Ok(b.clone())),
        )
        .map_err(|e| (ResponseError::CorruptMessage, format!("record batch: {e}")))?;
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

    fn batches(records: &[Record], compression: Compression) -> Vec<(BatchHeader, Bytes)> {
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, records, &RecordEncodeOptions { version: 2, compression }).unwrap();
        batch::split(&buf.freeze()).unwrap()
    }

    #[test]
    fn each_record_becomes_one_mqtt_message_of_its_key() {
        let b = batches(&[record("s/a", "1", 0), record("s/b", "2", 1)], Compression::None);
        let out = records("s/+", &b, 5).unwrap();
        assert_eq!(out.len(), 2);
        let m = MqttRecord::decode(out[1].key.as_ref().unwrap(), out[1].value.clone()).unwrap();
        assert_eq!((m.topic.as_str(), m.payload.as_ref(), m.qos), ("s/b", &b"2"[..], QoS::AtLeastOnce));
        assert_eq!((out[0].timestamp_ms, out[0].extra_offsets), (1000, 0));
    }

    #[test]
    fn one_record_outside_the_filter_refuses_the_whole_partition() {
        let b = batches(&[record("s/a", "1", 0), record("t/b", "2", 1)], Compression::None);
        let (e, why) = records("s/+", &b, 5).unwrap_err();
        assert_eq!(e, ResponseError::InvalidRecord);
        assert!(why.contains("outside"), "{why}");
    }
}
