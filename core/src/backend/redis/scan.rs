//! Walking the prefix with SCAN (every master on a cluster): listings and the sweep.

use super::{RedisBackend, SCAN_COUNT, decode, scripts, warn_corrupt};
use crate::error::{ErrorKind, Result};
use crate::session::Session;

impl RedisBackend {
    /// Every session of the prefix with its effective expiry, node by node (admin
    /// operations and the sweep). Unreadable records are logged and skipped.
    pub(super) async fn scan_all(&self, mut visit: impl FnMut(Session, Option<i64>)) -> Result<()> {
        let pattern = self.keys.scan_pattern();
        for node in self.conn.scan_targets().await? {
            let mut cursor = 0;
            loop {
                let (next, keys) = self
                    .conn
                    .scan(node.as_ref(), cursor, &pattern, SCAN_COUNT)
                    .await?;
                for (session, expires) in self.fetch(&keys).await? {
                    visit(session, expires);
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(())
    }

    /// The readable records of these keys with their effective expiry (the earlier of the
    /// key's and the store's rule; other keys are skipped).
    pub(super) async fn fetch(&self, keys: &[String]) -> Result<Vec<(Session, Option<i64>)>> {
        let mut out = Vec::new();
        for key in keys {
            let Some(id) = self.keys.id_of(key) else {
                continue;
            };
            let reply: Result<(Option<String>, i64)> =
                self.conn.script(&scripts::FETCH, &[key], &[]).await;
            let (wire, expires) = match reply {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::BackendError => {
                    warn_corrupt(id, &e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(wire) = wire else { continue };
            match decode(id, &wire) {
                Ok(s) => {
                    let expires = self.effective_ms(&s, expires);
                    out.push((s, expires));
                }
                Err(e) => warn_corrupt(id, &e),
            }
        }
        Ok(out)
    }
}

/// Where a walk stands, `node:scan-cursor` (the admin walk's cursor, and the head of a list
/// cursor): the index of the node and the SCAN cursor on it.
pub(super) fn scan_position(position: &str) -> Option<(usize, u64)> {
    let (node, scan) = position.split_once(':')?;
    Some((node.parse().ok()?, scan.parse().ok()?))
}
