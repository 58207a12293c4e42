//! The sweep: removes expired sessions and expired tombstones, visiting only the expiry
//! buckets at or before now.

use super::fsio::{marker_ids, names, remove_dir_if_empty, remove_opt};
use super::layout::{Dirs, bucket};
use super::tombstones::Tomb;
use super::{io_error, io_error_for};
use crate::backend::is_live;
use crate::error::Result;
use std::io;
use std::path::Path;

impl Dirs {
    /// Bucket directories of `root` at or before `last`, in order.
    fn buckets(root: &Path, last: i64) -> Result<Vec<i64>> {
        let names = names(root).map_err(|e| io_error("cannot list an expiry index", &e))?;
        let mut buckets: Vec<i64> = names
            .iter()
            .filter_map(|n| n.parse().ok())
            .filter(|b| *b <= last)
            .collect();
        buckets.sort_unstable();
        Ok(buckets)
    }

    /// Removes expired records and tombstones, visiting only the buckets at or before now.
    pub(super) fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let last = bucket(now_ms);
        let mut removed = 0;
        for b in Self::buckets(&self.expiry, last)? {
            let dir = self.expiry_dir(b);
            let ids = marker_ids(&dir).map_err(|e| io_error("cannot list an expiry bucket", &e))?;
            for id in ids {
                match self.stored_meta(&id)? {
                    Some(meta) if meta.expires_ms.map(bucket) == Some(b) => {
                        if !is_live(meta.expires_ms, now_ms) {
                            removed += u64::from(self.delete_record(&id)?);
                        }
                    }
                    // The record is gone or has moved its expiry: the marker is stale.
                    _ => self.drop_expiry_marker(b, &id)?,
                }
            }
            remove_dir_if_empty(&dir);
        }
        for b in Self::buckets(&self.tombstone_expiry, last)? {
            let dir = self.tombstone_dir(b);
            let ids =
                marker_ids(&dir).map_err(|e| io_error("cannot list a tombstone bucket", &e))?;
            for id in ids {
                let err = |e: io::Error| io_error_for("cannot remove a tombstone", &e, &id);
                match self.tombstone(&id)? {
                    Tomb::Until(until) if bucket(until) == b && until > now_ms => continue,
                    Tomb::Until(until) if bucket(until) == b => {
                        remove_opt(&self.tombstone_path(&id)).map_err(err)?;
                    }
                    // Unreadable and past its bucket: nothing can rely on it any more.
                    Tomb::Corrupt => {
                        remove_opt(&self.tombstone_path(&id)).map_err(err)?;
                    }
                    // Gone, or moved to another bucket: the marker is stale.
                    Tomb::Until(_) | Tomb::None => {}
                }
                remove_opt(&dir.join(&id)).map_err(err)?;
            }
            remove_dir_if_empty(&dir);
        }
        Ok(removed)
    }
}
