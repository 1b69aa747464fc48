//! The opening handshake, server side (RFC 6455 section 4.2).
//!
//! A WebSocket connection starts as an HTTP/1.1 GET carrying `Upgrade: websocket`,
//! `Connection: Upgrade`, `Sec-WebSocket-Version: 13` and a random 16-byte base64
//! `Sec-WebSocket-Key`, and optionally the subprotocols the client speaks
//! (`Sec-WebSocket-Protocol: mqtt`). [`read_request`] parses and checks it; [`accept`] answers
//! `101 Switching Protocols` with the key's proof (`Sec-WebSocket-Accept`) and the chosen
//! subprotocol, after which both sides speak frames; [`refuse`] and [`version_refusal`] answer
//! a request the server will not upgrade. `Host` and `Origin` are reported, not checked: that
//! is the broker's policy.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::{Buf, BytesMut};
use sha1::{Digest, Sha1};

/// How many header lines a request may have.
const HEADER_COUNT_MAX: usize = 64;
/// How long a decoded `Sec-WebSocket-Key` is.
const KEY_BYTES: usize = 16;
/// Appended to the key before hashing it into `Sec-WebSocket-Accept` (section 1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The answer to a request for another WebSocket version than 13 (section 4.4).
const VERSION_REFUSAL: &[u8] = b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\
    Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n";

/// A client's valid upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request target, such as `/mqtt`.
    pub path: String,
    /// The subprotocols offered, in order, from every `Sec-WebSocket-Protocol` header.
    pub protocols: Vec<String>,
    /// `Sec-WebSocket-Key`, as sent (without surrounding whitespace).
    pub key: String,
    pub host: Option<String>,
    pub origin: Option<String>,
}

/// Why a request is not a WebSocket upgrade this server accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// The header block did not end within `request_bytes_max` bytes.
    TooLarge { request_bytes_max: usize },
    /// Not an HTTP/1.x request (the parser's reason), or a header this server reads is not
    /// UTF-8.
    Malformed(String),
    /// The method is not GET.
    Method(String),
    /// HTTP/1.0: an upgrade needs HTTP/1.1.
    HttpVersion,
    /// No `Upgrade` header lists `websocket`.
    NotWebSocket,
    /// No `Connection` header lists `upgrade`.
    NotUpgrade,
    /// `Sec-WebSocket-Version` is missing, repeated, or not 13: answer with [`version_refusal`].
    Version,
    /// `Sec-WebSocket-Key` is missing, repeated, or not the base64 of 16 bytes.
    Key,
}

impl HandshakeError {
    /// The HTTP status to refuse the request with.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::TooLarge { .. } => 431,
            HandshakeError::Method(_) => 405,
            HandshakeError::HttpVersion => 505,
            HandshakeError::Version => 426,
            _ => 400,
        }
    }

    /// Writes the HTTP response refusing the request: [`version_refusal`] for
    /// [`HandshakeError::Version`], else [`refuse`] with [`HandshakeError::status`].
    pub fn write_refusal(&self, out: &mut BytesMut) {
        match self {
            HandshakeError::Version => out.extend_from_slice(version_refusal()),
            _ => refuse(self.status(), status_reason(self.status()), out),
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TooLarge { request_bytes_max } => {
                write!(f, "request header block longer than {request_bytes_max} bytes")
            }
            HandshakeError::Malformed(why) => write!(f, "malformed HTTP request: {why}"),
            HandshakeError::Method(method) => write!(f, "method {method:?}, not GET"),
            HandshakeError::HttpVersion => f.write_str("HTTP/1.0, not HTTP/1.1"),
            HandshakeError::NotWebSocket => f.write_str("no Upgrade: websocket"),
            HandshakeError::NotUpgrade => f.write_str("no Connection: Upgrade"),
            HandshakeError::Version => f.write_str("Sec-WebSocket-Version is not 13"),
            HandshakeError::Key => f.write_str("Sec-WebSocket-Key is not the base64 of 16 bytes"),
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Reads an upgrade request from the front of `buf`: `Ok(None)`, consuming nothing, until its
/// header block is complete; then consumes exactly the request, leaving any later bytes (the
/// client's first frames) in `buf`. A header block not complete within `request_bytes_max`
/// bytes is an error.
pub fn read_request(buf: &mut BytesMut, request_bytes_max: usize) -> Result<Option<Request>, HandshakeError> {
    let window = &buf[..buf.len().min(request_bytes_max)];
    let mut headers = [httparse::EMPTY_HEADER; HEADER_COUNT_MAX];
    let mut parsed = httparse::Request::new(&mut headers);
    let request_bytes = match parsed.parse(window) {
        Ok(httparse::Status::Complete(bytes)) => bytes,
        Ok(httparse::Status::Partial) if window.len() < request_bytes_max => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(HandshakeError::TooLarge { request_bytes_max }),
        Err(e) => return Err(HandshakeError::Malformed(e.to_string())),
    };
    let request = check(&parsed)?;
    buf.advance(request_bytes);
    Ok(Some(request))
}

/// Checks a complete request against section 4.2.1 and collects what the server needs.
fn check(parsed: &httparse::Request<'_, '_>) -> Result<Request, HandshakeError> {
    let method = parsed.method.unwrap_or_default();
    if method != "GET" {
        return Err(HandshakeError::Method(method.to_owned()));
    }
    if parsed.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = Headers(parsed.headers);
    if !headers.values("Upgrade").any(|v| has_token(v, "websocket")) {
        return Err(HandshakeError::NotWebSocket);
    }
    if !headers.values("Connection").any(|v| has_token(v, "upgrade")) {
        return Err(HandshakeError::NotUpgrade);
    }
    if headers.single("Sec-WebSocket-Version") != Some(b"13") {
        return Err(HandshakeError::Version);
    }
    let key = check_key(headers.single("Sec-WebSocket-Key").ok_or(HandshakeError::Key)?)?;
    let mut protocols = Vec::new();
    for value in headers.values("Sec-WebSocket-Protocol") {
        for token in tokens(value) {
            protocols.push(text("Sec-WebSocket-Protocol", token)?);
        }
    }
    let path = parsed.path.unwrap_or_default().to_owned();
    Ok(Request { path, protocols, key, host: headers.first_text("Host")?, origin: headers.first_text("Origin")? })
}

/// A request's header lines, looked up by case-insensitive name.
struct Headers<'h, 'b>(&'h [httparse::Header<'b>]);

impl<'h, 'b> Headers<'h, 'b> {
    /// The values of every `name` header, in order.
    fn values(&self, name: &'static str) -> impl Iterator<Item = &'b [u8]> + 'h {
        self.0.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The value of the only `name` header, trimmed; `None` if there are none or several.
    fn single(&self, name: &'static str) -> Option<&'b [u8]> {
        let mut values = self.values(name);
        let first = values.next()?;
        values.next().is_none().then_some(first.trim_ascii())
    }

    /// The value of the first `name` header, trimmed, as text.
    fn first_text(&self, name: &'static str) -> Result<Option<String>, HandshakeError> {
        self.values(name).next().map(|v| text(name, v.trim_ascii())).transpose()
    }
}

/// The key as a string, if it is the base64 of 16 bytes.
fn check_key(key: &[u8]) -> Result<String, HandshakeError> {
    match BASE64.decode(key) {
        Ok(decoded) if decoded.len() == KEY_BYTES => Ok(String::from_utf8_lossy(key).into_owned()),
        _ => Err(HandshakeError::Key),
    }
}

/// The non-empty items of a comma-separated header value, whitespace trimmed.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// Whether a comma-separated header value lists `token`, case-insensitively.
fn has_token(value: &[u8], token: &str) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// A header value as text: header values may carry any byte but CR and LF.
fn text(header: &str, value: &[u8]) -> Result<String, HandshakeError> {
    match std::str::from_utf8(value) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(HandshakeError::Malformed(format!("{header} is not UTF-8"))),
    }
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + the RFC's GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}

/// Writes the `101 Switching Protocols` response to `req`, with `protocol` (which should be
/// one of `req.protocols`) as the chosen subprotocol, or none.
pub fn accept(req: &Request, protocol: Option<&str>, out: &mut BytesMut) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    out.extend_from_slice(b"Sec-WebSocket-Accept: ");
    out.extend_from_slice(accept_key(&req.key).as_bytes());
    if let Some(protocol) = protocol {
        out.extend_from_slice(b"\r\nSec-WebSocket-Protocol: ");
        put_field_text(protocol, out);
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Writes a plain HTTP error response (no body, `Connection: close`), such as
/// `refuse(400, "Bad Request", out)`.
pub fn refuse(status: u16, reason: &str, out: &mut BytesMut) {
    out.extend_from_slice(format!("HTTP/1.1 {status} ").as_bytes());
    put_field_text(reason, out);
    out.extend_from_slice(b"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
}

/// The `426 Upgrade Required` response telling the client this server speaks version 13.
pub fn version_refusal() -> &'static [u8] {
    VERSION_REFUSAL
}

/// Appends `text` without its control characters, so it cannot end the line it is on.
fn put_field_text(text: &str, out: &mut BytesMut) {
    out.extend(text.bytes().filter(|&b| b == b'\t' || !b.is_ascii_control()));
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQUEST_BYTES_MAX: usize = 4096;

    /// RFC 6455 section 1.3's example request.
    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn read_str(request: &str) -> Result<Option<Request>, HandshakeError> {
        read_request(&mut BytesMut::from(request), REQUEST_BYTES_MAX)
    }

    /// The RFC request with the header line starting `name:` replaced by `line` (dropped if
    /// `line` is empty).
    fn with_header(name: &str, line: &str) -> String {
        let lines = RFC_REQUEST.split_inclusive("\r\n");
        let replaced = lines.map(|l| if l.starts_with(&format!("{name}:")) { line.to_owned() } else { l.to_owned() });
        replaced.collect()
    }

    fn rfc_request() -> Request {
        Request {
            path: "/chat".into(),
            protocols: vec!["chat".into(), "superchat".into()],
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            host: Some("server.example.com".into()),
            origin: Some("http://example.com".into()),
        }
    }

    #[test]
    fn rfc_example_request() {
        assert_eq!(read_str(RFC_REQUEST), Ok(Some(rfc_request())));
    }

    #[test]
    fn rfc_example_accept_key() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accept_with_a_subprotocol() {
        let mut out = BytesMut::new();
        accept(&rfc_request(), Some("chat"), &mut out);
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
        assert_eq!(std::str::from_utf8(&out), Ok(expected));
    }

    #[test]
    fn accept_without_a_subprotocol() {
        let mut out = BytesMut::new();
        accept(&rfc_request(), None, &mut out);
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(std::str::from_utf8(&out), Ok(expected));
    }

    #[test]
    fn bytes_after_the_request_stay_in_the_buffer() {
        let mut buf = BytesMut::from(RFC_REQUEST);
        buf.extend_from_slice(b"\x82\x80frame");
        assert_eq!(read_request(&mut buf, REQUEST_BYTES_MAX), Ok(Some(rfc_request())));
        assert_eq!(&buf[..], b"\x82\x80frame");
    }

    #[test]
    fn one_byte_at_a_time_consumes_nothing_until_complete() {
        let mut buf = BytesMut::new();
        for (i, &byte) in RFC_REQUEST.as_bytes().iter().enumerate() {
            assert_eq!(read_request(&mut buf, REQUEST_BYTES_MAX), Ok(None), "after {i} bytes");
            assert_eq!(buf.len(), i);
            buf.extend_from_slice(&[byte]);
        }
        assert_eq!(read_request(&mut buf, REQUEST_BYTES_MAX), Ok(Some(rfc_request())));
        assert!(buf.is_empty());
    }

    #[test]
    fn too_large_without_a_complete_header_block() {
        let too_large = Err(HandshakeError::TooLarge { request_bytes_max: 64 });
        let mut buf = BytesMut::from(&RFC_REQUEST[..64]);
        assert_eq!(read_request(&mut buf, 64), too_large);
        let mut buf = BytesMut::from(&RFC_REQUEST[..63]);
        assert_eq!(read_request(&mut buf, 64), Ok(None));
        // Complete, but longer than the limit.
        let mut buf = BytesMut::from(RFC_REQUEST);
        assert_eq!(read_request(&mut buf, 64), too_large);
        let mut buf = BytesMut::from(RFC_REQUEST);
        assert!(read_request(&mut buf, RFC_REQUEST.len()).is_ok_and(|r| r.is_some()));
    }

    #[test]
    fn header_names_and_tokens_are_case_insensitive_lists() {
        let request = with_header("Upgrade", "upgrade: foo/2, WebSocket\r\n");
        let request = request.replace("Connection: Upgrade", "CONNECTION: keep-alive , UPGRADE");
        assert!(read_str(&request).is_ok_and(|r| r.is_some()));
    }

    #[test]
    fn connection_may_be_split_over_several_headers() {
        let request = with_header("Connection", "Connection: keep-alive\r\nConnection: Upgrade\r\n");
        assert!(read_str(&request).is_ok_and(|r| r.is_some()));
    }

    #[test]
    fn protocols_from_every_header_trimmed() {
        let line = "Sec-WebSocket-Protocol: mqtt ,, mqttv3.1\r\nSec-WebSocket-Protocol:  x \r\n";
        let request = read_str(&with_header("Sec-WebSocket-Protocol", line));
        assert_eq!(
            request.map(|r| r.map(|r| r.protocols)),
            Ok(Some(vec!["mqtt".into(), "mqttv3.1".into(), "x".into()]))
        );
        let request = read_str(&with_header("Sec-WebSocket-Protocol", ""));
        assert_eq!(request.map(|r| r.map(|r| r.protocols)), Ok(Some(vec![])));
    }

    #[test]
    fn method_must_be_get() {
        let request = RFC_REQUEST.replacen("GET", "POST", 1);
        assert_eq!(read_str(&request), Err(HandshakeError::Method("POST".into())));
    }

    #[test]
    fn http_must_be_1_1() {
        let request = RFC_REQUEST.replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert_eq!(read_str(&request), Err(HandshakeError::HttpVersion));
    }

    #[test]
    fn upgrade_must_list_websocket() {
        assert_eq!(read_str(&with_header("Upgrade", "")), Err(HandshakeError::NotWebSocket));
        assert_eq!(read_str(&with_header("Upgrade", "Upgrade: h2c\r\n")), Err(HandshakeError::NotWebSocket));
    }

    #[test]
    fn connection_must_list_upgrade() {
        assert_eq!(read_str(&with_header("Connection", "")), Err(HandshakeError::NotUpgrade));
        let request = with_header("Connection", "Connection: keep-alive\r\n");
        assert_eq!(read_str(&request), Err(HandshakeError::NotUpgrade));
    }

    #[test]
    fn version_must_be_13() {
        for line in ["", "Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"] {
            assert_eq!(read_str(&with_header("Sec-WebSocket-Version", line)), Err(HandshakeError::Version));
        }
        let refusal = std::str::from_utf8(version_refusal()).unwrap_or_default();
        assert!(refusal.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(refusal.contains("\r\nSec-WebSocket-Version: 13\r\n") && refusal.ends_with("\r\n\r\n"));
        let mut out = BytesMut::new();
        HandshakeError::Version.write_refusal(&mut out);
        assert_eq!(&out[..], version_refusal());
    }

    #[test]
    fn key_must_be_the_base64_of_16_bytes() {
        let bad = [
            "",
            "Sec-WebSocket-Key: not base64!\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        ];
        for line in bad {
            assert_eq!(read_str(&with_header("Sec-WebSocket-Key", line)), Err(HandshakeError::Key), "{line:?}");
        }
    }

    #[test]
    fn not_http_is_malformed() {
        let tls_hello = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
        let result = read_request(&mut BytesMut::from(&tls_hello[..]), REQUEST_BYTES_MAX);
        assert!(matches!(result, Err(HandshakeError::Malformed(_))), "{result:?}");
    }

    #[test]
    fn a_header_read_as_text_must_be_utf8() {
        let request = with_header("Origin", "Origin: http://\u{e9}.example\r\n");
        assert_eq!(read_str(&request).map(|r| r.and_then(|r| r.origin)), Ok(Some("http://\u{e9}.example".into())));
        let mut bytes = with_header("Origin", "Origin: http://@.example\r\n").into_bytes();
        bytes.iter_mut().filter(|b| **b == b'@').for_each(|b| *b = 0xe9);
        let result = read_request(&mut BytesMut::from(&bytes[..]), REQUEST_BYTES_MAX);
        assert_eq!(result, Err(HandshakeError::Malformed("Origin is not UTF-8".into())));
    }

    #[test]
    fn refuse_writes_a_plain_response() {
        let mut out = BytesMut::new();
        refuse(403, "Forbidden\r\nX-Injected: 1", &mut out);
        let expected = "HTTP/1.1 403 ForbiddenX-Injected: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(std::str::from_utf8(&out), Ok(expected));
    }

    #[test]
    fn errors_refuse_with_their_status() {
        let mut out = BytesMut::new();
        HandshakeError::Key.write_refusal(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert_eq!(HandshakeError::TooLarge { request_bytes_max: 1 }.status(), 431);
        assert_eq!(HandshakeError::Method("PUT".into()).status(), 405);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..600) {
            let mut buf = BytesMut::from(&bytes[..]);
            let _ = read_request(&mut buf, max);
        }

        #[test]
        fn arbitrary_text_after_a_request_line_never_panics(headers in "[ -~\r\n\t]{0,300}") {
            let request = format!("GET / HTTP/1.1\r\n{headers}\r\n\r\n");
            let _ = read_str(&request);
        }
    }
}
