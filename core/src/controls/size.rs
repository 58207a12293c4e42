//! The size limit: a write whose wire JSON is longer than `max_session_size` bytes stores
//! nothing (equal is allowed).

use super::Refusal;
use super::violation::{Violation, ViolationKind};
use crate::error::{Error, ErrorKind};
use crate::id;
use crate::session::Session;
use crate::timestamp::Timestamp;

/// Refuses `session` when its `wire_len` bytes exceed `limit` (0 = no limit).
pub(crate) fn check(
    limit: usize,
    session: &Session,
    wire_len: usize,
    at: Timestamp,
) -> Result<(), Box<Refusal>> {
    if limit == 0 || wire_len <= limit {
        return Ok(());
    }
    let mut violation = Violation::new(
        ViolationKind::SizeExceeded,
        &session.site_id,
        at,
        Some(&session.id),
        session.user_id.as_deref(),
        format!("size {wire_len} exceeds limit {limit}"),
    );
    violation.size = wire_len as u64;
    violation.limit = limit as u64;
    let error = Error::new(
        ErrorKind::SessionSizeExceeded,
        format!("session size {wire_len} bytes exceeds limit {limit} bytes"),
    )
    .with("size", wire_len)
    .with("limit", limit)
    .with("session_id_hash", id::hash(&session.id));
    Err(Box::new(Refusal { error, violation }))
}
