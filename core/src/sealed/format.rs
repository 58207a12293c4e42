//! The sealed value and its payload, byte for byte (docs in [`super`]).
//!
//! Kept apart from the sealing logic so the format can be read, versioned and tested on its
//! own: `v1.<key id>.<base64url(nonce || ciphertext+tag)>`, the associated data binding the
//! version, the key id and the cookie name, and a JSON payload written by the one JSON writer
//! of the crate ([`crate::json`]), so sealing the same session gives the same bytes.

use super::SealedSession;
use crate::json::{self, write_object, write_string};
use crate::timestamp::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The version prefix of every value this format writes (with its separator).
pub const PREFIX: &str = "v1.";

/// Bytes of the AES-GCM nonce (96 bits, fresh from the OS CSPRNG for every seal).
pub const NONCE_BYTES: usize = 12;

/// Bytes of the AES-GCM tag.
pub const TAG_BYTES: usize = 16;

/// The associated data of a v1 value: what the tag binds besides the payload. A value copied
/// under another cookie name (or relabelled with another key id) fails authentication.
pub(crate) fn associated_data(key_id: &str, cookie_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + key_id.len() + cookie_name.len());
    aad.extend_from_slice(b"omnisession-sealed-v1\0");
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(cookie_name.as_bytes());
    aad
}

/// The parts of a v1 value, not yet authenticated.
pub(crate) struct Parts<'a> {
    /// The key id, well-formed.
    pub(crate) key_id: &'a str,
    /// Base64url-decoded `nonce || ciphertext || tag`, at least nonce + tag long.
    pub(crate) sealed: Vec<u8>,
}

/// Splits a value into its parts, or `None` when it is not a v1 value.
pub(crate) fn split(value: &str) -> Option<Parts<'_>> {
    use base64::Engine as _;
    let rest = value.strip_prefix(PREFIX)?;
    let (key_id, body) = rest.split_once('.')?;
    if !super::keys::is_key_id(key_id) {
        return None;
    }
    // Strict: no padding, no other alphabet, no non-canonical trailing bits.
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    (sealed.len() >= NONCE_BYTES + TAG_BYTES).then_some(Parts { key_id, sealed })
}

/// Writes the value from the key id and `nonce || ciphertext || tag`.
pub(crate) fn join(key_id: &str, sealed: &[u8]) -> String {
    use base64::Engine as _;
    let mut out = String::with_capacity(PREFIX.len() + key_id.len() + 1 + sealed.len() * 4 / 3 + 4);
    out.push_str(PREFIX);
    out.push_str(key_id);
    out.push('.');
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(sealed, &mut out);
    out
}

/// The payload JSON: `{"c":created_at,"d":data,"e":expires_at,"u":user_id}`, keys sorted,
/// `d` omitted when empty, `e` and `u` when absent, instants in the wire's RFC 3339 form.
/// Short keys because every byte counts against the browser's 4096.
pub(crate) fn write_payload(session: &SealedSession, data: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("{\"c\":\"");
    session.created_at.write_to(&mut out);
    out.push('"');
    if !data.is_empty() {
        out.push_str(",\"d\":");
        write_object(&mut out, data);
    }
    if let Some(e) = session.expires_at {
        out.push_str(",\"e\":\"");
        e.write_to(&mut out);
        out.push('"');
    }
    if let Some(u) = &session.user_id {
        out.push_str(",\"u\":");
        write_string(&mut out, u);
    }
    out.push('}');
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    c: String,
    #[serde(default)]
    d: Map<String, Value>,
    e: Option<String>,
    u: Option<String>,
}

/// Reads an authenticated payload, or `None` when it is not one this format writes.
pub(crate) fn read_payload(bytes: &[u8]) -> Option<SealedSession> {
    let p: Payload = serde_json::from_slice(bytes).ok()?;
    let mut data = p.d;
    json::relax_read(&mut data);
    Some(SealedSession {
        user_id: p.u,
        data,
        created_at: Timestamp::parse(&p.c)?,
        expires_at: match p.e {
            Some(e) => Some(Timestamp::parse(&e)?),
            None => None,
        },
    })
}
