//! A small HTTP/1.1 codec for the admin API: one request per connection, then close.
//!
//! Sans-IO: [`parse_request`] returns `Ok(None)` until the head and the body (by
//! `Content-Length`) are complete, and refuses oversize heads and bodies before buffering them.

/// The largest request head accepted, in bytes.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// The largest request body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
const HEADERS_MAX: usize = 64;

/// A parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// HTTP Basic credentials (`Authorization: Basic base64(user:password)`), if sent and well
    /// formed.
    pub credentials: Option<Credentials>,
}

/// A username and password from an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of an `Authorization` header for these credentials.
    pub fn header_value(&self) -> String {
        use base64::Engine;
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// Parses `Basic base64(user:password)` (the scheme's case ignored); `None` otherwise.
    pub fn parse(value: &[u8]) -> Option<Credentials> {
        use base64::Engine;
        let value = std::str::from_utf8(value).ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
        let pair = String::from_utf8(decoded).ok()?;
        let (username, password) = pair.split_once(':')?;
        Some(Credentials { username: username.to_string(), password: password.to_string() })
    }
}

/// A request that cannot be served; answered with 400 or 413 and the connection closed.
#[derive(Debug, PartialEq, Eq)]
pub enum HttpError {
    Malformed(String),
    TooLarge(&'static str),
}

/// Parses a whole request from the front of `buf`, or `Ok(None)` if more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > HEAD_BYTES_MAX => return Err(HttpError::TooLarge("request head")),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    if head_len > HEAD_BYTES_MAX {
        return Err(HttpError::TooLarge("request head"));
    }
    let mut body_len = 0usize;
    let mut credentials = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("authorization") {
            credentials = Credentials::parse(h.value);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok());
            body_len = v.ok_or_else(|| HttpError::Malformed("bad content-length".into()))?;
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed("transfer-encoding is not supported; send content-length".into()));
        }
    }
    if body_len > BODY_BYTES_MAX {
        return Err(HttpError::TooLarge("request body"));
    }
    if buf.len() < head_len + body_len {
        return Ok(None);
    }
    Ok(Some(Request {
        method: req.method.unwrap_or_default().to_string(),
        path: req.path.unwrap_or_default().to_string(),
        body: buf[head_len..head_len + body_len].to_vec(),
        credentials,
    }))
}

/// A response.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A `WWW-Authenticate` challenge (401 answers), so that a browser asks for credentials.
    pub challenge: Option<&'static str>,
}

impl Response {
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).expect("json value serialises");
        body.push(b'\n');
        Response { status, content_type: "application/json", body, challenge: None }
    }

    pub fn error(status: u16, message: impl std::fmt::Display) -> Response {
        Response::json(status, &serde_json::json!({ "error": message.to_string() }))
    }

    /// The response as bytes on the wire. Every answer is revalidated (`no-cache`): the console's
    /// assets change with the binary, and API answers are live.
    pub fn encode(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Payload Too Large",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "",
        };
        let challenge = self.challenge.map(|c| format!("www-authenticate: {c}\r\n")).unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\n{challenge}cache-control: no-cache\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
            self.status,
            reason,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A path segment with `%XX` escapes (as `keel`'s CLI writes names) turned back into bytes; a
/// `%` not followed by two hex digits stays as it is, and bytes that are not UTF-8 are replaced.
pub fn percent_decode(segment: &str) -> String {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_a_body_only_when_complete() {
        let raw = b"POST /api/topics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        for cut in 0..raw.len() {
            assert_eq!(parse_request(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        let r = parse_request(raw).unwrap().unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str(), r.body.as_slice()), ("POST", "/api/topics", &b"{}"[..]));
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        assert!(matches!(parse_request(b"\x00\x01 nonsense\r\n\r\n"), Err(HttpError::Malformed(_))));
        let big = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", BODY_BYTES_MAX + 1);
        assert_eq!(parse_request(big.as_bytes()), Err(HttpError::TooLarge("request body")));
        let long = vec![b'a'; HEAD_BYTES_MAX + 1];
        assert!(parse_request(&long).is_err());
    }

    #[test]
    fn encodes_status_headers_and_body() {
        let r = Response { status: 200, content_type: "text/plain", body: b"ok".to_vec(), challenge: None };
        assert_eq!(
            r.encode(),
            &b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\ncache-control: no-cache\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\nok"[..]
        );
    }

    #[test]
    fn path_segments_are_percent_decoded_and_stray_percents_kept() {
        assert_eq!(super::percent_decode("my%20group%2Fa"), "my group/a");
        assert_eq!(super::percent_decode("100%"), "100%");
        assert_eq!(super::percent_decode("%zz%4"), "%zz%4");
        assert_eq!(super::percent_decode("%E2%9C%93"), "\u{2713}");
    }
}
