//! The herd's shared secret: where it comes from, how long it must be, and how a fresh one
//! is made.
//!
//! Servers prove the secret to each other with an HMAC (see `peer::handshake`), and the
//! acceptor of a link answers anyone's HELLO with an HMAC made with it: a short secret could
//! be guessed offline from one answer. So a secret has at least [`MIN_SECRET_BYTES`] bytes,
//! and `herd secret gen` prints one with 256 bits from the operating system's generator.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;

/// The fewest bytes a secret may have: 32 random bytes, or 32 hex digits (128 bits), put a
/// dictionary or brute-force search from a recorded HMAC out of reach.
pub const MIN_SECRET_BYTES: usize = 32;

/// The herd's shared secret: the bytes of the variable `[herd] secret_env` names (used as
/// they are, so a hex secret is its text), or one made for a `herd up` process.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from bytes already checked to be long enough.
    pub(crate) fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// A fresh secret for one process's servers: [`fresh_hex`] as text.
    pub fn generate() -> Secret {
        Secret(fresh_hex().into_bytes())
    }

    /// The bytes the servers prove.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Never shows the secret (configs are printed in debug output and test failures).
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// 256 fresh bits from the operating system's generator (`getrandom` through rand's
/// `OsRng`, the crate the workspace already uses for nonces), as 64 hex digits.
pub fn fresh_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_are_long_different_and_never_shown() {
        let (a, b) = (fresh_hex(), fresh_hex());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let s = Secret::generate();
        assert!(s.bytes().len() >= MIN_SECRET_BYTES);
        let shown = format!("{s:?}");
        assert_eq!(shown, "Secret(64 bytes)");
    }
}
