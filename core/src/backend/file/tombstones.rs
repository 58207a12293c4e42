//! Tombstones: until when a removed id stays unusable, each with its expiry-bucket marker.

use super::fsio::{read_opt, remove_dir_if_empty, remove_opt, touch_marker, write_atomic};
use super::io_error_for;
use super::layout::{Dirs, bucket};
use crate::error::{Error, Result};
use crate::id;
use std::io;

/// What a tombstone file holds.
pub(super) enum Tomb {
    None,
    Corrupt,
    Until(i64),
}

impl Dirs {
    /// The tombstone of `id`, as stored.
    pub(super) fn tombstone(&self, id: &str) -> Result<Tomb> {
        let bytes = read_opt(&self.tombstone_path(id))
            .map_err(|e| io_error_for("cannot read a tombstone", &e, id))?;
        let Some(bytes) = bytes else {
            return Ok(Tomb::None);
        };
        Ok(std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map_or(Tomb::Corrupt, Tomb::Until))
    }

    /// Until when `id` is tombstoned, if it is. A tombstone that cannot be read is an error.
    fn read_tombstone(&self, id: &str) -> Result<Option<i64>> {
        match self.tombstone(id)? {
            Tomb::None => Ok(None),
            Tomb::Until(until) => Ok(Some(until)),
            Tomb::Corrupt => {
                Err(Error::backend("a tombstone file is corrupt")
                    .with("session_id_hash", id::hash(id)))
            }
        }
    }

    /// Whether `id` has a tombstone in force at `now_ms`.
    pub(super) fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.read_tombstone(id)?.is_some_and(|until| now_ms < until))
    }

    /// Whether `id` has a tombstone file, in force or not.
    pub(super) fn has_tombstone(&self, id: &str) -> Result<bool> {
        self.tombstone_path(id)
            .try_exists()
            .map_err(|e| io_error_for("cannot check a tombstone", &e, id))
    }

    /// Removes the tombstone of `id` (its bucket marker is left to the sweep).
    pub(super) fn drop_tombstone(&self, id: &str) -> Result<()> {
        remove_opt(&self.tombstone_path(id))
            .map(drop)
            .map_err(|e| io_error_for("cannot remove a tombstone", &e, id))
    }

    /// Whether `id` cannot be inserted: its file exists, or a live tombstone.
    pub(super) fn taken(&self, id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.exists(id)? || self.tombstoned(id, now_ms)?)
    }

    pub(super) fn write_tombstone(&self, id: &str, until_ms: i64) -> Result<()> {
        let err = |e: io::Error| io_error_for("cannot write a tombstone", &e, id);
        // A previous tombstone that cannot be read only leaves a stale marker behind.
        let old = match self.tombstone(id) {
            Ok(Tomb::Until(until)) => Some(until),
            _ => None,
        };
        touch_marker(&self.tombstone_dir(bucket(until_ms)).join(id)).map_err(err)?;
        write_atomic(
            &self.tombstones,
            &self.tombstone_path(id),
            until_ms.to_string().as_bytes(),
        )
        .map_err(err)?;
        if let Some(old) = old
            && bucket(old) != bucket(until_ms)
        {
            let dir = self.tombstone_dir(bucket(old));
            remove_opt(&dir.join(id)).map_err(err)?;
            remove_dir_if_empty(&dir);
        }
        Ok(())
    }
}
