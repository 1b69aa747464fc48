//! Test helpers: proptest strategies for field values and whole packets, and the round trip
//! every packet's tests run.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{len, read, write, Error, Packet, QoS, Version};

/// Any string the codec accepts: UTF-8 without U+0000.
pub(crate) fn string() -> impl Strategy<Value = String> {
    r"[^\x00]{0,12}"
}

/// A valid topic name (no wildcards, not empty).
pub(crate) fn topic_name() -> impl Strategy<Value = String> {
    r"[a-zA-Z0-9/$ é]{1,16}"
}

/// A topic filter string, valid or not (SUBSCRIBE carries either).
pub(crate) fn topic_filter() -> impl Strategy<Value = String> {
    r"[a-z/+#$]{1,12}"
}

/// Binary data.
pub(crate) fn bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

pub(crate) fn user_properties() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec((string(), string()), 0..3)
}

pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

pub(crate) fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// `Some` of `value` in 5.0, `None` before (for fields 3.x does not carry).
pub(crate) fn v5_only<T: std::fmt::Debug + Clone + 'static>(
    version: Version,
    value: impl Strategy<Value = T> + 'static,
    otherwise: T,
) -> BoxedStrategy<T> {
    if version == Version::V5 {
        value.boxed()
    } else {
        Just(otherwise).boxed()
    }
}

/// Any packet valid for `version`.
pub(crate) fn any_packet(version: Version) -> impl Strategy<Value = Packet> {
    use super::{ack, auth, connack, connect, disconnect, publish, suback, subscribe, unsuback, unsubscribe};
    let common = prop_oneof![
        connect::tests::connect(version).prop_map(Packet::Connect),
        connack::tests::connack(version).prop_map(Packet::ConnAck),
        publish::tests::publish(version).prop_map(Packet::Publish),
        ack::tests::puback(version).prop_map(Packet::PubAck),
        ack::tests::pubrec(version).prop_map(Packet::PubRec),
        ack::tests::pubrel(version).prop_map(Packet::PubRel),
        ack::tests::pubcomp(version).prop_map(Packet::PubComp),
        subscribe::tests::subscribe(version).prop_map(Packet::Subscribe),
        suback::tests::suback(version).prop_map(Packet::SubAck),
        unsubscribe::tests::unsubscribe(version).prop_map(Packet::Unsubscribe),
        unsuback::tests::unsuback(version).prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect::tests::disconnect(version).prop_map(Packet::Disconnect),
    ];
    if version == Version::V5 {
        prop_oneof![13 => common, 1 => auth::tests::auth().prop_map(Packet::Auth)].boxed()
    } else {
        common.boxed()
    }
}

/// Writes `packet`, checks `len` and the count returned, reads it back the same.
pub(crate) fn round_trip(packet: &Packet, version: Version) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    let written = write(packet, version, &mut out).map_err(|err| TestCaseError::fail(err.to_string()))?;
    prop_assert_eq!(written, out.len());
    prop_assert_eq!(len(packet, version), Ok(written));
    let decoded = read(&mut out, version, written);
    prop_assert_eq!(decoded, Ok(Some(packet.clone())));
    prop_assert!(out.is_empty());
    Ok(())
}

/// Reads one packet from `bytes`, which must hold exactly one (or an error).
pub(crate) fn decode(bytes: &[u8], version: Version) -> Result<Packet, Error> {
    let mut buf = BytesMut::from(bytes);
    let packet = read(&mut buf, version, usize::MAX)?.expect("a whole packet");
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    Ok(packet)
}

/// Writes `packet` for `version`.
pub(crate) fn encode(packet: &Packet, version: Version) -> Vec<u8> {
    let mut out = BytesMut::new();
    write(packet, version, &mut out).expect("encodable");
    out.to_vec()
}

/// Checks `bytes` read as `packet` and `packet` writes as `bytes`.
pub(crate) fn both_ways(bytes: &[u8], packet: Packet, version: Version) {
    assert_eq!(decode(bytes, version), Ok(packet.clone()));
    assert_eq!(encode(&packet, version), bytes);
}
