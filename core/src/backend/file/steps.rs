//! The mutating steps on records, each run under the lock: insert, the write half of modify,
//! and remove.

use super::conflict;
use super::layout::Dirs;
use crate::backend::{Modified, Record, WriteCtx};
use crate::controls::admission::Admission;
use crate::error::{Error, Result};
use crate::id;
use crate::session::Session;

impl Dirs {
    pub(super) fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let id = record.session.id.as_str();
        if !id::is_well_formed(id) {
            return Err(Error::invalid(
                "the session id is not of the form [A-Za-z0-9_-]{22,128}",
            ));
        }
        if self.taken(id, ctx.now_ms)? {
            return Err(conflict(id));
        }
        let plan = admission
            .map(|a| self.plan(&record.session, a, id))
            .transpose()?;
        // A tombstone past its end would make every lockless read of the new record take the
        // lock (see `fetch_unlocked`).
        self.drop_tombstone(id)?;
        self.put(record)?;
        match plan {
            Some(plan) => self.evict(plan, ctx.tombstone_until_ms),
            None => Ok(Vec::new()),
        }
    }

    /// The write half of `modify`, under the lock taken before `current` was read.
    pub(super) fn commit(
        &self,
        current: &Session,
        record: Record,
        admission: Option<Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        let old_id = current.id.as_str();
        let new_id = record.session.id.as_str();
        let rotating = new_id != old_id;
        if rotating {
            if !id::is_well_formed(new_id) {
                return Err(Error::invalid("the new session id is not well-formed"));
            }
            if self.taken(new_id, ctx.now_ms)? {
                return Err(conflict(new_id));
            }
        }
        let moves_user = record.session.user_id.is_some()
            && (record.session.user_id != current.user_id
                || record.session.site_id != current.site_id);
        let plan = match (moves_user, admission) {
            (true, Some(a)) => Some(self.plan(&record.session, &a, old_id)?),
            _ => None,
        };
        // This order is what makes a rotation atomic for lockless readers (`fetch_unlocked`):
        // the old id's tombstone, then the new record, then the old record's removal.
        if rotating {
            self.write_tombstone(old_id, ctx.tombstone_until_ms)?;
        }
        self.put(&record)?;
        if rotating {
            self.delete_record(old_id)?;
        }
        let evicted = match plan {
            Some(plan) => self.evict(plan, ctx.tombstone_until_ms)?,
            None => Vec::new(),
        };
        Ok(Modified::Written {
            record: Box::new(record),
            evicted,
        })
    }

    pub(super) fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut removed = 0;
        for id in ids.iter().filter(|id| id::is_well_formed(id)) {
            if self.delete_record(id)? {
                removed += 1;
                if tombstone {
                    self.write_tombstone(id, ctx.tombstone_until_ms)?;
                }
            }
        }
        Ok(removed)
    }
}
