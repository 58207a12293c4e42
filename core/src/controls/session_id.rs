//! The session id rules: a malformed id addresses nothing, and an id that was deleted,
//! rotated or evicted and is presented again is a replay (a cookie used after logout).

use super::Refusal;
use super::violation::{Violation, ViolationKind};
use crate::error::Error;
use crate::id;
use crate::timestamp::Timestamp;

/// The refusal of an id that is not of the session-id form (`malformed_id`).
pub(crate) fn malformed(site: &str, user: Option<&str>, at: Timestamp) -> Refusal {
    let message = "the session id is not of the form [A-Za-z0-9_-]{22,128}";
    Refusal {
        error: Error::invalid(message).with("reason", "malformed_id"),
        violation: Violation::new(
            ViolationKind::MalformedId,
            site,
            at,
            None,
            user,
            message.to_owned(),
        ),
    }
}

/// The `replayed_id` event: `session_id` is tombstoned, so whoever presents it holds a
/// session that ended (logout, rotation, eviction).
pub(crate) fn replayed(site: &str, session_id: &str, at: Timestamp) -> Violation {
    Violation::new(
        ViolationKind::ReplayedId,
        site,
        at,
        Some(session_id),
        None,
        format!(
            "session {} ended (deleted, rotated or evicted) and was presented again",
            id::hash(session_id)
        ),
    )
}
