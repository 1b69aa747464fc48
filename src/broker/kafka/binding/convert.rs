//! One MQTT message, two shapes: the namespace log's MQTT record (`docs/mqtt-log.md`) and the
//! Kafka record a bound topic shows. Kafka's record key is the MQTT topic name, its value the
//! payload, its timestamp the publish time; QoS and the MQTT 5 message properties are headers
//! named `mqtt.*`; every other header is a user property (byte by byte in `docs/kafka.md`).
//!
//! Kafka to MQTT is checked: the key must be an MQTT topic name the binding's filter matches,
//! headers must be UTF-8 where MQTT needs it. What a record produced through Kafka cannot be is
//! retained (the retained store is written by the MQTT front-end only): `mqtt.retain` is shown
//! on messages published retained and ignored on records produced.

use bytes::Bytes;
use keel_protocols::kafka::batch;
use keel_protocols::kafka::kafka_protocol::indexmap::IndexMap;
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::records::Record;
use keel_protocols::mqtt::topic::matches;
use keel_protocols::mqtt::{PayloadFormat, PublishProperties, QoS};

use crate::broker::mqtt::record::MqttRecord;

pub const QOS: &str = "mqtt.qos";
pub const RETAIN: &str = "mqtt.retain";
pub const PUBLISHER: &str = "mqtt.publisher";
pub const EXPIRY: &str = "mqtt.message_expiry_interval";
pub const CONTENT_TYPE: &str = "mqtt.content_type";
pub const RESPONSE_TOPIC: &str = "mqtt.response_topic";
pub const CORRELATION_DATA: &str = "mqtt.correlation_data";
pub const PAYLOAD_FORMAT: &str = "mqtt.payload_format";

/// The QoS of a record produced through Kafka without an `mqtt.qos` header.
pub const QOS_DEFAULT: QoS = QoS::AtLeastOnce;

/// The Kafka record an MQTT message shows as, at `offset`.
pub fn to_kafka(m: &MqttRecord, offset: i64, timestamp_ms: i64) -> Record {
    let mut headers: IndexMap<StrBytes, Option<Bytes>> = IndexMap::new();
    let mut put = |k: &'static str, v: Bytes| {
        headers.insert(StrBytes::from_static_str(k), Some(v));
    };
    put(QOS, Bytes::from(vec![b'0' + m.qos as u8]));
    if m.retain {
        put(RETAIN, Bytes::from_static(b"1"));
    }
    if !m.publisher.is_empty() {
        put(PUBLISHER, Bytes::copy_from_slice(m.publisher.as_bytes()));
    }
    let p = &m.properties;
    if let Some(s) = p.message_expiry_interval_s {
        put(EXPIRY, Bytes::from(s.to_string()));
    }
    if let Some(c) = &p.content_type {
        put(CONTENT_TYPE, Bytes::copy_from_slice(c.as_bytes()));
    }
    if let Some(r) = &p.response_topic {
        put(RESPONSE_TOPIC, Bytes::copy_from_slice(r.as_bytes()));
    }
    if let Some(c) = &p.correlation_data {
        put(CORRELATION_DATA, c.clone());
    }
    if p.payload_format_indicator == Some(PayloadFormat::Utf8) {
        put(PAYLOAD_FORMAT, Bytes::from_static(b"utf-8"));
    }
    for (k, v) in &p.user_properties {
        headers.insert(StrBytes::from_string(k.clone()), Some(Bytes::copy_from_slice(v.as_bytes())));
    }
    let key = Some(Bytes::copy_from_slice(m.topic.as_bytes()));
    Record { headers, ..batch::plain_record(offset, timestamp_ms, key, Some(m.payload.clone())) }
}

/// The MQTT message a record produced to a binding of `filter` is, or why it cannot be one.
pub fn to_mqtt(r: &Record, filter: &str) -> Result<MqttRecord, String> {
    let key = r.key.as_ref().ok_or("a record of a bound topic needs its MQTT topic name as key")?;
    let topic = std::str::from_utf8(key).map_err(|_| "the record key (an MQTT topic name) is not UTF-8".to_string())?;
    if topic.is_empty() || topic.len() > usize::from(u16::MAX) || topic.contains(['+', '#', '\0']) {
        return Err(format!("record key {topic:?} is not an MQTT topic name"));
    }
    if !matches(filter, topic) {
        return Err(format!("record key {topic:?} is outside the binding's filter {filter:?}"));
    }
    let mut m = MqttRecord {
        topic: topic.to_string(),
        qos: QOS_DEFAULT,
        retain: false,
        publisher: String::new(),
        properties: PublishProperties::default(),
        payload: r.value.clone().unwrap_or_default(),
    };
    for (k, v) in &r.headers {
        header(&mut m, k.as_str(), v.clone().unwrap_or_default())?;
    }
    Ok(m)
}

/// Applies one Kafka header to the MQTT message.
fn header(m: &mut MqttRecord, key: &str, value: Bytes) -> Result<(), String> {
    let text = || {
        std::str::from_utf8(&value).map(str::to_string).map_err(|_| format!("header {key:?} must be UTF-8 for MQTT"))
    };
    let p = &mut m.properties;
    match key {
        QOS => {
            m.qos = match value.as_ref() {
                b"0" => QoS::AtMostOnce,
                b"1" => QoS::AtLeastOnce,
                b"2" => QoS::ExactlyOnce,
                _ => return Err(format!("header {QOS} must be 0, 1 or 2")),
            }
        }
        RETAIN | PUBLISHER => {}
        EXPIRY => {
            let s = text()?.parse().map_err(|_| format!("header {EXPIRY} must be a number of seconds"))?;
            p.message_expiry_interval_s = Some(s);
        }
        CONTENT_TYPE => p.content_type = Some(text()?),
        RESPONSE_TOPIC => {
            let t = text()?;
            if t.is_empty() || t.contains(['+', '#']) {
                return Err(format!("header {RESPONSE_TOPIC} must be an MQTT topic name"));
            }
            p.response_topic = Some(t);
        }
        CORRELATION_DATA => p.correlation_data = Some(value),
        PAYLOAD_FORMAT => {
            p.payload_format_indicator = match value.as_ref() {
                b"utf-8" | b"1" => Some(PayloadFormat::Utf8),
                b"bytes" | b"0" => Some(PayloadFormat::Unspecified),
                _ => return Err(format!("header {PAYLOAD_FORMAT} must be utf-8 or bytes")),
            }
        }
        _ => p.user_properties.push((key.to_string(), text()?)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> MqttRecord {
        MqttRecord {
            topic: "sensors/a/t".into(),
            qos: QoS::ExactlyOnce,
            retain: false,
            publisher: "dev-1".into(),
            properties: PublishProperties {
                payload_format_indicator: Some(PayloadFormat::Utf8),
                message_expiry_interval_s: Some(30),
                response_topic: Some("replies/1".into()),
                correlation_data: Some(Bytes::from_static(b"\x00\x01")),
                user_properties: vec![("site".into(), "north".into())],
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            payload: Bytes::from_static(b"21.5"),
        }
    }

    #[test]
    fn an_mqtt_message_shows_as_a_record_keyed_by_topic_with_its_properties_as_headers() {
        let r = to_kafka(&message(), 42, 1_700_000_000_000);
        assert_eq!((r.offset, r.timestamp), (42, 1_700_000_000_000));
        assert_eq!(r.key.as_deref(), Some(&b"sensors/a/t"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"21.5"[..]));
        let h = |k: &str| r.headers.get(k.as_bytes()).cloned().flatten();
        assert_eq!(h(QOS).as_deref(), Some(&b"2"[..]));
        assert_eq!(h(PUBLISHER).as_deref(), Some(&b"dev-1"[..]));
        assert_eq!(h(EXPIRY).as_deref(), Some(&b"30"[..]));
        assert_eq!(h("site").as_deref(), Some(&b"north"[..]));
        assert_eq!(h(RETAIN), None);
    }

    #[test]
    fn a_record_round_trips_to_the_same_message_but_its_publisher() {
        let m = message();
        let back = to_mqtt(&to_kafka(&m, 0, 0), "sensors/#").unwrap();
        assert_eq!(back, MqttRecord { publisher: String::new(), ..m });
    }

    #[test]
    fn a_record_without_headers_is_a_qos_1_message() {
        let mut r = to_kafka(&message(), 0, 0);
        r.headers.clear();
        let m = to_mqtt(&r, "#").unwrap();
        assert_eq!((m.qos, m.retain, m.properties), (QoS::AtLeastOnce, false, PublishProperties::default()));
    }

    #[test]
    fn records_that_are_not_mqtt_messages_of_the_binding_are_refused_with_the_reason() {
        let base = to_kafka(&message(), 0, 0);
        let with = |f: &dyn Fn(&mut Record)| {
            let mut r = base.clone();
            f(&mut r);
            to_mqtt(&r, "sensors/+/t").unwrap_err()
        };
        assert!(with(&|r| r.key = None).contains("needs its MQTT topic"));
        assert!(with(&|r| r.key = Some(Bytes::from_static(b"other/a/t"))).contains("outside"));
        assert!(with(&|r| r.key = Some(Bytes::from_static(b"sensors/+/t"))).contains("not an MQTT topic name"));
        assert!(with(&|r| r.key = Some(Bytes::from_static(b"\xff"))).contains("UTF-8"));
        let header = |k: &'static str, v: &'static [u8]| {
            with(&|r| {
                r.headers.insert(StrBytes::from_static_str(k), Some(Bytes::from_static(v)));
            })
        };
        assert!(header(QOS, b"3").contains(QOS));
        assert!(header(EXPIRY, b"soon").contains(EXPIRY));
        assert!(header("user", b"\xff").contains("UTF-8"));
        assert!(header(RESPONSE_TOPIC, b"a/#").contains(RESPONSE_TOPIC));
    }
}
