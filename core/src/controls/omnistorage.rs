//! The `omnistorage_compat` rule: only ids a Go service using omnistorage-core can decode.
//!
//! Its `Session` has `UserID uuid.UUID` and `OrganizationID *uuid.UUID`, so a record with
//! `"user_id":"alice"` makes its `Get` fail (`invalid UUID length`) and the session is lost to
//! it. Go also keys its per-user index by `UserID.String()`, the lowercase 8-4-4-4-12 form, so
//! an uppercase or braced UUID, which Go would decode, would still be indexed under another
//! key than Go looks under: only the canonical form is accepted. The nil UUID is how an
//! anonymous session is written ([`crate::session::NIL_UUID`]), so it names no user.

use super::Refusal;
use super::violation::{Violation, ViolationKind};
use crate::error::Error;
use crate::session::NIL_UUID;
use crate::timestamp::Timestamp;

/// Whether `s` is a UUID as Go's `uuid.UUID.String()` writes it.
pub fn is_canonical_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// Refuses (`SESSION_INVALID`, `invalid_session`) a user or organization id that a Go service
/// could not read back, saying why.
pub(crate) fn check(
    user: Option<&str>,
    organization: Option<&str>,
    site: &str,
    at: Timestamp,
) -> Result<(), Box<Refusal>> {
    let problem = match (user, organization) {
        (Some(NIL_UUID), _) => {
            "omnistorage_compat: the nil UUID cannot be a user id: it is how an anonymous \
             session is written for omnistorage-core"
        }
        (Some(u), _) if !is_canonical_uuid(u) => {
            "omnistorage_compat: the user id must be a UUID in canonical form (lowercase \
             8-4-4-4-12 hex): omnistorage-core's Session.UserID is a uuid.UUID, and a Go \
             service could neither read the session nor find it in its per-user index"
        }
        (_, Some(o)) if !is_canonical_uuid(o) => {
            "omnistorage_compat: the organization id must be a UUID in canonical form \
             (lowercase 8-4-4-4-12 hex): omnistorage-core's Session.OrganizationID is a \
             *uuid.UUID, and a Go service could not read the session"
        }
        _ => return Ok(()),
    };
    Err(Box::new(Refusal {
        error: Error::invalid(problem).with("rule", "omnistorage_compat"),
        violation: Violation::new(
            ViolationKind::InvalidSession,
            site,
            at,
            None,
            user,
            problem.to_owned(),
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_canonical_form_is_a_go_user() {
        assert!(is_canonical_uuid("550e8400-e29b-41d4-a716-446655440000"));
        for not in [
            "alice",
            "",
            "550E8400-E29B-41D4-A716-446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "550e8400e29b41d4a716446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
        ] {
            assert!(!is_canonical_uuid(not), "{not}");
        }
        let at = Timestamp::from_unix_ms(0);
        assert!(check(Some("alice"), None, "", at).is_err());
        assert!(check(Some(NIL_UUID), None, "", at).is_err());
        assert!(check(None, Some("acme"), "", at).is_err());
        assert!(check(Some("550e8400-e29b-41d4-a716-446655440000"), None, "", at).is_ok());
        assert!(check(None, None, "", at).is_ok());
    }
}
