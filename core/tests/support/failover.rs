#![allow(dead_code)] // each test crate uses the part of this module it needs
//! One load of mixed operations for the failover tests (Sentinel and Cluster), and one judge of
//! what it saw.
//!
//! Tasks create sessions for a few users shared by all of them and held at their limit
//! ([`LIMIT`], policy `reject`: nothing is evicted, so a session that is gone was lost), and
//! patch (a counter that only grows), read and delete (log out) the sessions they created; now
//! and then a read of a logged-out session must find it gone. An optional probe reads and
//! patches one session (on the node under fault) as fast as it is served, to time that node's
//! service. Every operation is timed and kept, and every fault marked ([`Load::fault`]). At the
//! end every acknowledged write is checked, every logged-out session must still be gone, and
//! every user's live sessions are counted on every master (`list`) and by its index.

use super::reliability::{Figures, Tally};
use omnisession::{ErrorKind, NewSession, Patch, Result, Store};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The per-user limit the store must be opened with (policy `reject`).
pub const LIMIT: usize = 3;
/// The users the load shares: `{prefix}user0` to `{prefix}user3`.
const USERS: usize = 4;
/// The Redis backend's per-call timeout (`core/src/backend/redis/conn.rs`, not configurable).
pub const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// Scheduling slack on a loaded 2-core machine.
pub const SLACK: Duration = Duration::from_millis(750);
/// Longest wait for the store to serve again after a fault before the test fails.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);

pub fn set(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}

fn patch(n: u64) -> Patch {
    Patch {
        set: set("n", json!(n)),
        ..Default::default()
    }
}

/// A small xorshift: the load's choices, reproducible per task, without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One operation: when it ran, whether the store served it (an answer, not a backend failure:
/// `SESSION_LIMIT_EXCEEDED` is served), and whether the probe ran it.
#[derive(Debug, Clone, Copy)]
pub struct Op {
    pub start: Instant,
    pub end: Instant,
    pub served: bool,
    pub probe: bool,
}

/// How long after `t` an operation that started after `t` was first served: of the probe's
/// operations, or of the load's (`probe: false`).
fn first_served(ops: &[Op], t: Instant, probe: bool) -> Option<Duration> {
    ops.iter()
        .filter(|o| o.start >= t && o.served && o.probe == probe)
        .map(|o| o.end - t)
        .min()
}

/// A session a task created and holds: its last acknowledged `n`, and when that write was
/// acknowledged.
#[derive(Debug)]
struct Own {
    id: String,
    n: u64,
    at: Instant,
}

/// What the load tasks share while they run: the stop flag, the operations timed, the faults.
#[derive(Default)]
struct Progress {
    stop: AtomicBool,
    /// Load operations served (not the probe's).
    served: AtomicU64,
    ops: Mutex<Vec<Op>>,
    faults: Mutex<Vec<Instant>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the load saw and what was found at the end: first each task's own, then merged.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Outcomes as `op:CODE`.
    pub tally: Tally,
    /// Every operation, by start.
    pub ops: Vec<Op>,
    /// When each fault was made ([`Load::fault`]).
    pub faults: Vec<Instant>,
    pub probed: bool,
    pub slowest: Duration,
    /// Operations that took longer than the op timeout plus slack.
    pub over_bound: Vec<String>,
    /// Outcomes that are neither served nor a typed backend failure.
    pub unexpected: Vec<String>,
    /// The distinct messages of the backend failures (ids are not in them).
    pub messages: BTreeSet<String>,
    /// Each loss: when it was found, and when the lost write had been acknowledged.
    pub losses: Vec<(Instant, Instant)>,
    /// Acknowledged writes (creates, patches, deletes).
    pub acknowledged: u64,
    /// Acknowledged sessions gone, acknowledged patches gone (an older `n`), and acknowledged
    /// logouts undone (the session readable again), during the load or at the end.
    pub lost_creates: u64,
    pub lost_patches: u64,
    pub resurrected: u64,
    /// The most live sessions of a user (`list`, every master), and those over the limit.
    pub max_live: usize,
    pub over_admitted: usize,
    /// The most live sessions of a user as its index lists them (`list_by_user_id`).
    pub max_indexed: usize,
    /// Sessions a listing returned more than once (Redis SCAN may repeat a key: counted, and
    /// each session counted once below).
    pub listed_twice: usize,
    /// Live sessions missing from their user's index: a lost index write (its record, on
    /// another shard, survived), which lets the user past the limit.
    pub unindexed: usize,
    /// Sessions it created and has not deleted.
    live: Vec<Own>,
    /// Sessions whose delete was acknowledged, and when.
    deleted: Vec<(String, Instant)>,
    /// Ids of creates that failed: they may exist (each is deleted again later).
    maybe: Vec<String>,
}

impl Verdict {
    /// Records one outcome; returns whether it was a failure (the caller paces itself).
    fn record<T>(
        &mut self,
        progress: &Progress,
        name: &str,
        start: Instant,
        r: &Result<T>,
    ) -> bool {
        let end = Instant::now();
        let took = end - start;
        self.slowest = self.slowest.max(took);
        if took > OP_TIMEOUT + SLACK {
            self.over_bound
                .push(format!("{name} took {} ms", took.as_millis()));
        }
        let code = r.as_ref().map_or_else(omnisession::Error::code, |_| "OK");
        self.tally.add(&format!("{name}:{code}"), 1);
        let served = match r {
            Ok(_) => true,
            Err(e) => match e.kind() {
                ErrorKind::BackendUnavailable | ErrorKind::BackendError => {
                    self.messages
                        .insert(format!("{}: {}", e.code(), e.message()));
                    false
                }
                ErrorKind::SessionLimitExceeded if name == "create" => true,
                // A patch of a session of its own that is gone: counted as lost by the caller.
                ErrorKind::SessionNotFound if name == "patch" => true,
                _ => {
                    self.unexpected.push(format!("{name}: {e}"));
                    false
                }
            },
        };
        let probe = self.probed;
        locked(&progress.ops).push(Op {
            start,
            end,
            served,
            probe,
        });
        if served && !probe {
            progress.served.fetch_add(1, Ordering::SeqCst);
        }
        !served
    }

    /// A loss found now, of a write acknowledged `at`.
    fn lost(&mut self, creates: u64, patches: u64, at: Instant) {
        self.lost_creates += creates;
        self.lost_patches += patches;
        self.losses.push((Instant::now(), at));
    }

    fn merge(&mut self, o: Verdict) {
        self.tally.merge(&o.tally);
        self.slowest = self.slowest.max(o.slowest);
        self.over_bound.extend(o.over_bound);
        self.unexpected.extend(o.unexpected);
        self.messages.extend(o.messages);
        self.losses.extend(o.losses);
        self.live.extend(o.live);
        self.deleted.extend(o.deleted);
        self.maybe.extend(o.maybe);
        self.acknowledged += o.acknowledged;
        self.lost_creates += o.lost_creates;
        self.lost_patches += o.lost_patches;
        self.resurrected += o.resurrected;
    }

    /// The checks of a store opened with `wait_replicas`: a write is acknowledged only once a
    /// replica has it, so no acknowledged login or logout is lost in a failover of any kind,
    /// and no lost index write lets a user past the limit.
    pub fn assert_durable(&self) {
        assert_eq!(self.lost_creates, 0, "acknowledged logins lost");
        assert_eq!(self.resurrected, 0, "acknowledged logouts undone");
        assert_eq!(self.over_admitted, 0, "over-admitted");
        assert_eq!(self.unindexed, 0, "acknowledged index entries lost");
    }

    /// Acknowledged writes lost, of any kind.
    pub fn lost_writes(&self) -> u64 {
        self.lost_creates + self.lost_patches + self.resurrected + self.unindexed as u64
    }

    /// The backend failures, by code.
    pub fn failures(&self) -> Tally {
        let mut t = Tally::default();
        for (k, v) in &self.tally.0 {
            let code = k.split_once(':').map_or(k.as_str(), |(_, c)| c);
            if code.starts_with("BACKEND") {
                t.add(code, *v);
            }
        }
        t
    }

    /// How long after each fault a load operation (on any shard) that started after it was
    /// first served, in ms.
    pub fn first_served_any(&self) -> Vec<u128> {
        self.faults
            .iter()
            .map(|&t| first_served(&self.ops, t, false).map_or(u128::MAX, |d| d.as_millis()))
            .collect()
    }

    /// Each loss against the last fault before it was found: that fault's index, and when the
    /// lost write had been acknowledged and when it was found missing, in ms from that fault.
    pub fn losses_from_faults(&self) -> Vec<(usize, i128, i128)> {
        let ms = |i: Instant, fault: Instant| {
            i.checked_duration_since(fault).map_or_else(
                || -(fault.duration_since(i).as_millis() as i128),
                |d| d.as_millis() as i128,
            )
        };
        self.losses
            .iter()
            .filter_map(|&(found, acked)| {
                let k = self.faults.iter().rposition(|&t| t <= found)?;
                Some((k, ms(acked, self.faults[k]), ms(found, self.faults[k])))
            })
            .collect()
    }

    /// Adds the figures of the load to `f`, prints the line and each distinct failure message,
    /// and checks what every fault shares: every failure typed (`BACKEND_UNAVAILABLE`,
    /// `BACKEND_ERROR`), no operation past the op timeout (plus slack).
    pub fn report(&self, f: &mut Figures) {
        f.add("ops", self.ops.len())
            .add("failures", self.failures().encode())
            .add("outcomes", self.tally.encode())
            .add("slowest_op_ms", self.slowest.as_millis())
            .add("acknowledged", self.acknowledged)
            .add("lost_creates", self.lost_creates)
            .add("lost_patches", self.lost_patches)
            .add("resurrected", self.resurrected)
            .add("max_live_per_user", self.max_live)
            .add("max_indexed_per_user", self.max_indexed)
            .add("unindexed", self.unindexed)
            .add("listed_twice", self.listed_twice)
            .add("over_admitted", self.over_admitted)
            .print();
        for m in &self.messages {
            println!("    failure seen: {m}");
        }
        assert!(
            self.unexpected.is_empty(),
            "untyped outcomes: {:?}",
            self.unexpected
        );
        assert!(
            self.over_bound.is_empty(),
            "operations outlived the {OP_TIMEOUT:?} op timeout: {:?}",
            self.over_bound
        );
    }
}

/// A running load on one store.
pub struct Load {
    store: Store,
    progress: Arc<Progress>,
    tasks: Vec<JoinHandle<Verdict>>,
    users: Vec<String>,
    probed: bool,
}

impl Load {
    /// Starts `workers` load tasks on `store`, for users `{prefix}user0..3`, and a probe on
    /// session `probe` if given (it must exist).
    pub fn start(store: &Store, workers: usize, prefix: &str, probe: Option<String>) -> Load {
        let progress = Arc::new(Progress::default());
        let users: Vec<String> = (0..USERS).map(|u| format!("{prefix}user{u}")).collect();
        let mut tasks: Vec<JoinHandle<Verdict>> = (0..workers)
            .map(|t| {
                let (store, progress, users) = (store.clone(), progress.clone(), users.clone());
                tokio::spawn(load_task(store, t, progress, users))
            })
            .collect();
        let probed = probe.is_some();
        if let Some(id) = probe {
            tasks.push(tokio::spawn(probe_task(
                store.clone(),
                id,
                progress.clone(),
            )));
        }
        Load {
            store: store.clone(),
            progress,
            tasks,
            users,
            probed,
        }
    }

    /// Marks a fault made now, and returns when.
    pub fn fault(&self) -> Instant {
        let t = Instant::now();
        self.fault_at(t);
        t
    }

    /// Marks a fault made at `t`.
    pub fn fault_at(&self, t: Instant) {
        locked(&self.progress.faults).push(t);
    }

    /// Waits until the load tasks have been served `n` more operations.
    pub async fn progress(&self, n: u64) {
        let served = &self.progress.served;
        let target = served.load(Ordering::SeqCst) + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while served.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the load is not being served");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How long after `t` an operation that started after `t` was first served (the probe's,
    /// if there is one), waiting for it ([`RECOVERY_BOUND`] at most).
    pub async fn served_after(&self, t: Instant) -> Duration {
        self.served_by(t, t + RECOVERY_BOUND)
            .await
            .unwrap_or_else(|| panic!("not served again within {RECOVERY_BOUND:?}"))
    }

    /// [`Load::served_after`], waiting until `deadline` at most.
    pub async fn served_by(&self, t: Instant, deadline: Instant) -> Option<Duration> {
        loop {
            if let Some(d) = first_served(&locked(&self.progress.ops), t, self.probed) {
                return Some(d);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The number of probe operations served that started after `t`.
    pub fn probe_served_since(&self, t: Instant) -> usize {
        locked(&self.progress.ops)
            .iter()
            .filter(|o| o.probe && o.start >= t && o.served)
            .count()
    }

    /// Stops the load and checks every acknowledged write, every logout and every user's
    /// sessions against the store (retried while it is not serving yet).
    pub async fn finish(self) -> Verdict {
        self.progress.stop.store(true, Ordering::SeqCst);
        let mut v = Verdict::default();
        for t in self.tasks {
            v.merge(t.await.expect("a load task panicked"));
        }
        let store = &self.store;
        for own in std::mem::take(&mut v.live) {
            match settled(|| store.get(&own.id)).await {
                None => v.lost(1, 0, own.at),
                Some(s) if s.data["n"].as_u64() < Some(own.n) => v.lost(0, 1, own.at),
                Some(_) => {}
            }
        }
        for (id, at) in std::mem::take(&mut v.deleted) {
            if settled(|| store.get(&id)).await.is_some() {
                v.resurrected += 1;
                v.losses.push((Instant::now(), at));
            }
        }
        // Every live session of this load's users, from every master, by user. Only theirs:
        // another load on the same keys (a store beside, with other users) may still be
        // running, and a listing is no snapshot: one of its users can show a session being
        // ended beside the one replacing it.
        let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = settled(|| store.list(cursor.as_deref(), Some(500))).await;
            for s in page.sessions {
                let user = s.user_id.unwrap_or_default();
                if !self.users.contains(&user) {
                    continue;
                }
                let ids = per_user.entry(user).or_default();
                if ids.contains(&s.id) {
                    v.listed_twice += 1;
                } else {
                    ids.push(s.id);
                }
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        v.max_live = per_user.values().map(Vec::len).max().unwrap_or(0);
        v.over_admitted = per_user
            .values()
            .map(|c| c.len().saturating_sub(LIMIT))
            .sum();
        for user in &self.users {
            let indexed = settled(|| store.list_by_user_id(user)).await;
            v.max_indexed = v.max_indexed.max(indexed.len());
            // A create that failed may have left its session half indexed: not counted.
            let live = per_user.get(user).map_or(&[][..], Vec::as_slice);
            v.unindexed += live
                .iter()
                .filter(|id| !v.maybe.contains(id) && !indexed.iter().any(|s| &s.id == *id))
                .count();
        }
        v.ops = std::mem::take(&mut *locked(&self.progress.ops));
        v.ops.sort_by_key(|o| o.start);
        v.faults.clone_from(&locked(&self.progress.faults));
        v.probed = self.probed;
        v
    }
}

/// Retries a read across a backend failure, for the checks after the faults.
async fn settled<T, F: Future<Output = Result<T>>>(mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::BackendUnavailable | ErrorKind::BackendError
                    ) && Instant::now() < deadline,
                    "not serving after the faults: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One load task: creates for the progress users (at their limit, so many are refused), and
/// patches, reads and deletes of the sessions it created.
async fn load_task(
    store: Store,
    task: usize,
    progress: Arc<Progress>,
    users: Vec<String>,
) -> Verdict {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((task as u64 + 1) * 0x2545_f491_4f6c_dd1d));
    let mut w = Verdict::default();
    let mut counter = 0u64;
    while !progress.stop.load(Ordering::SeqCst) {
        let roll = rng.below(100);
        let start = Instant::now();
        let failed = if w.live.len() < 2 || roll < 30 {
            let user = users[rng.below(users.len())].clone();
            let id = omnisession::id::generate();
            let r = store
                .create(NewSession {
                    id: Some(id.clone()),
                    user_id: Some(user),
                    data: set("n", json!(0)),
                    ..Default::default()
                })
                .await;
            match &r {
                Ok(_) => {
                    let at = Instant::now();
                    w.live.push(Own { id, n: 0, at });
                    w.acknowledged += 1;
                }
                Err(e) if e.kind() != ErrorKind::SessionLimitExceeded => w.maybe.push(id),
                Err(_) => {}
            }
            w.record(&progress, "create", start, &r)
        } else if roll < 60 {
            let i = rng.below(w.live.len());
            counter += 1;
            let r = store.patch(&w.live[i].id, patch(counter)).await;
            match &r {
                Ok(_) => {
                    w.live[i].n = counter;
                    w.live[i].at = Instant::now();
                    w.acknowledged += 1;
                }
                Err(e) if e.kind() == ErrorKind::SessionNotFound => {
                    let own = w.live.swap_remove(i);
                    w.lost(1, 0, own.at);
                }
                Err(_) => {}
            }
            w.record(&progress, "patch", start, &r)
        } else if roll < 85 {
            if !w.deleted.is_empty() && rng.below(4) == 0 {
                // A logged-out session must stay gone.
                let (id, at) = w.deleted[rng.below(w.deleted.len())].clone();
                let r = store.get(&id).await;
                if matches!(r, Ok(Some(_))) {
                    w.resurrected += 1;
                    w.losses.push((Instant::now(), at));
                    w.deleted.retain(|(d, _)| *d != id);
                }
                w.record(&progress, "get", start, &r)
            } else {
                let i = rng.below(w.live.len());
                let r = store.get(&w.live[i].id).await;
                match &r {
                    Ok(None) => {
                        let own = w.live.swap_remove(i);
                        w.lost(1, 0, own.at);
                    }
                    Ok(Some(s)) if s.data["n"].as_u64() < Some(w.live[i].n) => {
                        let at = w.live[i].at;
                        w.lost(0, 1, at);
                        w.live[i].n = s.data["n"].as_u64().unwrap_or(0);
                    }
                    _ => {}
                }
                w.record(&progress, "get", start, &r)
            }
        } else {
            // Logout: of a session it holds, or of one whose create failed (it may exist).
            let id = match w.maybe.pop() {
                Some(id) if rng.below(2) == 0 => id,
                other => {
                    w.maybe.extend(other);
                    let i = rng.below(w.live.len());
                    w.live.swap_remove(i).id
                }
            };
            let r = store.delete(&id).await;
            if r.is_ok() {
                w.deleted.push((id, Instant::now()));
                w.acknowledged += 1;
            } else {
                w.maybe.push(id);
            }
            w.record(&progress, "delete", start, &r)
        };
        if failed {
            // Pacing, not synchronisation: a dead node refuses at once.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    w
}

/// The probe: get and patch of one session, as fast as served.
async fn probe_task(store: Store, id: String, progress: Arc<Progress>) -> Verdict {
    let mut w = Verdict {
        probed: true,
        ..Verdict::default()
    };
    let (mut n, mut acked, mut acked_at) = (0u64, 0u64, Instant::now());
    let mut gone = false;
    while !progress.stop.load(Ordering::SeqCst) {
        let start = Instant::now();
        let r = store.get(&id).await;
        match &r {
            // Counted once: the probe keeps running, to time the shard's service.
            Ok(None) if !gone => {
                gone = true;
                w.lost(1, 0, acked_at);
            }
            Ok(Some(s)) if s.data["n"].as_u64() < Some(acked) => {
                w.lost(0, 1, acked_at);
                acked = s.data["n"].as_u64().unwrap_or(0);
            }
            _ => {}
        }
        let mut failed = w.record(&progress, "get", start, &r);
        let start = Instant::now();
        n += 1;
        let r = store.patch(&id, patch(n)).await;
        match &r {
            Ok(_) => {
                (acked, acked_at) = (n, Instant::now());
                w.acknowledged += 1;
            }
            Err(e) if e.kind() == ErrorKind::SessionNotFound && !gone => {
                gone = true;
                w.lost(1, 0, acked_at);
            }
            Err(_) => {}
        }
        failed |= w.record(&progress, "patch", start, &r);
        if failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if !gone {
        w.live.push(Own {
            id,
            n: acked,
            at: acked_at,
        });
    }
    w
}
