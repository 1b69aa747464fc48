//! The MQTT namespace log's record format: how one PUBLISH is stored as a log record, so that
//! any broker tailing the log can deliver it (with its QoS, retain flag, MQTT 5 properties and
//! publisher, for No Local) and a Kafka consumer of the same log reads the MQTT topic as the
//! record key and the payload at the end of the value. Byte by byte in `docs/mqtt-log.md`.
//!
//! Record key: the topic name (UTF-8). Record timestamp: the publish time (wall ms), from which
//! message expiry is counted. Record value:
//!
//! ```text
//! 0       u8   format version (1, or 2: with an origin)
//! 1       u8   flags: bits 0-1 QoS, 2 retain, 3 payload is UTF-8, 4 expiry present,
//!              5 content type present, 6 response topic present, 7 correlation data present
//! 2       u16  publisher client id length N, then N bytes of it (UTF-8)
//!         u64  origin: the publishing session's token for a QoS 2 message   (version 2)
//!         u32  message expiry interval, seconds            (if flag 4)
//!         u16 + bytes  content type                        (if flag 5)
//!         u16 + bytes  response topic                      (if flag 6)
//!         u16 + bytes  correlation data                    (if flag 7)
//!         u16  user property count, then each: u16 + key, u16 + value
//!         ...  payload: every remaining byte
//! ```
//! All integers big-endian.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use keel_protocols::mqtt::{PayloadFormat, PublishProperties, QoS};

/// The format version this build writes, and reads with [`ORIGIN_VERSION`].
pub const FORMAT_VERSION: u8 = 1;
/// Version 1 with an origin after the publisher: a persistent session's QoS 2 message carries
/// the token its session recorded before the append, so that a resend after the broker died
/// can be looked up in the log instead of stored twice (`publish.rs`, `verify.rs`).
pub const ORIGIN_VERSION: u8 = 2;

const RETAIN: u8 = 1 << 2;
const UTF8: u8 = 1 << 3;
const EXPIRY: u8 = 1 << 4;
const CONTENT_TYPE: u8 = 1 << 5;
const RESPONSE_TOPIC: u8 = 1 << 6;
const CORRELATION: u8 = 1 << 7;

/// One MQTT message as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttRecord {
    pub topic: String,
    pub qos: QoS,
    pub retain: bool,
    /// The publishing client's id (No Local compares it).
    pub publisher: String,
    /// Only the message properties are kept: payload format, expiry, content type, response
    /// topic, correlation data, user properties (never topic aliases or subscription ids).
    pub properties: PublishProperties,
    pub payload: Bytes,
}

/// Why a record could not be decoded (a record not written by this format: skipped, counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    Version(u8),
    Truncated,
    NotUtf8,
    TooLong,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Version(v) => write!(f, "unknown MQTT record format version {v}"),
            RecordError::Truncated => write!(f, "truncated MQTT record"),
            RecordError::NotUtf8 => write!(f, "MQTT record with a string that is not UTF-8"),
            RecordError::TooLong => write!(f, "MQTT record field over 65535 bytes"),
        }
    }
}

impl std::error::Error for RecordError {}

impl MqttRecord {
    /// The record's value bytes (the topic goes in the record key).
    pub fn encode_value(&self) -> Result<Bytes, RecordError> {
        self.encode(None)
    }

    /// The record's value bytes, carrying the publishing session's `origin` token (version 2).
    pub fn encode_value_with_origin(&self, origin: u64) -> Result<Bytes, RecordError> {
        self.encode(Some(origin))
    }

    fn encode(&self, origin: Option<u64>) -> Result<Bytes, RecordError> {
        let p = &self.properties;
        let mut flags = self.qos as u8;
        flags |= if self.retain { RETAIN } else { 0 };
        flags |= if p.payload_format_indicator == Some(PayloadFormat::Utf8) { UTF8 } else { 0 };
        flags |= if p.message_expiry_interval_s.is_some() { EXPIRY } else { 0 };
        flags |= if p.content_type.is_some() { CONTENT_TYPE } else { 0 };
        flags |= if p.response_topic.is_some() { RESPONSE_TOPIC } else { 0 };
        flags |= if p.correlation_data.is_some() { CORRELATION } else { 0 };
        let mut out = BytesMut::with_capacity(16 + self.publisher.len() + self.payload.len());
        out.put_u8(if origin.is_some() { ORIGIN_VERSION } else { FORMAT_VERSION });
        out.put_u8(flags);
        put_field(&mut out, self.publisher.as_bytes())?;
        if let Some(origin) = origin {
            out.put_u64(origin);
        }
        if let Some(e) = p.message_expiry_interval_s {
            out.put_u32(e);
        }
        for field in [&p.content_type, &p.response_topic].into_iter().flatten() {
            put_field(&mut out, field.as_bytes())?;
        }
        if let Some(c) = &p.correlation_data {
            put_field(&mut out, c)?;
        }
        let count = u16::try_from(p.user_properties.len()).map_err(|_| RecordError::TooLong)?;
        out.put_u16(count);
        for (k, v) in &p.user_properties {
            put_field(&mut out, k.as_bytes())?;
            put_field(&mut out, v.as_bytes())?;
        }
        out.put_slice(&self.payload);
        Ok(out.freeze())
    }

    /// Decodes a record from its key (the topic) and value.
    pub fn decode(key: &[u8], mut value: Bytes) -> Result<MqttRecord, RecordError> {
        let topic = std::str::from_utf8(key).map_err(|_| RecordError::NotUtf8)?.to_string();
        need(&value, 2)?;
        let version = value.get_u8();
        if version != FORMAT_VERSION && version != ORIGIN_VERSION {
            return Err(RecordError::Version(version));
        }
        let flags = value.get_u8();
        let qos = QoS::from_u8(flags & 0b11).ok_or(RecordError::Truncated)?;
        let publisher = take_string(&mut value)?;
        if version == ORIGIN_VERSION {
            need(&value, 8)?;
            value.advance(8);
        }
        let mut p = PublishProperties::default();
        if flags & UTF8 != 0 {
            p.payload_format_indicator = Some(PayloadFormat::Utf8);
        }
        if flags & EXPIRY != 0 {
            need(&value, 4)?;
            p.message_expiry_interval_s = Some(value.get_u32());
        }
        if flags & CONTENT_TYPE != 0 {
            p.content_type = Some(take_string(&mut value)?);
        }
        if flags & RESPONSE_TOPIC != 0 {
            p.response_topic = Some(take_string(&mut value)?);
        }
        if flags & CORRELATION != 0 {
            p.correlation_data = Some(take_field(&mut value)?);
        }
        need(&value, 2)?;
        let count = value.get_u16();
        for _ in 0..count {
            let k = take_string(&mut value)?;
            p.user_properties.push((k, take_string(&mut value)?));
        }
        Ok(MqttRecord { topic, qos, retain: flags & RETAIN != 0, publisher, properties: p, payload: value })
    }
}

/// The publisher and origin of a record's value, without decoding the rest (`None`: a record
/// without an origin, or not one of ours).
pub fn origin_of(value: &[u8]) -> Option<(&[u8], u64)> {
    let (&version, rest) = value.split_first()?;
    if version != ORIGIN_VERSION {
        return None;
    }
    let rest = rest.get(1..)?;
    let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let publisher = rest.get(2..2 + len)?;
    let origin = rest.get(2 + len..2 + len + 8)?;
    Some((publisher, u64::from_be_bytes(origin.try_into().ok()?)))
}

fn put_field(out: &mut BytesMut, field: &[u8]) -> Result<(), RecordError> {
    let len = u16::try_from(field.len()).map_err(|_| RecordError::TooLong)?;
    out.put_u16(len);
    out.put_slice(field);
    Ok(())
}

fn need(b: &Bytes, n: usize) -> Result<(), RecordError> {
    if b.remaining() < n {
        return Err(RecordError::Truncated);
    }
    Ok(())
}

fn take_field(b: &mut Bytes) -> Result<Bytes, RecordError> {
    need(b, 2)?;
    let len = b.get_u16() as usize;
    need(b, len)?;
    Ok(b.split_to(len))
}

fn take_string(b: &mut Bytes) -> Result<String, RecordError> {
    let f = take_field(b)?;
    String::from_utf8(f.to_vec()).map_err(|_| RecordError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MqttRecord {
        MqttRecord {
            topic: "a/b".into(),
            qos: QoS::AtLeastOnce,
            retain: true,
            publisher: "c1".into(),
            properties: PublishProperties {
                payload_format_indicator: Some(PayloadFormat::Utf8),
                message_expiry_interval_s: Some(30),
                content_type: Some("text/plain".into()),
                response_topic: Some("r/1".into()),
                correlation_data: Some(Bytes::from_static(b"\x00\x01")),
                user_properties: vec![("k".into(), "v".into())],
                ..Default::default()
            },
            payload: Bytes::from_static(b"hello"),
        }
    }

    #[test]
    fn encodes_the_documented_bytes() {
        let r = MqttRecord {
            topic: "t".into(),
            qos: QoS::ExactlyOnce,
            retain: false,
            publisher: "ab".into(),
            properties: PublishProperties { message_expiry_interval_s: Some(7), ..Default::default() },
            payload: Bytes::from_static(b"xy"),
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            1,                      // format version
            0b0001_0010,            // QoS 2, expiry present
            0, 2, b'a', b'b',       // publisher
            0, 0, 0, 7,             // expiry 7 s
            0, 0,                   // no user properties
            b'x', b'y',             // payload
        ];
        assert_eq!(&r.encode_value().unwrap()[..], want);
        assert_eq!(MqttRecord::decode(b"t", Bytes::from_static(want)).unwrap(), r);
    }

    #[test]
    fn encodes_an_origin_as_documented() {
        let r = MqttRecord {
            topic: "t".into(),
            qos: QoS::ExactlyOnce,
            retain: false,
            publisher: "ab".into(),
            properties: PublishProperties::default(),
            payload: Bytes::from_static(b"xy"),
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            2,                      // format version: with an origin
            0b0000_0010,            // QoS 2
            0, 2, b'a', b'b',       // publisher
            0, 0, 0, 3, 0, 0, 0, 9, // origin (generation 3, change 9)
            0, 0,                   // no user properties
            b'x', b'y',             // payload
        ];
        let value = r.encode_value_with_origin((3 << 32) | 9).unwrap();
        assert_eq!(&value[..], want);
        assert_eq!(MqttRecord::decode(b"t", value.clone()).unwrap(), r);
        assert_eq!(origin_of(&value), Some((&b"ab"[..], (3 << 32) | 9)));
        assert_eq!(origin_of(&r.encode_value().unwrap()), None, "version 1 has none");
        for cut in 0..14 {
            assert_eq!(origin_of(&value[..cut]), None, "cut at {cut}");
        }
        assert_eq!(origin_of(&value[..14]), Some((&b"ab"[..], (3 << 32) | 9)));
    }

    #[test]
    fn round_trips_every_field() {
        let r = sample();
        let value = r.encode_value().unwrap();
        assert_eq!(MqttRecord::decode(b"a/b", value).unwrap(), r);
    }

    #[test]
    fn refuses_damage_without_panicking() {
        let value = sample().encode_value().unwrap();
        for cut in 0..value.len() - 5 {
            // Every cut before the payload is truncated (or, cut inside a string, still refused).
            assert!(MqttRecord::decode(b"a/b", value.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut bad = value.to_vec();
        bad[0] = 9;
        assert_eq!(MqttRecord::decode(b"a/b", bad.into()), Err(RecordError::Version(9)));
        assert_eq!(MqttRecord::decode(&[0xff], sample().encode_value().unwrap()), Err(RecordError::NotUtf8));
        let long = MqttRecord { publisher: "x".repeat(70_000), ..sample() };
        assert_eq!(long.encode_value(), Err(RecordError::TooLong));
    }
}
