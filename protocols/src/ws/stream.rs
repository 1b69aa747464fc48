//! The message layer for MQTT over WebSocket: client frames in, MQTT bytes out.
//!
//! MQTT is a byte stream, so WebSocket message boundaries mean nothing to it: an MQTT packet
//! may span frames and a frame may carry several packets (MQTT 5.0 section 6). [`WsStream`]
//! therefore appends the payload of every binary and continuation frame to the application
//! bytes as it arrives, with no reassembly, and checks only that the fragments are in order.
//! It answers pings with pongs and a close with a close, and refuses text, which MQTT does not
//! use. [`wrap`] goes the other way: the broker's MQTT bytes become one binary frame.

use bytes::BytesMut;

use super::frame::{self, Frame, Opcode};
use super::{close, FrameError};

/// Where the connection stands after [`WsStream::feed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every complete frame is consumed; an incomplete one may wait in the input.
    Open,
    /// The client sent a close frame with this code ([`close::NO_STATUS`] if it had none) and
    /// the close reply, if one was due, is in the wire output: send it and end the connection.
    Closed(u16),
}

/// One connection's WebSocket state, after the handshake, on the server side.
#[derive(Clone, Debug)]
pub struct WsStream {
    frame_bytes_max: usize,
    /// A binary message has started and its last fragment (FIN) has not come yet.
    fragmented: bool,
    /// The server has sent a close frame: it sends nothing more.
    close_sent: bool,
    /// The client's close code, once its close frame has come.
    closed: Option<u16>,
}

impl WsStream {
    /// A stream refusing frames with more than `frame_bytes_max` payload bytes.
    pub fn new(frame_bytes_max: usize) -> WsStream {
        WsStream { frame_bytes_max, fragmented: false, close_sent: false, closed: None }
    }

    /// Consumes every complete client frame at the front of `input`: data payloads go to
    /// `out_app`, pong and close replies to `out_wire`. Once the client has closed, returns
    /// [`Status::Closed`] again without reading more. On an error, `out_app` keeps the bytes of
    /// the frames before the bad one; send a close with [`FrameError::close_code`] (see
    /// [`WsStream::close`]) and end the connection.
    pub fn feed(
        &mut self,
        input: &mut BytesMut,
        out_app: &mut BytesMut,
        out_wire: &mut BytesMut,
    ) -> Result<Status, FrameError> {
        loop {
            if let Some(code) = self.closed {
                return Ok(Status::Closed(code));
            }
            let Some(frame) = frame::read(input, self.frame_bytes_max)? else { return Ok(Status::Open) };
            self.on_frame(frame, out_app, out_wire)?;
        }
    }

    /// Sends the server's close frame, unless one was sent already. The client answers with
    /// its own close, which [`WsStream::feed`] then reports without replying.
    pub fn close(&mut self, code: u16, reason: &str, out_wire: &mut BytesMut) {
        if !self.close_sent {
            self.close_sent = true;
            frame::write_close(code, reason, out_wire);
        }
    }

    fn on_frame(&mut self, frame: Frame, out_app: &mut BytesMut, out_wire: &mut BytesMut) -> Result<(), FrameError> {
        match frame.opcode {
            Opcode::Continuation | Opcode::Binary | Opcode::Text => self.on_data(frame, out_app),
            Opcode::Ping if !self.close_sent => {
                frame::write(Opcode::Pong, &frame.payload, out_wire);
                Ok(())
            }
            Opcode::Ping | Opcode::Pong => Ok(()),
            Opcode::Close => self.on_close(&frame.payload, out_wire),
        }
    }

    /// A data frame: checks it continues or starts a message as it should, then passes its
    /// payload on.
    fn on_data(&mut self, frame: Frame, out_app: &mut BytesMut) -> Result<(), FrameError> {
        let continuation = frame.opcode == Opcode::Continuation;
        if continuation && !self.fragmented {
            return Err(FrameError::UnexpectedContinuation);
        }
        if !continuation && self.fragmented {
            return Err(FrameError::UnfinishedMessage);
        }
        if frame.opcode == Opcode::Text {
            return Err(FrameError::Text);
        }
        self.fragmented = !frame.fin;
        out_app.extend_from_slice(&frame.payload);
        Ok(())
    }

    /// The client's close frame: echoes its code unless the server closed first.
    fn on_close(&mut self, payload: &[u8], out_wire: &mut BytesMut) -> Result<(), FrameError> {
        let (code, _reason) = close::parse(payload)?;
        self.close(code, "", out_wire);
        self.closed = Some(code);
        Ok(())
    }
}

/// Writes `app_bytes` (MQTT packets, whole or not) as one binary frame.
pub fn wrap(app_bytes: &[u8], out_wire: &mut BytesMut) {
    frame::write(Opcode::Binary, app_bytes, out_wire);
}
