//! SASL on a Kafka connection: SaslHandshake (v1) picks PLAIN or SCRAM-SHA-256, then
//! SaslAuthenticate carries the exchange (`keel_protocols::kafka::sasl`) against the same users
//! as MQTT (`[mqtt] users`). With `[mqtt] allow_anonymous = false` a connection must
//! authenticate before anything but ApiVersions and SASL; a failed authentication closes it.
//! Topic ACLs (`[mqtt] acl`) apply to Kafka topics by name: producing is publishing, fetching
//! is subscribing.

use keel_protocols::kafka::kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;
use keel_protocols::kafka::sasl::{self, ScramCredentials, ScramServer, PLAIN, SCRAM_SHA_256};

use super::Core;
use crate::broker::auth::{Access, Login};

/// A connection's state: the listener it came through and where its authentication stands.
#[derive(Debug, Default)]
pub struct Session {
    /// Which listener the client connected to (brokers are named by its addresses).
    pub listener: super::Listener,
    /// The authenticated user, if any.
    pub user: Option<String>,
    pub authenticated: bool,
    mechanism: Option<&'static str>,
    scram: Option<ScramServer>,
    /// A failed exchange: the connection closes after the answer.
    pub failed: bool,
}

impl Session {
    /// A new connection's, not yet authenticated.
    pub fn new(listener: super::Listener) -> Session {
        Session { listener, ..Session::default() }
    }

    /// Whether `access` to `topic` is allowed for this connection.
    pub fn allows(&self, core: &Core, client_id: &str, access: Access, topic: &str) -> bool {
        core.auth.allows(client_id, self.user.as_deref(), access, topic)
    }
}

fn mechanisms() -> Vec<StrBytes> {
    vec![StrBytes::from_static_str(PLAIN), StrBytes::from_static_str(SCRAM_SHA_256)]
}

pub fn handshake(session: &mut Session, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let r = SaslHandshakeResponse::default().with_mechanisms(mechanisms());
    session.mechanism = match req.mechanism.as_str() {
        PLAIN => Some(PLAIN),
        SCRAM_SHA_256 => Some(SCRAM_SHA_256),
        _ => return r.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
    };
    session.scram = None;
    r
}

pub async fn authenticate(
    core: &Core,
    session: &mut Session,
    req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    let fail = |session: &mut Session, why: String| {
        tracing::info!(reason = %why, "kafka: SASL authentication failed");
        session.failed = true;
        SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::SaslAuthenticationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str("authentication failed")))
    };
    match session.mechanism {
        None => SaslAuthenticateResponse::default().with_error_code(ResponseError::IllegalSaslState.code()),
        Some(PLAIN) => {
            let (user, password) = match sasl::parse_plain(&req.auth_bytes) {
                Ok(p) => p,
                Err(e) => return fail(session, e.to_string()),
            };
            let auth = core.auth.clone();
            let (u, p) = (user.clone(), password);
            let login = keel_rt::task::run_blocking(move || auth.login(Some(&u), Some(&p))).await;
            match login {
                Ok(Login::Allowed { username }) => {
                    session.user = username;
                    session.authenticated = true;
                    SaslAuthenticateResponse::default()
                }
                _ => fail(session, format!("PLAIN: bad credentials for {user:?}")),
            }
        }
        Some(_) => scram_step(core, session, &req.auth_bytes),
    }
}

fn scram_step(core: &Core, session: &mut Session, msg: &[u8]) -> SaslAuthenticateResponse {
    let fail = |session: &mut Session, why: String| {
        tracing::info!(reason = %why, "kafka: SASL authentication failed");
        session.failed = true;
        SaslAuthenticateResponse::default().with_error_code(ResponseError::SaslAuthenticationFailed.code())
    };
    match session.scram.take() {
        None => {
            let mut server = ScramServer::default();
            let first = match server.client_first(msg) {
                Ok(f) => f,
                Err(e) => return fail(session, e.to_string()),
            };
            let Some((salt, iterations, salted_password)) = core.auth.scram(&first.username) else {
                return fail(session, format!("SCRAM: unknown user {:?}", first.username));
            };
            let nonce = server_nonce();
            let reply = server.server_first(&ScramCredentials { salt, iterations, salted_password }, &nonce);
            session.user = Some(first.username);
            session.scram = Some(server);
            SaslAuthenticateResponse::default().with_auth_bytes(reply.into_bytes().into())
        }
        Some(server) => match server.client_final(msg) {
            Ok(reply) => {
                session.authenticated = true;
                SaslAuthenticateResponse::default().with_auth_bytes(reply.into_bytes().into())
            }
            Err(e) => {
                session.user = None;
                fail(session, e.to_string())
            }
        },
    }
}

/// 24 random printable characters for SCRAM's server nonce.
fn server_nonce() -> String {
    use keel_rt::rand::Rng as _;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = keel_rt::rand::rng();
    (0..24).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}
