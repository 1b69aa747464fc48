//! Keel's protocol front-ends, sans-IO: codecs that decode from `&mut BytesMut` (where "need
//! more bytes" is `Ok(None)`, not an error) and encode into `BytesMut`, and per-connection state
//! machines that take events and emit commands. Nothing here touches a socket, a clock or a
//! file: the broker's connection modules do, and feed the results in as events.
//!
//! - [`kafka`]: Kafka frames, requests and responses (the `kafka-protocol` crate's messages),
//!   record batches inspected without decoding them.
//! - [`mqtt`]: MQTT 3.1, 3.1.1 and 5.0 packets, topic names and filters, the session machine.
//! - [`ws`]: WebSocket (RFC 6455) handshake and framing, for MQTT over WebSocket.

pub mod kafka;
pub mod mqtt;
pub mod ws;
