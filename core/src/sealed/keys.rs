//! The key ring of sealed sessions: named AES-256 keys, the first sealing and every one
//! opening, so keys can be rotated without logging everyone out.
//!
//! Each key carries a short id written in the clear in every value it seals: opening looks the
//! key up by id instead of trying every key, which keeps the cost of a forged value at one
//! AES-GCM check and says which key a value needs.

use crate::error::{Error, Result};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use std::fmt;

/// Bytes of an AES-256 key.
pub const KEY_BYTES: usize = 32;

/// Longest key id: it is written in every cookie value, so it stays short.
pub const MAX_KEY_ID_LEN: usize = 16;

/// One sealing key: an id written in the clear in the value and 32 secret bytes.
///
/// `Debug` never shows the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey {
    id: String,
    key: Vec<u8>,
}

impl SealKey {
    /// A key with this id (1 to 16 characters of `[A-Za-z0-9_-]`) and these bytes (exactly
    /// 32). Both are checked by [`Sealer::new`](super::Sealer::new), which names the option.
    pub fn new(id: impl Into<String>, key: impl Into<Vec<u8>>) -> Self {
        Self {
            id: id.into(),
            key: key.into(),
        }
    }

    /// The key id, as written in sealed values.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("id", &self.id)
            .field("key", &format_args!("<{} bytes redacted>", self.key.len()))
            .finish()
    }
}

/// Whether `id` can be a key id: 1 to 16 characters of `[A-Za-z0-9_-]` (no `.`, which
/// separates the parts of a value).
pub(crate) fn is_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The checked ring: ids and ready ciphers, the sealing key first.
#[derive(Clone)]
pub(crate) struct KeyRing {
    keys: Vec<(String, Aes256Gcm)>,
}

impl KeyRing {
    /// Checks every key; any fault is `CONFIG_INVALID` naming the option `keys`.
    pub(crate) fn new(keys: Vec<SealKey>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::config(
                "keys",
                "at least one sealing key is required",
            ));
        }
        let mut ring: Vec<(String, Aes256Gcm)> = Vec::with_capacity(keys.len());
        for (i, k) in keys.into_iter().enumerate() {
            if !is_key_id(&k.id) {
                return Err(Error::config(
                    "keys",
                    format!(
                        "key {i}: the id must be 1 to {MAX_KEY_ID_LEN} characters of [A-Za-z0-9_-]"
                    ),
                )
                .with("index", i));
            }
            if ring.iter().any(|(id, _)| *id == k.id) {
                return Err(Error::config(
                    "keys",
                    format!("key {i}: the id {:?} is used twice", k.id),
                )
                .with("index", i));
            }
            if k.key.len() != KEY_BYTES {
                return Err(Error::config(
                    "keys",
                    format!(
                        "key {:?}: an AES-256 key is {KEY_BYTES} bytes, not {}",
                        k.id,
                        k.key.len()
                    ),
                )
                .with("index", i));
            }
            let cipher = Aes256Gcm::new_from_slice(&k.key)
                .map_err(|_| Error::config("keys", "invalid AES-256 key"))?;
            ring.push((k.id, cipher));
        }
        Ok(Self { keys: ring })
    }

    /// The sealing key: the first.
    pub(crate) fn sealing(&self) -> (&str, &Aes256Gcm) {
        let (id, cipher) = &self.keys[0];
        (id, cipher)
    }

    /// The key with this id, if the ring holds it.
    pub(crate) fn get(&self, id: &str) -> Option<&Aes256Gcm> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, c)| c)
    }

    /// The ids, sealing key first.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }
}
