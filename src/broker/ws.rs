//! WebSocket transport for the broker's protocols (MQTT over WebSocket, subprotocol `mqtt`):
//! the opening handshake, then a pump that moves bytes between the socket's frames and one end
//! of an in-memory pipe whose other end the protocol's connection handler serves as if it were a
//! plain TCP stream. The framing is `keel_protocols::ws` (sans-IO); only this module touches the
//! socket.

use std::time::Duration;

use bytes::BytesMut;
use keel_protocols::ws::{self, handshake, Status, WsStream};
use keel_rt::net::TcpStream;
use keel_rt::time;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The largest opening handshake accepted.
const REQUEST_BYTES_MAX: usize = 16 * 1024;
/// How long the client has to complete the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes buffered in the pipe each way.
const PIPE_BYTES: usize = 256 * 1024;

/// Completes the handshake on `stream`, offering `protocols` (the first the client also asks
/// for is chosen; a client asking for none is accepted too, as browsers' MQTT libraries do not
/// always ask). Returns the pipe end for the protocol handler and runs the pump on a task.
pub async fn accept(mut stream: TcpStream, protocols: &[&str], frame_bytes_max: usize) -> Option<DuplexStream> {
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            match handshake::read_request(&mut buf, REQUEST_BYTES_MAX) {
                Ok(Some(req)) => return Some(Ok(req)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            match stream.read_buf(&mut buf).await {
                Ok(n) if n > 0 => {}
                _ => return None,
            }
        }
    };
    let req = time::timeout(HANDSHAKE_TIMEOUT, read).await.ok()??;
    let req = match req {
        Ok(req) => req,
        Err(e) => {
            let mut out = BytesMut::new();
            e.write_refusal(&mut out);
            let _ = stream.write_all(&out).await;
            let _ = stream.flush().await;
            return None;
        }
    };
    let chosen = req.protocols.iter().find(|p| protocols.contains(&p.as_str())).cloned();
    if chosen.is_none() && !req.protocols.is_empty() {
        let mut out = BytesMut::new();
        handshake::refuse(400, "no supported WebSocket subprotocol (offer \"mqtt\")", &mut out);
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
        return None;
    }
    let mut out = BytesMut::new();
    handshake::accept(&req, chosen.as_deref(), &mut out);
    stream.write_all(&out).await.ok()?;
    stream.flush().await.ok()?;
    let (inner, outer) = tokio::io::duplex(PIPE_BYTES);
    keel_rt::task::spawn(pump(stream, outer, buf, frame_bytes_max));
    Some(inner)
}

/// Moves bytes both ways until either side closes.
async fn pump(stream: TcpStream, pipe: DuplexStream, mut wire_in: BytesMut, frame_bytes_max: usize) {
    let (mut sock_r, mut sock_w) = tokio::io::split(stream);
    let (mut pipe_r, mut pipe_w) = tokio::io::split(pipe);
    let mut ws = WsStream::new(frame_bytes_max);
    let (mut app, mut wire_out, mut from_app) = (BytesMut::new(), BytesMut::new(), BytesMut::with_capacity(16 * 1024));
    loop {
        // Frames already buffered (the handshake's read may have taken some) first.
        let status = ws.feed(&mut wire_in, &mut app, &mut wire_out);
        if !app.is_empty() && pipe_w.write_all(&app).await.is_err() {
            break;
        }
        app.clear();
        match status {
            Ok(Status::Open) => {}
            Ok(Status::Closed(_)) => {
                let _ = sock_w.write_all(&wire_out).await;
                break;
            }
            Err(e) => {
                ws.close(e.close_code(), &e.to_string(), &mut wire_out);
                let _ = sock_w.write_all(&wire_out).await;
                break;
            }
        }
        if !wire_out.is_empty() {
            if sock_w.write_all(&wire_out).await.is_err() || sock_w.flush().await.is_err() {
                break;
            }
            wire_out.clear();
        }
        wire_in.reserve(16 * 1024);
        from_app.reserve(16 * 1024);
        tokio::select! {
            r = sock_r.read_buf(&mut wire_in) => if !matches!(r, Ok(n) if n > 0) { break },
            r = pipe_r.read_buf(&mut from_app) => {
                if !matches!(r, Ok(n) if n > 0) {
                    ws.close(ws::close::NORMAL, "", &mut wire_out);
                    let _ = sock_w.write_all(&wire_out).await;
                    break;
                }
                ws::wrap(&from_app, &mut wire_out);
                from_app.clear();
            }
        }
    }
    let _ = sock_w.flush().await;
    let _ = sock_w.shutdown().await;
    let _ = pipe_w.shutdown().await;
}
