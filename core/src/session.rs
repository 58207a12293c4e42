//! The session record and its wire format (docs/design.md "Session record").
//!
//! Field names and order follow omnistorage-core so that a Go service reads and writes the
//! same records; `version` comes last. A record written without it (omnistorage-core's struct
//! has none) gets a version derived from its `updated_at` ([`derived_version`]), so that a
//! version never goes back when a Go service writes between two of ours.

use crate::json::{self, MAX_SAFE_INTEGER, write_object, write_string};
use crate::timestamp::{Timestamp, ZERO_INSTANT, ZERO_TIME};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One session, as the store returns it. Callers get deep copies; nothing is shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The session id (43 base64url characters when generated).
    pub id: String,
    /// The owner; `None` for an anonymous session (written as `""`).
    pub user_id: Option<String>,
    /// The site this session belongs to (`""` when isolation is off).
    pub site_id: String,
    /// Optional tenant.
    pub organization_id: Option<String>,
    /// The session data: a JSON object.
    pub data: Map<String, Value>,
    /// When the session was created.
    pub created_at: Timestamp,
    /// When the record was last written by `update`, `patch` or `rotate`.
    pub updated_at: Timestamp,
    /// When the session was last used (moved by `touch` and writes).
    pub last_accessed_at: Timestamp,
    /// Absolute expiry; `None` means never (written as Go's zero time).
    pub expires_at: Option<Timestamp>,
    /// Client address, informational (omitted when empty).
    pub ip_address: String,
    /// Client user agent, informational (omitted when empty).
    pub user_agent: String,
    /// 1 on create, +1 on every update, patch and rotate; 0 for records without it.
    pub version: u64,
}

/// The nil UUID: omnistorage-core's zero `uuid.UUID`, "no user". Its JSON decoder refuses an
/// empty `user_id`, so omnistorage-compatible stores write anonymous sessions with this one,
/// and every store reads it as anonymous.
pub const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// The version of a record written without `version` (by omnistorage-core): its `updated_at`
/// in Unix microseconds, clamped to 0..=2^53-1 (every host holds it exactly until 2255).
///
/// Counted versions start at 1 and grow by one per write, so they stay far below any such
/// value (10^15 writes); and each Go write sets `updated_at` to its own now, so a version
/// issued before that write (a counted one, or one derived from an earlier Go write plus our
/// writes since, each of which takes more than a microsecond) is never the version after it.
/// Only a Go host's wall clock stepping back could repeat one.
pub fn derived_version(updated_at: Timestamp) -> u64 {
    let micros = updated_at.unix_nanos().div_euclid(1000);
    micros.clamp(0, i128::from(MAX_SAFE_INTEGER)) as u64
}

impl Session {
    /// The wire JSON: exactly the bytes stored in every backend.
    pub fn to_wire(&self) -> String {
        self.write_wire("")
    }

    /// The wire JSON an omnistorage-compatible store writes: [`Session::to_wire`], except that
    /// an anonymous session's `user_id` is [`NIL_UUID`], which Go's `uuid.UUID` can decode.
    pub fn to_go_wire(&self) -> String {
        self.write_wire(NIL_UUID)
    }

    fn write_wire(&self, anonymous: &str) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"id\":");
        write_string(&mut out, &self.id);
        out.push_str(",\"user_id\":");
        write_string(&mut out, self.user_id.as_deref().unwrap_or(anonymous));
        if !self.site_id.is_empty() {
            out.push_str(",\"site_id\":");
            write_string(&mut out, &self.site_id);
        }
        if let Some(org) = &self.organization_id {
            out.push_str(",\"organization_id\":");
            write_string(&mut out, org);
        }
        if !self.data.is_empty() {
            out.push_str(",\"data\":");
            write_object(&mut out, &self.data);
        }
        for (name, at) in [
            ("created_at", self.created_at),
            ("updated_at", self.updated_at),
            ("last_accessed_at", self.last_accessed_at),
        ] {
            out.push_str(",\"");
            out.push_str(name);
            out.push_str("\":\"");
            at.write_to(&mut out);
            out.push('"');
        }
        out.push_str(",\"expires_at\":\"");
        match self.expires_at {
            Some(at) => at.write_to(&mut out),
            None => out.push_str(ZERO_TIME),
        }
        out.push('"');
        if !self.ip_address.is_empty() {
            out.push_str(",\"ip_address\":");
            write_string(&mut out, &self.ip_address);
        }
        if !self.user_agent.is_empty() {
            out.push_str(",\"user_agent\":");
            write_string(&mut out, &self.user_agent);
        }
        out.push_str(",\"version\":");
        out.push_str(&self.version.to_string());
        out.push('}');
        out
    }

    /// The size the size limit counts: the byte length of the wire JSON.
    pub fn size(&self) -> usize {
        self.to_wire().len()
    }

    /// Reads a wire record, including ones written by omnistorage-core (no `version`: see
    /// [`derived_version`]; UUID users, the nil UUID as anonymous; any RFC 3339 offset). The
    /// error says what is wrong, never what the data was.
    pub fn from_wire(bytes: &[u8]) -> Result<Session, String> {
        let w: WireRecord =
            serde_json::from_slice(bytes).map_err(|e| format!("not a session record: {e}"))?;
        let at = |name: &str, text: &str| {
            Timestamp::parse(text).ok_or_else(|| format!("`{name}` is not an RFC 3339 timestamp"))
        };
        let expires_at = at("expires_at", &w.expires_at)?;
        let updated_at = at("updated_at", &w.updated_at)?;
        let mut data = w.data.unwrap_or_default();
        json::relax_read(&mut data);
        Ok(Session {
            id: w.id,
            user_id: Some(w.user_id).filter(|u| !u.is_empty() && u != NIL_UUID),
            site_id: w.site_id.unwrap_or_default(),
            organization_id: w.organization_id,
            data,
            created_at: at("created_at", &w.created_at)?,
            updated_at,
            last_accessed_at: at("last_accessed_at", &w.last_accessed_at)?,
            expires_at: (expires_at > ZERO_INSTANT).then_some(expires_at),
            ip_address: w.ip_address.unwrap_or_default(),
            user_agent: w.user_agent.unwrap_or_default(),
            version: w.version.unwrap_or_else(|| derived_version(updated_at)),
        })
    }
}

#[derive(Deserialize)]
struct WireRecord {
    id: String,
    user_id: String,
    site_id: Option<String>,
    organization_id: Option<String>,
    data: Option<Map<String, Value>>,
    created_at: String,
    updated_at: String,
    last_accessed_at: String,
    expires_at: String,
    ip_address: Option<String>,
    user_agent: Option<String>,
    version: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn go_like(expires: Option<Timestamp>) -> Session {
        // A fresh omnistorage-core session: UUID user, 9-digit fractions in every timestamp.
        let t = Timestamp::from_unix_nanos(1_700_000_000_123_456_789);
        Session {
            id: "a".repeat(43),
            user_id: Some("550e8400-e29b-41d4-a716-446655440000".into()),
            site_id: String::new(),
            organization_id: None,
            data: Map::new(),
            created_at: t,
            updated_at: t,
            last_accessed_at: t,
            expires_at: expires,
            ip_address: String::new(),
            user_agent: String::new(),
            version: 1,
        }
    }

    const VERSION_FIELD: usize = r#","version":1"#.len();

    #[test]
    fn size_matches_omnistorage_worked_example() {
        let exp = Some(Timestamp::from_unix_nanos(1_700_003_600_123_456_789));
        assert_eq!(go_like(exp).size(), 291 + VERSION_FIELD);
        assert_eq!(go_like(None).size(), 281 + VERSION_FIELD);
        let mut s = go_like(exp);
        s.site_id = "academyos".into();
        assert_eq!(s.size(), 291 + 22 + VERSION_FIELD);
        s.data.insert("small".into(), json!("value"));
        assert_eq!(s.size(), 291 + 22 + 25 + VERSION_FIELD);
    }

    #[test]
    fn field_order_and_omissions() {
        let mut s = go_like(None);
        s.ip_address = "127.0.0.1".into();
        let wire = s.to_wire();
        let keys: Vec<_> = [
            "\"id\"",
            "\"user_id\"",
            "\"created_at\"",
            "\"updated_at\"",
            "\"last_accessed_at\"",
            "\"expires_at\":\"0001-01-01T00:00:00Z\"",
            "\"ip_address\"",
            "\"version\"",
        ]
        .iter()
        .map(|k| wire.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{wire}");
        for absent in ["site_id", "organization_id", "\"data\"", "user_agent"] {
            assert!(!wire.contains(absent), "{wire}");
        }
    }

    #[test]
    fn round_trips_and_reads_go_records() {
        let mut s = go_like(Some(Timestamp::from_unix_ms(1_800_000_000_000)));
        s.data.insert("k".into(), json!({"n": [1, 2.5, "<x>"]}));
        s.organization_id = Some("org".into());
        assert_eq!(Session::from_wire(s.to_wire().as_bytes()).unwrap(), s);

        let go = br#"{"id":"abc","user_id":"550e8400-e29b-41d4-a716-446655440000","created_at":"2024-05-01T12:00:00.5+02:00","updated_at":"2024-05-01T10:00:00Z","last_accessed_at":"2024-05-01T10:00:00Z","expires_at":"0001-01-01T00:00:00Z"}"#;
        let read = Session::from_wire(go).unwrap();
        assert_eq!(
            read.version, 1_714_557_600_000_000,
            "updated_at in microseconds"
        );
        assert_eq!(read.expires_at, None);
        assert!(read.data.is_empty());
        assert_eq!(read.created_at.to_string(), "2024-05-01T10:00:00.5Z");
    }

    #[test]
    fn go_zero_values_read_as_absent() {
        let anon = br#"{"id":"abc","user_id":"00000000-0000-0000-0000-000000000000","created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","last_accessed_at":"0001-01-01T00:00:00Z","expires_at":"0001-01-01T00:00:00Z"}"#;
        let read = Session::from_wire(anon).unwrap();
        assert_eq!((read.user_id.as_deref(), read.version), (None, 0));
        assert!(read.to_go_wire().contains(NIL_UUID));
        assert!(read.to_wire().contains(r#""user_id":"""#));
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        for bad in [&b"not json"[..], b"[]", br#"{"id":1}"#, br#"{"id":"a","user_id":"u","created_at":"x","updated_at":"x","last_accessed_at":"x","expires_at":"x"}"#] {
            assert!(Session::from_wire(bad).is_err());
        }
    }
}
