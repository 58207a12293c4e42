//! Writing a session as it is (its id, version, timestamps and expiry) into another store:
//! `omnisession migrate`. The backend's own insert and read-modify-write do the writing, so
//! the per-user index, tombstones and (on a cluster) the step order are the backend's as for
//! any write; only the store's policy is left out, since a migration moves sessions that
//! policy already admitted.

use super::{Admin, Entry};
use crate::at_rest::IdsAtRest;
use crate::backend::{Modified, Record};
use crate::error::{Error, ErrorKind, Result};
use crate::session::Session;

/// What [`Admin::import`] did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Imported {
    /// Written under an id the target did not have.
    Created,
    /// Written over an older copy on the target.
    Replaced,
    /// The target already held exactly this session (a migration run again).
    Unchanged,
    /// The target holds a later state of the session (a higher version, or the same version
    /// accessed later): kept, so a migration never undoes a write made on the target.
    KeptNewer,
    /// The id ended on the target (deleted, rotated or evicted there): never brought back.
    Ended,
    /// The session has expired: not copied.
    Expired,
    /// The record is not a valid session: not copied (`omnisession check` says why).
    Bad,
}

impl Imported {
    /// A stable lower-case name, for output.
    pub fn name(self) -> &'static str {
        match self {
            Imported::Created => "created",
            Imported::Replaced => "replaced",
            Imported::Unchanged => "unchanged",
            Imported::KeptNewer => "kept_newer",
            Imported::Ended => "ended_on_target",
            Imported::Expired => "expired",
            Imported::Bad => "bad",
        }
    }
}

/// Whether `target` is a later state of the same session than `source`.
fn is_newer(target: &Session, source: &Session) -> bool {
    (target.version, target.last_accessed_at) > (source.version, source.last_accessed_at)
}

impl Admin {
    /// Whether sessions of a store whose ids are held as `source` can be copied here. From
    /// plain ids to hashed ones (the way to turn `ids_at_rest` on), and between stores of the
    /// same mode and key. Not from hashed ids to anything else: the ids behind the hashes are
    /// known to no one, so the copies would answer to no cookie (`CONFIG_INVALID`).
    pub fn can_import_from(&self, source: &IdsAtRest) -> Result<()> {
        let target = self.store.inner.ids();
        if source == target || !source.is_hashed() {
            return Ok(());
        }
        Err(Error::config(
            "ids_at_rest",
            "the source holds ids hashed at rest: its sessions can only be copied to a store \
             with the same ids_at_rest and id_hash_key (the ids behind the hashes are unknown)",
        ))
    }

    /// Copies `entry` (read by [`Admin::page`] from another store, whose ids are held as
    /// `source`) into this store as it is, under the id this store holds for it: the same, or
    /// its hash when this store hashes ids and the source did not. Idempotent: run again, it
    /// finds the session `Unchanged`.
    pub async fn import(&self, entry: &Entry, source: &IdsAtRest) -> Result<Imported> {
        let (Some(session), Some(wire)) = (entry.session(), entry.wire()) else {
            return Ok(Imported::Bad);
        };
        self.can_import_from(source)?;
        let s = &self.store.inner;
        s.open_check()?;
        if !entry.is_live(s.now().unix_ms()) {
            return Ok(Imported::Expired);
        }
        let record = if source == s.ids() {
            Record {
                session: session.clone(),
                wire: wire.to_owned(),
                expires_ms: entry.expires_ms(),
            }
        } else {
            let mut session = session.clone();
            session.id = s.ids().id_at_rest(&session.id).into_owned();
            Record {
                wire: session.to_wire(),
                session,
                expires_ms: entry.expires_ms(),
            }
        };
        let session = &record.session;
        match s.backend.insert(&record, None, s.ctx()).await {
            Ok(_) => return Ok(Imported::Created),
            Err(e) if e.kind() == ErrorKind::SessionConflict => {}
            Err(e) => return Err(e),
        }
        let id = session.id.as_str();
        match s.backend.load(id).await {
            Ok(Some(current)) if current == *session => return Ok(Imported::Unchanged),
            Ok(Some(current)) if is_newer(&current, session) => return Ok(Imported::KeptNewer),
            Ok(Some(_)) => {}
            // No record under an id the insert found taken: a tombstone.
            Ok(None) => return Ok(Imported::Ended),
            // The target's copy does not decode: the source's replaces it.
            Err(e) if e.kind() == ErrorKind::BackendError => {
                s.backend.remove(&[id.to_owned()], false, s.ctx()).await?;
                s.backend.insert(&record, None, s.ctx()).await?;
                return Ok(Imported::Replaced);
            }
            Err(e) => return Err(e),
        }
        // Decided again inside the backend's atomic step: the target may change meanwhile.
        let newer = || Error::new(ErrorKind::SessionConflict, "the target's copy is newer");
        let step = |current: Session| {
            if is_newer(&current, session) {
                Err(newer())
            } else {
                Ok(record.clone())
            }
        };
        match s.backend.modify(id, &step, None, s.ctx()).await {
            Ok(Modified::Written { .. }) => Ok(Imported::Replaced),
            Ok(Modified::Missing) => Ok(Imported::Ended),
            Err(e) if e.kind() == ErrorKind::SessionConflict => Ok(Imported::KeptNewer),
            Err(e) => Err(e),
        }
    }
}
