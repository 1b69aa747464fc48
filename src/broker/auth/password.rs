//! Password hashes: PBKDF2-HMAC-SHA256 in the text form the config keeps,
//! `pbkdf2-sha256$<iterations>$<salt, base64>$<derived key, base64>` (standard alphabet, padded).
//!
//! The config never holds a password, only this; `keel passwd` makes one with
//! [`new_password_hash`]. Verifying compares in constant time, and a hash from the config is
//! parsed without panicking and with its iteration count capped, so a hostile or mistyped
//! config can neither crash the broker nor make one login burn minutes of CPU.
//!
//! Plain, standard PBKDF2-HMAC-SHA256 (RFC 8018), so hashes can be made and checked by other
//! tools; with it comes HMAC's zero-padding of short keys: passwords of up to 64 bytes that
//! differ only by trailing NUL bytes are equal.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use keel_rt::rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The scheme name that starts every hash.
pub const SCHEME: &str = "pbkdf2-sha256";
/// Iterations [`new_password_hash`] uses: ~50–100 ms of one core per verification.
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// The most iterations a hash may ask for (about a minute of CPU at the top).
pub const ITERATIONS_MAX: u32 = 10_000_000;
/// Bytes of random salt [`new_password_hash`] uses.
pub const SALT_BYTES: usize = 16;
/// The longest salt a hash may carry, in bytes.
pub const SALT_BYTES_MAX: usize = 1024;
/// Bytes of derived key: one SHA-256 output.
pub const KEY_BYTES: usize = 32;

/// Why a hash string cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashError {
    /// Not four `$`-separated fields.
    Format,
    /// The first field is not [`SCHEME`].
    Scheme(String),
    /// The iteration count is not a number from 1 to [`ITERATIONS_MAX`].
    Iterations(String),
    /// The salt is not padded standard base64 of 1 to [`SALT_BYTES_MAX`] bytes.
    Salt,
    /// The derived key is not padded standard base64 of [`KEY_BYTES`] bytes.
    Key,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashError::Format => write!(f, "expected {SCHEME}$<iterations>$<salt>$<hash>"),
            HashError::Scheme(s) => write!(f, "unknown hash scheme {s:?} (expected {SCHEME})"),
            HashError::Iterations(s) => write!(f, "iterations {s:?}: expected 1 to {ITERATIONS_MAX}"),
            HashError::Salt => write!(f, "salt: expected base64 of 1 to {SALT_BYTES_MAX} bytes"),
            HashError::Key => write!(f, "hash: expected base64 of {KEY_BYTES} bytes"),
        }
    }
}

impl std::error::Error for HashError {}

/// A parsed password hash, ready to verify against.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: u32,
    salt: Vec<u8>,
    key: [u8; KEY_BYTES],
}

impl fmt::Debug for PasswordHash {
    /// Leaves out the salt and key: they do not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

impl PasswordHash {
    /// Parses `pbkdf2-sha256$<iterations>$<salt>$<hash>`.
    pub fn parse(text: &str) -> Result<PasswordHash, HashError> {
        let fields: Vec<&str> = text.split('$').collect();
        let [scheme, iterations, salt, key] = fields[..] else {
            return Err(HashError::Format);
        };
        if scheme != SCHEME {
            return Err(HashError::Scheme(scheme.to_string()));
        }
        let iterations = match iterations.parse::<u32>() {
            Ok(n) if (1..=ITERATIONS_MAX).contains(&n) && !iterations.starts_with('+') => n,
            _ => return Err(HashError::Iterations(iterations.to_string())),
        };
        let salt = BASE64.decode(salt).map_err(|_| HashError::Salt)?;
        if salt.is_empty() || salt.len() > SALT_BYTES_MAX {
            return Err(HashError::Salt);
        }
        let key = BASE64.decode(key).map_err(|_| HashError::Key)?;
        let key: [u8; KEY_BYTES] = key.try_into().map_err(|_| HashError::Key)?;
        Ok(PasswordHash { iterations, salt, key })
    }

    /// The iteration count: what one verification costs.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt and the derived key: SCRAM-SHA-256's salt and `SaltedPassword`.
    pub fn scram(&self) -> (&[u8], &[u8; KEY_BYTES]) {
        (&self.salt, &self.key)
    }

    /// Whether `password` is the one hashed, compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        derive(password, &self.salt, self.iterations).ct_eq(&self.key).into()
    }
}

/// Hashes `password` with `salt`; `iterations` is clamped to 1..=[`ITERATIONS_MAX`] (the
/// string records the count used, so it always verifies).
pub fn hash_password(password: &[u8], salt: &[u8], iterations: u32) -> String {
    let iterations = iterations.clamp(1, ITERATIONS_MAX);
    let key = derive(password, salt, iterations);
    format!("{SCHEME}${iterations}${}${}", BASE64.encode(salt), BASE64.encode(key))
}

/// Hashes `password` with a fresh random salt and [`DEFAULT_ITERATIONS`].
pub fn new_password_hash(password: &[u8]) -> String {
    let mut salt = [0u8; SALT_BYTES];
    keel_rt::rand::rng().fill_bytes(&mut salt);
    hash_password(password, &salt, DEFAULT_ITERATIONS)
}

/// Whether `password` matches `hash`; a malformed `hash` is an error, never a panic.
pub fn verify_password(hash: &str, password: &[u8]) -> Result<bool, HashError> {
    Ok(PasswordHash::parse(hash)?.verify(password))
}

/// Burns the CPU of one verification with `iterations` and no answer, so that an unknown
/// username costs as long as a known one (its timing does not tell which usernames exist).
pub(crate) fn waste_verification(password: &[u8], iterations: u32) {
    let key = derive(password, b"keel-no-such-user", iterations.clamp(1, ITERATIONS_MAX));
    std::hint::black_box(key);
}

fn derive(password: &[u8], salt: &[u8], iterations: u32) -> [u8; KEY_BYTES] {
    pbkdf2::pbkdf2_hmac_array::<Sha256, KEY_BYTES>(password, salt, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key_of(hash: &str) -> Vec<u8> {
        BASE64.decode(hash.rsplit('$').next().unwrap()).unwrap()
    }

    #[test]
    fn known_answers_from_rfc_7914() {
        let one = hash_password(b"password", b"salt", 1);
        assert_eq!(hex(&key_of(&one)), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
        assert_eq!(one, format!("pbkdf2-sha256$1$c2FsdA==${}", one.rsplit('$').next().unwrap()));
        let many = hash_password(b"password", b"salt", 4096);
        assert_eq!(hex(&key_of(&many)), "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
        assert_eq!(verify_password(&many, b"password"), Ok(true));
    }

    #[test]
    fn round_trip_accepts_the_password_and_nothing_else() {
        let hash = hash_password(b"s3cret", b"0123456789abcdef", 10);
        assert_eq!(verify_password(&hash, b"s3cret"), Ok(true));
        for wrong in [&b""[..], b"s3cre", b"s3cret ", b"S3cret", b"\0s3cret"] {
            assert_eq!(verify_password(&hash, wrong), Ok(false), "{wrong:?}");
        }
        // HMAC pads its key with zeros: a known property of PBKDF2-HMAC, kept for the sake of
        // the standard (see the module docs).
        assert_eq!(verify_password(&hash, b"s3cret\0"), Ok(true));
        let other_salt = hash_password(b"s3cret", b"0123456789abcdeF", 10);
        assert_ne!(hash, other_salt);
    }

    #[test]
    fn new_hashes_are_salted_afresh_at_the_default_cost() {
        let (a, b) = (new_password_hash(b"pw"), new_password_hash(b"pw"));
        assert_ne!(a, b, "two hashes of one password share a salt");
        let parsed = PasswordHash::parse(&a).unwrap();
        assert_eq!(parsed.iterations(), DEFAULT_ITERATIONS);
        assert_eq!(parsed.salt.len(), SALT_BYTES);
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"pW"));
    }

    #[test]
    fn iterations_are_clamped_when_hashing() {
        assert!(hash_password(b"p", b"s", 0).starts_with("pbkdf2-sha256$1$"));
        assert_eq!(verify_password(&hash_password(b"p", b"s", 0), b"p"), Ok(true));
    }

    #[test]
    fn malformed_hashes_are_errors() {
        let good = hash_password(b"p", b"salt", 2);
        let key = good.rsplit('$').next().unwrap().to_string();
        let cases: Vec<(String, HashError)> = vec![
            (String::new(), HashError::Format),
            ("p".into(), HashError::Format),
            ("pbkdf2-sha256$2$c2FsdA==".into(), HashError::Format),
            (format!("{good}$"), HashError::Format),
            (format!("pbkdf2-sha512$2$c2FsdA==${key}"), HashError::Scheme("pbkdf2-sha512".into())),
            (format!("pbkdf2-sha256$0$c2FsdA==${key}"), HashError::Iterations("0".into())),
            (format!("pbkdf2-sha256$-1$c2FsdA==${key}"), HashError::Iterations("-1".into())),
            (format!("pbkdf2-sha256$+2$c2FsdA==${key}"), HashError::Iterations("+2".into())),
            (format!("pbkdf2-sha256$$c2FsdA==${key}"), HashError::Iterations(String::new())),
            (format!("pbkdf2-sha256$10000001$c2FsdA==${key}"), HashError::Iterations("10000001".into())),
            (format!("pbkdf2-sha256$99999999999$c2FsdA==${key}"), HashError::Iterations("99999999999".into())),
            (format!("pbkdf2-sha256$2$c2FsdA${key}"), HashError::Salt),
            (format!("pbkdf2-sha256$2$!!!!${key}"), HashError::Salt),
            (format!("pbkdf2-sha256$2$${key}"), HashError::Salt),
            (format!("pbkdf2-sha256$2${}${key}", BASE64.encode([0u8; SALT_BYTES_MAX + 1])), HashError::Salt),
            ("pbkdf2-sha256$2$c2FsdA==$c2FsdA==".into(), HashError::Key),
            (format!("pbkdf2-sha256$2$c2FsdA==${}", &key[..key.len() - 1]), HashError::Key),
        ];
        for (text, want) in cases {
            assert_eq!(verify_password(&text, b"p"), Err(want.clone()), "{text:?}");
            assert!(!want.to_string().is_empty());
        }
        assert_eq!(verify_password(&good, b"p"), Ok(true));
    }

    #[test]
    fn the_iteration_cap_itself_is_accepted() {
        let key = BASE64.encode([0u8; KEY_BYTES]);
        let at_cap = format!("pbkdf2-sha256${ITERATIONS_MAX}$c2FsdA==${key}");
        assert_eq!(PasswordHash::parse(&at_cap).map(|h| h.iterations()), Ok(ITERATIONS_MAX));
    }

    #[test]
    fn debug_output_hides_salt_and_key() {
        let parsed = PasswordHash::parse(&hash_password(b"p", b"visible-salt", 3)).unwrap();
        let shown = format!("{parsed:?}");
        assert!(shown.contains("iterations: 3"), "{shown}");
        assert!(!shown.contains("salt") && !shown.contains("key"), "{shown}");
    }
}
