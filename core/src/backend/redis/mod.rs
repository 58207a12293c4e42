//! The Redis backend, single node and Redis Cluster (docs/redis.md has the key layout and the
//! step order with the reason each crash point is safe).
//!
//! Admission is optimistic: the index is read, the core's [`Admission`] decides, and the
//! commit script applies the decision only if the index's `~v` token is still the one that
//! was read; otherwise the step starts over. So the policy stays in the core while the
//! commit stays atomic. Read-modify-writes likewise commit only over the wire they read.

mod client;
mod cluster;
mod cluster_link;
mod conn;
mod go_index;
mod keys;
mod raw;
mod recent;
mod rewrite;
mod scan;
mod scripts;
mod sentinel;
mod single;
mod slot;

pub(crate) use client::Tls;
pub(crate) use conn::{Durability, Target};

use super::{Backend, Change, Modified, Page, RawPage, Record, WriteCtx, is_live};
use crate::controls::admission::{Admission, Decision, Member};
use crate::controls::expiry::ExpiryRule;
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::session::Session;
use async_trait::async_trait;
use conn::{Conn, OP_TIMEOUT};
use keys::{Keys, member_value, parse_member};
use recent::RecentRecords;
use std::collections::HashMap;
use std::future::Future;
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
    /// The store's expiry rule: a record's effective expiry is the earlier of its key's and
    /// the rule's, so a TTL another writer set (a Go `Update`) never keeps a session listed,
    /// counted or unswept past what omnisession's own rules say.
    expiry: ExpiryRule,
    /// `omnistorage_compat`: keep and read omnistorage-core's `{prefix}user:{uuid}` index.
    compat: bool,
    /// Records last read or written here: where a read-modify-write starts (see `recent.rs`).
    recent: RecentRecords,
    /// `wait_replicas`: the writes that create, move or end a session wait for replicas.
    durability: Option<Durability>,
}

/// Connects to Redis (one node, or a cluster) with every key under `prefix`.
pub(crate) async fn open(
    target: &Target,
    prefix: &str,
    expiry: ExpiryRule,
    compat: bool,
    durability: Option<Durability>,
) -> Result<Arc<dyn Backend>> {
    let conn = conn::connect(target).await?;
    let backend = RedisBackend {
        conn,
        keys: Keys::new(prefix),
        expiry,
        compat,
        recent: RecentRecords::default(),
        durability,
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
    /// `omnistorage_compat`: `=` followed by Go's index as read (empty when it has none), which
    /// the single-node commit compares too, so that a Go create between our read and our
    /// commit is counted on the next attempt; empty otherwise (no check).
    go_token: String,
    members: Vec<Member>,
    /// Cluster reservations: admitted creates whose record is not written yet.
    pending: Vec<Member>,
    evicting: Vec<String>,
}

impl RedisBackend {
    /// A script whose write creates, moves or ends a session (`durable`): with
    /// `wait_replicas`, sent together with its `WAIT` ([`conn::Conn::durable`]). On a cluster
    /// every step of such an operation is one: each slot it writes holds its part.
    async fn script_holding<T: redis::FromRedisValue>(
        &self,
        durable: bool,
        script: &redis::Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T> {
        match self.durability {
            Some(d) if durable => self.conn.script_durable(script, keys, args, d).await,
            _ => self.conn.script(script, keys, args).await,
        }
    }

    /// [`RedisBackend::script_holding`] for one command, always durable.
    async fn command_holding<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        match self.durability {
            Some(d) => self.conn.durable(cmd, None, d).await,
            None => self.conn.read(cmd).await,
        }
    }

    /// One operation on one session in `OP_TIMEOUT` at most, all its calls together: each
    /// call has that bound, but a cluster operation is several calls, and a partition met in a
    /// late one could make it last several times as long. Cut short, the operation is left as a
    /// crash at that point would leave it (safe at every step: docs/redis.md), and the caller
    /// is told it may or may not have happened. The call it cut counts as stalled, as its own
    /// timeout would have made it (a cluster gets a new connection: `cluster_link.rs`).
    async fn bounded<T>(&self, what: &str, op: impl Future<Output = Result<T>>) -> Result<T> {
        if let Ok(done) = tokio::time::timeout(OP_TIMEOUT, op).await {
            return done;
        }
        self.conn.stalled();
        Err(Error::unavailable(format!(
            "redis: the {what} took longer than {} s",
            OP_TIMEOUT.as_secs()
        )))
    }

    /// Removes one session (`Backend::remove`): whether it was there.
    async fn remove_id(&self, id: &str, tombstone: bool, ctx: WriteCtx) -> Result<bool> {
        let mut next = self.starting_wire(id).await?;
        for _ in 0..MAX_ATTEMPTS {
            let Some((wire, _)) = next.take() else {
                return Ok(false);
            };
            // An unreadable record is still removed; it just has no index entry to drop.
            let session = Session::from_wire(wire.as_bytes()).ok();
            match self
                .remove_one(id, &wire, session.as_ref(), tombstone, ctx)
                .await?
            {
                Some(removed) => return Ok(removed),
                // Changed since `wire` (or `wire` was a stale remembered one): read it.
                None => next = self.server_wire(id).await?,
            }
        }
        Err(too_busy())
    }

    /// Writes a tombstone: its value and its key's expiry are both the end of the tombstone.
    async fn set_tombstone(&self, id: &str, until_ms: i64) -> Result<()> {
        let until = until_ms.to_string();
        let cmd = redis::cmd("SET")
            .arg(self.keys.tombstone(id))
            .arg(&until)
            .arg("PXAT")
            .arg(&until)
            .clone();
        self.command_holding(&cmd).await
    }

    /// Whether `id` has a tombstone still in force at `now_ms` (the core's clock decides, not
    /// the server's: the key's own expiry only reclaims the memory).
    async fn tombstone_in_force(&self, id: &str, now_ms: i64) -> Result<bool> {
        let until: Option<String> = self
            .conn
            .read(redis::cmd("GET").arg(self.keys.tombstone(id)))
            .await?;
        Ok(until
            .and_then(|u| u.parse::<i64>().ok())
            .is_some_and(|u| u > now_ms))
    }

    /// The stored record of `id`, remembered for a write that may follow.
    async fn get_wire(&self, id: &str) -> Result<Option<String>> {
        let wire: Option<String> = self
            .conn
            .read(redis::cmd("GET").arg(self.keys.session(id)))
            .await
            .map_err(|e| e.with("session_id_hash", id::hash(id)))?;
        self.remember(id, wire.as_deref());
        Ok(wire)
    }

    /// Remembers what the server holds under `id` (`None`: nothing).
    fn remember(&self, id: &str, wire: Option<&str>) {
        match wire {
            Some(w) => self.recent.put(id, w),
            None => self.recent.forget(id),
        }
    }

    /// Where a read-modify-write of `id` starts: the record this process last saw (not yet
    /// checked against the server: `false`), else the server's (`true`).
    async fn starting_wire(&self, id: &str) -> Result<Option<(String, bool)>> {
        if let Some(wire) = self.recent.get(id) {
            return Ok(Some((wire.to_string(), false)));
        }
        self.server_wire(id).await
    }

    /// Where a read-modify-write of `id` starts again once what it started from turned out
    /// stale: the server's record (checked: `true`).
    async fn server_wire(&self, id: &str) -> Result<Option<(String, bool)>> {
        Ok(self.get_wire(id).await?.map(|w| (w, true)))
    }

    /// What a modify that wrote `record` returns; remembers the new record, and that a moved
    /// one left its old id.
    fn written(&self, old_id: &str, record: Record, evicted: Vec<Session>) -> Modified {
        if old_id != record.session.id {
            self.recent.forget(old_id);
        }
        self.recent.put(&record.session.id, &record.wire);
        Modified::Written {
            record: Box::new(record),
            evicted,
        }
    }

    /// What a modify that found no record returns.
    fn gone(&self, id: &str) -> Modified {
        self.recent.forget(id);
        Modified::Missing
    }

    /// The record the server sent back in place of the one a write started from.
    fn current(&self, id: &str, current: Option<String>) -> Attempt {
        self.remember(id, current.as_deref());
        Attempt::Next(current.map(|w| (w, true)))
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
        let mut state = state;
        if self.compat {
            let skip: Vec<&str> = state.pending.iter().map(|p| p.id.as_str()).collect();
            let (fresh, go_token, recordless) =
                self.go_members(&members, &skip, &record.session).await?;
            members = fresh;
            state.go_token = go_token;
            // Single node: a member without a record was deleted by another writer (a Go
            // `Delete`) or expired; the commit drops it (and tombstones the id, which Go's
            // delete did not).
            gone.extend(recordless);
        }
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
        let go = session.and_then(|s| self.go_key(s));
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
            if let Some(go) = &go {
                self.go_drop(go, &[id.to_owned()]).await?;
            }
            return Ok(Some(true));
        }
        let session_key = self.keys.session(id);
        let idx_key = idx.clone().unwrap_or_else(|| session_key.clone());
        let go_key = go.clone().unwrap_or_else(|| session_key.clone());
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
            flag(go.is_some()),
        ];
        let removed: i64 = self
            .script_holding(
                true,
                &scripts::REMOVE,
                &[&session_key, &self.keys.tombstone(id), &idx_key, &go_key],
                &args,
            )
            .await?;
        Ok(match removed {
            1 => Some(true),
            0 => Some(false),
            _ => None,
        })
    }
}

/// What one attempt of a read-modify-write ended with.
enum Attempt {
    /// Finished.
    Done(Modified),
    /// Try again from this record (and whether it is the server's), or as missing.
    Next(Option<(String, bool)>),
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
    /// On a cluster, an id whose key shares the old key's slot: the rotation is then one
    /// script over both keys (`ROTATE`), which no reader can see half-done.
    fn rotation_id(&self, old_id: &str) -> String {
        if self.conn.is_cluster() {
            self.keys.id_in_slot_of(old_id)
        } else {
            id::generate()
        }
    }

    fn rotation_allows(&self, old_id: &str, new_id: &str) -> bool {
        !self.conn.is_cluster() || self.keys.session_slot(old_id) == self.keys.session_slot(new_id)
    }

    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.tombstone_in_force(id, now_ms).await
    }

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
        self.bounded("create", async move {
            if self.conn.is_cluster() {
                return self.insert_cluster(record, admission, ctx).await;
            }
            let idx = index_of(&self.keys, &record.session);
            for _ in 0..MAX_ATTEMPTS {
                let (token, evict) = match (admission, &idx) {
                    (Some(a), Some(idx)) => {
                        let Some((state, decision, gone)) = self.decide(idx, record, a).await?
                        else {
                            continue;
                        };
                        let mut evict = decision.evict;
                        evict.extend(gone);
                        (Some((state.token, state.go_token)), evict)
                    }
                    _ => (None, Vec::new()),
                };
                let (status, wires) = self
                    .commit_single(None, record, idx.as_deref(), token.as_ref(), &evict, ctx)
                    .await?;
                match status.as_str() {
                    "ok" => {
                        self.recent.put(&record.session.id, &record.wire);
                        return Ok(parse_evicted(&wires));
                    }
                    "conflict" => return Err(conflict(&record.session.id)),
                    _ => {}
                }
            }
            Err(too_busy())
        })
        .await
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        self.bounded("write", async move {
            let mut next = self.starting_wire(id).await?;
            for _ in 0..MAX_ATTEMPTS {
                let Some((wire, checked)) = next.take() else {
                    return Ok(Modified::Missing);
                };
                // From a remembered record, a refusal may be the record's past: the server's
                // record decides, so read it and decide again.
                let decided = decode(id, &wire).and_then(|old| Ok((change(old.clone())?, old)));
                let (record, old) = match decided {
                    Ok(done) => done,
                    Err(_) if !checked => {
                        next = self.server_wire(id).await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let attempt = if self.conn.is_cluster() {
                    match self
                        .modify_cluster(&old, &wire, &record, admission, ctx)
                        .await?
                    {
                        Some(Modified::Written { record, evicted }) => {
                            Attempt::Done(self.written(id, *record, evicted))
                        }
                        Some(Modified::Missing) => Attempt::Done(self.gone(id)),
                        None => Attempt::Next(self.server_wire(id).await?),
                    }
                } else {
                    self.modify_single(id, (wire, checked), &old, record, admission, ctx)
                        .await?
                };
                match attempt {
                    Attempt::Done(done) => return Ok(done),
                    Attempt::Next(from) => next = from,
                }
            }
            Err(too_busy())
        })
        .await
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut removed = 0;
        for id in ids {
            let one = self
                .bounded("delete", self.remove_id(id, tombstone, ctx))
                .await;
            self.recent.forget(id);
            removed += u64::from(one?);
        }
        Ok(removed)
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let state = self.read_index(&self.keys.index(site, user)).await?;
        let mut ids: Vec<String> = state.members.into_iter().map(|m| m.id).collect();
        if self.compat {
            // Sessions only Go's index holds (created by Go, never written by us since): the
            // core keeps those of this site and user.
            for id in self.read_go_index(user).await?.1 {
                if id::is_well_formed(&id) && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let mut out = Vec::new();
        for id in ids {
            match self.get_wire(&id).await {
                Ok(Some(wire)) => match decode(&id, &wire) {
                    Ok(s) => out.push(s),
                    Err(e) => warn_corrupt(&id, &e),
                },
                Ok(None) => {}
                Err(e) if e.kind() == ErrorKind::BackendError => warn_corrupt(&id, &e),
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
        let (mut node, mut scan, mut after) = match cursor {
            None => (0usize, 0u64, None),
            Some(c) => parse_cursor(c)
                .ok_or_else(|| Error::invalid("the list cursor is not one this store issued"))?,
        };
        let pattern = self.keys.scan_pattern();
        let mut sessions: Vec<Session> = Vec::new();
        while node < nodes.len() {
            let (next, mut keys) = self
                .conn
                .scan(nodes[node].as_ref(), scan, &pattern, SCAN_COUNT)
                .await?;
            // A page may end inside this batch; the next one scans it again and resumes after
            // the last id this one took from it. In id order, sessions added to or removed from
            // the batch meanwhile move nothing else (a position would: one removal, one skipped).
            // SCAN's own limits stay (docs/redis.md): a batch merged into this one by a shrinking
            // keyspace may hold an id before the cursor's, not listed.
            keys.sort_unstable();
            // The last id this page took from this batch: where the next page resumes in it.
            let mut taken: Option<&str> = None;
            for key in &keys {
                let Some(id) = self.keys.id_of(key) else {
                    continue;
                };
                if after.as_deref().is_some_and(|a: &str| id <= a) {
                    continue;
                }
                for (s, expires) in self.fetch(std::slice::from_ref(key)).await? {
                    if s.site_id == site && is_live(expires, now_ms) {
                        if sessions.len() == limit {
                            // A next session exists: the next page starts with it.
                            let cursor = match taken {
                                Some(last) => format!("{node}:{scan}:{last}"),
                                None => format!("{node}:{scan}"),
                            };
                            return Ok(Page {
                                sessions,
                                cursor: Some(cursor),
                            });
                        }
                        sessions.push(s);
                        taken = Some(id);
                    }
                }
            }
            after = None;
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

    async fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        self.raw(cursor, limit).await
    }

    async fn close(&self) -> Result<()> {
        self.conn.close();
        Ok(())
    }
}

/// A list cursor: `node:scan:last-id`, the last id of a page that ended inside a batch, or
/// `node:scan` at the start of one.
fn parse_cursor(c: &str) -> Option<(usize, u64, Option<String>)> {
    // An id holds no `:`, so the last one (if there are two) sets the id apart.
    let (position, after) = match c.rsplit_once(':') {
        Some((position, id)) if position.contains(':') => (position, Some(id)),
        _ => (c, None),
    };
    let (node, scan) = scan::scan_position(position)?;
    match after {
        None => Some((node, scan, None)),
        Some(id) if id::is_well_formed(id) => Some((node, scan, Some(id.to_owned()))),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn a_list_cursor_is_a_scan_position_and_maybe_the_last_id_taken() {
        let id = "a".repeat(43);
        assert_eq!(parse_cursor("2:17"), Some((2, 17, None)));
        assert_eq!(
            parse_cursor(&format!("0:5:{id}")),
            Some((0, 5, Some(id.clone())))
        );
        for refused in [
            "",
            "2",
            "x:1",
            "2:x",
            "0:5:",
            "0:5:short",
            &format!("0:5:{id}:{id}"),
        ] {
            assert_eq!(parse_cursor(refused), None, "{refused}");
        }
    }
}
