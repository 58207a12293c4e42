//! The statements that read and write rows and tombstones, and the helpers that run them.

use super::errors::sql_error;
use super::rows::RawRow;
use crate::backend::Record;
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

const SELECT_ONE: &str = "SELECT id, site, user_id, record FROM sessions WHERE id = ?1";
pub(super) const SELECT_USER: &str =
    "SELECT id, site, user_id, record FROM sessions WHERE site = ?1 AND user_id = ?2";
// `+site`: the site is a filter, so that the planner walks the primary key in id order.
pub(super) const SELECT_PAGE: &str = "SELECT id, site, user_id, record FROM sessions \
     WHERE +site = ?1 AND id > ?2 AND (expires_ms IS NULL OR expires_ms >= ?3) \
     ORDER BY id LIMIT ?4";
pub(super) const SELECT_MEMBERS: &str = "SELECT id, created_ms, accessed_ms, expires_ms \
     FROM sessions WHERE site = ?1 AND user_id = ?2 AND id <> ?3";
const COUNT_LIVE: &str = "SELECT COUNT(*) FROM sessions \
     WHERE site = ?1 AND (expires_ms IS NULL OR expires_ms >= ?2)";
const TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1) \
     OR EXISTS (SELECT 1 FROM tombstones WHERE id = ?1 AND until_ms > ?2)";
const TOMBSTONED: &str = "SELECT EXISTS (SELECT 1 FROM tombstones WHERE id = ?1 AND until_ms > ?2)";
pub(super) const INSERT_ROW: &str = "INSERT INTO sessions \
     (id, site, user_id, created_ms, accessed_ms, expires_ms, record) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const UPDATE_ROW: &str = "UPDATE sessions SET site = ?2, user_id = ?3, created_ms = ?4, \
     accessed_ms = ?5, expires_ms = ?6, record = ?7 WHERE id = ?1";
const DELETE_ROW: &str = "DELETE FROM sessions WHERE id = ?1";
pub(super) const DELETE_SITE: &str = "DELETE FROM sessions WHERE site = ?1";
const PUT_TOMBSTONE: &str = "INSERT INTO tombstones (id, until_ms) VALUES (?1, ?2) \
     ON CONFLICT (id) DO UPDATE SET until_ms = excluded.until_ms";

pub(super) fn load_raw(conn: &Connection, id: &str) -> Result<Option<RawRow>> {
    conn.prepare_cached(SELECT_ONE)
        .and_then(|mut s| s.query_row([id], RawRow::read).optional())
        .map_err(sql_error)
}

/// Whether `id` is in use: stored (expired or not) or tombstoned until after `now_ms`.
pub(super) fn taken(conn: &Connection, id: &str, now_ms: i64) -> Result<bool> {
    conn.prepare_cached(TAKEN)
        .and_then(|mut s| s.query_row(params![id, now_ms], |r| r.get(0)))
        .map_err(sql_error)
}

/// Whether `id` has a tombstone in force at `now_ms`.
pub(super) fn tombstoned(conn: &Connection, id: &str, now_ms: i64) -> Result<bool> {
    conn.prepare_cached(TOMBSTONED)
        .and_then(|mut s| s.query_row(params![id, now_ms], |r| r.get(0)))
        .map_err(sql_error)
}

pub(super) fn count_live(conn: &Connection, site: &str, now_ms: i64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(COUNT_LIVE)
        .and_then(|mut s| s.query_row(params![site, now_ms], |r| r.get(0)))
        .map_err(sql_error)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Runs [`INSERT_ROW`] or [`UPDATE_ROW`] with the record's columns.
pub(super) fn write_row(conn: &Connection, sql: &str, record: &Record) -> Result<()> {
    let s = &record.session;
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                s.id,
                s.site_id,
                s.user_id,
                record.created_ms(),
                record.accessed_ms(),
                record.expires_ms,
                record.wire,
            ])
        })
        .map(drop)
        .map_err(sql_error)
}

/// Deletes a row; whether there was one.
pub(super) fn delete_row(conn: &Connection, id: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(DELETE_ROW)
        .and_then(|mut s| s.execute([id]))
        .map_err(sql_error)?;
    Ok(n > 0)
}

pub(super) fn put_tombstone(conn: &Connection, id: &str, until_ms: i64) -> Result<()> {
    conn.prepare_cached(PUT_TOMBSTONE)
        .and_then(|mut s| s.execute(params![id, until_ms]))
        .map(drop)
        .map_err(sql_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sqlite::purge::{PURGE_SESSIONS, PURGE_TOMBSTONES};
    use crate::backend::sqlite::schema::configure_writer;

    fn plan(conn: &Connection, sql: &str, n: usize) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args: Vec<rusqlite::types::Value> = (0..n).map(|_| 1i64.into()).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3));
        rows.unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn every_query_uses_an_index() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        for (sql, n) in [
            (SELECT_ONE, 1),
            (SELECT_USER, 2),
            (SELECT_PAGE, 4),
            (SELECT_MEMBERS, 3),
            (COUNT_LIVE, 2),
            (TAKEN, 2),
            (DELETE_SITE, 1),
            (PURGE_SESSIONS, 2),
            (PURGE_TOMBSTONES, 2),
        ] {
            let plan = plan(&conn, sql, n);
            assert!(plan.contains("INDEX"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            for table in ["sessions", "tombstones"] {
                let full_scan = format!("SCAN {table}");
                assert!(
                    !plan.split(" | ").any(|step| step == full_scan),
                    "{sql}: {plan}"
                );
            }
        }
        assert!(plan(&conn, PURGE_SESSIONS, 2).contains("sessions_expires"));
        assert!(plan(&conn, SELECT_PAGE, 4).contains("sqlite_autoindex_sessions_1"));
    }
}
