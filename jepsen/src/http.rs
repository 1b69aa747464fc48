//! A blocking HTTP/1.1 client of the admin API with timeouts, telling apart requests that were
//! never sent (the connection was refused: nothing happened) from those whose outcome is
//! unknown (sent, then no complete answer).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// What became of a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A complete answer: status and body (JSON when the body parses, else a string).
    Answer(u16, Value),
    /// No connection: the request was not sent.
    NotSent(String),
    /// Sent, but no complete answer in time: it may or may not have taken effect.
    Unknown(String),
}

/// Sends `method path` (with a JSON `body`) to `addr` and waits up to `timeout`.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Outcome {
    let mut s = match TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(2))) {
        Ok(s) => s,
        Err(e) => return Outcome::NotSent(format!("connect {addr}: {e}")),
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    if let Err(e) = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes())) {
        return Outcome::Unknown(format!("send to {addr}: {e}"));
    }
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        return Outcome::Unknown(format!("answer from {addr}: {e}"));
    }
    parse(&raw).unwrap_or_else(|| Outcome::Unknown(format!("incomplete answer from {addr}")))
}

/// Status and body of a complete response.
fn parse(raw: &[u8]) -> Option<Outcome> {
    let text = std::str::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let length: Option<usize> = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse().ok());
    if length.is_some_and(|n| body.len() < n) {
        return None;
    }
    let value = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    Some(Outcome::Answer(status, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_complete_answers_and_refuses_truncated_ones() {
        let full = b"HTTP/1.1 200 OK\r\ncontent-length: 17\r\n\r\n{\"base_offset\":3}";
        assert_eq!(parse(&full[..full.len() - 1]), None, "one byte short");
        assert_eq!(parse(full), Some(Outcome::Answer(200, serde_json::json!({"base_offset": 3}))));
        assert_eq!(parse(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"), Some(Outcome::Answer(503, "busy".into())));
        assert_eq!(parse(b"HTTP/1.1 20"), None);
    }

    #[test]
    fn a_refused_connection_was_not_sent() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        // The listener is dropped: nothing listens there now.
        assert!(matches!(request(port, "GET", "/health", None, Duration::from_secs(1)), Outcome::NotSent(_)));
    }
}
