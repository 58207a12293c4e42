//! Site isolation: a store sees only its own site's sessions; any access to another site's
//! session is reported, and the session is left as it is.

use super::violation::{Violation, ViolationKind};
use crate::session::Session;
use crate::timestamp::Timestamp;

/// Whether `session` belongs to the store of `own_site`.
pub(crate) fn is_own(own_site: &str, session: &Session) -> bool {
    session.site_id == own_site
}

/// The `site_mismatch` event for an access to `foreign` from the store of `own_site`; the
/// event carries the foreign session's site.
pub(crate) fn mismatch(own_site: &str, foreign: &Session, at: Timestamp) -> Violation {
    Violation::new(
        ViolationKind::SiteMismatch,
        &foreign.site_id,
        at,
        Some(&foreign.id),
        foreign.user_id.as_deref(),
        format!(
            "session belongs to site {:?}, expected {own_site:?}",
            foreign.site_id
        ),
    )
}
