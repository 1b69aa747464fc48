//! A small memory of recent successful logins, so that a storm of reconnections by the same
//! user does not redo ~100 ms of PBKDF2 each time.
//!
//! Why it is safe:
//! - an entry is a keyed fingerprint of (username, password), HMAC-SHA256 under a random key
//!   drawn when the cache is made: a hit needs the very password that verified, and the cache
//!   holds no password nor any unkeyed hash of one that could be attacked offline;
//! - only successes are kept, so a wrong password always takes the slow path;
//! - the cache lives inside one [`Authenticator`](super::Authenticator), built from one config:
//!   a changed config means a new authenticator and an empty cache, so a removed user or
//!   changed password is never accepted from memory;
//! - it is bounded ([`VERIFIED_ENTRIES_MAX`]), the oldest entry leaving first.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use hmac::{Hmac, KeyInit as _, Mac as _};
use keel_rt::rand::RngCore as _;
use sha2::Sha256;

/// The most (username, password) pairs remembered.
pub const VERIFIED_ENTRIES_MAX: usize = 1024;

type Fingerprint = [u8; 32];

/// Recently verified (username, password) pairs, as keyed fingerprints.
pub(crate) struct VerifiedCache {
    key: [u8; 32],
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    set: HashSet<Fingerprint>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<Fingerprint>,
}

impl VerifiedCache {
    pub(crate) fn new() -> VerifiedCache {
        let mut key = [0u8; 32];
        keel_rt::rand::rng().fill_bytes(&mut key);
        VerifiedCache { key, entries: Mutex::default() }
    }

    /// Whether this pair verified recently.
    pub(crate) fn contains(&self, username: &str, password: &[u8]) -> bool {
        let fp = self.fingerprint(username, password);
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).set.contains(&fp)
    }

    /// Remembers a pair that has just verified.
    pub(crate) fn insert(&self, username: &str, password: &[u8]) {
        let fp = self.fingerprint(username, password);
        let mut e = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !e.set.insert(fp) {
            return;
        }
        e.order.push_back(fp);
        while e.order.len() > VERIFIED_ENTRIES_MAX {
            if let Some(old) = e.order.pop_front() {
                e.set.remove(&old);
            }
        }
    }

    /// How many pairs are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).set.len()
    }

    /// HMAC-SHA256(key, len(username) ‖ username ‖ password): the length prefix keeps
    /// ("ab", "c") and ("a", "bc") apart.
    fn fingerprint(&self, username: &str, password: &[u8]) -> Fingerprint {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            unreachable!("HMAC takes keys of any length")
        };
        mac.update(&(username.len() as u64).to_be_bytes());
        mac.update(username.as_bytes());
        mac.update(password);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_the_pairs_inserted() {
        let c = VerifiedCache::new();
        assert!(!c.contains("alice", b"pw"));
        c.insert("alice", b"pw");
        assert!(c.contains("alice", b"pw"));
        assert!(!c.contains("alice", b"pW"));
        assert!(!c.contains("bob", b"pw"));
        assert!(!c.contains("alic", b"epw"), "username and password stay apart");
        c.insert("alice", b"pw");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_with_the_oldest_leaving_first() {
        let c = VerifiedCache::new();
        for i in 0..VERIFIED_ENTRIES_MAX + 10 {
            c.insert(&format!("user{i}"), b"pw");
        }
        assert_eq!(c.len(), VERIFIED_ENTRIES_MAX);
        assert!(!c.contains("user0", b"pw") && !c.contains("user9", b"pw"));
        assert!(c.contains("user10", b"pw"));
        assert!(c.contains(&format!("user{}", VERIFIED_ENTRIES_MAX + 9), b"pw"));
    }

    #[test]
    fn each_cache_keys_its_fingerprints_afresh() {
        let (a, b) = (VerifiedCache::new(), VerifiedCache::new());
        assert_ne!(a.fingerprint("u", b"p"), b.fingerprint("u", b"p"));
    }
}
