//! One error type for every operation, with a stable code per kind.
//!
//! The codes are the public contract (docs/design.md "Errors"): the same strings appear as
//! `err.code` in Node and as `exc.code` on the Python exception classes.

use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// The underlying failure of an error raised outside the core (a host storage's exception).
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, as a stable, host-visible code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The session or an argument is malformed (bad id, missing user, bad patch).
    SessionInvalid,
    /// Session data holds a value that is not plain JSON.
    SessionNotSerializable,
    /// The session's JSON is larger than `max_session_size`.
    SessionSizeExceeded,
    /// No live session of this site has that id.
    SessionNotFound,
    /// The session exists but has expired.
    SessionExpired,
    /// The per-user limit is reached and the policy is `reject`.
    SessionLimitExceeded,
    /// The id is taken (or was recently deleted), or the version check failed.
    SessionConflict,
    /// The store was closed.
    StoreClosed,
    /// The backend cannot be reached.
    BackendUnavailable,
    /// The backend answered with an error or held a corrupt record.
    BackendError,
    /// An option passed to `open` is invalid.
    ConfigInvalid,
}

impl ErrorKind {
    /// Whether the kind says the session has ended (never existed, deleted, rotated away or
    /// expired): a host's request cycle treats it as no session, not as a failure. Node shows
    /// it as `err.gone`, Python as the common base class `SessionGoneError`.
    pub const fn is_gone(self) -> bool {
        matches!(self, ErrorKind::SessionNotFound | ErrorKind::SessionExpired)
    }

    /// Every kind, in the order of docs/design.md (used by catalogue tests).
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::SessionInvalid,
        ErrorKind::SessionNotSerializable,
        ErrorKind::SessionSizeExceeded,
        ErrorKind::SessionNotFound,
        ErrorKind::SessionExpired,
        ErrorKind::SessionLimitExceeded,
        ErrorKind::SessionConflict,
        ErrorKind::StoreClosed,
        ErrorKind::BackendUnavailable,
        ErrorKind::BackendError,
        ErrorKind::ConfigInvalid,
    ];

    /// The stable code. It will change rarely or never.
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::SessionInvalid => "SESSION_INVALID",
            ErrorKind::SessionNotSerializable => "SESSION_NOT_SERIALIZABLE",
            ErrorKind::SessionSizeExceeded => "SESSION_SIZE_EXCEEDED",
            ErrorKind::SessionNotFound => "SESSION_NOT_FOUND",
            ErrorKind::SessionExpired => "SESSION_EXPIRED",
            ErrorKind::SessionLimitExceeded => "SESSION_LIMIT_EXCEEDED",
            ErrorKind::SessionConflict => "SESSION_CONFLICT",
            ErrorKind::StoreClosed => "STORE_CLOSED",
            ErrorKind::BackendUnavailable => "BACKEND_UNAVAILABLE",
            ErrorKind::BackendError => "BACKEND_ERROR",
            ErrorKind::ConfigInvalid => "CONFIG_INVALID",
        }
    }

    /// The kind for a code, if it is one of ours.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An omnisession error: a kind, a human message and structured details.
///
/// Details never hold a raw session id: ids are reported as `session_id_hash`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    details: Map<String, Value>,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: Map::new(),
            source: None,
        }
    }

    /// Attaches the failure this error stands for (bindings chain it as the host's cause,
    /// e.g. Python's `__cause__`).
    #[must_use]
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// The attached failure, if any (`downcast_ref` recovers its concrete type).
    pub fn cause(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// Adds one detail.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of the kind.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Structured details (option names, sizes, limits, id hashes).
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::SessionInvalid, message)
    }

    pub(crate) fn config(option: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConfigInvalid, message).with("option", option)
    }

    pub(crate) fn backend(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::BackendError, message.to_string())
    }

    pub(crate) fn unavailable(message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::BackendUnavailable, message.to_string())
    }

    pub(crate) fn closed() -> Self {
        Self::new(ErrorKind::StoreClosed, "the store is closed")
    }
}

/// The result type of every store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
        }
        let mut codes: Vec<_> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn display_is_code_then_message() {
        let e = Error::new(ErrorKind::SessionNotFound, "no such session").with("x", 1);
        assert_eq!(e.to_string(), "SESSION_NOT_FOUND: no such session");
        assert_eq!(e.details()["x"], 1);
    }
}
