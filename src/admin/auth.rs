//! Who may use the admin API and the console. With authentication off (`mqtt.allow_anonymous`,
//! the zero-config default) everyone may; with it on, the same users as MQTT and Kafka
//! (`[[mqtt.users]]`) must send HTTP Basic credentials: every user may read (`GET`), and only a
//! user granted `admin = true` may change anything (topics, bindings, members, records).
//! `/health` and `/metrics` stay open, for probes and scrapers: they hold no records.
//!
//! A browser opening the console gets the 401 challenge and asks for a username and password,
//! then sends them with every request of the page; `keel` sends `KEEL_USER` and
//! `KEEL_PASSWORD`.

use std::sync::Arc;

use super::http::{Credentials, Request, Response};
use crate::broker::auth::{Authenticator, Login};

/// The challenge of a 401: HTTP Basic, over the realm the console and the API share.
pub const CHALLENGE: &str = "Basic realm=\"keel\", charset=\"UTF-8\"";

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Answer this instead (401 or 403).
    Refused(Response),
}

/// Paths open to anyone: liveness probes and metric scrapers.
fn open_path(path: &str) -> bool {
    let path = path.split('?').next().unwrap_or_default().trim_end_matches('/');
    matches!(path, "/health" | "/metrics")
}

/// Decides a request against `auth` (`None`: authentication is off). Costs a PBKDF2
/// verification the first time a user's password is seen (cached after): called off the
/// runtime's threads ([`decide_off_thread`]).
fn decide_for(auth: Option<&Authenticator>, method: &str, path: &str, credentials: Option<&Credentials>) -> Decision {
    let Some(auth) = auth.filter(|a| a.required()) else { return Decision::Allowed };
    if open_path(path) {
        return Decision::Allowed;
    }
    let Some(c) = credentials else {
        return unauthorized("authentication is on: send a username and password (keel: KEEL_USER and KEEL_PASSWORD)");
    };
    match auth.login(Some(&c.username), Some(c.password.as_bytes())) {
        Login::Allowed { .. } => {}
        Login::BadCredentials | Login::NotAuthorized => return unauthorized("bad username or password"),
    }
    if method != "GET" && !auth.is_admin(&c.username) {
        let why =
            format!("user {:?} may read only: changes need `admin = true` in its [[mqtt.users]] entry", c.username);
        return Decision::Refused(Response::error(403, why));
    }
    Decision::Allowed
}

/// [`decide`] on a blocking thread (PBKDF2 is ~50–100 ms of CPU); only the method, path and
/// credentials go there, not the body.
pub async fn decide_off_thread(auth: Option<Arc<Authenticator>>, req: &Request) -> Decision {
    let Some(auth) = auth.filter(|a| a.required()) else { return Decision::Allowed };
    let (method, path, credentials) = (req.method.clone(), req.path.clone(), req.credentials.clone());
    let run = move || decide_for(Some(&auth), &method, &path, credentials.as_ref());
    keel_rt::task::run_blocking(run).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "admin authentication task failed");
        Decision::Refused(Response::error(500, "authentication failed to run"))
    })
}

fn unauthorized(why: &str) -> Decision {
    let mut r = Response::error(401, why);
    r.challenge = Some(CHALLENGE);
    Decision::Refused(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::http::Credentials;
    use crate::broker::auth::hash_password;
    use crate::config::{MqttSection, MqttUser};

    fn auth(allow_anonymous: bool) -> Authenticator {
        let user = |name: &str, admin| MqttUser {
            username: name.into(),
            password_hash: hash_password(b"secret", name.as_bytes(), 3),
            admin,
        };
        let section = MqttSection {
            allow_anonymous,
            users: vec![user("alice", true), user("bob", false)],
            ..MqttSection::default()
        };
        Authenticator::new(&section).unwrap()
    }

    fn decide(auth: Option<&Authenticator>, r: &Request) -> Decision {
        decide_for(auth, &r.method, &r.path, r.credentials.as_ref())
    }

    fn req(method: &str, path: &str, who: Option<(&str, &str)>) -> Request {
        let credentials = who.map(|(u, p)| Credentials { username: u.into(), password: p.into() });
        Request { method: method.into(), path: path.into(), body: Vec::new(), credentials }
    }

    fn status(d: Decision) -> u16 {
        match d {
            Decision::Allowed => 200,
            Decision::Refused(r) => r.status,
        }
    }

    #[test]
    fn with_authentication_off_everyone_may_do_everything() {
        assert_eq!(decide(None, &req("POST", "/api/topics", None)), Decision::Allowed);
        assert_eq!(decide(Some(&auth(true)), &req("DELETE", "/api/topics/t", None)), Decision::Allowed);
    }

    #[test]
    fn with_it_on_users_read_admins_change_and_strangers_are_challenged() {
        let a = auth(false);
        let Decision::Refused(r) = decide(Some(&a), &req("GET", "/api/topics", None)) else { panic!("allowed") };
        assert_eq!((r.status, r.challenge), (401, Some(CHALLENGE)));
        assert_eq!(status(decide(Some(&a), &req("GET", "/ui", Some(("bob", "wrong"))))), 401);
        assert_eq!(status(decide(Some(&a), &req("GET", "/ui", Some(("mallory", "secret"))))), 401);
        assert_eq!(status(decide(Some(&a), &req("GET", "/api/topics", Some(("bob", "secret"))))), 200);
        assert_eq!(status(decide(Some(&a), &req("POST", "/api/topics", Some(("bob", "secret"))))), 403);
        assert_eq!(status(decide(Some(&a), &req("POST", "/api/topics", Some(("alice", "secret"))))), 200);
        assert_eq!(status(decide(Some(&a), &req("GET", "/health", None))), 200);
        assert_eq!(status(decide(Some(&a), &req("GET", "/metrics?x=1", None))), 200);
    }

    #[test]
    fn basic_credentials_roundtrip_and_other_schemes_are_ignored() {
        let c = Credentials { username: "alice".into(), password: "p:w".into() };
        assert_eq!(c.header_value(), "Basic YWxpY2U6cDp3");
        assert_eq!(Credentials::parse(c.header_value().as_bytes()), Some(c));
        assert_eq!(Credentials::parse(b"Bearer abc"), None);
        assert_eq!(Credentials::parse(b"Basic !!!"), None);
        assert_eq!(Credentials::parse(b"Basic YWxpY2U="), None, "no colon");
        let printed = format!("{:?}", Credentials::parse(b"basic YWxpY2U6cDp3").unwrap());
        assert!(!printed.contains("p:w"), "{printed}");
    }
}
