#![allow(dead_code)] // each test crate uses the part of this module it needs
//! A steady load of mixed operations for failover tests, and the verdict on what it saw.
//!
//! Each worker owns its users and their sessions, so it knows what it was told: it logs in
//! users near their per-user limit (the store rejects at the limit: nothing is evicted, so a
//! session that is gone was lost, not evicted), patches its sessions with a counter that only
//! grows, reads them, and logs some out. At the end every acknowledged write is checked.

use super::reliability::Tally;
use omnisession::{ErrorKind, NewSession, Patch, Store};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The per-user limit the load runs against (the store must be opened with it, `reject`).
pub const LIMIT: usize = 3;
const USERS_PER_WORKER: usize = 4;

/// One operation's outcome, timed.
#[derive(Clone, Copy, Debug)]
struct Op {
    started: Instant,
    ended: Instant,
    ok: bool,
}

#[derive(Default)]
struct Worker {
    tally: Tally,
    ops: Vec<Op>,
    /// Live sessions by user: id and the last patch counter acknowledged.
    live: BTreeMap<String, Vec<(String, u64)>>,
    /// Sessions whose logout was acknowledged.
    logged_out: Vec<String>,
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Worker>>,
}

/// What the load saw, and what was found at the end.
#[derive(Debug)]
pub struct Verdict {
    pub tally: Tally,
    pub operations: usize,
    /// The longest any one operation took.
    pub longest: Duration,
    /// From the fault to the first operation that succeeded after the outage it caused (zero
    /// if nothing failed).
    pub recovery: Duration,
    /// Sessions whose creation was acknowledged, not logged out, that are gone.
    pub lost_sessions: usize,
    /// Acknowledged patches whose value is not there (on sessions still there).
    pub lost_patches: usize,
    /// Sessions whose logout was acknowledged that are readable again.
    pub resurrected: usize,
    /// Users with more live sessions than the limit.
    pub over_admitted: usize,
    /// Acknowledged creates and patches checked.
    pub acknowledged: usize,
}

fn data(n: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("n".into(), json!(n));
    m
}

impl Load {
    /// Starts `workers` tasks on `store`, users named `{prefix}{worker}-{k}`.
    pub fn start(store: &Store, workers: usize, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|w| {
                let (store, stop) = (store.clone(), stop.clone());
                let users: Vec<String> = (0..USERS_PER_WORKER)
                    .map(|k| format!("{prefix}{w}-{k}"))
                    .collect();
                tokio::spawn(async move { run(store, users, stop).await })
            })
            .collect();
        Load { stop, workers }
    }

    /// Stops the load and checks every acknowledged write against `store` (which must be
    /// serving again). `fault`: when the fault was made.
    pub async fn finish(self, store: &Store, fault: Instant) -> Verdict {
        self.stop.store(true, Ordering::SeqCst);
        let mut done = Vec::new();
        for w in self.workers {
            done.push(w.await.expect("a load worker panicked"));
        }
        let mut tally = Tally::default();
        let mut ops: Vec<Op> = Vec::new();
        for w in &done {
            tally.merge(&w.tally);
            ops.extend(&w.ops);
        }
        ops.sort_by_key(|o| o.started);
        let longest = ops
            .iter()
            .map(|o| o.ended - o.started)
            .max()
            .unwrap_or_default();
        let outage = ops
            .iter()
            .filter(|o| !o.ok && o.ended >= fault)
            .map(|o| o.ended)
            .min();
        let recovery = outage.map_or(Duration::ZERO, |first_failure| {
            ops.iter()
                .filter(|o| o.ok && o.started >= first_failure)
                .map(|o| o.ended - fault)
                .min()
                .unwrap_or_else(|| fault.elapsed())
        });
        let (mut lost_sessions, mut lost_patches) = (0, 0);
        let (mut resurrected, mut over_admitted, mut acknowledged) = (0, 0, 0);
        for w in &done {
            for (user, sessions) in &w.live {
                for (id, n) in sessions {
                    acknowledged += 1;
                    match store.get(id).await.expect("the store serves again") {
                        None => lost_sessions += 1,
                        Some(s) => {
                            let kept = s.data.get("n").and_then(Value::as_u64);
                            lost_patches += usize::from(kept.is_none_or(|kept| kept < *n));
                        }
                    }
                }
                let live = store
                    .list_by_user_id(user)
                    .await
                    .expect("the store serves again")
                    .len();
                over_admitted += usize::from(live > LIMIT);
            }
            for id in &w.logged_out {
                resurrected += usize::from(store.get(id).await.expect("serving").is_some());
            }
        }
        Verdict {
            tally,
            operations: ops.len(),
            longest,
            recovery,
            lost_sessions,
            lost_patches,
            resurrected,
            over_admitted,
            acknowledged,
        }
    }
}

async fn run(store: Store, users: Vec<String>, stop: Arc<AtomicBool>) -> Worker {
    let mut w = Worker::default();
    let mut counter = 0u64;
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let user = &users[i % users.len()];
        let live = w.live.entry(user.clone()).or_default().len();
        counter += 1;
        let started = Instant::now();
        // Mostly log in while below or at the limit; log out one in four steps when at it.
        let ok = if live >= LIMIT && i.is_multiple_of(4) {
            let (id, _) = w.live.get_mut(user).unwrap().remove(0);
            let r = store.delete(&id).await;
            w.tally.count(&r);
            // Not acknowledged: it may or may not have happened; checked no further.
            let ok = r.is_ok();
            if ok {
                w.logged_out.push(id);
            }
            ok
        } else if i.is_multiple_of(3) && live > 0 {
            let k = i % live;
            let (id, _) = w.live[user][k].clone();
            let r = store
                .patch(
                    &id,
                    Patch {
                        set: data(counter),
                        ..Default::default()
                    },
                )
                .await;
            w.tally.count(&r);
            if r.is_ok() {
                w.live.get_mut(user).unwrap()[k].1 = counter;
            }
            r.is_ok()
        } else if i % 3 == 1 && live > 0 {
            let (id, _) = &w.live[user][i % live];
            let r = store.get(id).await;
            w.tally.count(&r);
            r.is_ok()
        } else {
            let r = store
                .create(NewSession {
                    user_id: Some(user.clone()),
                    data: data(counter),
                    ..Default::default()
                })
                .await;
            w.tally.count(&r);
            match r {
                Ok(s) => {
                    w.live.get_mut(user).unwrap().push((s.id, counter));
                    true
                }
                // Refused at the limit: the store answered as it should.
                Err(e) => e.kind() == ErrorKind::SessionLimitExceeded,
            }
        };
        w.ops.push(Op {
            started,
            ended: Instant::now(),
            ok,
        });
        if !ok {
            // An outage: don't spin on a dead connection.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    w
}

impl Verdict {
    /// The codes every failure under a fault must have.
    pub fn untyped(&self) -> Vec<String> {
        self.tally
            .0
            .keys()
            .filter(|k| {
                !matches!(
                    k.as_str(),
                    "OK" | "BACKEND_UNAVAILABLE"
                        | "BACKEND_ERROR"
                        | "SESSION_LIMIT_EXCEEDED"
                        | "SESSION_NOT_FOUND"
                )
            })
            .cloned()
            .collect()
    }
}
