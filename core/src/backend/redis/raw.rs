//! The admin walk: every session key of the prefix, undecoded, one `SCAN` call per page (on a
//! cluster, master after master). See [`Backend::raw_page`].
//!
//! [`Backend::raw_page`]: crate::backend::Backend::raw_page

use super::scan::scan_position;
use super::{RedisBackend, SCAN_COUNT, scripts};
use crate::backend::{RawPage, RawRecord};
use crate::error::{Error, ErrorKind, Result};
use futures_util::future::join_all;

impl RedisBackend {
    /// The session keys one `SCAN` call finds, from `cursor` (`node:scan-cursor`). `limit` is
    /// a hint: SCAN decides how many keys a call returns.
    pub(super) async fn raw(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        let nodes = self.conn.scan_targets().await?;
        let (node, scan) = match cursor {
            None => (0usize, 0u64),
            Some(c) => scan_position(c)
                .ok_or_else(|| Error::invalid("the admin cursor is not one this store issued"))?,
        };
        let Some(target) = nodes.get(node) else {
            return Ok(RawPage::default());
        };
        let pattern = self.keys.scan_pattern();
        let (next, keys) = self
            .conn
            .scan(target.as_ref(), scan, &pattern, limit.clamp(1, SCAN_COUNT))
            .await?;
        // Tombstones, indexes and Go's index are not records; their names are no ids. The
        // reads go out together: the connection pipelines them, one round trip for the batch.
        let session_keys: Vec<(&String, &str)> = keys
            .iter()
            .filter_map(|key| Some((key, self.keys.id_of(key)?)))
            .collect();
        let reads = join_all(session_keys.iter().map(|(key, _)| self.fetch_raw(key))).await;
        let mut records = Vec::with_capacity(reads.len());
        for ((_, id), read) in session_keys.iter().zip(reads) {
            // `None`: expired or removed since the SCAN.
            if let Some((bytes, unreadable, expires)) = read? {
                records.push(RawRecord {
                    id: (*id).to_owned(),
                    bytes,
                    unreadable,
                    // PEXPIRETIME: -1 no expiry, -2 no key.
                    expires_ms: (expires >= 0).then_some(expires),
                    indexed_as: None,
                });
            }
        }
        let cursor = match (next, node + 1 < nodes.len()) {
            (0, false) => None,
            (0, true) => Some(format!("{}:0", node + 1)),
            (next, _) => Some(format!("{node}:{next}")),
        };
        Ok(RawPage { records, cursor })
    }

    /// One key's bytes and `PEXPIRETIME`; a key of another type is read as unreadable, with
    /// why, so that `check` reports it. `None` when the key is gone.
    async fn fetch_raw(&self, key: &str) -> Result<Option<(Vec<u8>, Option<String>, i64)>> {
        let reply: Result<(Option<Vec<u8>>, i64)> =
            self.conn.script(&scripts::FETCH, &[key], &[]).await;
        match reply {
            Ok((Some(bytes), expires)) => Ok(Some((bytes, None, expires))),
            Ok((None, _)) => Ok(None),
            Err(e) if e.kind() == ErrorKind::BackendError => {
                let expires = self
                    .conn
                    .read(redis::cmd("PEXPIRETIME").arg(key))
                    .await
                    .unwrap_or(-1);
                let why = format!("the key is not a string: {}", e.message());
                Ok(Some((Vec::new(), Some(why), expires)))
            }
            Err(e) => Err(e),
        }
    }
}
