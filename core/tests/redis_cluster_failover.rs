//! Reliability, Redis Cluster high availability: a master killed (SIGKILL) and replaced by its
//! replica, a manual `CLUSTER FAILOVER`, and slots migrated while in use (resharding: `ASK`,
//! then `MOVED`), each under a steady load on a 3-master cluster with one replica per master.
//!
//! The load: six tasks create sessions for four users held at their limit (3, policy `reject`),
//! and patch, read and delete (log out) the sessions they created, while a probe reads and
//! patches one session whose record and index live on the shard under fault. Each test prints
//! its figures (`[reliability] ...`) and checks: every failure is `BACKEND_UNAVAILABLE` or
//! `BACKEND_ERROR` (no panic, no other code), no operation outlives the 3 s Redis call timeout
//! (plus slack), the store serves the faulty shard again, no user holds more sessions than the
//! limit, and no logged-out session is readable again. Acknowledged writes lost are counted:
//! after a SIGKILL some may be (replication is asynchronous), so that count is reported, not
//! asserted, but each lost write must have been acknowledged before the kill; a manual
//! failover and a resharding must lose none. After a promotion the store must serve the shard
//! again within 5 s.
//!
//! `OMNISESSION_RELIABILITY_ROUNDS` of 100 or more (`make reliability`) runs more faults in a
//! row under a longer load.
#![allow(clippy::too_many_lines)] // each test is one scenario, read top to bottom

#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/reliability.rs"]
mod reliability;

use omnisession::{
    BackendConfig, ErrorKind, EvictionPolicy, NewSession, Options, Patch, Result, Store,
};
use redis_server::{HA_NODE_TIMEOUT_MS, RedisServer, key_slot};
use reliability::{Figures, Tally};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The Redis backend's per-call timeout (`core/src/backend/redis/conn.rs`, not configurable).
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(750);
/// Longest wait for the store to serve the faulty shard again before the test fails.
const RECOVERY_BOUND: Duration = Duration::from_secs(15);
const PREFIX: &str = "ha:";
const LIMIT: usize = 3;
const USERS: usize = 4;
const WORKERS: usize = 6;
const PROBE_USER: &str = "probe";

/// One test at a time: three 6-node clusters under load at once on 2 cores would make the
/// nodes miss their 1 s node timeout and fail over by themselves.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn long_mode() -> bool {
    reliability::rounds() >= 100
}

fn set(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}

fn patch(key: &str, value: Value) -> Patch {
    Patch {
        set: set(key, value),
        ..Default::default()
    }
}

/// The index key of a user (`core/src/backend/redis/keys.rs`: the first 16 bytes of
/// SHA-256(site, 0, user), in hex), to find the shard it lives on.
fn index_key(user: &str) -> String {
    let digest = Sha256::new()
        .chain_update("")
        .chain_update([0])
        .chain_update(user)
        .finalize();
    let mut key = format!("{PREFIX}~idx:");
    for b in &digest[..16] {
        let _ = write!(key, "{b:02x}");
    }
    key
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

/// One operation: when it ran and whether the store served it (an answer, not a backend
/// failure: `SESSION_LIMIT_EXCEEDED` is served).
#[derive(Debug, Clone, Copy)]
struct Op {
    start: Instant,
    end: Instant,
    served: bool,
}

/// A session a task created and holds: its last acknowledged `n`, and when that write was
/// acknowledged.
#[derive(Debug)]
struct Own {
    id: String,
    n: u64,
    at: Instant,
}

/// What one load task (or the probe) saw.
#[derive(Debug, Default)]
struct Work {
    /// Outcomes as `op:CODE`.
    tally: Tally,
    ops: Vec<Op>,
    slowest: Duration,
    /// Operations that took longer than the op timeout plus slack.
    over_bound: Vec<String>,
    /// Outcomes that are neither served nor a typed backend failure.
    unexpected: Vec<String>,
    /// The distinct messages of the backend failures (ids are not in them).
    messages: BTreeSet<String>,
    /// Losses found: when, and when the lost write was acknowledged.
    losses: Vec<(Instant, Instant)>,
    /// Sessions it created (acknowledged) and has not deleted.
    live: Vec<Own>,
    /// Ids whose delete was acknowledged.
    deleted: Vec<String>,
    /// Ids of creates that failed: they may exist (each is deleted again later).
    maybe: Vec<String>,
    /// Acknowledged writes (creates, patches, deletes).
    acked: u64,
    /// Sessions found gone, or with an older `n` than acknowledged, during the load.
    lost_creates: u64,
    lost_patches: u64,
    /// Logged-out sessions read back during the load.
    resurrected: u64,
}

impl Work {
    /// Records one outcome; returns whether it was a failure (the caller paces itself).
    fn record<T>(&mut self, name: &str, start: Instant, r: &Result<T>) -> bool {
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
        self.ops.push(Op { start, end, served });
        !served
    }

    fn merge(&mut self, o: Work) {
        self.tally.merge(&o.tally);
        self.ops.extend(o.ops);
        self.slowest = self.slowest.max(o.slowest);
        self.over_bound.extend(o.over_bound);
        self.unexpected.extend(o.unexpected);
        self.messages.extend(o.messages);
        self.losses.extend(o.losses);
        self.live.extend(o.live);
        self.deleted.extend(o.deleted);
        self.maybe.extend(o.maybe);
        self.acked += o.acked;
        self.lost_creates += o.lost_creates;
        self.lost_patches += o.lost_patches;
        self.resurrected += o.resurrected;
    }

    fn failures(&self) -> Tally {
        let mut t = Tally::default();
        for (k, v) in &self.tally.0 {
            let code = k.split_once(':').map_or(k.as_str(), |(_, c)| c);
            if code.starts_with("BACKEND") {
                t.add(code, *v);
            }
        }
        t
    }
}

/// One load task: creates for the shared users (at their limit, so many are refused), and
/// patches, reads and deletes of the sessions it created.
async fn load_task(
    store: Store,
    task: usize,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
) -> Work {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((task as u64 + 1) * 0x2545_f491_4f6c_dd1d));
    let mut work = Work::default();
    let mut counter = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.below(100);
        let start = Instant::now();
        let failed = if work.live.len() < 2 || roll < 30 {
            let user = format!("user{}", rng.below(USERS));
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
                    work.live.push(Own {
                        id,
                        n: 0,
                        at: Instant::now(),
                    });
                    work.acked += 1;
                }
                Err(e) if e.kind() != ErrorKind::SessionLimitExceeded => work.maybe.push(id),
                Err(_) => {}
            }
            work.record("create", start, &r)
        } else if roll < 60 {
            let i = rng.below(work.live.len());
            counter += 1;
            let r = store
                .patch(&work.live[i].id, patch("n", json!(counter)))
                .await;
            match &r {
                Ok(_) => {
                    work.live[i].n = counter;
                    work.live[i].at = Instant::now();
                    work.acked += 1;
                }
                Err(e) if e.kind() == ErrorKind::SessionNotFound => {
                    let own = work.live.swap_remove(i);
                    work.lost_creates += 1;
                    work.losses.push((Instant::now(), own.at));
                }
                Err(_) => {}
            }
            work.record("patch", start, &r)
        } else if roll < 85 {
            if !work.deleted.is_empty() && rng.below(4) == 0 {
                // A logged-out session must stay gone.
                let id = work.deleted[rng.below(work.deleted.len())].clone();
                let r = store.get(&id).await;
                if matches!(r, Ok(Some(_))) {
                    work.resurrected += 1;
                }
                work.record("get", start, &r)
            } else {
                let i = rng.below(work.live.len());
                let r = store.get(&work.live[i].id).await;
                match &r {
                    Ok(None) => {
                        let own = work.live.swap_remove(i);
                        work.lost_creates += 1;
                        work.losses.push((Instant::now(), own.at));
                    }
                    Ok(Some(s)) if s.data["n"].as_u64() < Some(work.live[i].n) => {
                        work.lost_patches += 1;
                        work.losses.push((Instant::now(), work.live[i].at));
                        work.live[i].n = s.data["n"].as_u64().unwrap_or(0);
                    }
                    _ => {}
                }
                work.record("get", start, &r)
            }
        } else {
            // Logout: of a session it holds, or of one whose create failed (it may exist).
            let id = match work.maybe.pop() {
                Some(id) if rng.below(2) == 0 => id,
                other => {
                    work.maybe.extend(other);
                    let i = rng.below(work.live.len());
                    work.live.swap_remove(i).id
                }
            };
            let r = store.delete(&id).await;
            if r.is_ok() {
                work.deleted.push(id);
                work.acked += 1;
            } else {
                work.maybe.push(id);
            }
            work.record("delete", start, &r)
        };
        if failed {
            // Pacing, not synchronisation: a dead node refuses at once.
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else {
            served.fetch_add(1, Ordering::SeqCst);
        }
    }
    work
}

/// The probe: get and patch of one session on the shard under fault, as fast as served.
async fn probe_task(
    store: Store,
    id: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Op>>>,
) -> Work {
    let mut work = Work::default();
    let (mut n, mut acked) = (0u64, 0u64);
    let mut acked_at = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let start = Instant::now();
        let r = store.get(&id).await;
        match &r {
            // Counted once: the probe keeps running, to time the shard's service.
            Ok(None) if work.lost_creates == 0 => {
                work.lost_creates = 1;
                work.losses.push((Instant::now(), acked_at));
            }
            Ok(Some(s)) if s.data["n"].as_u64() < Some(acked) => {
                work.lost_patches += 1;
                work.losses.push((Instant::now(), acked_at));
                acked = s.data["n"].as_u64().unwrap_or(0);
            }
            _ => {}
        }
        let mut failed = work.record("get", start, &r);
        let start = Instant::now();
        n += 1;
        let r = store.patch(&id, patch("n", json!(n))).await;
        match &r {
            Ok(_) => {
                acked = n;
                acked_at = Instant::now();
                work.acked += 1;
            }
            Err(e) if e.kind() == ErrorKind::SessionNotFound && work.lost_creates == 0 => {
                work.lost_creates = 1;
                work.losses.push((Instant::now(), acked_at));
            }
            Err(_) => {}
        }
        failed |= work.record("patch", start, &r);
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(&work.ops[work.ops.len() - 2..]);
        if failed {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if work.lost_creates == 0 {
        work.live.push(Own {
            id,
            n: acked,
            at: acked_at,
        });
    }
    work
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

/// The store under test, its load and its probe.
struct Load {
    store: Store,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<Work>>,
    probe: JoinHandle<Work>,
    probe_log: Arc<Mutex<Vec<Op>>>,
    /// The slots of the probe's record and of its index.
    probe_slots: [u16; 2],
}

/// What the load saw, and what was left at the end.
struct Outcome {
    work: Work,
    probe: Work,
    lost_creates: u64,
    lost_patches: u64,
    resurrected: u64,
    /// Live sessions per user (by `list`, which scans every master), and over the limit.
    max_live: usize,
    over_admitted: usize,
    /// Live sessions per user as its index lists them (`list_by_user_id`).
    max_indexed: usize,
    /// Each loss: when it was found, and when the lost write had been acknowledged.
    losses: Vec<(Instant, Instant)>,
}

impl Outcome {
    fn lost(&self) -> u64 {
        self.lost_creates + self.lost_patches + self.resurrected
    }

    fn failures(&self) -> Tally {
        let mut t = self.work.failures();
        t.merge(&self.probe.failures());
        t
    }

    fn add_to(&self, f: &mut Figures) {
        let mut outcomes = self.work.tally.clone();
        outcomes.merge(&self.probe.tally);
        f.add("ops", self.work.ops.len() + self.probe.ops.len())
            .add("failures", self.failures().encode())
            .add("outcomes", outcomes.encode())
            .add(
                "slowest_op_ms",
                self.work.slowest.max(self.probe.slowest).as_millis(),
            )
            .add("acknowledged", self.work.acked + self.probe.acked)
            .add("lost_creates", self.lost_creates)
            .add("lost_patches", self.lost_patches)
            .add("resurrected", self.resurrected)
            .add("max_live_per_user", self.max_live)
            .add("max_indexed_per_user", self.max_indexed)
            .add("over_admitted", self.over_admitted);
    }

    /// Prints each distinct failure message, under the figures.
    fn print_messages(&self) {
        for m in self.work.messages.union(&self.probe.messages) {
            println!("    failure seen: {m}");
        }
    }

    /// The checks every fault shares.
    fn check(&self) {
        let mut unexpected = self.work.unexpected.clone();
        unexpected.extend(self.probe.unexpected.iter().cloned());
        assert!(unexpected.is_empty(), "untyped outcomes: {unexpected:?}");
        let mut over = self.work.over_bound.clone();
        over.extend(self.probe.over_bound.iter().cloned());
        assert!(
            over.is_empty(),
            "operations outlived the {OP_TIMEOUT:?} op timeout: {over:?}"
        );
    }
}

impl Load {
    /// Opens a store on `server`, puts the probe on the shard of `server`'s master of the
    /// probe user's index, and starts the load.
    async fn start(server: &RedisServer) -> Load {
        let store = Store::open(Options {
            backend: BackendConfig::Redis {
                urls: server.urls.clone(),
                cluster: true,
                tls_ca: None,
                tls_client: None,
            },
            key_prefix: PREFIX.into(),
            max_sessions_per_user: LIMIT,
            eviction_policy: EvictionPolicy::Reject,
            cleanup_interval_ms: 0,
            ..Options::default()
        })
        .await
        .unwrap();
        // The probe's record in the shard of its index: one shard holds both.
        let index_slot = key_slot(&index_key(PROBE_USER));
        let shard = server.master_of_slot(index_slot);
        let probe_id = loop {
            let id = omnisession::id::generate();
            if server.master_of_key(&format!("{PREFIX}{id}")) == shard {
                break id;
            }
        };
        store
            .create(NewSession {
                id: Some(probe_id.clone()),
                user_id: Some(PROBE_USER.into()),
                data: set("n", json!(0)),
                ..Default::default()
            })
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        let tasks = (0..WORKERS)
            .map(|t| tokio::spawn(load_task(store.clone(), t, stop.clone(), progress.clone())))
            .collect();
        let probe_log = Arc::new(Mutex::new(Vec::new()));
        let probe = tokio::spawn(probe_task(
            store.clone(),
            probe_id.clone(),
            stop.clone(),
            probe_log.clone(),
        ));
        Load {
            store,
            stop,
            served: progress,
            tasks,
            probe,
            probe_log,
            probe_slots: [key_slot(&format!("{PREFIX}{probe_id}")), index_slot],
        }
    }

    /// Waits until the load tasks have been served `n` more operations.
    async fn progress(&self, n: u64) {
        let target = self.served.load(Ordering::SeqCst) + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.served.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the load is not being served");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How long after `t` the probe was first served an operation that started after `t`
    /// (waits for it, [`RECOVERY_BOUND`] at most).
    async fn served_after(&self, t: Instant) -> Duration {
        loop {
            let first = self
                .probe_log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .filter(|o| o.start >= t && o.served)
                .map(|o| o.end - t)
                .min();
            if let Some(d) = first {
                return d;
            }
            assert!(
                t.elapsed() < RECOVERY_BOUND,
                "the probe's shard was not served again within {RECOVERY_BOUND:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The number of probe operations served that started after `t`.
    fn probe_served_since(&self, t: Instant) -> usize {
        self.probe_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|o| o.start >= t && o.served)
            .count()
    }

    /// Stops the load and checks what is left.
    async fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        let mut work = Work::default();
        for t in self.tasks {
            work.merge(t.await.unwrap());
        }
        let probe = self.probe.await.unwrap();
        let store = &self.store;
        let (mut lost_creates, mut lost_patches) = (
            work.lost_creates + probe.lost_creates,
            work.lost_patches + probe.lost_patches,
        );
        let mut losses: Vec<(Instant, Instant)> =
            work.losses.iter().chain(&probe.losses).copied().collect();
        for own in work.live.iter().chain(&probe.live) {
            let lost = match settled(|| store.get(&own.id)).await {
                None => {
                    lost_creates += 1;
                    true
                }
                Some(s) if s.data["n"].as_u64() < Some(own.n) => {
                    lost_patches += 1;
                    true
                }
                Some(_) => false,
            };
            if lost {
                losses.push((Instant::now(), own.at));
            }
        }
        let mut resurrected = work.resurrected;
        for id in &work.deleted {
            resurrected += u64::from(settled(|| store.get(id)).await.is_some());
        }
        // Every live session, from every master, by user.
        let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = settled(|| store.list(cursor.as_deref(), Some(500))).await;
            for s in page.sessions {
                *per_user.entry(s.user_id.unwrap_or_default()).or_default() += 1;
            }
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut max_indexed = 0;
        for u in 0..USERS {
            let user = format!("user{u}");
            max_indexed = max_indexed.max(settled(|| store.list_by_user_id(&user)).await.len());
        }
        Outcome {
            lost_creates,
            lost_patches,
            resurrected,
            max_live: per_user.values().copied().max().unwrap_or(0),
            over_admitted: per_user.values().map(|c| c.saturating_sub(LIMIT)).sum(),
            max_indexed,
            losses,
            work,
            probe,
        }
    }
}

/// How long after each fault any load operation (on any shard) was first served.
fn first_served_any(work: &Work, faults: &[Instant]) -> Vec<u128> {
    faults
        .iter()
        .map(|&t| {
            work.ops
                .iter()
                .filter(|o| o.start >= t && o.served)
                .map(|o| (o.end - t).as_millis())
                .min()
                .unwrap_or(u128::MAX)
        })
        .collect()
}

fn ms(v: &[Duration]) -> String {
    format!(
        "{:?}",
        v.iter().map(Duration::as_millis).collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_is_replaced_by_its_replica_and_the_store_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let mut server = RedisServer::cluster_with_replicas();
    let load = Load::start(&server).await;
    load.progress(300).await;
    let faults = if long_mode() { 6 } else { 1 };
    let (mut at, mut promotion, mut recovery, mut after_promotion, mut restarted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..faults {
        // The master of the probe's shard: it holds live sessions (the probe's, at least)
        // and an index.
        let victim = server.master_of_slot(load.probe_slots[0]);
        let replica = server.replica_of(victim);
        let t = Instant::now();
        server.kill_node(victim);
        // Blocking: the load runs on the runtime's workers meanwhile.
        let promoted = server.wait_promoted(replica);
        let recovered = load.served_after(t).await;
        at.push(t);
        promotion.push(promoted - t);
        recovery.push(recovered);
        after_promotion.push(recovered.saturating_sub(promoted - t));
        // Back as a replica of the promoted node, in sync, before the next fault.
        restarted.push(t.elapsed());
        server.restart_node(victim);
        server.wait_healthy();
        load.progress(if long_mode() { 1000 } else { 200 }).await;
    }
    let out = load.finish().await;
    // Each loss against the last fault before it was found: when its write had been
    // acknowledged and when it was found missing, in ms from the fault.
    let (mut acked_rel, mut found_rel) = (Vec::new(), Vec::new());
    for &(found, acked) in &out.losses {
        let fault = at
            .iter()
            .rev()
            .find(|&&t| t <= found)
            .copied()
            .unwrap_or(at[0]);
        let rel = |i: Instant| {
            i.checked_duration_since(fault).map_or_else(
                || -(fault.duration_since(i).as_millis() as i128),
                |d| d.as_millis() as i128,
            )
        };
        acked_rel.push(rel(acked));
        found_rel.push(rel(found));
    }
    let mut f = Figures::new(
        "redis cluster: master killed (SIGKILL), replica promoted",
        "cluster",
    );
    f.add("faults", faults)
        .add("node_timeout_ms", HA_NODE_TIMEOUT_MS)
        .add("promotion_ms", ms(&promotion))
        .add("recovery_ms", ms(&recovery))
        .add("recovery_after_promotion_ms", ms(&after_promotion))
        .add("restarted_ms", ms(&restarted))
        .add(
            "first_served_any_shard_ms",
            format!("{:?}", first_served_any(&out.work, &at)),
        )
        .add("lost_acked_ms", format!("{acked_rel:?}"))
        .add("lost_found_ms", format!("{found_rel:?}"));
    out.add_to(&mut f);
    f.print();
    out.print_messages();
    out.check();
    assert!(
        out.failures().failures() > 0,
        "the killed master was not noticed"
    );
    // Replication is asynchronous: writes acknowledged by the killed master and not yet on
    // its replica are lost (counted above). A lost index write may then let a user past the
    // limit, and a lost delete bring a session back; without a lost write, neither.
    if out.lost() == 0 {
        assert_eq!(out.over_admitted, 0, "over-admitted without a lost write");
    }
    assert!(
        after_promotion.iter().all(|d| *d < Duration::from_secs(5)),
        "served again more than 5 s after the promotion: {after_promotion:?}"
    );
    // What asynchronous replication can lose was acknowledged by the killed master, before it
    // died (a reply read just after the kill at most): a write acknowledged later was on a
    // live master, and losing it is a defect.
    assert!(
        acked_rel.iter().all(|&ms| ms <= 250),
        "writes acknowledged after the kill were lost: {acked_rel:?} ms after it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_failover_loses_nothing_and_the_store_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let server = RedisServer::cluster_with_replicas();
    let load = Load::start(&server).await;
    load.progress(300).await;
    let faults = if long_mode() { 10 } else { 2 };
    let (mut promotion, mut recovery) = (Vec::new(), Vec::new());
    for _ in 0..faults {
        let master = server.master_of_slot(load.probe_slots[0]);
        let replica = server.replica_of(master);
        let t = Instant::now();
        server.failover(replica);
        let promoted = server.wait_promoted(replica);
        recovery.push(load.served_after(t).await);
        promotion.push(promoted - t);
        // The old master now replicates the new one.
        server.wait_healthy();
        load.progress(if long_mode() { 1000 } else { 200 }).await;
    }
    let out = load.finish().await;
    let mut f = Figures::new("redis cluster: manual CLUSTER FAILOVER", "cluster");
    f.add("faults", faults)
        .add("node_timeout_ms", HA_NODE_TIMEOUT_MS)
        .add("promotion_ms", ms(&promotion))
        .add("recovery_ms", ms(&recovery));
    out.add_to(&mut f);
    f.print();
    out.print_messages();
    out.check();
    assert_eq!(out.lost(), 0, "a manual failover lost acknowledged writes");
    assert_eq!(out.over_admitted, 0, "a user was admitted past the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resharding_under_load_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let server = RedisServer::cluster_with_replicas();
    let load = Load::start(&server).await;
    load.progress(300).await;
    let passes = if long_mode() { 6 } else { 1 };
    let (mut slots_moved, mut keys_moved, mut held_ops) = (0, 0, 0);
    let mut took = Vec::new();
    for _ in 0..passes {
        // Every slot of the probe's shard that holds a key of the store (records, tombstones,
        // indexes), the probe's record and index first, to another master.
        let from = server.master_of_slot(load.probe_slots[0]);
        let to = server.other_masters(from)[0];
        let mut slots: Vec<u16> = load.probe_slots.to_vec();
        let rest: BTreeSet<u16> = server
            .keys_on(from, &format!("{PREFIX}*"))
            .iter()
            .map(|k| key_slot(k))
            .collect();
        slots.extend(rest.into_iter().filter(|s| !load.probe_slots.contains(s)));
        slots.dedup();
        let t = Instant::now();
        for &slot in &slots {
            let probed = load.probe_slots.contains(&slot);
            keys_moved += server.migrate_slot(slot, to, 1, || {
                // The probe's slots stay half-moved until the probe has been served through
                // the source's ASK redirect (its keys are on the target already).
                if probed {
                    let held = Instant::now();
                    redis_server::wait_for("an operation served through ASK", || {
                        load.probe_served_since(held) >= 2
                    });
                    held_ops += load.probe_served_since(held);
                }
            });
            slots_moved += 1;
        }
        took.push(t.elapsed());
        server.wait_healthy();
        load.progress(if long_mode() { 1000 } else { 200 }).await;
    }
    let out = load.finish().await;
    let mut f = Figures::new(
        "redis cluster: slots migrated under load (ASK, MOVED)",
        "cluster",
    );
    f.add("passes", passes)
        .add("slots_moved", slots_moved)
        .add("keys_moved", keys_moved)
        .add("probe_ops_through_ask", held_ops)
        .add("migration_ms", ms(&took));
    out.add_to(&mut f);
    f.print();
    out.print_messages();
    out.check();
    assert_eq!(out.lost(), 0, "resharding lost acknowledged writes");
    assert_eq!(out.over_admitted, 0, "a user was admitted past the limit");
}
