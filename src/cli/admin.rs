//! The CLI's side of the admin API: where it is (`--admin` or `KEEL_ADMIN`), one typed call,
//! and errors that say what to do next.

use keel::admin::client::{request_as, RequestError};
use keel::admin::http::Credentials;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::output::CliError;

/// The admin API's address when neither `--admin` nor `KEEL_ADMIN` gives one.
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:9464";

/// Where the admin API is; shared by every subcommand that talks to it.
#[derive(clap::Args, Clone, Debug)]
pub struct AdminArgs {
    /// The admin API of any node of the cluster.
    #[arg(long, global = true, env = "KEEL_ADMIN", default_value = DEFAULT_ADMIN, value_name = "URL")]
    pub admin: String,
    /// The user to authenticate as, when the cluster has authentication on (its password from
    /// KEEL_PASSWORD, never from the command line).
    #[arg(long, global = true, env = "KEEL_USER", value_name = "NAME")]
    pub user: Option<String>,
}

/// A client of one node's admin API.
pub struct Admin {
    base: String,
    credentials: Option<Credentials>,
}

impl Admin {
    pub fn new(args: &AdminArgs) -> Admin {
        let credentials = args
            .user
            .clone()
            .map(|username| Credentials { username, password: std::env::var("KEEL_PASSWORD").unwrap_or_default() });
        Admin { base: args.admin.clone(), credentials }
    }

    /// `GET path`, its JSON answer parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        self.call("GET", path, None).await
    }

    /// `method path` with an optional JSON body; a 2xx answer parsed as `T`, anything else an
    /// error with the server's message and a hint.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, CliError> {
        let (status, text) = request_as(&self.base, method, path, body.as_ref(), self.credentials.as_ref())
            .await
            .map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(CliError::Failed(refusal(status, &text)));
        }
        serde_json::from_str(&text).map_err(|e| {
            CliError::Failed(format!(
                "unexpected answer from the admin API at {} ({e}); is it a Keel node of the same version?",
                self.base
            ))
        })
    }
}

/// No HTTP answer at all: what went wrong and what to try.
fn unreachable(e: RequestError) -> CliError {
    let hint = match e {
        RequestError::BadAddress(_) => "pass --admin http://HOST:PORT or set KEEL_ADMIN",
        RequestError::Unreachable { .. } => {
            "is `keel server` running there? Pass --admin http://HOST:PORT or set KEEL_ADMIN to reach another node"
        }
        RequestError::Timeout { .. } | RequestError::Broken { .. } => {
            "the node may be overloaded or cut off; try again, or another node with --admin"
        }
    };
    CliError::Failed(format!("{e}\n  hint: {hint}"))
}

/// A non-2xx answer: the server's `{"error": ...}` message, its status, and a hint where the
/// status alone says what to do.
fn refusal(status: u16, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    let hint = match status {
        503 => Some("no meta leader or shard leader could serve it (it was not executed); check `keel cluster status` and retry"),
        504 => Some("the outcome is unknown (it may have been executed); check before retrying"),
        404 => Some("`keel topic list` shows what exists"),
        401 => Some("pass --user NAME (or set KEEL_USER) with the password in KEEL_PASSWORD"),
        403 => Some("ask an operator to set `admin = true` on your [[mqtt.users]] entry, or use an admin user"),
        _ => None,
    };
    match hint {
        Some(h) => format!("{message} (HTTP {status})\n  hint: {h}"),
        None => format!("{message} (HTTP {status})"),
    }
}

/// A path segment with the characters that would change a URL's meaning escaped.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_message_status_and_a_hint() {
        let m = refusal(409, r#"{"error": "topic \"t\" already exists"}"#);
        assert_eq!(m, "topic \"t\" already exists (HTTP 409)");
        assert!(refusal(503, r#"{"error": "no leader"}"#).contains("keel cluster status"));
        assert_eq!(refusal(500, "oops\n"), "oops (HTTP 500)");
    }

    #[test]
    fn an_unreachable_admin_says_what_to_do() {
        let e = unreachable(RequestError::Unreachable { base: "http://127.0.0.1:1".into(), why: "refused".into() });
        let CliError::Failed(m) = e else { panic!("a failure") };
        assert!(m.contains("http://127.0.0.1:1") && m.contains("keel server") && m.contains("KEEL_ADMIN"), "{m}");
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(segment("orders-1.v2"), "orders-1.v2");
        assert_eq!(segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }
}
