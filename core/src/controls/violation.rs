//! Violation events: what the controls refused or did, reported to the host without ever
//! exposing a raw session id and without ever failing the operation.

use crate::timestamp::Timestamp;
use std::fmt::{self, Debug};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// The kinds of violation (docs/design.md "Violations").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A write's session JSON exceeded `max_session_size`.
    SizeExceeded,
    /// Session data held a value that is not plain JSON.
    NotSerializable,
    /// A malformed session or argument (e.g. no user where one is required).
    InvalidSession,
    /// A user reached `max_sessions_per_user` (evicted or refused).
    SessionLimitExceeded,
    /// An operation addressed a session of another site.
    SiteMismatch,
    /// An id that is not of the session-id shape.
    MalformedId,
    /// A deleted, rotated or evicted id presented again (a cookie used after logout).
    ReplayedId,
    /// A sealed cookie value that is not of the format (bad prefix, base64, length, payload).
    CookieMalformed,
    /// A sealed cookie value that failed authentication: altered, sealed with an unknown or
    /// retired key, or moved from another cookie name.
    CookieTampered,
    /// An authentic sealed cookie presented after its sealed-in expiry (a replay).
    CookieExpired,
    /// A sealed cookie longer than the cookie size limit, refused before any decoding.
    CookieOversized,
    /// The same sealed cookie name sent more than once in one request.
    CookieDuplicated,
}

impl ViolationKind {
    /// The `type` string of the event.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SizeExceeded => "size_exceeded",
            Self::NotSerializable => "not_serializable",
            Self::InvalidSession => "invalid_session",
            Self::SessionLimitExceeded => "session_limit_exceeded",
            Self::SiteMismatch => "site_mismatch",
            Self::MalformedId => "malformed_id",
            Self::ReplayedId => "replayed_id",
            Self::CookieMalformed => "cookie_malformed",
            Self::CookieTampered => "cookie_tampered",
            Self::CookieExpired => "cookie_expired",
            Self::CookieOversized => "cookie_oversized",
            Self::CookieDuplicated => "cookie_duplicated",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violation event.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// What happened.
    pub kind: ViolationKind,
    /// Salted, truncated SHA-256 of the session id involved, if any.
    pub session_id_hash: Option<String>,
    /// The user involved, if known.
    pub user_id: Option<String>,
    /// The site: this store's, or for `site_mismatch` the foreign session's.
    pub site_id: String,
    /// A size or a count (bytes for `size_exceeded`, sessions for `session_limit_exceeded`).
    pub size: u64,
    /// The limit that applied.
    pub limit: u64,
    /// A human message (never containing a raw id).
    pub message: String,
    /// When it happened.
    pub at: Timestamp,
}

impl Violation {
    /// An event of `kind` at `at` on `site`, with neither size nor limit.
    pub fn new(
        kind: ViolationKind,
        site: &str,
        at: Timestamp,
        session_id: Option<&str>,
        user_id: Option<&str>,
        message: String,
    ) -> Self {
        Self {
            kind,
            session_id_hash: session_id.map(crate::id::hash),
            user_id: user_id.map(str::to_owned),
            site_id: site.to_owned(),
            size: 0,
            limit: 0,
            message,
            at,
        }
    }
}

/// Receives violation events. Implementations must return quickly and must not block on
/// store I/O: host adapters queue the event to their own thread or event loop.
pub trait ViolationSink: Send + Sync + Debug {
    /// Called once per event, after the operation's storage work.
    fn report(&self, violation: &Violation);
}

/// A sink from a closure.
pub struct FnSink<F>(pub F);

impl<F> Debug for FnSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnSink")
    }
}

impl<F: Fn(&Violation) + Send + Sync> ViolationSink for FnSink<F> {
    fn report(&self, violation: &Violation) {
        (self.0)(violation);
    }
}

/// Logs every violation and hands it to the sink; a sink that panics is logged, not propagated.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reporter {
    sink: Option<Arc<dyn ViolationSink>>,
}

impl Reporter {
    pub(crate) fn new(sink: Option<Arc<dyn ViolationSink>>) -> Self {
        Self { sink }
    }

    pub(crate) fn report(&self, v: &Violation) {
        tracing::warn!(
            target: "omnisession",
            r#type = v.kind.as_str(),
            session_id_hash = v.session_id_hash.as_deref().unwrap_or(""),
            user_id = v.user_id.as_deref().unwrap_or(""),
            site_id = %v.site_id,
            size = v.size,
            limit = v.limit,
            "session policy violation: {}",
            v.message
        );
        if let Some(sink) = &self.sink
            && catch_unwind(AssertUnwindSafe(|| sink.report(v))).is_err()
        {
            tracing::error!(target: "omnisession", r#type = v.kind.as_str(), "violation callback panicked; ignored");
        }
    }
}
