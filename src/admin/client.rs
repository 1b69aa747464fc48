//! A client of the admin API, for the `keel` subcommands: one HTTP/1.1 request per connection.

use std::time::Duration;

use keel_rt::{net, time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a CLI request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `method path` with an optional JSON body to `base` (`http://host:port`); returns the
/// status and the body.
pub async fn request(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, String), String> {
    let host = base.strip_prefix("http://").ok_or_else(|| format!("admin address {base:?} must start with http://"))?;
    let host = host.trim_end_matches('/');
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let exchange = async {
        let mut s = net::TcpStream::connect(host).await.map_err(|e| format!("cannot reach {base}: {e}"))?;
        s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        s.write_all(body.as_bytes()).await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(raw)
    };
    let raw =
        time::timeout(REQUEST_TIMEOUT, exchange).await.map_err(|_| format!("{base} did not answer in time"))??;
    parse_response(&raw)
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
