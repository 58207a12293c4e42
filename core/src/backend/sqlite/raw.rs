//! The admin walk: every row in id order, undecoded (see [`Backend::raw_page`]).
//!
//! [`Backend::raw_page`]: crate::backend::Backend::raw_page

use super::SqliteBackend;
use super::errors::sql_error;
use crate::backend::{RawPage, RawRecord};
use crate::error::Result;
use rusqlite::params;

/// Rows after an id, in primary-key order: every site, live or expired.
pub(super) const SELECT_RAW: &str = "SELECT id, site, user_id, expires_ms, record FROM sessions \
     WHERE id > ?1 ORDER BY id LIMIT ?2";

impl SqliteBackend {
    pub(super) async fn raw(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        // Every id is non-empty, so "after the empty string" is "from the start".
        let after = cursor.unwrap_or_default().to_owned();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(SELECT_RAW).map_err(sql_error)?;
            let mut records: Vec<RawRecord> = stmt
                .query_map(params![after, fetch], |row| {
                    Ok(RawRecord {
                        id: row.get(0)?,
                        indexed_as: Some((row.get(1)?, row.get(2)?)),
                        expires_ms: row.get(3)?,
                        // Text or blob; anything else reads as no bytes, i.e. a bad record.
                        bytes: row
                            .get_ref(4)?
                            .as_bytes()
                            .map(<[u8]>::to_vec)
                            .unwrap_or_default(),
                        unreadable: None,
                    })
                })
                .map_err(sql_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql_error)?;
            let more = records.len() > limit;
            records.truncate(limit);
            let cursor = if more {
                records.last().map(|r| r.id.clone())
            } else {
                None
            };
            Ok(RawPage { records, cursor })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sqlite::schema::configure_writer;
    use rusqlite::Connection;

    #[test]
    fn the_walk_reads_the_primary_key_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        let plan: String = conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {SELECT_RAW}"),
                params!["", 1],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("sqlite_autoindex_sessions_1"), "{plan}");
    }
}
