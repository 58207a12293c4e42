//! The schema: its SQL, its version (`PRAGMA user_version`), and the pragmas of the writer.

use super::errors::open_error;
use super::tx::in_tx;
use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::Path;

/// The schema this build writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// The schema. `sessions.record` is the wire JSON; the other columns are copies of what the
/// queries need, written from the same [`Record`](crate::backend::Record). The primary key
/// serves lookups and the paged listing in id order, `(site, user_id)` the per-user index,
/// `expires_ms` the sweep.
///
/// Only one index is in random (id) order: every create, delete and swept session changes a
/// random page of each such index, so in a large file they set the cost of a write. An index
/// on `(site, id)` for listing one site of several was dropped for that reason (the listing
/// reads the primary key in id order and skips other sites' rows).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    site        TEXT NOT NULL,
    user_id     TEXT,
    created_ms  INTEGER NOT NULL,
    accessed_ms INTEGER NOT NULL,
    expires_ms  INTEGER,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_site_user ON sessions (site, user_id);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_ms);
CREATE TABLE IF NOT EXISTS tombstones (
    id       TEXT PRIMARY KEY NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_until ON tombstones (until_ms);
";

/// Indexes earlier builds of this schema version made and this one does not keep.
const DROPPED: &str = "DROP INDEX IF EXISTS sessions_site_id;";

/// WAL, `synchronous=NORMAL` and the schema.
pub(super) fn configure_writer(conn: &Connection, in_memory: bool) -> Result<()> {
    let opening = |e: rusqlite::Error| open_error(Path::new(""), &e);
    if !in_memory {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::unavailable(format!(
                "sqlite: the database cannot use write-ahead logging (journal mode {mode:?})"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(opening)?;
    in_tx(conn, |c| {
        let version: i64 = c
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(opening)?;
        match version {
            0 => {
                c.execute_batch(SCHEMA).map_err(opening)?;
                c.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(opening)
            }
            // Files made before it was dropped still carry the listing index.
            SCHEMA_VERSION => c.execute_batch(DROPPED).map_err(opening),
            other => Err(Error::backend(format!(
                "sqlite: the database has schema version {other}; this build reads version \
                 {SCHEMA_VERSION}"
            ))
            .with("schema_version", other)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn the_schema_version_is_recorded_and_a_newer_one_refused() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        configure_writer(&conn, true).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = configure_writer(&conn, true).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError);
    }

    #[test]
    fn an_index_this_build_dropped_is_dropped_from_an_older_file() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        conn.execute_batch("CREATE INDEX sessions_site_id ON sessions (site, id)")
            .unwrap();
        configure_writer(&conn, true).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sessions_site_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }
}
