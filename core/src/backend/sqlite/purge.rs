//! The sweep: expired sessions, then expired tombstones, removed in short batches.

use super::SqliteBackend;
use super::errors::sql_error;
use super::tx::in_tx;
use crate::error::Result;
use rusqlite::params;

/// Rows removed per transaction by the sweep.
const PURGE_BATCH: usize = 500;
pub(super) const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE rowid IN \
     (SELECT rowid FROM sessions WHERE expires_ms < ?1 LIMIT ?2)";
pub(super) const PURGE_TOMBSTONES: &str = "DELETE FROM tombstones WHERE rowid IN \
     (SELECT rowid FROM tombstones WHERE until_ms <= ?1 LIMIT ?2)";

impl SqliteBackend {
    /// Removes every expired session and expired tombstone; returns how many sessions.
    pub(super) async fn purge(&self, now_ms: i64) -> Result<u64> {
        // Short transactions of at most PURGE_BATCH rows each, taking the writer anew for
        // each, so that writes of this and every other store get in between.
        let mut removed = 0u64;
        for (sql, count) in [(PURGE_SESSIONS, true), (PURGE_TOMBSTONES, false)] {
            loop {
                let n = self
                    .write(move |c| {
                        in_tx(c, |c| {
                            c.prepare_cached(sql)
                                .and_then(|mut s| s.execute(params![now_ms, PURGE_BATCH as i64]))
                                .map_err(sql_error)
                        })
                    })
                    .await?;
                if count {
                    removed += n as u64;
                }
                if n < PURGE_BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }
}
