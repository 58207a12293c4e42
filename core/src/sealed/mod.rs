//! Sealed client-side sessions: the whole session travels in the cookie, encrypted and
//! authenticated with AES-256-GCM, and no backend holds anything.
//!
//! Why a module of its own: a sealed session has no id, no backend and no per-user index, so
//! none of the store's contract applies; what it shares with the store is the JSON-only rule
//! for data ([`crate::json`]), the error kinds and the expiry comparison (expired strictly
//! after `expires_at`, as [`crate::controls::expiry::is_live`]).
//!
//! # Format (v1)
//!
//! `v1.<key id>.<base64url without padding of nonce(12) || ciphertext || tag(16)>`:
//! - the key id names the key that sealed it (the first of the ring seals, every one opens);
//! - the associated data is `"omnisession-sealed-v1\0" || key id || "\0" || cookie name`, so a
//!   value moved under another cookie name does not open;
//! - the payload is JSON, `{"c":created_at,"d":data,"e":expires_at,"u":user_id}` (see
//!   [`format`]); the expiry is inside, so a client cannot extend it.
//!
//! # Why no session id
//!
//! A cookie session is its value: there is nothing server-side for an id to address. Login
//! rotation (against fixation) is a new seal: every seal draws a fresh nonce, so the value
//! after login shares nothing with the one before, and a value planted before login carries
//! no login. What an id would add is revocation (a server-side deny list), which needs a
//! store and is out of this module's scope: a sealed value stays valid until its `expires_at`.
//!
//! [`SeedsOpener`] reads the seeds' (possessions' `CookieOverseer`) values, and only those: it
//! is a separate type so that the unbound legacy format is never tried by accident.

pub mod format;
pub mod keys;
pub mod seeds;

pub use keys::SealKey;
pub use seeds::{SeedsOpened, SeedsOpener};

use crate::controls::violation::{Reporter, Violation, ViolationKind, ViolationSink};
use crate::error::{Error, ErrorKind, Result};
use crate::json;
use crate::timestamp::Timestamp;
use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use keys::KeyRing;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// Default limit on `name=value`: the 4096 bytes every browser keeps for one cookie.
pub const DEFAULT_MAX_COOKIE_BYTES: usize = 4096;

/// What a cookie session holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SealedSession {
    /// The logged-in user; `None` for an anonymous session.
    pub user_id: Option<String>,
    /// The session data: a JSON object under the JSON-only rule.
    pub data: Map<String, Value>,
    /// When the session was created.
    pub created_at: Timestamp,
    /// Absolute expiry, sealed in; `None` means the value never expires by itself.
    pub expires_at: Option<Timestamp>,
}

impl SealedSession {
    /// A new anonymous session with no data, created at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            user_id: None,
            data: Map::new(),
            created_at: now,
            expires_at: None,
        }
    }
}

/// Why a cookie value gave no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a value of the format (bad prefix, key id, base64, length or payload).
    Malformed,
    /// Authentication failed: the key id is unknown, or the value was altered, sealed with
    /// another key, or moved from another cookie name.
    Tampered,
    /// Authentic, but `now` is after its `expires_at`.
    Expired,
    /// `name=value` is longer than the limit: refused before any decoding.
    Oversized,
    /// The request carried the cookie more than once: which one the browser meant cannot be
    /// told, so none is trusted (a sibling domain may have planted one).
    Duplicated,
}

impl Reason {
    /// The reason's name in vectors and logs: `malformed`, `tampered`, `expired`, `oversized`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Tampered => "tampered",
            Reason::Expired => "expired",
            Reason::Oversized => "oversized",
            Reason::Duplicated => "duplicated",
        }
    }

    /// The violation a request's cookie with this reason raises.
    pub const fn violation(self) -> ViolationKind {
        match self {
            Reason::Malformed => ViolationKind::CookieMalformed,
            Reason::Tampered => ViolationKind::CookieTampered,
            Reason::Expired => ViolationKind::CookieExpired,
            Reason::Oversized => ViolationKind::CookieOversized,
            Reason::Duplicated => ViolationKind::CookieDuplicated,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Reason::Malformed => "a sealed cookie is not a sealed value",
            Reason::Tampered => {
                "a sealed cookie failed authentication (altered, unknown key or moved from another cookie)"
            }
            Reason::Expired => "a sealed cookie was presented after its expiry",
            Reason::Oversized => "a sealed cookie is longer than the cookie size limit",
            Reason::Duplicated => "a sealed cookie was sent more than once in one request",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What opening a cookie value gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// An authentic, live session.
    Session(SealedSession),
    /// No session, and why (a request goes on as anonymous in every case).
    NoSession(Reason),
}

/// Seals sessions into cookie values and opens them.
#[derive(Clone)]
pub struct Sealer {
    ring: KeyRing,
    cookie_name: String,
    max_cookie_bytes: usize,
    /// Every value that does not open is reported here, as the store reports its violations.
    reporter: Reporter,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.ring.ids().collect::<Vec<_>>())
            .field("cookie_name", &self.cookie_name)
            .field("max_cookie_bytes", &self.max_cookie_bytes)
            .field("reporter", &self.reporter)
            .finish()
    }
}

/// Whether `name` is an RFC 6265 cookie name (an RFC 7230 token).
fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !br#"()<>@,;:\"/[]?={}"#.contains(&b))
}

impl Sealer {
    /// A sealer for the cookie `cookie_name`: `keys[0]` seals, every key opens; values whose
    /// `name=value` exceeds `max_cookie_bytes` ([`DEFAULT_MAX_COOKIE_BYTES`]) are neither
    /// written nor read.
    ///
    /// `CONFIG_INVALID`, naming the option: `keys` (empty, a key not 32 bytes, a bad or
    /// repeated id), `cookie_name` (not a token), `max_cookie_bytes` (0).
    pub fn new(keys: Vec<SealKey>, cookie_name: &str, max_cookie_bytes: usize) -> Result<Self> {
        let ring = KeyRing::new(keys)?;
        if !is_cookie_name(cookie_name) {
            return Err(Error::config(
                "cookie_name",
                "the cookie name must be a non-empty RFC 6265 token",
            ));
        }
        if max_cookie_bytes == 0 {
            return Err(Error::config(
                "max_cookie_bytes",
                "the cookie size limit must be at least 1 byte",
            ));
        }
        Ok(Self {
            ring,
            cookie_name: cookie_name.to_owned(),
            max_cookie_bytes,
            reporter: Reporter::default(),
        })
    }

    /// The same sealer, handing a violation event to `sink` for every value that does not
    /// open (kinds `cookie_malformed`, `cookie_tampered`, `cookie_expired`, `cookie_oversized`,
    /// `cookie_duplicated`; `site_id` is empty, as a sealed session has no site). Every event
    /// is also logged, with or without a sink.
    #[must_use]
    pub fn with_violation_sink(mut self, sink: Arc<dyn ViolationSink>) -> Self {
        self.reporter = Reporter::new(Some(sink));
        self
    }

    /// The cookie name values are bound to.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The limit on `name=value`, in bytes.
    pub fn max_cookie_bytes(&self) -> usize {
        self.max_cookie_bytes
    }

    /// The cookie value for `session`, sealed with the first key and a fresh random nonce.
    ///
    /// `SESSION_INVALID` for an empty `user_id` or an instant outside the years 0000 to 9999
    /// (detail `field`); `SESSION_NOT_SERIALIZABLE` (details `path`,
    /// `reason`) for data outside the JSON-only rule; `SESSION_SIZE_EXCEEDED` (details `size`,
    /// `limit`) when `name=value` would exceed the limit.
    ///
    /// # Panics
    /// If the operating system's random source fails (as id generation does).
    pub fn seal(&self, session: &SealedSession) -> Result<String> {
        let mut nonce = [0u8; format::NONCE_BYTES];
        crate::id::fill_random(&mut nonce);
        self.seal_with_nonce(session, nonce)
    }

    /// [`seal`](Self::seal) with a given nonce, for test vectors only: reusing a nonce with
    /// the same key breaks AES-GCM.
    #[doc(hidden)]
    pub fn seal_with_nonce(
        &self,
        session: &SealedSession,
        nonce: [u8; format::NONCE_BYTES],
    ) -> Result<String> {
        if session.user_id.as_deref() == Some("") {
            return Err(Error::invalid(
                "the user id must not be empty (give none for an anonymous session)",
            ));
        }
        let instants = [
            ("created_at", Some(session.created_at)),
            ("expires_at", session.expires_at),
        ];
        if let Some((field, _)) = instants
            .iter()
            .find(|(_, t)| t.is_some_and(|t| !t.is_writable()))
        {
            return Err(
                Error::invalid(format!("{field} must be within the years 0000 to 9999"))
                    .with("field", *field),
            );
        }
        let mut data = session.data.clone();
        json::check_data(&mut data).map_err(|p| {
            Error::new(
                ErrorKind::SessionNotSerializable,
                format!("session data is not JSON: {} at {}", p.reason, p.path),
            )
            .with("path", p.path.as_str())
            .with("reason", p.reason.as_str())
        })?;
        let payload = format::write_payload(session, &data);
        let (key_id, cipher) = self.ring.sealing();
        let aad = format::associated_data(key_id, &self.cookie_name);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: payload.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::invalid("the session cannot be sealed"))?;
        let mut sealed = Vec::with_capacity(nonce.len() + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        let value = format::join(key_id, &sealed);
        let size = self.cookie_name.len() + 1 + value.len();
        if size > self.max_cookie_bytes {
            let limit = self.max_cookie_bytes;
            return Err(Error::new(
                ErrorKind::SessionSizeExceeded,
                format!("sealed cookie size {size} bytes exceeds limit {limit} bytes"),
            )
            .with("size", size)
            .with("limit", limit));
        }
        Ok(value)
    }

    /// The session in `value` (the cookie's value, without the name), if it is authentic,
    /// bound to this cookie name and live at `now`. Never fails and never panics: any input
    /// that is not such a value is a [`Reason`].
    pub fn open(&self, value: &str, now: Timestamp) -> Opened {
        match self.open_inner(value, now) {
            Ok(session) => Opened::Session(session),
            Err(reason) => self.refuse(reason, value.len(), now),
        }
    }

    /// Whether `value` names a key other than the sealing one (the first of the ring): once it
    /// has opened, a host re-seals it, so that clients move to the current key before an old one
    /// is retired. Says nothing about whether the value opens.
    pub fn is_stale(&self, value: &str) -> bool {
        format::split(value).is_some_and(|parts| parts.key_id != self.ring.sealing().0)
    }

    /// The session in a request's cookie, given every value the request sent under this
    /// cookie's name: `None` when there is none, [`Reason::Duplicated`] when there are
    /// several, else [`open`](Self::open) of the one value.
    pub fn open_request(&self, values: &[&str], now: Timestamp) -> Option<Opened> {
        match values {
            [] => None,
            [value] => Some(self.open(value, now)),
            _ => Some(self.refuse(Reason::Duplicated, 0, now)),
        }
    }

    fn refuse(&self, reason: Reason, value_len: usize, now: Timestamp) -> Opened {
        let mut event = Violation::new(
            reason.violation(),
            "",
            now,
            None,
            None,
            format!("{} ({:?})", reason.message(), self.cookie_name),
        );
        if reason == Reason::Oversized {
            event.size = (self.cookie_name.len() + 1 + value_len) as u64;
            event.limit = self.max_cookie_bytes as u64;
        }
        self.reporter.report(&event);
        Opened::NoSession(reason)
    }

    fn open_inner(&self, value: &str, now: Timestamp) -> Result<SealedSession, Reason> {
        if self.cookie_name.len() + 1 + value.len() > self.max_cookie_bytes {
            return Err(Reason::Oversized);
        }
        let parts = format::split(value).ok_or(Reason::Malformed)?;
        let cipher: &Aes256Gcm = self.ring.get(parts.key_id).ok_or(Reason::Tampered)?;
        let (nonce, ciphertext) = parts.sealed.split_at(format::NONCE_BYTES);
        let aad = format::associated_data(parts.key_id, &self.cookie_name);
        let payload = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| Reason::Tampered)?;
        let session = format::read_payload(&payload).ok_or(Reason::Malformed)?;
        if session.expires_at.is_some_and(|e| now > e) {
            return Err(Reason::Expired);
        }
        Ok(session)
    }
}
