//! A client of the admin API, for the `keel` subcommands: one HTTP/1.1 request per connection.

use std::time::Duration;

use keel_rt::{net, time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a CLI request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The address is not `http://host:port`.
    BadAddress(String),
    /// Nothing accepted the connection (no server there, or a firewall).
    Unreachable { base: String, why: String },
    /// The server accepted but did not answer within the timeout.
    Timeout { base: String },
    /// The connection broke mid-exchange, or the answer was not HTTP.
    Broken { base: String, why: String },
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::BadAddress(base) => write!(f, "admin address {base:?} must look like http://HOST:PORT"),
            RequestError::Unreachable { base, why } => write!(f, "cannot reach the admin API at {base}: {why}"),
            RequestError::Timeout { base } => {
                write!(f, "the admin API at {base} did not answer within {REQUEST_TIMEOUT:?}")
            }
            RequestError::Broken { base, why } => write!(f, "the exchange with the admin API at {base} failed: {why}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// Sends `method path` with an optional JSON body to `base` (`http://host:port`); returns the
/// status and the body.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, String), RequestError> {
    request_as(base, method, path, body, None).await
}

/// [`request`] with HTTP Basic credentials (for a cluster with authentication on).
pub async fn request_as(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    credentials: Option<&super::http::Credentials>,
) -> Result<(u16, String), RequestError> {
    let host = base.strip_prefix("http://").ok_or_else(|| RequestError::BadAddress(base.to_string()))?;
    let host = host.trim_end_matches('/');
    if host.is_empty() {
        return Err(RequestError::BadAddress(base.to_string()));
    }
    let broken = |e: std::io::Error| RequestError::Broken { base: base.to_string(), why: e.to_string() };
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let authorization = credentials.map(|c| format!("authorization: {}\r\n", c.header_value())).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\n{authorization}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let exchange = async {
        let mut s = net::TcpStream::connect(host)
            .await
            .map_err(|e| RequestError::Unreachable { base: base.to_string(), why: e.to_string() })?;
        s.write_all(head.as_bytes()).await.map_err(broken)?;
        s.write_all(body.as_bytes()).await.map_err(broken)?;
        s.flush().await.map_err(broken)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(broken)?;
        Ok::<_, RequestError>(raw)
    };
    let raw = time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| RequestError::Timeout { base: base.to_string() })??;
    parse_response(&raw).map_err(|why| RequestError::Broken { base: base.to_string(), why })
}

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => {
            let code = resp.code.unwrap_or(0);
            Ok((code, String::from_utf8_lossy(&raw[n..]).into_owned()))
        }
        _ => Err("malformed response from the admin API".into()),
    }
}
