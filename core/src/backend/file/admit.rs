//! Admission: the members of a (site, user) read from its index markers, the core's decision
//! on them, and the evictions that apply it.

use super::fsio::marker_ids;
use super::layout::{Dirs, user_key};
use super::records::Stored;
use super::{io_error, warn_corrupt};
use crate::controls::admission::{Admission, Decision, Member};
use crate::error::Result;
use crate::session::Session;
use std::collections::HashMap;

/// An admission decided (nothing written yet) and the sessions it names.
pub(super) struct Plan {
    decision: Decision,
    sessions: HashMap<String, Session>,
}

impl Dirs {
    /// Reads the current members of `session`'s (site, user) (not `session` itself nor
    /// `also_exclude`) and runs the admission on them. Writes nothing but the removal of stale
    /// markers.
    pub(super) fn plan(
        &self,
        session: &Session,
        admission: &Admission,
        also_exclude: &str,
    ) -> Result<Plan> {
        let mut plan = Plan {
            decision: Decision::default(),
            sessions: HashMap::new(),
        };
        let Some(user) = session.user_id.as_deref() else {
            return Ok(plan);
        };
        let key = user_key(&session.site_id, user);
        let dir = self.users.join(&key);
        let ids = marker_ids(&dir).map_err(|e| io_error("cannot list a user index", &e))?;
        let mut members = Vec::new();
        for id in ids {
            if id == session.id || id == also_exclude {
                continue;
            }
            match self.fetch(&id)? {
                Stored::Found(s)
                    if s.site_id == session.site_id && s.user_id.as_deref() == Some(user) =>
                {
                    members.push(Member {
                        id: id.clone(),
                        created_ms: s.created_at.unix_ms(),
                        accessed_ms: s.last_accessed_at.unix_ms(),
                        expires_ms: self.expiry_of(&s)?,
                    });
                    plan.sessions.insert(id, *s);
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => self.drop_user_marker(&key, &id)?,
            }
        }
        plan.decision = admission.decide(&members)?;
        Ok(plan)
    }

    /// Applies an admission decided by [`Dirs::plan`]: evicts (and tombstones) and drops the
    /// expired members. Returns the evicted sessions.
    pub(super) fn evict(&self, mut plan: Plan, tombstone_until_ms: i64) -> Result<Vec<Session>> {
        let mut evicted = Vec::new();
        for id in &plan.decision.evict {
            if self.delete_record(id)? {
                self.write_tombstone(id, tombstone_until_ms)?;
                if let Some(s) = plan.sessions.remove(id) {
                    evicted.push(s);
                }
            }
        }
        for id in &plan.decision.expired {
            self.delete_record(id)?;
        }
        Ok(evicted)
    }
}
