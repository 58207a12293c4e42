//! Ids hashed at rest (`ids_at_rest`, docs/design.md "Ids at rest"): what a backend holds in
//! place of each session id, so that a dump of Redis, of the SQLite file or of the session
//! directory yields no token that signs anyone in.
//!
//! The store hashes an id where a caller hands it over and gives the caller's id back on the
//! sessions it returns; between the two, every backend, control and index works on the hash
//! as on any id (the hash has the form of a generated id). Listings return the hashes: the
//! store cannot know the ids behind them, and that is the point. [`IdsAtRest::id_at_rest`]
//! tells a caller which listed session is its own.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::id;
use crate::session::Session;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;

/// Shortest HMAC key accepted: as long as the hash (RFC 2104's advice).
pub const MIN_ID_HASH_KEY_BYTES: usize = 32;

/// What keys, file names and primary keys hold for each session id.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum IdsAtRest {
    /// The ids themselves (the default, and what omnistorage-core reads).
    #[default]
    Plain,
    /// SHA-256 of each id. Ids are 256-bit random, so the hash cannot be reversed; but anyone
    /// holding a candidate id can check it against a dump.
    Sha256,
    /// HMAC-SHA-256 of each id under a server key (at least 32 bytes): without the key, a
    /// dump cannot even confirm a guessed id.
    HmacSha256(Vec<u8>),
}

// By hand: the key never reaches a log.
impl fmt::Debug for IdsAtRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain => f.write_str("Plain"),
            Self::Sha256 => f.write_str("Sha256"),
            Self::HmacSha256(key) => write!(f, "HmacSha256(<{} bytes redacted>)", key.len()),
        }
    }
}

impl IdsAtRest {
    /// From the options `ids_at_rest` (`"plain"`, `"sha256"` or `"hmac-sha256"`) and
    /// `id_hash_key`, which `hmac-sha256` needs and the others refuse.
    pub(crate) fn from_options(mode: Option<&str>, key: Option<&str>) -> Result<Self> {
        let mode = mode.unwrap_or("plain");
        match (mode, key) {
            ("plain", None) => Ok(Self::Plain),
            ("sha256", None) => Ok(Self::Sha256),
            ("hmac-sha256", Some(key)) => Ok(Self::HmacSha256(key.as_bytes().to_vec())),
            ("hmac-sha256", None) => Err(Error::config(
                "id_hash_key",
                "ids_at_rest \"hmac-sha256\" needs id_hash_key",
            )),
            ("plain" | "sha256", Some(_)) => Err(Error::config(
                "id_hash_key",
                "id_hash_key is used only with ids_at_rest \"hmac-sha256\"",
            )),
            (other, _) => Err(Error::config(
                "ids_at_rest",
                format!(
                    "ids_at_rest must be \"plain\", \"sha256\" or \"hmac-sha256\", not {other:?}"
                ),
            )),
        }
    }

    /// Checks the key's length (never its contents in a message).
    pub(crate) fn validate(&self) -> Result<()> {
        if let Self::HmacSha256(key) = self
            && key.len() < MIN_ID_HASH_KEY_BYTES
        {
            return Err(Error::config(
                "id_hash_key",
                format!(
                    "id_hash_key must be at least {MIN_ID_HASH_KEY_BYTES} bytes, not {}",
                    key.len()
                ),
            ));
        }
        Ok(())
    }

    /// Whether ids are hashed.
    pub fn is_hashed(&self) -> bool {
        !matches!(self, Self::Plain)
    }

    /// What the backend holds for `id`: the id itself, or its hash (43 base64url characters,
    /// the form of a generated id). A malformed id is left as it is, so that the checks after
    /// this one refuse it as they would without hashing.
    pub fn id_at_rest<'a>(&self, id: &'a str) -> Cow<'a, str> {
        if !id::is_well_formed(id) {
            return Cow::Borrowed(id);
        }
        let digest: [u8; 32] = match self {
            Self::Plain => return Cow::Borrowed(id),
            Self::Sha256 => Sha256::digest(id.as_bytes()).into(),
            Self::HmacSha256(key) => {
                // A key of any length is accepted by HMAC: `new_from_slice` cannot fail.
                let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
                    unreachable!("HMAC takes keys of any length")
                };
                mac.update(id.as_bytes());
                mac.finalize().into_bytes().into()
            }
        };
        Cow::Owned(URL_SAFE_NO_PAD.encode(digest))
    }

    /// `session` as its caller knows it: under the id it was asked by (`shown`).
    pub(crate) fn shown(&self, mut session: Session, shown: &str) -> Session {
        if self.is_hashed() {
            shown.clone_into(&mut session.id);
        }
        session
    }

    /// A new id for a rotation of the session stored under `old_at_rest`, as the caller will
    /// know it and as the backend will hold it. Hashed, the id is drawn until its hash is one
    /// the backend can move the record to in one step ([`Backend::rotation_allows`]: on a
    /// Redis Cluster, a hash in the old one's slot, 1 draw in 16,384 on average).
    pub(crate) fn rotation_id(&self, backend: &dyn Backend, old_at_rest: &str) -> Issued {
        if !self.is_hashed() {
            let id = backend.rotation_id(old_at_rest);
            return Issued {
                at_rest: id.clone(),
                id,
            };
        }
        loop {
            let id = id::generate();
            let at_rest = self.id_at_rest(&id).into_owned();
            if at_rest != old_at_rest && backend.rotation_allows(old_at_rest, &at_rest) {
                return Issued { id, at_rest };
            }
        }
    }
}

/// A new id: as the caller will know it, and as the backend holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub(crate) id: String,
    pub(crate) at_rest: String,
}

/// The ids one operation issued (a step may run more than once, each run drawing anew):
/// the one that stands is found by what the backend holds.
#[derive(Debug, Default)]
pub(crate) struct IssuedIds(Mutex<Vec<Issued>>);

impl IssuedIds {
    pub(crate) fn push(&self, issued: Issued) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(issued);
    }

    /// `session`, stored under an id this operation issued, under the id its caller will
    /// present.
    pub(crate) fn shown(&self, mut session: Session) -> Session {
        let issued = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = issued.iter().find(|i| i.at_rest == session.id) {
            session.id.clone_from(&i.id);
        }
        session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_has_the_form_of_an_id_and_depends_on_the_key() {
        let id = id::generate();
        let sha = IdsAtRest::Sha256.id_at_rest(&id).into_owned();
        let k1 = IdsAtRest::HmacSha256(vec![1; 32])
            .id_at_rest(&id)
            .into_owned();
        let k2 = IdsAtRest::HmacSha256(vec![2; 32])
            .id_at_rest(&id)
            .into_owned();
        for h in [&sha, &k1, &k2] {
            assert!(id::is_well_formed(h), "{h}");
            assert_eq!(h.len(), 43);
            assert_ne!(h, &id);
        }
        assert_ne!(k1, k2);
        assert_ne!(sha, k1);
        assert_eq!(IdsAtRest::Plain.id_at_rest(&id), id);
        // Stable: the same id, the same hash, in every process.
        assert_eq!(IdsAtRest::Sha256.id_at_rest(&id), sha);
    }

    const SHA256_OF_ID: &str = "nY7UYjuW4kJdGh4jffl1ePQHmAWCClhUrdf4Qvq2AZs";
    const HMAC_OF_ID: &str = "eH1z-MkUrtCVhtYCNyfOwdWwNYSCBcWwjkjHPJjRVjg";

    #[test]
    fn known_answers() {
        // Computed apart (Python's hashlib and hmac), base64url without padding.
        let id = "Ab0-_Ab0-_Ab0-_Ab0-_Ab";
        assert_eq!(IdsAtRest::Sha256.id_at_rest(id), SHA256_OF_ID);
        assert_eq!(
            IdsAtRest::HmacSha256(b"k".repeat(32)).id_at_rest(id),
            HMAC_OF_ID
        );
        // A malformed id stays as it is, for the id checks to refuse.
        assert_eq!(IdsAtRest::Sha256.id_at_rest("short"), "short");
    }

    #[test]
    fn options_and_debug() {
        assert_eq!(
            IdsAtRest::from_options(None, None).unwrap(),
            IdsAtRest::Plain
        );
        let e = IdsAtRest::from_options(Some("hmac-sha256"), None).unwrap_err();
        assert_eq!(e.details()["option"], "id_hash_key");
        let e = IdsAtRest::from_options(Some("md5"), None).unwrap_err();
        assert_eq!(e.details()["option"], "ids_at_rest");
        let e = IdsAtRest::from_options(Some("sha256"), Some("k")).unwrap_err();
        assert_eq!(e.details()["option"], "id_hash_key");
        let short = IdsAtRest::from_options(Some("hmac-sha256"), Some("short secret")).unwrap();
        let e = short.validate().unwrap_err();
        assert!(!e.to_string().contains("short secret"));
        let key = "k".repeat(40);
        let long = IdsAtRest::from_options(Some("hmac-sha256"), Some(&key)).unwrap();
        long.validate().unwrap();
        assert!(!format!("{long:?}").contains(&key));
    }
}
