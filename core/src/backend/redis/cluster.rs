//! Redis Cluster: each operation as ordered single-slot steps (docs/redis.md gives the order
//! and why a crash between any two steps is safe). With `omnistorage_compat`, Go's per-user
//! index is one more slot: an id joins it before its record is written and leaves it after
//! its record is gone, so a crash leaves at most a stale id there, never a hidden session.

use super::keys::PENDING;
use super::rewrite::Rewritten;
use super::{
    MAX_ATTEMPTS, RedisBackend, Step, conflict, index_of, member_of, nonce, parse_evicted, pxat,
    scripts, too_busy,
};
use crate::backend::{Modified, Record, WriteCtx};
use crate::controls::admission::Admission;
use crate::error::{Error, Result};
use crate::id;
use crate::session::Session;

impl RedisBackend {
    pub(super) async fn cas(
        &self,
        id: &str,
        expected: &str,
        wire: &str,
        pxat: &str,
    ) -> Result<String> {
        self.script_holding(
            true,
            &scripts::CAS,
            &[&self.keys.session(id)],
            &[expected, wire, pxat],
        )
        .await
    }

    /// The index step: add `add` (id, member), mark `evict`, drop `drop`, if the token holds.
    pub(super) async fn admit(
        &self,
        idx: &str,
        token: &str,
        add: Option<(&str, &str)>,
        evict: &[String],
        drop: &[String],
        now_ms: i64,
    ) -> Result<bool> {
        let now = now_ms.to_string();
        let n = nonce();
        let (add_id, add_member) = add.unwrap_or(("", ""));
        let mut args: Vec<&str> = vec![token, &n, &now, add_id, add_member];
        args.extend(evict.iter().map(String::as_str));
        args.push("--");
        args.extend(drop.iter().map(String::as_str));
        let status: String = self
            .script_holding(true, &scripts::ADMIT, &[idx], &args)
            .await?;
        Ok(status == "ok")
    }

    /// Finishes evictions: tombstone first (no create can take the id), then the record, then
    /// the index marks. Returns the evicted sessions that were still there.
    pub(super) async fn finish_evictions(
        &self,
        idx: &str,
        go: Option<&str>,
        ids: &[String],
        ctx: WriteCtx,
    ) -> Result<Vec<String>> {
        let mut wires = Vec::new();
        for id in ids {
            self.set_tombstone(id, ctx.tombstone_until_ms).await?;
            let wire: Option<String> = self
                .command_holding(redis::cmd("GETDEL").arg(self.keys.session(id)))
                .await?;
            wires.extend(wire);
        }
        if !ids.is_empty() {
            self.admit(idx, "", None, &[], ids, ctx.now_ms).await?;
        }
        if let Some(go) = go {
            self.go_drop(go, ids).await?;
        }
        Ok(wires)
    }

    pub(super) async fn insert_cluster(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let id = &record.session.id;
        let tomb = self.tombstone_in_force(id, ctx.now_ms).await?;
        if tomb || self.get_wire(id).await?.is_some() {
            return Err(conflict(id));
        }
        let idx = index_of(&self.keys, &record.session);
        let mut evicted_ids = Vec::new();
        let member = member_of(record);
        if let Some(idx) = &idx {
            let reservation = format!("{member}{PENDING}");
            let mut admitted = false;
            for _ in 0..MAX_ATTEMPTS {
                let (token, evict, drop) = match admission {
                    Some(a) => {
                        let Some((state, decision, mut gone)) = self.decide(idx, record, a).await?
                        else {
                            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                            continue;
                        };
                        gone.extend(decision.expired);
                        let mut evict = decision.evict;
                        evict.extend(state.evicting);
                        (state.token, evict, gone)
                    }
                    None => (String::new(), Vec::new(), Vec::new()),
                };
                if self
                    .admit(
                        idx,
                        &token,
                        Some((id, &reservation)),
                        &evict,
                        &drop,
                        ctx.now_ms,
                    )
                    .await?
                {
                    evicted_ids = evict;
                    admitted = true;
                    break;
                }
            }
            if !admitted {
                return Err(too_busy());
            }
        }
        let go = self.go_key(&record.session);
        if let Some(go) = &go {
            self.go_add(go, id, &pxat(record)).await?;
        }
        let undo_index = || async {
            if let Some(idx) = &idx {
                self.admit(idx, "", None, &[], std::slice::from_ref(id), ctx.now_ms)
                    .await?;
            }
            if let Some(go) = &go {
                self.go_drop(go, std::slice::from_ref(id)).await?;
            }
            Ok::<(), Error>(())
        };
        if self.cas(id, "", &record.wire, &pxat(record)).await? != "ok" {
            undo_index().await?;
            return Err(conflict(id));
        }
        let tomb = self.tombstone_in_force(id, ctx.now_ms).await?;
        if tomb {
            self.cas(id, &record.wire, "", "").await?;
            undo_index().await?;
            return Err(conflict(id));
        }
        let wires = match &idx {
            Some(idx) => {
                let now = ctx.now_ms.to_string();
                let _: String = self
                    .script_holding(true, &scripts::REFRESH, &[idx], &[id, &member, &now])
                    .await?;
                self.finish_evictions(idx, go.as_deref(), &evicted_ids, ctx)
                    .await?
            }
            None => Vec::new(),
        };
        Ok(parse_evicted(&wires))
    }

    pub(super) async fn modify_cluster(
        &self,
        old: &Session,
        old_wire: &str,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Option<Modified>> {
        let (old_id, new_id) = (&old.id, &record.session.id);
        let (old_idx, new_idx) = (
            index_of(&self.keys, old),
            index_of(&self.keys, &record.session),
        );
        let member = member_of(record);
        let (old_go, new_go) = (self.go_key(old), self.go_key(&record.session));
        if let Some(go) = &new_go {
            // Go's index first, like ours: it then never misses a live record.
            self.go_add(go, new_id, &pxat(record)).await?;
        }
        if old_id == new_id && old_idx == new_idx {
            // Index first: a crash after it leaves an index entry that outlives its record.
            if let Some(idx) = &new_idx {
                let now = ctx.now_ms.to_string();
                let _: String = self
                    .conn
                    .script(&scripts::REFRESH, &[idx], &[new_id, &member, &now])
                    .await?;
            }
            // The record step sends only what changed, as on a single node (`rewrite.rs`); its
            // index is in another slot, refreshed just above.
            return Ok(match self.rewrite((old, old_wire), record, None).await? {
                Rewritten::Done => Some(Modified::Written {
                    record: Box::new(record.clone()),
                    evicted: Vec::new(),
                }),
                Rewritten::Missing => Some(Modified::Missing),
                // No index in this script (`idx` is None): never `Unindexed`.
                Rewritten::Changed(_) | Rewritten::Unindexed => None,
            });
        }
        // The session joins an index (login) or moves to a new id (rotate).
        let mut evicted_ids = Vec::new();
        if let Some(idx) = &new_idx {
            let (token, evict, drop) = match (admission, old_idx != new_idx) {
                (Some(a), true) => {
                    let Some((state, decision, mut gone)) = self.decide(idx, record, a).await?
                    else {
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        return Ok(None);
                    };
                    gone.extend(decision.expired);
                    (state.token, decision.evict, gone)
                }
                _ => (String::new(), Vec::new(), Vec::new()),
            };
            if !self
                .admit(
                    idx,
                    &token,
                    Some((new_id, &member)),
                    &evict,
                    &drop,
                    ctx.now_ms,
                )
                .await?
            {
                return Ok(None);
            }
            evicted_ids = evict;
        }
        match self.move_record(old_id, old_wire, record, ctx).await {
            Ok(Step::Done) => {}
            Ok(step) => {
                self.withdraw_new_member(old, &record.session, ctx.now_ms)
                    .await?;
                return Ok((step == Step::Missing).then_some(Modified::Missing));
            }
            Err(e) => {
                self.withdraw_new_member(old, &record.session, ctx.now_ms)
                    .await?;
                return Err(e);
            }
        }
        self.leave_old_index(old, &record.session, &member, ctx.now_ms)
            .await?;
        if let Some(go) = &old_go
            && old_id != new_id
        {
            self.go_drop(go, std::slice::from_ref(old_id)).await?;
        }
        let wires = match &new_idx {
            Some(idx) => {
                self.finish_evictions(idx, new_go.as_deref(), &evicted_ids, ctx)
                    .await?
            }
            None => Vec::new(),
        };
        Ok(Some(Modified::Written {
            record: Box::new(record.clone()),
            evicted: parse_evicted(&wires),
        }))
    }

    /// Undoes the index steps of a login or rotate whose record did not move: the new member
    /// leaves our index and Go's (where it joined them in this step).
    async fn withdraw_new_member(&self, old: &Session, new: &Session, now_ms: i64) -> Result<()> {
        let (old_idx, new_idx) = (index_of(&self.keys, old), index_of(&self.keys, new));
        let (old_go, new_go) = (self.go_key(old), self.go_key(new));
        let new_id = std::slice::from_ref(&new.id);
        if let Some(idx) = &new_idx
            && (old_idx != new_idx || old.id != new.id)
        {
            self.admit(idx, "", None, &[], new_id, now_ms).await?;
        }
        if let Some(go) = &new_go
            && (old_go != new_go || old.id != new.id)
        {
            self.go_drop(go, new_id).await?;
        }
        Ok(())
    }

    /// The last index step of a login or rotate, once the record has moved: the old member
    /// leaves its index. A rotation within one index sets the new member again in the same
    /// step: an admission that ran between the first index step and the move saw it without
    /// a record and may have dropped it as gone.
    async fn leave_old_index(
        &self,
        old: &Session,
        new: &Session,
        member: &str,
        now_ms: i64,
    ) -> Result<()> {
        let (old_idx, new_idx) = (index_of(&self.keys, old), index_of(&self.keys, new));
        if let Some(idx) = &old_idx
            && (old_idx != new_idx || old.id != new.id)
        {
            let again = (old_idx == new_idx).then_some((new.id.as_str(), member));
            let leaving = std::slice::from_ref(&old.id);
            self.admit(idx, "", again, &[], leaving, now_ms).await?;
        }
        Ok(())
    }

    /// Cluster, the record step of a login or rotate: compare-and-set in place, or (rotate)
    /// tombstone the old id, then move the record to the new id with `ROTATE`, one script
    /// over the two session keys, which [`RedisBackend::rotation_id`] put in one slot: a
    /// reader finds the old id or the new one, never both nor neither.
    pub(super) async fn move_record(
        &self,
        old_id: &str,
        old_wire: &str,
        record: &Record,
        ctx: WriteCtx,
    ) -> Result<Step> {
        let new_id = &record.session.id;
        if old_id == new_id {
            return Ok(Step::of(
                &self
                    .cas(old_id, old_wire, &record.wire, &pxat(record))
                    .await?,
            ));
        }
        if self.keys.session_slot(old_id) != self.keys.session_slot(new_id) {
            return Err(Error::backend(
                "redis cluster: a rotated id must hash to the slot of the old one",
            )
            .with("session_id_hash", id::hash(old_id)));
        }
        if self.tombstone_in_force(new_id, ctx.now_ms).await? {
            return Err(conflict(new_id));
        }
        // The tombstone goes first, so that no create can take the old id once its record is
        // gone. A failed move leaves it: the old id is then gone already (`missing`) or still
        // live and about to be rotated again (`retry`), and a tombstone on a live id only
        // forbids creating that id, which its record forbids anyway.
        self.set_tombstone(old_id, ctx.tombstone_until_ms).await?;
        let status: String = self
            .script_holding(
                true,
                &scripts::ROTATE,
                &[&self.keys.session(old_id), &self.keys.session(new_id)],
                &[old_wire, &record.wire, &pxat(record)],
            )
            .await?;
        if status == "conflict" {
            return Err(conflict(new_id));
        }
        Ok(Step::of(&status))
    }
}
