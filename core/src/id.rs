//! Session ids: 32 bytes from the OS CSPRNG, base64url without padding; strict parsing; the
//! salted hash that stands in for an id in events and logs; and the stable fingerprint that
//! stands in for it in admin tools.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Bytes of entropy in a generated id (as omnistorage-core).
pub const ID_BYTES: usize = 32;

/// A new random session id (43 characters of `[A-Za-z0-9_-]`).
///
/// # Panics
/// If the operating system's random source fails.
pub fn generate() -> String {
    let mut bytes = [0u8; ID_BYTES];
    fill_random(&mut bytes);
    encode(&bytes)
}

/// The id of these bytes: base64url without padding, as [`generate`] spells its bytes.
pub(crate) fn encode(bytes: &[u8; ID_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Fills `buf` from the OS CSPRNG.
///
/// # Panics
/// If the operating system's random source fails.
pub(crate) fn fill_random(buf: &mut [u8]) {
    // The OS CSPRNG failing leaves no safe fallback: a predictable id would be worse than a crash.
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// Whether `id` has the shape of a session id: `^[A-Za-z0-9_-]{22,128}$`.
///
/// Anything else can never address a record (nor an index key, whatever the backend).
pub fn is_well_formed(id: &str) -> bool {
    // A table and no early exit: random id characters made the per-class branches mispredict,
    // which cost more than the rest of a memory get.
    (22..=128).contains(&id.len()) && id.bytes().fold(true, |ok, b| ok & ID_BYTE[usize::from(b)])
}

/// Which bytes a session id may hold.
static ID_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// Per-process salt: hashes correlate events within a process and reveal nothing outside it.
static SALT: Lazy<[u8; 16]> = Lazy::new(|| {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    salt
});

/// The salted, truncated SHA-256 of an id (16 hex characters), for events, logs and errors.
pub fn hash(id: &str) -> String {
    let mut h = Sha256::new();
    h.update(*SALT);
    h.update(id.as_bytes());
    let digest = h.finalize();
    digest[..8]
        .iter()
        .fold(String::with_capacity(16), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hex characters of a [`fingerprint`].
pub const FINGERPRINT_LEN: usize = 20;

/// The stable, non-reversible stand-in for an id in admin output (`omnisession list`,
/// `inspect --id-hash`): the first 80 bits of `SHA-256("omnisession-fingerprint\0" || id)`, in
/// [`FINGERPRINT_LEN`] lowercase hex characters.
///
/// Unlike [`hash`] it is not salted, so it is the same in every process and on every machine:
/// an operator can list sessions in one run and revoke one in the next. It reveals nothing an
/// attacker can use: a generated id holds 256 random bits, so the fingerprint cannot be turned
/// back into an id, and knowing it does not help to guess one. The prefix keeps it apart from
/// any other SHA-256 of an id. 80 bits make two ids sharing a fingerprint in a store of a
/// billion sessions a one-in-a-million chance; admin lookups say so when it happens.
pub fn fingerprint(id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"omnisession-fingerprint\0")
        .chain_update(id.as_bytes())
        .finalize();
    digest[..FINGERPRINT_LEN / 2]
        .iter()
        .fold(String::with_capacity(FINGERPRINT_LEN), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether `text` has the form of a [`fingerprint`] (so a mistyped one is told apart from one
/// that matches no session).
pub fn is_fingerprint(text: &str) -> bool {
    text.len() == FINGERPRINT_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_43_urlsafe_chars_of_32_bytes_and_distinct() {
        let ids: HashSet<_> = (0..1000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 43);
            assert!(is_well_formed(id));
            assert_eq!(URL_SAFE_NO_PAD.decode(id).unwrap().len(), 32);
        }
    }

    #[test]
    fn parsing_is_strict() {
        assert!(is_well_formed(&"a".repeat(22)));
        assert!(is_well_formed(&"a".repeat(128)));
        assert!(!is_well_formed(&"a".repeat(21)));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed("user:0000000000000000000000"));
        assert!(!is_well_formed("aaaaaaaaaaaaaaaaaaaaaa*"));
        assert!(!is_well_formed("aaaaaaaaaaaaaaaaaaaaaé"));
    }

    #[test]
    fn every_byte_outside_the_id_alphabet_is_refused() {
        for b in 0..=u8::MAX {
            let allowed = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            let mut bytes = vec![b'a'; 30];
            bytes[7] = b;
            // Bytes 0x80 and up are not UTF-8 alone; they reach the check inside a character.
            let id = String::from_utf8(bytes).unwrap_or_else(|_| format!("{}é", "a".repeat(28)));
            assert_eq!(is_well_formed(&id), allowed, "byte {b:#04x}");
        }
    }

    #[test]
    fn hash_is_stable_in_process_and_hides_the_id() {
        let id = generate();
        assert_eq!(hash(&id), hash(&id));
        assert_eq!(hash(&id).len(), 16);
        assert!(!id.contains(&hash(&id)));
        assert_ne!(hash(&id), hash(&generate()));
    }

    #[test]
    fn fingerprint_is_stable_across_processes_and_hides_the_id() {
        // A fixed vector: the same in every process, build and machine.
        let id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        // Computed apart: python3 -c "import hashlib; print(hashlib.sha256(
        // b'omnisession-fingerprint\0' + b'A' * 43).hexdigest()[:20])"
        assert_eq!(fingerprint(id), "aedf2b8567500b0b68d9");
        assert!(is_fingerprint(&fingerprint(id)));
        let other = generate();
        assert_ne!(fingerprint(&other), fingerprint(id));
        assert!(!other.contains(&fingerprint(&other)));
        assert_ne!(fingerprint(&other), hash(&other));
        assert!(!is_fingerprint("ABCDEF0123456789ABCD"));
        assert!(!is_fingerprint("abc"));
    }
}
