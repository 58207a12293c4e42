//! Reading cookie values sealed by the seeds (possessions' and abcsessions' `CookieOverseer`),
//! so an application moving off them keeps its users' sessions for one cookie lifetime.
//!
//! Their format is `base64.StdEncoding(nonce(12) || AES-GCM-seal(plaintext))` with no
//! associated data (so it is not bound to a cookie name) and a key of 16, 24 or 32 bytes
//! choosing AES-128/192/256; the plaintext is whatever the application stored, JSON here. It
//! is a type of its own, never a fallback of [`Sealer`](super::Sealer): an application opts
//! in explicitly, and a v1 value is never read as a seeds value nor the other way round.
//!
//! Differences from the seeds, on purpose: a base64 error is [`Reason::Malformed`], not the
//! seeds' silent empty session; a value too short to hold a nonce and a tag is `Malformed`
//! (the seeds error on `<= 12` bytes and fail authentication on 13 to 27); a plaintext that
//! is not JSON is `Malformed`. The value holds no expiry (the seeds leave it to the cookie's
//! `MaxAge`), so opening takes no `now`.

use super::Reason;
use super::format::{NONCE_BYTES, TAG_BYTES};
use crate::error::{Error, Result};
use aes_gcm::aead::Aead as _;
use aes_gcm::aead::consts::U12;
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, KeyInit as _, Nonce};
use serde_json::Value;
use std::fmt;

/// Longest value read: a browser keeps at most 4096 bytes of `name=value`.
pub const MAX_SEEDS_VALUE_BYTES: usize = 4096;

#[derive(Clone)]
enum Cipher {
    Aes128(Aes128Gcm),
    Aes192(AesGcm<Aes192, U12>),
    Aes256(Aes256Gcm),
}

/// Opens values sealed by the seeds' `CookieOverseer` (read only: nothing seals them).
#[derive(Clone)]
pub struct SeedsOpener {
    cipher: Cipher,
}

impl fmt::Debug for SeedsOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.cipher {
            Cipher::Aes128(_) => 128,
            Cipher::Aes192(_) => 192,
            Cipher::Aes256(_) => 256,
        };
        f.debug_struct("SeedsOpener")
            .field("aes_bits", &bits)
            .finish()
    }
}

/// What opening a seeds value gave.
#[derive(Debug, Clone, PartialEq)]
pub enum SeedsOpened {
    /// The JSON the value holds.
    Json(Value),
    /// No session, and why ([`Reason::Expired`] never: seeds values hold no expiry).
    NoSession(Reason),
}

impl SeedsOpener {
    /// An opener for the seeds' secret key: 16, 24 or 32 bytes (AES-128, -192, -256), as
    /// `NewCookieOverseer` takes it. Any other length is `CONFIG_INVALID` naming `key`
    /// (the seeds panic).
    pub fn new(key: &[u8]) -> Result<Self> {
        let bad = |_| Error::config("key", "invalid AES key");
        let cipher = match key.len() {
            16 => Cipher::Aes128(Aes128Gcm::new_from_slice(key).map_err(bad)?),
            24 => Cipher::Aes192(AesGcm::<Aes192, U12>::new_from_slice(key).map_err(bad)?),
            32 => Cipher::Aes256(Aes256Gcm::new_from_slice(key).map_err(bad)?),
            n => {
                return Err(Error::config(
                    "key",
                    format!("a seeds cookie key is 16, 24 or 32 bytes, not {n}"),
                ));
            }
        };
        Ok(Self { cipher })
    }

    /// The JSON sealed in `value` (the cookie's value, standard base64 with padding). Never
    /// fails and never panics: anything else is a [`Reason`].
    pub fn open(&self, value: &str) -> SeedsOpened {
        match self.open_inner(value) {
            Ok(json) => SeedsOpened::Json(json),
            Err(reason) => SeedsOpened::NoSession(reason),
        }
    }

    fn open_inner(&self, value: &str) -> Result<Value, Reason> {
        use base64::Engine as _;
        if value.len() > MAX_SEEDS_VALUE_BYTES {
            return Err(Reason::Oversized);
        }
        // Go's StdEncoding: padded, and strict about the trailing bits.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| Reason::Malformed)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(Reason::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let nonce = Nonce::from_slice(nonce);
        let plain = match &self.cipher {
            Cipher::Aes128(c) => c.decrypt(nonce, sealed),
            Cipher::Aes192(c) => c.decrypt(nonce, sealed),
            Cipher::Aes256(c) => c.decrypt(nonce, sealed),
        }
        .map_err(|_| Reason::Tampered)?;
        let mut json: Value = serde_json::from_slice(&plain).map_err(|_| Reason::Malformed)?;
        if let Value::Object(map) = &mut json {
            crate::json::relax_read(map);
        }
        Ok(json)
    }
}
