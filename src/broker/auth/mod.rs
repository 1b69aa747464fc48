//! Who may connect to the MQTT front-end, and what each client may publish and subscribe to.
//!
//! [`Authenticator`] is built once per `[mqtt]` config (a changed config builds a new one),
//! refusing a config it could not enforce: malformed password hashes, duplicate usernames,
//! malformed access rules. Then [`Authenticator::login`] decides a CONNECT and
//! [`Authenticator::allows`] each PUBLISH and SUBSCRIBE.
//!
//! - [`password`]: the PBKDF2 password hashes the config holds.
//! - [`acl`]: the ordered access rules.
//! - [`topic`]: topic names and filters, and how filters relate.
//! - `cache`: recent successful logins, so reconnection storms skip PBKDF2.

pub mod acl;
mod cache;
pub mod password;
pub mod topic;

use std::collections::HashMap;

use crate::config::MqttSection;

pub use acl::{Access, Acl};
pub use password::{hash_password, new_password_hash, verify_password, HashError, PasswordHash, DEFAULT_ITERATIONS};
pub use topic::{covers, matches, valid_filter, valid_topic};

use cache::VerifiedCache;

/// The outcome of a CONNECT's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// Accepted; `username` is the client's from now on (`None`: anonymous).
    Allowed { username: Option<String> },
    /// An unknown username, a wrong or missing password (CONNACK "bad user name or password").
    BadCredentials,
    /// No username, and anonymous clients are not allowed (CONNACK "not authorized").
    NotAuthorized,
}

/// Decides logins and access for one `[mqtt]` config.
pub struct Authenticator {
    allow_anonymous: bool,
    users: HashMap<String, PasswordHash>,
    /// Users granted `admin`.
    admins: std::collections::HashSet<String>,
    /// What verifying the costliest configured hash takes: spent on unknown usernames too,
    /// so timing does not tell which usernames exist.
    decoy_iterations: u32,
    cache: VerifiedCache,
    acl: Acl,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("allow_anonymous", &self.allow_anonymous)
            .field("users", &self.users.len())
            .field("acl", &self.acl)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Checks and takes in the users and rules of `section`.
    pub fn new(section: &MqttSection) -> Result<Authenticator, String> {
        let mut users = HashMap::with_capacity(section.users.len());
        let admins = section.users.iter().filter(|u| u.admin).map(|u| u.username.clone()).collect();
        for (i, u) in section.users.iter().enumerate() {
            if u.username.is_empty() {
                return Err(format!("mqtt.users[{i}].username: empty"));
            }
            let hash = PasswordHash::parse(&u.password_hash)
                .map_err(|e| format!("mqtt.users[{i}].password_hash ({}): {e}", u.username))?;
            if users.insert(u.username.clone(), hash).is_some() {
                return Err(format!("mqtt.users[{i}].username: {:?} is listed twice", u.username));
            }
        }
        let acl = Acl::new(&section.acl, &section.acl_default)?;
        if users.is_empty() && section.allow_anonymous && acl.names_usernames() {
            return Err("mqtt.acl: rules name usernames, but with no mqtt.users and allow_anonymous \
                        any client may claim any username"
                .into());
        }
        let decoy_iterations = users.values().map(PasswordHash::iterations).max().unwrap_or(1);
        Ok(Authenticator {
            allow_anonymous: section.allow_anonymous,
            users,
            admins,
            decoy_iterations,
            cache: VerifiedCache::new(),
            acl,
        })
    }

    /// Decides a CONNECT's credentials. A first login of a user costs one PBKDF2 verification
    /// (~50–100 ms of CPU at the default cost): call it off the connection's path.
    ///
    /// No username: allowed iff anonymous clients are. A configured username: its password
    /// must verify. Any other username: bad credentials, except with no users configured and
    /// anonymous clients allowed, where any username is taken as given (the zero-config
    /// broker). A password without a username is ignored.
    pub fn login(&self, username: Option<&str>, password: Option<&[u8]>) -> Login {
        let Some(name) = username else {
            return self.anonymous();
        };
        if self.users.is_empty() {
            return match self.allow_anonymous {
                true => Login::Allowed { username: Some(name.to_string()) },
                false => Login::BadCredentials,
            };
        }
        let Some(password) = password else {
            return Login::BadCredentials;
        };
        let Some(hash) = self.users.get(name) else {
            password::waste_verification(password, self.decoy_iterations);
            return Login::BadCredentials;
        };
        if self.cache.contains(name, password) {
            return Login::Allowed { username: Some(name.to_string()) };
        }
        if !hash.verify(password) {
            return Login::BadCredentials;
        }
        self.cache.insert(name, password);
        Login::Allowed { username: Some(name.to_string()) }
    }

    /// Whether `username` is a configured user granted `admin` (changes through the admin API).
    pub fn is_admin(&self, username: &str) -> bool {
        self.admins.contains(username)
    }

    /// Whether clients must authenticate (no anonymous access).
    pub fn required(&self) -> bool {
        !self.allow_anonymous
    }

    /// A configured user's SCRAM-SHA-256 salt, iterations and salted password.
    pub fn scram(&self, username: &str) -> Option<(Vec<u8>, u32, [u8; password::KEY_BYTES])> {
        let h = self.users.get(username)?;
        let (salt, key) = h.scram();
        Some((salt.to_vec(), h.iterations(), *key))
    }

    /// Whether the client may `access` the topic name (publish) or filter (subscribe); see
    /// [`acl`] for the rules.
    pub fn allows(&self, client_id: &str, username: Option<&str>, access: Access, topic_or_filter: &str) -> bool {
        self.acl.allows(client_id, username, access, topic_or_filter)
    }

    fn anonymous(&self) -> Login {
        match self.allow_anonymous {
            true => Login::Allowed { username: None },
            false => Login::NotAuthorized,
        }
    }
}

#[cfg(test)]
mod tests;
