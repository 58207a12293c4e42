//! One stored record as the admin API sees it: checked against the record rules, and shown
//! only under its fingerprint.

use crate::backend::RawRecord;
use crate::controls::expiry::ExpiryRule;
use crate::controls::user::MAX_USER_ID_BYTES;
use crate::id;
use crate::json;
use crate::session::Session;
use serde_json::Value;

/// A stored record, decoded and checked.
///
/// Its [`Entry::session`] holds the raw id: an admin tool shows [`Entry::fingerprint`] (or
/// [`Entry::redacted`]) instead, never the id.
#[derive(Debug, Clone)]
pub struct Entry {
    fingerprint: String,
    record: RawRecord,
    checked: Result<Session, String>,
    expires_ms: Option<i64>,
}

impl Entry {
    /// Decodes and checks `record`; its effective expiry is the earlier of the backend's and
    /// the one `rule` gives the session (as every listing computes it).
    pub(crate) fn new(record: RawRecord, rule: &ExpiryRule) -> Entry {
        let checked = check(&record);
        let expires_ms = match &checked {
            Ok(s) => earlier(record.expires_ms, rule.effective_ms(s)),
            Err(_) => record.expires_ms,
        };
        Entry {
            fingerprint: id::fingerprint(&record.id),
            record,
            checked,
            expires_ms,
        }
    }

    /// The stable fingerprint of the id the record is stored under ([`id::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The session, when the record is a valid one.
    pub fn session(&self) -> Option<&Session> {
        self.checked.as_ref().ok()
    }

    /// What is wrong with the record, when it is not a valid session (the message never
    /// quotes its id).
    pub fn problem(&self) -> Option<&str> {
        self.checked.as_ref().err().map(String::as_str)
    }

    /// The stored size in bytes (what `max_session_size` measures).
    pub fn size(&self) -> usize {
        self.record.bytes.len()
    }

    /// The effective expiry in Unix ms; `None` = never.
    pub fn expires_ms(&self) -> Option<i64> {
        self.expires_ms
    }

    /// Whether the session is live at `now_ms` (never for a bad record: nothing serves it).
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.checked.is_ok() && crate::backend::is_live(self.expires_ms, now_ms)
    }

    /// The record as stored, every occurrence of its id replaced by `fp:` and its
    /// fingerprint, for `omnisession inspect`; `None` for a bad record.
    pub fn redacted_text(&self) -> Option<String> {
        let text = self.wire()?;
        Some(text.replace(&self.record.id, &format!("fp:{}", self.fingerprint)))
    }

    /// [`Entry::redacted_text`] as JSON.
    pub fn redacted(&self) -> Option<Value> {
        serde_json::from_str(&self.redacted_text()?).ok()
    }

    /// The stored bytes, when they form a valid session (what a migration copies as is).
    pub(crate) fn wire(&self) -> Option<&str> {
        self.checked.as_ref().ok()?;
        std::str::from_utf8(&self.record.bytes).ok()
    }

    /// The id the record is stored under.
    pub(crate) fn id(&self) -> &str {
        &self.record.id
    }
}

fn earlier(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The rules a stored record must satisfy: readable, a session record in the wire format,
/// stored under its own (well-formed) id and its own site and user, with JSON-only data and
/// a user id within the limit.
fn check(record: &RawRecord) -> Result<Session, String> {
    let hide = |why: String| why.replace(&record.id, "<id>");
    if let Some(why) = &record.unreadable {
        return Err(hide(why.clone()));
    }
    if std::str::from_utf8(&record.bytes).is_err() {
        return Err("the record is not UTF-8 text".into());
    }
    let mut session = Session::from_wire(&record.bytes).map_err(hide)?;
    if session.id != record.id {
        return Err("the record's id is not the id it is stored under".into());
    }
    if !id::is_well_formed(&session.id) {
        return Err("the id is not of the form of a session id".into());
    }
    if let Some((site, user)) = &record.indexed_as
        && (site != &session.site_id || user != &session.user_id)
    {
        return Err("the record's site or user is not the one it is indexed under".into());
    }
    if session
        .user_id
        .as_ref()
        .is_some_and(|u| u.len() > MAX_USER_ID_BYTES)
    {
        return Err(format!("user_id is longer than {MAX_USER_ID_BYTES} bytes"));
    }
    let mut data = std::mem::take(&mut session.data);
    json::check_data(&mut data)
        .map_err(|p| hide(format!("data is not JSON-only at {}: {}", p.path, p.reason)))?;
    session.data = data;
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(bytes: &[u8], id: &str) -> RawRecord {
        RawRecord {
            id: id.to_owned(),
            bytes: bytes.to_vec(),
            unreadable: None,
            expires_ms: None,
            indexed_as: None,
        }
    }

    #[test]
    fn bad_records_are_named_without_their_id() {
        let id = id::generate();
        let good = format!(
            r#"{{"id":"{id}","user_id":"u","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","last_accessed_at":"2024-01-01T00:00:00Z","expires_at":"0001-01-01T00:00:00Z","version":1}}"#
        );
        let rule = ExpiryRule::default();
        let ok = Entry::new(raw(good.as_bytes(), &id), &rule);
        assert!(ok.problem().is_none());
        assert!(ok.is_live(i64::MAX));
        let shown = ok.redacted().unwrap().to_string();
        assert!(
            !shown.contains(&id) && shown.contains(ok.fingerprint()),
            "{shown}"
        );
        let other = id::generate();
        for (bytes, key) in [
            (&b"not json"[..], id.as_str()),
            (b"\xff\xfe", &id),
            (good.as_bytes(), &other),
            (br#"{"id":1}"#, &id),
        ] {
            let e = Entry::new(raw(bytes, key), &rule);
            let problem = e.problem().expect("a bad record");
            assert!(
                !problem.contains(&id) && !problem.contains(&other),
                "{problem}"
            );
            assert!(!e.is_live(0));
        }
        let mut indexed = raw(good.as_bytes(), &id);
        indexed.indexed_as = Some(("other".into(), Some("u".into())));
        assert!(Entry::new(indexed, &rule).problem().is_some());
    }
}
