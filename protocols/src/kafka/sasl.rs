//! SASL for Kafka clients, server side and sans-IO: PLAIN (RFC 4616) and SCRAM-SHA-256
//! (RFC 5802, RFC 7677). The broker looks the user up and supplies the nonce; nothing here
//! touches a clock, a random source or the user store.
//!
//! SCRAM needs the user's `SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, iterations)`,
//! which is exactly what Keel's `pbkdf2-sha256` password hashes store, so the same users serve
//! MQTT logins, SASL/PLAIN and SCRAM-SHA-256 without a second credential.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

pub const PLAIN: &str = "PLAIN";
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// Why an exchange failed (the message is for the log; the client gets a plain refusal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslError(pub String);

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(why: &str) -> SaslError {
    SaslError(why.to_string())
}

/// A PLAIN message: `[authzid] NUL authcid NUL passwd`. Returns (username, password).
pub fn parse_plain(msg: &[u8]) -> Result<(String, Vec<u8>), SaslError> {
    let mut parts = msg.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(pass), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(err("PLAIN: expected authzid NUL username NUL password"));
    };
    let user = String::from_utf8(user.to_vec()).map_err(|_| err("PLAIN: the username is not UTF-8"))?;
    if user.is_empty() || (!authzid.is_empty() && authzid != user.as_bytes()) {
        return Err(err("PLAIN: an empty username, or an authorization id other than it"));
    }
    Ok((user, pass.to_vec()))
}

/// What the server knows of a SCRAM user.
#[derive(Clone)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub salted_password: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// A SCRAM-SHA-256 exchange, server side: `client_first`, then (with the user's credentials)
/// `server_first`, then `client_final`.
#[derive(Clone, Debug, Default)]
pub struct ScramServer {
    client_first_bare: String,
    server_first: String,
    nonce: String,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

/// The parts of a client-first message the server needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFirst {
    pub username: String,
    pub client_nonce: String,
}

impl ScramServer {
    /// Parses `gs2-header client-first-bare` (`n,,n=user,r=nonce`; channel binding refused).
    pub fn client_first(&mut self, msg: &[u8]) -> Result<ClientFirst, SaslError> {
        let msg = std::str::from_utf8(msg).map_err(|_| err("SCRAM: client-first is not UTF-8"))?;
        let bare = match msg.strip_prefix("n,,").or_else(|| msg.strip_prefix("y,,")) {
            Some(b) => b,
            None => return Err(err("SCRAM: channel binding and authorization ids are not supported")),
        };
        let mut user = None;
        let mut nonce = None;
        for attr in bare.split(',') {
            match attr.split_once('=') {
                Some(("n", v)) => user = Some(v.replace("=2C", ",").replace("=3D", "=")),
                Some(("r", v)) if !v.is_empty() => nonce = Some(v.to_string()),
                Some(("m", _)) => return Err(err("SCRAM: mandatory extensions are not supported")),
                _ => {}
            }
        }
        let (Some(username), Some(client_nonce)) = (user, nonce) else {
            return Err(err("SCRAM: client-first needs n= and r="));
        };
        self.client_first_bare = bare.to_string();
        self.nonce = client_nonce.clone();
        Ok(ClientFirst { username, client_nonce })
    }

    /// The server-first message for a known user, with `server_nonce` (printable, no commas)
    /// appended to the client's.
    pub fn server_first(&mut self, creds: &ScramCredentials, server_nonce: &str) -> String {
        let client_key = hmac(&creds.salted_password, b"Client Key");
        self.stored_key = sha256(&client_key);
        self.server_key = hmac(&creds.salted_password, b"Server Key");
        self.nonce = format!("{}{server_nonce}", self.nonce);
        self.server_first = format!("r={},s={},i={}", self.nonce, BASE64.encode(&creds.salt), creds.iterations);
        self.server_first.clone()
    }

    /// Checks the client's proof; the server-final message (`v=signature`) if it holds.
    pub fn client_final(&self, msg: &[u8]) -> Result<String, SaslError> {
        let msg = std::str::from_utf8(msg).map_err(|_| err("SCRAM: client-final is not UTF-8"))?;
        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or_else(|| err("SCRAM: client-final has no proof"))?;
        let nonce =
            without_proof.split(',').find_map(|a| a.strip_prefix("r=")).ok_or_else(|| err("SCRAM: no nonce"))?;
        if nonce != self.nonce || self.server_first.is_empty() {
            return Err(err("SCRAM: the nonce does not match"));
        }
        let proof = BASE64.decode(proof).map_err(|_| err("SCRAM: the proof is not base64"))?;
        if proof.len() != 32 {
            return Err(err("SCRAM: the proof has the wrong length"));
        }
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let signature = hmac(&self.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !bool::from(sha256(&client_key).ct_eq(&self.stored_key)) {
            return Err(err("SCRAM: wrong password"));
        }
        Ok(format!("v={}", BASE64.encode(hmac(&self.server_key, auth_message.as_bytes()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages_split_and_bad_ones_are_refused() {
        assert_eq!(parse_plain(b"\0alice\0secret").unwrap(), ("alice".to_string(), b"secret".to_vec()));
        assert_eq!(parse_plain(b"alice\0alice\0pw").unwrap().0, "alice");
        for bad in [&b"alice\0pw"[..], b"bob\0alice\0pw", b"\0\0pw", b"\0a\0b\0c"] {
            assert!(parse_plain(bad).is_err(), "{bad:?}");
        }
    }

    /// RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn the_rfc_7677_exchange_verifies() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted: [u8; 32] = pbkdf2_sha256(b"pencil", &salt, 4096);
        let creds = ScramCredentials { salt, iterations: 4096, salted_password: salted };
        let mut s = ScramServer::default();
        let first = s.client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first, ClientFirst { username: "user".into(), client_nonce: "rOprNGfwEbeRWgbNEkqO".into() });
        let server_first = s.server_first(&creds, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(s.client_final(client_final).unwrap(), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let mut wrong = client_final.to_vec();
        let at = wrong.len() - 5;
        wrong[at] ^= 1;
        assert!(s.client_final(&wrong).is_err(), "a changed proof is refused");
        assert!(ScramServer::default().client_final(client_final).is_err(), "no proof before the first messages");
    }

    fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
        let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
        let mut out = u;
        for _ in 1..iterations {
            u = hmac(password, &u);
            out.iter_mut().zip(u).for_each(|(o, x)| *o ^= x);
        }
        out
    }

    #[test]
    fn malformed_client_messages_are_errors() {
        for bad in [&b"p=tls-unique,,n=u,r=x"[..], b"n,,n=u", b"n,,r=x", b"n,,n=u,r=x,m=ext", b"\xff"] {
            assert!(ScramServer::default().client_first(bad).is_err(), "{bad:?}");
        }
    }
}
