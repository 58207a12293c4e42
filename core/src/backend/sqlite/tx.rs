//! Transactions on one connection: `BEGIN IMMEDIATE`, then commit or roll back.

use super::errors::sql_error;
use crate::error::Result;
use rusqlite::Connection;

/// `BEGIN IMMEDIATE`: takes the file's write lock now (waiting up to the busy timeout), so the
/// reads of the transaction see the state its writes apply to.
pub(super) fn begin(conn: &Connection) -> Result<()> {
    // A transaction left open by a panic is finished here at the latest.
    rollback(conn);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)
}

/// Commits on `Ok`, rolls back on `Err` (returned unchanged).
pub(super) fn finish<T>(conn: &Connection, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                rollback(conn);
                Err(sql_error(e))
            }
        },
        Err(e) => {
            rollback(conn);
            Err(e)
        }
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction.
pub(super) fn in_tx<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    begin(conn)?;
    let result = f(conn);
    finish(conn, result)
}

/// Rolls back the open transaction, if any.
pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(target: "omnisession", error = %e, "sqlite rollback failed");
    }
}
