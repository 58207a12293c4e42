//! The Redis backend, single node and Redis Cluster (docs/redis.md has the key layout and the
//! step order with the reason each crash point is safe).
//!
//! Admission is optimistic: the index is read, the core's [`Admission`] decides, and the
//! commit script applies the decision only if the index's `~v` token is still the one that
//! was read; otherwise the step starts over. So the policy stays in the core while the
//! commit stays atomic. Read-modify-writes likewise commit only over the wire they read.

mod conn;
mod keys;
mod scripts;

pub(crate) use conn::Target;

use super::{Backend, Change, Modified, Page, Record, WriteCtx, is_live};
use crate::controls::admission::{Admission, Decision, Member};
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::session::Session;
use async_trait::async_trait;
use conn::Conn;
use keys::{Keys, PENDING, member_value, parse_member};
use std::collections::HashMap;
use std::sync::Arc;

/// How often an optimistic step is tried before giving up with `BACKEND_ERROR`.
const MAX_ATTEMPTS: usize = 200;
/// A cluster index member whose session key is missing is only dropped once it is this old:
/// younger ones may belong to a create between its index step and its session step.
const RESERVATION_GRACE_MS: i64 = 10_000;
/// Keys asked of SCAN per call.
const SCAN_COUNT: usize = 500;

/// The Redis backend.
#[derive(Debug)]
pub struct RedisBackend {
    conn: Conn,
    keys: Keys,
}

/// Connects to Redis (one node, or a cluster) with every key under `prefix`.
pub(crate) async fn open(target: &Target, prefix: &str) -> Result<Arc<dyn Backend>> {
    let conn = conn::connect(target).await?;
    let backend = RedisBackend {
        conn,
        keys: Keys::new(prefix),
    };
    let _: String = backend.conn.read(&redis::cmd("PING")).await?;
    Ok(Arc::new(backend))
}

/// The (site, user) index of a session, if it has a user.
fn index_of(keys: &Keys, s: &Session) -> Option<String> {
    s.user_id.as_deref().map(|u| keys.index(&s.site_id, u))
}

fn member_of(r: &Record) -> String {
    member_value(r.created_ms(), r.accessed_ms(), r.expires_ms)
}

fn pxat(r: &Record) -> String {
    r.expires_ms.map(|e| e.to_string()).unwrap_or_default()
}

fn nonce() -> String {
    id::generate()[..16].to_owned()
}

fn conflict(id: &str) -> Error {
    Error::new(
        ErrorKind::SessionConflict,
        "a session with this id exists or was recently deleted",
    )
    .with("session_id_hash", id::hash(id))
}

fn too_busy() -> Error {
    Error::backend("redis: the step kept racing concurrent writers; try again")
}

fn decode(id: &str, wire: &str) -> Result<Session> {
    let session = Session::from_wire(wire.as_bytes()).and_then(|s| {
        if s.id == id {
            Ok(s)
        } else {
            Err("its id is not the id of its key".to_owned())
        }
    });
    session.map_err(|reason| {
        Error::backend(format!("the record of a session cannot be read: {reason}"))
            .with("session_id_hash", id::hash(id))
    })
}

/// What an index holds: its `~v` token, its members, and ids still marked as being evicted.
#[derive(Debug, Default)]
struct IndexState {
    /// `=` followed by the index's `~v` (empty when it has none): what the scripts compare.
    token: String,
    members: Vec<Member>,
    /// Cluster reservations: admitted creates whose record is not written yet.
    pending: Vec<Member>,
    evicting: Vec<String>,
}

impl RedisBackend {
    /// Writes a tombstone: its value and its key's expiry are both the end of the tombstone.
    async fn set_tombstone(&self, id: &str, until_ms: i64) -> Result<()> {
        let until = until_ms.to_string();
        let cmd = redis::cmd("SET")
            .arg(self.keys.tombstone(id))
            .arg(&until)
            .arg("PXAT")
            .arg(&until)
            .clone();
        self.conn.read::<()>(&cmd).await
    }

    /// Whether `id` has a tombstone still in force at `now_ms` (the core's clock decides, not
    /// the server's: the key's own expiry only reclaims the memory).
    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        let until: Option<String> = self
            .conn
            .read(redis::cmd("GET").arg(self.keys.tombstone(id)))
            .await?;
        Ok(until
            .and_then(|u| u.parse::<i64>().ok())
            .is_some_and(|u| u > now_ms))
    }

    async fn get_wire(&self, id: &str) -> Result<Option<String>> {
        self.conn
            .read(redis::cmd("GET").arg(self.keys.session(id)))
            .await
            .map_err(|e| e.with("session_id_hash", id::hash(id)))
    }

    async fn read_index(&self, idx: &str) -> Result<IndexState> {
        let all: HashMap<String, String> = self.conn.read(redis::cmd("HGETALL").arg(idx)).await?;
        let mut state = IndexState {
            token: "=".to_owned(),
            ..IndexState::default()
        };
        for (field, value) in all {
            if field == "~v" {
                state.token = format!("={value}");
            } else if let Some(id) = field.strip_prefix("~e:") {
                state.evicting.push(id.to_owned());
            } else if let Some((m, pending)) = parse_member(&field, &value) {
                if pending {
                    state.pending.push(m);
                } else {
                    state.members.push(m);
                }
            }
        }
        Ok(state)
    }

    /// Cluster only: members whose session key is gone (a crash between steps) and old enough
    /// not to be a create in flight. They are dropped from the index by the next admission.
    async fn gone_members(&self, members: &[Member], now_ms: i64) -> Result<Vec<String>> {
        let mut gone = Vec::new();
        for m in members
            .iter()
            .filter(|m| m.created_ms + RESERVATION_GRACE_MS < now_ms)
        {
            let exists: bool = self
                .conn
                .read(redis::cmd("EXISTS").arg(self.keys.session(&m.id)))
                .await?;
            if !exists {
                gone.push(m.id.clone());
            }
        }
        Ok(gone)
    }

    /// Reads the index of `record` and decides its admission. `Ok(None)`: reservations in
    /// flight fill the limit; wait for them to land and ask again.
    async fn decide(
        &self,
        idx: &str,
        record: &Record,
        admission: &Admission,
    ) -> Result<Option<(IndexState, Decision, Vec<String>)>> {
        let state = self.read_index(idx).await?;
        let mut gone = Vec::new();
        let mut in_flight = 0;
        let mut members: Vec<Member> = state.members.clone();
        if self.conn.is_cluster() {
            let all: Vec<Member> = state
                .members
                .iter()
                .chain(&state.pending)
                .cloned()
                .collect();
            gone = self.gone_members(&all, admission.now_ms).await?;
            for p in &state.pending {
                if p.created_ms + RESERVATION_GRACE_MS < admission.now_ms {
                    // An old reservation with a record: its create crashed before confirming.
                    members.push(p.clone());
                } else if p.id != record.session.id {
                    in_flight += 1;
                }
            }
        }
        members.retain(|m| m.id != record.session.id && !gone.contains(&m.id));
        let decide = |limit: usize| {
            Admission {
                limit,
                ..*admission
            }
            .decide(&members)
        };
        let decision = match admission.limit.checked_sub(in_flight) {
            Some(room) if room > 0 => decide(room)?,
            // Reservations alone fill the limit: a refusal stands, an eviction waits.
            _ if admission.policy == crate::controls::admission::EvictionPolicy::Reject => {
                decide(0)?
            }
            _ => return Ok(None),
        };
        Ok(Some((state, decision, gone)))
    }

    // ---- single node: one script per operation ----

    #[allow(clippy::too_many_arguments)]
    async fn commit_single(
        &self,
        old: Option<(&Session, &str)>,
        record: &Record,
        idx: Option<&str>,
        token: Option<&str>,
        evict: &[String],
        ctx: WriteCtx,
    ) -> Result<(String, Vec<String>)> {
        let new_id = &record.session.id;
        let new_idx = idx.map_or_else(|| self.keys.session(new_id), str::to_owned);
        let (old_id, old_wire, old_idx) = match old {
            Some((s, wire)) => (s.id.clone(), wire.to_owned(), index_of(&self.keys, s)),
            None => (new_id.clone(), String::new(), None),
        };
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
            token.unwrap_or_default().to_owned(),
            nonce(),
            ctx.tombstone_until_ms.to_string(),
            ctx.now_ms.to_string(),
            if old_idx.is_some() { "1" } else { "0" }.to_owned(),
        ];
        args.extend(evict.iter().cloned());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut reply: Vec<String> = self.conn.script(&scripts::COMMIT, &keys, &args).await?;
        if reply.is_empty() {
            return Err(Error::backend("redis: empty reply from the commit script"));
        }
        let status = reply.remove(0);
        Ok((status, reply))
    }

    // ---- cluster: ordered single-slot steps ----

    async fn cas(&self, id: &str, expected: &str, wire: &str, pxat: &str) -> Result<String> {
        self.conn
            .script(
                &scripts::CAS,
                &[&self.keys.session(id)],
                &[expected, wire, pxat],
            )
            .await
    }

    /// The index step: add `add` (id, member), mark `evict`, drop `drop`, if the token holds.
    async fn admit(
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
        let status: String = self.conn.script(&scripts::ADMIT, &[idx], &args).await?;
        Ok(status == "ok")
    }

    /// Finishes evictions: tombstone first (no create can take the id), then the record, then
    /// the index marks. Returns the evicted sessions that were still there.
    async fn finish_evictions(
        &self,
        idx: &str,
        ids: &[String],
        ctx: WriteCtx,
    ) -> Result<Vec<String>> {
        let mut wires = Vec::new();
        for id in ids {
            self.set_tombstone(id, ctx.tombstone_until_ms).await?;
            let wire: Option<String> = self
                .conn
                .read(redis::cmd("GETDEL").arg(self.keys.session(id)))
                .await?;
            wires.extend(wire);
        }
        if !ids.is_empty() {
            self.admit(idx, "", None, &[], ids, ctx.now_ms).await?;
        }
        Ok(wires)
    }

    async fn insert_cluster(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let id = &record.session.id;
        let tomb = self.tombstoned(id, ctx.now_ms).await?;
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
        let undo_index = || async {
            if let Some(idx) = &idx {
                self.admit(idx, "", None, &[], std::slice::from_ref(id), ctx.now_ms)
                    .await?;
            }
            Ok::<(), Error>(())
        };
        if self.cas(id, "", &record.wire, &pxat(record)).await? != "ok" {
            undo_index().await?;
            return Err(conflict(id));
        }
        let tomb = self.tombstoned(id, ctx.now_ms).await?;
        if tomb {
            self.cas(id, &record.wire, "", "").await?;
            undo_index().await?;
            return Err(conflict(id));
        }
        let wires = match &idx {
            Some(idx) => {
                let now = ctx.now_ms.to_string();
                let _: String = self
                    .conn
                    .script(&scripts::REFRESH, &[idx], &[id, &member, &now])
                    .await?;
                self.finish_evictions(idx, &evicted_ids, ctx).await?
            }
            None => Vec::new(),
        };
        Ok(parse_evicted(&wires))
    }

    async fn modify_cluster(
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
        if old_id == new_id && old_idx == new_idx {
            // Index first: a crash after it leaves an index entry that outlives its record.
            if let Some(idx) = &new_idx {
                let now = ctx.now_ms.to_string();
                let _: String = self
                    .conn
                    .script(&scripts::REFRESH, &[idx], &[new_id, &member, &now])
                    .await?;
            }
            return Ok(
                match self
                    .cas(old_id, old_wire, &record.wire, &pxat(record))
                    .await?
                    .as_str()
                {
                    "ok" => Some(Modified::Written {
                        record: Box::new(record.clone()),
                        evicted: Vec::new(),
                    }),
                    "missing" => Some(Modified::Missing),
                    _ => None,
                },
            );
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
        let undo_new_member = || async {
            if let Some(idx) = &new_idx
                && (old_idx != new_idx || old_id != new_id)
            {
                self.admit(idx, "", None, &[], std::slice::from_ref(new_id), ctx.now_ms)
                    .await?;
            }
            Ok::<(), Error>(())
        };
        match self.move_record(old_id, old_wire, record, ctx).await {
            Ok(Step::Done) => {}
            Ok(step) => {
                undo_new_member().await?;
                return Ok((step == Step::Missing).then_some(Modified::Missing));
            }
            Err(e) => {
                undo_new_member().await?;
                return Err(e);
            }
        }
        if let Some(idx) = &old_idx
            && (old_idx != new_idx || old_id != new_id)
        {
            self.admit(idx, "", None, &[], std::slice::from_ref(old_id), ctx.now_ms)
                .await?;
        }
        let wires = match &new_idx {
            Some(idx) => self.finish_evictions(idx, &evicted_ids, ctx).await?,
            None => Vec::new(),
        };
        Ok(Some(Modified::Written {
            record: Box::new(record.clone()),
            evicted: parse_evicted(&wires),
        }))
    }

    /// Cluster, the record step of a login or rotate: compare-and-set in place, or write the
    /// new id (`conflict` if taken or tombstoned), tombstone the old one, then delete it only
    /// if it still holds what was read (else the new record is withdrawn again).
    async fn move_record(
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
        let tomb = self.tombstoned(new_id, ctx.now_ms).await?;
        if tomb || self.cas(new_id, "", &record.wire, &pxat(record)).await? != "ok" {
            return Err(conflict(new_id));
        }
        self.set_tombstone(old_id, ctx.tombstone_until_ms).await?;
        let step = Step::of(&self.cas(old_id, old_wire, "", "").await?);
        if step != Step::Done {
            self.cas(new_id, &record.wire, "", "").await?;
            let () = self
                .conn
                .read(redis::cmd("DEL").arg(self.keys.tombstone(old_id)))
                .await?;
        }
        Ok(step)
    }

    /// Removes one session if it still holds `wire`. `Some(true)` removed, `Some(false)`
    /// missing, `None` changed meanwhile (read again).
    async fn remove_one(
        &self,
        id: &str,
        wire: &str,
        session: Option<&Session>,
        tombstone: bool,
        ctx: WriteCtx,
    ) -> Result<Option<bool>> {
        let idx = session.and_then(|s| index_of(&self.keys, s));
        let until = ctx.tombstone_until_ms.to_string();
        if self.conn.is_cluster() {
            if tombstone {
                self.set_tombstone(id, ctx.tombstone_until_ms).await?;
            }
            match self.cas(id, wire, "", "").await?.as_str() {
                "ok" => {}
                "missing" => return Ok(Some(false)),
                _ => return Ok(None),
            }
            if let Some(idx) = &idx {
                self.admit(idx, "", None, &[], &[id.to_owned()], ctx.now_ms)
                    .await?;
            }
            return Ok(Some(true));
        }
        let session_key = self.keys.session(id);
        let idx_key = idx.clone().unwrap_or_else(|| session_key.clone());
        let (now, n) = (ctx.now_ms.to_string(), nonce());
        let flag = |b: bool| if b { "1" } else { "0" };
        let args = [
            wire,
            id,
            flag(tombstone),
            &until,
            &now,
            flag(idx.is_some()),
            &n,
        ];
        let removed: i64 = self
            .conn
            .script(
                &scripts::REMOVE,
                &[&session_key, &self.keys.tombstone(id), &idx_key],
                &args,
            )
            .await?;
        Ok(match removed {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        })
    }

    /// Every session of the prefix with its effective expiry, node by node (admin
    /// operations and the sweep). Unreadable records are logged and skipped.
    async fn scan_all(&self, mut visit: impl FnMut(Session, Option<i64>)) -> Result<()> {
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

    /// The readable records of these keys with their keys' expiry (other keys are skipped).
    async fn fetch(&self, keys: &[String]) -> Result<Vec<(Session, Option<i64>)>> {
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
                Ok(s) => out.push((s, (expires >= 0).then_some(expires))),
                Err(e) => warn_corrupt(id, &e),
            }
        }
        Ok(out)
    }
}

/// The outcome of a compare-and-set step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Done,
    Missing,
    Retry,
}

impl Step {
    fn of(status: &str) -> Step {
        match status {
            "ok" => Step::Done,
            "missing" => Step::Missing,
            _ => Step::Retry,
        }
    }
}

fn parse_evicted(wires: &[String]) -> Vec<Session> {
    wires
        .iter()
        .filter_map(|w| Session::from_wire(w.as_bytes()).ok())
        .collect()
}

fn warn_corrupt(id: &str, e: &Error) {
    tracing::warn!(target: "omnisession", session_id_hash = %id::hash(id), error = %e, "skipping an unreadable session record");
}

#[async_trait]
impl Backend for RedisBackend {
    async fn load(&self, id: &str) -> Result<Option<Session>> {
        match self.get_wire(id).await? {
            Some(wire) => decode(id, &wire).map(Some),
            None => Ok(None),
        }
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        if self.conn.is_cluster() {
            return self.insert_cluster(record, admission, ctx).await;
        }
        let idx = index_of(&self.keys, &record.session);
        for _ in 0..MAX_ATTEMPTS {
            let (token, evict) = match (admission, &idx) {
                (Some(a), Some(idx)) => {
                    let Some((state, decision, _)) = self.decide(idx, record, a).await? else {
                        continue;
                    };
                    (Some(state.token), decision.evict)
                }
                _ => (None, Vec::new()),
            };
            let (status, wires) = self
                .commit_single(None, record, idx.as_deref(), token.as_deref(), &evict, ctx)
                .await?;
            match status.as_str() {
                "ok" => return Ok(parse_evicted(&wires)),
                "conflict" => return Err(conflict(&record.session.id)),
                _ => {}
            }
        }
        Err(too_busy())
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(wire) = self.get_wire(id).await? else {
                return Ok(Modified::Missing);
            };
            let old = decode(id, &wire)?;
            let record = change(old.clone())?;
            if self.conn.is_cluster() {
                match self
                    .modify_cluster(&old, &wire, &record, admission, ctx)
                    .await?
                {
                    Some(done) => return Ok(done),
                    None => continue,
                }
            }
            let idx = index_of(&self.keys, &record.session);
            let joins = idx.is_some() && idx != index_of(&self.keys, &old);
            let (token, evict) = match (admission, &idx) {
                (Some(a), Some(idx)) if joins => {
                    let Some((state, decision, _)) = self.decide(idx, &record, a).await? else {
                        continue;
                    };
                    (Some(state.token), decision.evict)
                }
                _ => (None, Vec::new()),
            };
            let (status, wires) = self
                .commit_single(
                    Some((&old, &wire)),
                    &record,
                    idx.as_deref(),
                    token.as_deref(),
                    &evict,
                    ctx,
                )
                .await?;
            match status.as_str() {
                "ok" => {
                    return Ok(Modified::Written {
                        record: Box::new(record),
                        evicted: parse_evicted(&wires),
                    });
                }
                "missing" => return Ok(Modified::Missing),
                "conflict" => return Err(conflict(&record.session.id)),
                _ => {}
            }
        }
        Err(too_busy())
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut removed = 0;
        for id in ids {
            let mut done = false;
            for _ in 0..MAX_ATTEMPTS {
                let Some(wire) = self.get_wire(id).await? else {
                    done = true;
                    break;
                };
                // An unreadable record is still removed; it just has no index entry to drop.
                let session = Session::from_wire(wire.as_bytes()).ok();
                match self
                    .remove_one(id, &wire, session.as_ref(), tombstone, ctx)
                    .await?
                {
                    Some(true) => {
                        removed += 1;
                        done = true;
                        break;
                    }
                    Some(false) => {
                        done = true;
                        break;
                    }
                    None => {}
                }
            }
            if !done {
                return Err(too_busy());
            }
        }
        Ok(removed)
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let state = self.read_index(&self.keys.index(site, user)).await?;
        let mut out = Vec::new();
        for m in state.members {
            match self.get_wire(&m.id).await {
                Ok(Some(wire)) => match decode(&m.id, &wire) {
                    Ok(s) => out.push(s),
                    Err(e) => warn_corrupt(&m.id, &e),
                },
                Ok(None) => {}
                Err(e) if e.kind() == ErrorKind::BackendError => warn_corrupt(&m.id, &e),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        let nodes = self.conn.scan_targets().await?;
        let (mut node, mut scan, mut skip) = match cursor {
            None => (0usize, 0u64, 0usize),
            Some(c) => parse_cursor(c)
                .ok_or_else(|| Error::invalid("the list cursor is not one this store issued"))?,
        };
        let pattern = self.keys.scan_pattern();
        let mut sessions = Vec::new();
        while node < nodes.len() {
            let (next, keys) = self
                .conn
                .scan(nodes[node].as_ref(), scan, &pattern, SCAN_COUNT)
                .await?;
            for (i, key) in keys.iter().enumerate().skip(skip) {
                for (s, expires) in self.fetch(std::slice::from_ref(key)).await? {
                    if s.site_id == site && is_live(expires, now_ms) {
                        if sessions.len() == limit {
                            // A next session exists: the next page starts with it, re-reading
                            // this same SCAN batch from its position.
                            let cursor = Some(format!("{node}:{scan}:{i}"));
                            return Ok(Page { sessions, cursor });
                        }
                        sessions.push(s);
                    }
                }
            }
            skip = 0;
            scan = next;
            if scan == 0 {
                node += 1;
            }
        }
        Ok(Page {
            sessions,
            cursor: None,
        })
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut n = 0;
        self.scan_all(|s, expires| {
            if s.site_id == site && is_live(expires, now_ms) {
                n += 1;
            }
        })
        .await?;
        Ok(n)
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut doomed = Vec::new();
        self.scan_all(|s, expires| {
            if s.site_id == site {
                doomed.push((s.id, is_live(expires, now_ms)));
            }
        })
        .await?;
        let ctx = WriteCtx {
            now_ms,
            tombstone_until_ms: now_ms,
        };
        let live: Vec<String> = doomed.iter().filter(|d| d.1).map(|d| d.0.clone()).collect();
        let expired: Vec<String> = doomed
            .iter()
            .filter(|d| !d.1)
            .map(|d| d.0.clone())
            .collect();
        let removed = self.remove(&live, false, ctx).await?;
        self.remove(&expired, false, ctx).await?;
        Ok(removed)
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        // Redis expires records itself (PEXPIREAT) and index entries are pruned by every index
        // step; this pass catches records whose expiry the server's clock has not reached yet.
        let mut doomed = Vec::new();
        self.scan_all(|s, expires| {
            if !is_live(expires, now_ms) {
                doomed.push(s.id);
            }
        })
        .await?;
        self.remove(
            &doomed,
            false,
            WriteCtx {
                now_ms,
                tombstone_until_ms: now_ms,
            },
        )
        .await
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

fn parse_cursor(c: &str) -> Option<(usize, u64, usize)> {
    let mut parts = c.split(':');
    let cursor = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(cursor)
}
