//! The errors of this backend: SQLite's mapped to our kinds, conflicts, corrupt records, and
//! blocking tasks that panicked or were cancelled.

use crate::error::{Error, ErrorKind};
use crate::id;
use rusqlite::ErrorCode;
use std::path::Path;

pub(super) fn conflict(id: &str) -> Error {
    Error::new(
        ErrorKind::SessionConflict,
        "a session with this id exists or was recently deleted",
    )
    .with("session_id_hash", id::hash(id))
}

/// `BACKEND_ERROR` for a record that does not decode. The reason never quotes the id.
pub(super) fn corrupt(id: &str, why: &str) -> Error {
    let why = if id.is_empty() {
        why.to_owned()
    } else {
        why.replace(id, "<id>")
    };
    Error::new(
        ErrorKind::BackendError,
        format!("corrupt session record: {why}"),
    )
    .with("session_id_hash", id::hash(id))
}

/// An SQLite error: `BACKEND_UNAVAILABLE` when the file is locked past the busy timeout or
/// cannot be opened, `BACKEND_ERROR` otherwise. SQLite's messages name no values.
#[allow(clippy::needless_pass_by_value)] // the shape `map_err` takes
pub(super) fn sql_error(e: rusqlite::Error) -> Error {
    let message = format!("sqlite: {e}");
    let error = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
            Error::unavailable(message)
        }
        _ => Error::backend(message),
    };
    match e.sqlite_extended_error_code() {
        Some(code) => error.with("sqlite_code", code),
        None => error,
    }
}

/// An error while opening: `BACKEND_ERROR` when the file is not a (sound) database,
/// `BACKEND_UNAVAILABLE` when it cannot be used at all (missing directory, permissions, locks).
pub(super) fn open_error(path: &Path, e: &rusqlite::Error) -> Error {
    let message = if path.as_os_str().is_empty() {
        format!("sqlite: cannot open the database: {e}")
    } else {
        format!("sqlite: cannot open the database {}: {e}", path.display())
    };
    let error = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::backend(message),
        _ => Error::unavailable(message),
    };
    match e.sqlite_extended_error_code() {
        Some(code) => error.with("sqlite_code", code),
        None => error,
    }
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` takes
pub(super) fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_cancelled() {
        Error::unavailable("sqlite: the blocking task was cancelled (runtime shutting down)")
    } else {
        Error::backend("sqlite: the blocking task panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_unavailable_and_corrupt_hides_the_id() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert_eq!(sql_error(busy).kind(), ErrorKind::BackendUnavailable);
        let id = "a".repeat(43);
        let e = corrupt(&id, &format!("invalid type: string \"{id}\""));
        assert!(!e.message().contains(&id), "{}", e.message());
        assert_eq!(e.details()["session_id_hash"], id::hash(&id));
    }
}
