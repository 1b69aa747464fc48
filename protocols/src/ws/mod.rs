//! WebSocket (RFC 6455), server side, for MQTT over WebSocket (subprotocol `mqtt`).
//!
//! A connection starts with the HTTP upgrade ([`handshake`]); after it, the client sends
//! masked frames ([`frame`]) and the server unmasked ones. [`WsStream`] turns the client's
//! frames into the MQTT byte stream and answers pings and closes; [`wrap`] frames the
//! server's MQTT bytes. Nothing here does I/O: the broker's connection module reads the
//! socket into a buffer, calls these, and writes what they produce.
//!
//! Every error from client bytes says how to answer: [`handshake::HandshakeError::write_refusal`]
//! before the upgrade, [`FrameError::close_code`] after it. No extension (compression) is
//! negotiated, so none is supported.

pub mod close;
mod error;
pub mod frame;
pub mod handshake;
mod mask;
mod stream;
#[cfg(test)]
mod tests;

pub use error::FrameError;
pub use stream::{wrap, Status, WsStream};
