//! Single node: every write of an operation in one atomic script (`COMMIT`), omnistorage-core's
//! per-user index included (`omnistorage_compat`).

use super::rewrite::Rewritten;
use super::{
    Attempt, RedisBackend, conflict, index_of, member_of, nonce, parse_evicted, pxat, scripts,
};
use crate::backend::{Record, WriteCtx};
use crate::controls::admission::Admission;
use crate::error::{Error, Result};
use crate::session::Session;

impl RedisBackend {
    /// One attempt of a read-modify-write on a single node: `record` (the change of `old`,
    /// read as `from`) is written by `REWRITE` when it keeps its id and index, else by `COMMIT`.
    pub(super) async fn modify_single(
        &self,
        id: &str,
        from: (String, bool),
        old: &Session,
        record: Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Attempt> {
        let (wire, checked) = from;
        let idx = index_of(&self.keys, &record.session);
        let same_index = idx == index_of(&self.keys, old);
        if record.session.id == id && same_index && !self.compat {
            match self.rewrite((old, &wire), &record, idx.as_deref()).await? {
                Rewritten::Done => return Ok(Attempt::Done(self.written(id, record, Vec::new()))),
                Rewritten::Missing => return Ok(Attempt::Done(self.gone(id))),
                Rewritten::Changed(current) => return Ok(self.current(id, current)),
                Rewritten::Unindexed => {}
            }
        }
        let (token, evict) = match (admission, &idx) {
            (Some(a), Some(idx)) if !same_index => {
                let Some((state, decision, gone)) = self.decide(idx, &record, a).await? else {
                    return Ok(Attempt::Next(Some((wire, checked))));
                };
                let mut evict = decision.evict;
                evict.extend(gone);
                (Some((state.token, state.go_token)), evict)
            }
            _ => (None, Vec::new()),
        };
        let (status, mut wires) = self
            .commit_single(
                Some((old, &wire)),
                &record,
                idx.as_deref(),
                token.as_ref(),
                &evict,
                ctx,
            )
            .await?;
        Ok(match status.as_str() {
            "ok" => {
                let evicted = parse_evicted(&wires);
                Attempt::Done(self.written(id, record, evicted))
            }
            "missing" => Attempt::Done(self.gone(id)),
            "conflict" => return Err(conflict(&record.session.id)),
            // The record changed since `wire`: the script sent the one it holds.
            "changed" if !wires.is_empty() => self.current(id, Some(wires.swap_remove(0))),
            // The index changed: the same record, decided again.
            _ => Attempt::Next(Some((wire, checked))),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn commit_single(
        &self,
        old: Option<(&Session, &str)>,
        record: &Record,
        idx: Option<&str>,
        token: Option<&(String, String)>,
        evict: &[String],
        ctx: WriteCtx,
    ) -> Result<(String, Vec<String>)> {
        let new_id = &record.session.id;
        let new_idx = idx.map_or_else(|| self.keys.session(new_id), str::to_owned);
        let (old_id, old_wire, old_idx, old_go) = match old {
            Some((s, wire)) => (
                s.id.clone(),
                wire.to_owned(),
                index_of(&self.keys, s),
                self.go_key(s),
            ),
            None => (new_id.clone(), String::new(), None, None),
        };
        let new_go = self.go_key(&record.session);
        let mut keys = vec![
            self.keys.session(new_id),
            self.keys.tombstone(new_id),
            new_idx.clone(),
            self.keys.session(&old_id),
            self.keys.tombstone(&old_id),
            old_idx.clone().unwrap_or_else(|| new_idx.clone()),
        ];
        for e in evict {
            keys.push(self.keys.session(e));
            keys.push(self.keys.tombstone(e));
        }
        // Last: the script finds the Go indexes at #KEYS - 1 and #KEYS (placeholders unused).
        keys.push(new_go.clone().unwrap_or_else(|| new_idx.clone()));
        keys.push(old_go.clone().unwrap_or_else(|| new_idx.clone()));
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let mut args = vec![
            if old.is_some() { "replace" } else { "insert" }.to_owned(),
            old_wire,
            record.wire.clone(),
            pxat(record),
            new_id.clone(),
            old_id,
            if idx.is_some() {
                member_of(record)
            } else {
                String::new()
            },
            token.map(|t| t.0.clone()).unwrap_or_default(),
            nonce(),
            ctx.tombstone_until_ms.to_string(),
            ctx.now_ms.to_string(),
            flag(old_idx.is_some()),
            flag(new_go.is_some()),
            flag(old_go.is_some()),
            token.map(|t| t.1.clone()).unwrap_or_default(),
        ];
        args.extend(evict.iter().cloned());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // A login or a rotation (a session under a new id) must survive a failover.
        let durable = old.is_none_or(|(s, _)| s.id != *new_id);
        let mut reply: Vec<String> = self
            .script_holding(durable, &scripts::COMMIT, &keys, &args)
            .await?;
        if reply.is_empty() {
            return Err(Error::backend("redis: empty reply from the commit script"));
        }
        let status = reply.remove(0);
        Ok((status, reply))
    }
}
