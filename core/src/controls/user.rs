//! The user id rule: who may own a session, and whether a write must name one.

use super::Refusal;
use super::violation::{Violation, ViolationKind};
use crate::error::Error;
use crate::timestamp::Timestamp;

/// Longest user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;

/// Whether an operation needs a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserRule {
    /// A user is required (a create without `allow_anonymous`, a login).
    Required,
    /// No user is fine (an update that attaches none, a create with `allow_anonymous`).
    Optional,
}

/// The user id as given, or the refusal (`SESSION_INVALID`, `invalid_session`).
pub(crate) fn check(
    user: Option<String>,
    rule: UserRule,
    site: &str,
    at: Timestamp,
) -> Result<Option<String>, Box<Refusal>> {
    let problem = match &user {
        None if rule == UserRule::Optional => return Ok(None),
        None => "a user id is required (or open the store with allow_anonymous)",
        Some(u) if u.is_empty() => "the user id must not be empty",
        Some(u) if u.len() > MAX_USER_ID_BYTES => "the user id is longer than 256 bytes",
        Some(_) => return Ok(user),
    };
    Err(Box::new(Refusal {
        error: Error::invalid(problem),
        violation: Violation::new(
            ViolationKind::InvalidSession,
            site,
            at,
            None,
            None,
            problem.to_owned(),
        ),
    }))
}
