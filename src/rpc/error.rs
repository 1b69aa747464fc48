//! RPC errors: what went wrong on the way ([`RpcError`]) or at the far end ([`RemoteError`]).

/// An error a handler returns; travels back as the response's `error_code` and `error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    pub code: u32,
    pub message: String,
}

impl RemoteError {
    pub const NO_SUCH_METHOD: u32 = 1;
    pub const BAD_REQUEST: u32 = 2;
    pub const OVERLOADED: u32 = 3;
    pub const TIMEOUT: u32 = 4;
    /// The method's own failure; its message (or body) says which.
    pub const APPLICATION: u32 = 5;

    pub fn new(code: u32, message: impl Into<String>) -> Self {
        RemoteError { code, message: message.into() }
    }

    pub fn bad_request(e: impl std::fmt::Display) -> Self {
        RemoteError::new(Self::BAD_REQUEST, e.to_string())
    }
}

/// Why a call did not return a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcError {
    /// The peer could not be reached: the request was not sent, so it certainly did not run.
    NotSent(String),
    /// The connection broke after the request was sent and before the response: the request
    /// may or may not have been executed.
    Unavailable(String),
    /// The deadline passed: the request may or may not have been executed.
    Timeout,
    /// Too many requests in flight on this client; the request was not sent.
    Overloaded,
    /// The server answered with an error.
    Remote(RemoteError),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::NotSent(e) => write!(f, "peer unreachable, request not sent: {e}"),
            RpcError::Unavailable(e) => write!(f, "peer unavailable: {e}"),
            RpcError::Timeout => write!(f, "rpc deadline elapsed"),
            RpcError::Overloaded => write!(f, "too many rpcs in flight"),
            RpcError::Remote(e) => write!(f, "remote error {}: {}", e.code, e.message),
        }
    }
}

impl std::error::Error for RpcError {}

impl RpcError {
    /// Whether the request certainly did not run (so it may be sent elsewhere or again).
    pub fn not_executed(&self) -> bool {
        matches!(self, RpcError::NotSent(_) | RpcError::Overloaded)
    }
}
