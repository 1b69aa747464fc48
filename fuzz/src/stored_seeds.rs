//! Seeds for the stored-records target: MQTT records as brokers append them (key length, key,
//! value) and a shard's epochs file, written by the real encoders.

use bytes::Bytes;
use keel::broker::mqtt::record::MqttRecord;
use keel::store::driver::encode_epochs;
use keel_protocols::mqtt::{PayloadFormat, PublishProperties, QoS};

fn record(topic: &str, qos: QoS, properties: PublishProperties) -> Vec<u8> {
    let r = MqttRecord {
        topic: topic.into(),
        qos,
        retain: qos == QoS::AtLeastOnce,
        publisher: "client-1".into(),
        properties,
        payload: Bytes::from_static(b"21.5"),
    };
    let mut out = vec![u8::try_from(topic.len()).expect("a short topic")];
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(&r.encode_value().expect("a seed record encodes"));
    out
}

/// The seed inputs.
pub fn seeds() -> Vec<Vec<u8>> {
    let full = PublishProperties {
        payload_format_indicator: Some(PayloadFormat::Utf8),
        message_expiry_interval_s: Some(30),
        content_type: Some("text/plain".into()),
        response_topic: Some("reply/1".into()),
        correlation_data: Some(Bytes::from_static(b"\x00\x01")),
        user_properties: vec![("k".into(), "v".into())],
        ..PublishProperties::default()
    };
    vec![
        record("sensors/kitchen", QoS::AtMostOnce, PublishProperties::default()),
        record("a/b", QoS::AtLeastOnce, full),
        encode_epochs(&[(1, 0), (3, 17), (4, 90)]),
        encode_epochs(&[]),
    ]
}
