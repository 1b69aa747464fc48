//! What a bench message carries, and how PUBLISHes are made without allocating per message.
//!
//! Each payload starts with a [`Stamp`]: the run's id (messages left over from an earlier run,
//! say in a persistent session, are told apart), the publisher, its sequence number and the
//! send time in nanoseconds since the run's start `Instant` (publishers and subscribers share
//! the process, so one monotonic clock times both ends). The rest is padding.
//!
//! A publisher encodes its PUBLISH once with Keel's codec ([`Template`]) and then copies it per
//! message, patching the packet identifier and the stamp in place: one buffer per batch, no
//! per-message `Publish`, `String` or `Bytes`.

use bytes::{Bytes, BytesMut};
use keel_protocols::mqtt::{self, Packet, Publish, PublishProperties, QoS, Version};

/// Bytes of the stamp at the front of every payload: the smallest payload there can be.
pub const STAMP_BYTES: usize = 24;

/// Who sent a message, when, and its place in the publisher's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u32,
    pub publisher: u32,
    pub seq: u64,
    /// Nanoseconds since the run's start when the message was written to the socket.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp over the first [`STAMP_BYTES`] of `out`.
    pub fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.run.to_be_bytes());
        out[4..8].copy_from_slice(&self.publisher.to_be_bytes());
        out[8..16].copy_from_slice(&self.seq.to_be_bytes());
        out[16..24].copy_from_slice(&self.sent_ns.to_be_bytes());
    }

    /// The stamp at the front of `payload`, if it is long enough to hold one.
    pub fn read(payload: &[u8]) -> Option<Stamp> {
        let b = payload.get(..STAMP_BYTES)?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Some(Stamp { run: u32_at(0), publisher: u32_at(4), seq: u64_at(8), sent_ns: u64_at(16) })
    }
}

/// One publisher's PUBLISH, encoded once, copied and patched per message.
pub struct Template {
    bytes: Vec<u8>,
    /// Where the packet identifier is (QoS 1 and 2 only).
    packet_id_at: Option<usize>,
    /// Where the payload (and so the stamp) starts.
    payload_at: usize,
}

impl Template {
    /// Encodes a PUBLISH to `topic` at `qos` with `payload_bytes` of payload (at least
    /// [`STAMP_BYTES`]).
    pub fn new(topic: &str, qos: QoS, payload_bytes: usize, version: Version) -> Result<Template, String> {
        if payload_bytes < STAMP_BYTES {
            return Err(format!("payload of {payload_bytes} bytes: at least {STAMP_BYTES} are needed"));
        }
        let publish = Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.to_string(),
            packet_id: (qos != QoS::AtMostOnce).then_some(1),
            properties: PublishProperties::default(),
            payload: Bytes::from(vec![0u8; payload_bytes]),
        };
        let mut out = BytesMut::new();
        mqtt::write(&Packet::Publish(publish), version, &mut out).map_err(|e| format!("PUBLISH to {topic}: {e}"))?;
        let payload_at = out.len() - payload_bytes;
        // Between the packet identifier and the payload: v5's properties, empty (one length byte).
        let properties_bytes = usize::from(version == Version::V5);
        let packet_id_at = (qos != QoS::AtMostOnce).then(|| payload_at - properties_bytes - 2);
        Ok(Template { bytes: out.to_vec(), packet_id_at, payload_at })
    }

    /// Bytes of one encoded message.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the template is empty (never: a PUBLISH has a header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends one message to `out` with `packet_id` (QoS 1 and 2) and `stamp`.
    pub fn append(&self, out: &mut BytesMut, packet_id: Option<u16>, stamp: &Stamp) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let message = &mut out[start..];
        if let (Some(at), Some(id)) = (self.packet_id_at, packet_id) {
            message[at..at + 2].copy_from_slice(&id.to_be_bytes());
        }
        stamp.write(&mut message[self.payload_at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let stamp = Stamp { run: 7, publisher: 3, seq: 1 << 40, sent_ns: 123_456_789 };
        let mut payload = [0u8; 30];
        stamp.write(&mut payload);
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert_eq!(Stamp::read(&payload[..STAMP_BYTES - 1]), None);
    }

    #[test]
    fn patched_messages_decode_with_the_codec() {
        for version in [Version::V311, Version::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let template = Template::new("bench/3", qos, 100, version).unwrap();
                let mut out = BytesMut::new();
                for seq in 0..3u64 {
                    let stamp = Stamp { run: 1, publisher: 2, seq, sent_ns: seq * 10 };
                    template.append(&mut out, Some(1000 + seq as u16), &stamp);
                }
                assert_eq!(out.len(), 3 * template.len());
                for seq in 0..3u64 {
                    let Ok(Some(Packet::Publish(p))) = mqtt::read(&mut out, version, 1 << 20) else {
                        panic!("{version:?} {qos:?}: not a PUBLISH");
                    };
                    assert_eq!((p.topic.as_str(), p.qos, p.payload.len()), ("bench/3", qos, 100));
                    let want_id = (qos != QoS::AtMostOnce).then_some(1000 + seq as u16);
                    assert_eq!(p.packet_id, want_id);
                    assert_eq!(Stamp::read(&p.payload), Some(Stamp { run: 1, publisher: 2, seq, sent_ns: seq * 10 }));
                }
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn a_payload_too_small_for_the_stamp_is_refused() {
        assert!(Template::new("t", QoS::AtMostOnce, STAMP_BYTES - 1, Version::V311).is_err());
    }
}
