//! Stored records: reading session files and their sidecars, writing a record with its index
//! markers in crash-safe order, and removing it with them.

use super::fsio::{read_opt, remove_dir_if_empty, remove_opt, touch_marker, write_atomic};
use super::io_error_for;
use super::layout::{Dirs, bucket, is_user_key, session_user_key};
use crate::backend::Record;
use crate::error::{Error, Result};
use crate::id;
use crate::session::Session;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::io;

/// The sidecar of a record: what the core computed and the files cannot tell cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Meta {
    /// Effective expiry in Unix ms, `None` = never.
    pub(super) expires_ms: Option<i64>,
    /// The `users/` directory that indexes the record, `None` for an anonymous session.
    pub(super) user_key: Option<String>,
}

/// What a session file holds.
pub(super) enum Stored {
    Missing,
    Corrupt,
    Found(Box<Session>),
}

/// Decodes a session file; it must be UTF-8, a record, and carry the id it is stored under.
fn decode(id: &str, bytes: &[u8]) -> Option<Session> {
    std::str::from_utf8(bytes).ok()?;
    Session::from_wire(bytes).ok().filter(|s| s.id == id)
}

impl Dirs {
    pub(super) fn fetch(&self, id: &str) -> Result<Stored> {
        let bytes = read_opt(&self.session_path(id))
            .map_err(|e| io_error_for("cannot read a session file", &e, id))?;
        Ok(match bytes {
            None => Stored::Missing,
            Some(bytes) => {
                decode(id, &bytes).map_or(Stored::Corrupt, |s| Stored::Found(Box::new(s)))
            }
        })
    }

    /// `id` read without the lock, as of one instant before or after any rotation, never
    /// between; `None` when the id may be in the middle of a rotation away from it (read it
    /// again under the lock).
    ///
    /// A rotation, under the lock, writes the old id's tombstone, then the new record, then
    /// removes the old record. So when the tombstone is not there before the record is read,
    /// the id was not being rotated away at that instant, and a record found next was live
    /// alone at some instant in between; when the record is not found it is gone either way.
    /// Only a record found despite its tombstone is in doubt: a rotation in flight (or one a
    /// crash or an I/O error interrupted). This costs a plain read one `stat` and no lock:
    /// taking a shared lock instead would make every read wait for every write in progress,
    /// fsyncs included, in every process.
    pub(super) fn fetch_unlocked(&self, id: &str) -> Result<Option<Stored>> {
        let tombstoned = self.has_tombstone(id)?;
        let stored = self.fetch(id)?;
        Ok((!tombstoned || matches!(stored, Stored::Missing)).then_some(stored))
    }

    pub(super) fn exists(&self, id: &str) -> Result<bool> {
        self.session_path(id)
            .try_exists()
            .map_err(|e| io_error_for("cannot check a session file", &e, id))
    }

    /// The sidecar of `id`; `None` if missing or unreadable as a sidecar.
    pub(super) fn read_meta(&self, id: &str) -> Result<Option<Meta>> {
        let bytes = read_opt(&self.meta_path(id))
            .map_err(|e| io_error_for("cannot read a session sidecar", &e, id))?;
        let Some(bytes) = bytes else { return Ok(None) };
        match serde_json::from_slice::<Meta>(&bytes) {
            Ok(m) if m.user_key.as_deref().is_none_or(is_user_key) => Ok(Some(m)),
            _ => {
                tracing::warn!(target: "omnisession", session_id_hash = %id::hash(id),
                    "ignoring a corrupt session sidecar");
                Ok(None)
            }
        }
    }

    /// What is known of the stored record `id`: its sidecar, else what its file says
    /// (absolute expiry only), else `None`.
    pub(super) fn stored_meta(&self, id: &str) -> Result<Option<Meta>> {
        if let Some(meta) = self.read_meta(id)? {
            return Ok(Some(meta));
        }
        Ok(match self.fetch(id)? {
            Stored::Found(s) => Some(Meta {
                expires_ms: s.expires_at.map(Timestamp::unix_ms),
                user_key: session_user_key(&s),
            }),
            Stored::Missing | Stored::Corrupt => None,
        })
    }

    /// Effective expiry of a stored session.
    pub(super) fn expiry_of(&self, s: &Session) -> Result<Option<i64>> {
        Ok(match self.read_meta(&s.id)? {
            Some(meta) => meta.expires_ms,
            None => s.expires_at.map(Timestamp::unix_ms),
        })
    }

    /// Writes a record: index markers, sidecar, then the session file; then drops the markers
    /// of the version it replaced.
    pub(super) fn put(&self, record: &Record) -> Result<()> {
        let id = record.session.id.as_str();
        let err = |e: io::Error| io_error_for("cannot write a session", &e, id);
        let old = self.stored_meta(id)?;
        let meta = Meta {
            expires_ms: record.expires_ms,
            user_key: session_user_key(&record.session),
        };
        if let Some(key) = &meta.user_key {
            touch_marker(&self.user_marker(key, id)).map_err(err)?;
        }
        if let Some(exp) = meta.expires_ms {
            touch_marker(&self.expiry_dir(bucket(exp)).join(id)).map_err(err)?;
        }
        let sidecar = serde_json::to_vec(&meta)
            .map_err(|_| Error::backend("cannot encode a session sidecar"))?;
        write_atomic(&self.meta, &self.meta_path(id), &sidecar).map_err(err)?;
        write_atomic(
            &self.sessions,
            &self.session_path(id),
            record.wire.as_bytes(),
        )
        .map_err(err)?;
        if let Some(old) = old {
            if old.user_key != meta.user_key
                && let Some(key) = &old.user_key
            {
                self.drop_user_marker(key, id)?;
            }
            let old_bucket = old.expires_ms.map(bucket);
            if old_bucket != meta.expires_ms.map(bucket)
                && let Some(b) = old_bucket
            {
                self.drop_expiry_marker(b, id)?;
            }
        }
        Ok(())
    }

    pub(super) fn drop_user_marker(&self, key: &str, id: &str) -> Result<()> {
        remove_opt(&self.user_marker(key, id))
            .map_err(|e| io_error_for("cannot remove an index marker", &e, id))?;
        remove_dir_if_empty(&self.users.join(key));
        Ok(())
    }

    pub(super) fn drop_expiry_marker(&self, b: i64, id: &str) -> Result<()> {
        let dir = self.expiry_dir(b);
        remove_opt(&dir.join(id))
            .map_err(|e| io_error_for("cannot remove an expiry marker", &e, id))?;
        remove_dir_if_empty(&dir);
        Ok(())
    }

    /// Removes a record, its sidecar and its markers. Whether the session file existed.
    pub(super) fn delete_record(&self, id: &str) -> Result<bool> {
        let meta = self.stored_meta(id)?;
        let err = |e: io::Error| io_error_for("cannot remove a session", &e, id);
        let existed = remove_opt(&self.session_path(id)).map_err(err)?;
        remove_opt(&self.meta_path(id)).map_err(err)?;
        if let Some(meta) = meta {
            if let Some(key) = &meta.user_key {
                self.drop_user_marker(key, id)?;
            }
            if let Some(exp) = meta.expires_ms {
                self.drop_expiry_marker(bucket(exp), id)?;
            }
        }
        Ok(existed)
    }
}
