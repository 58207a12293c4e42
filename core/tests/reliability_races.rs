//! Reliability, races: figures for the per-user limit under concurrent creates, concurrent
//! patches, a logout racing in-flight writes, and a rotation racing reads, on memory, SQLite
//! (two processes on one file), file, Redis and Redis Cluster.
//!
//! Sizes: `OMNISESSION_RELIABILITY_ROUNDS` (default small, see `support/reliability.rs`).
//! Every test prints `[reliability] ...` lines (`cargo test -- --nocapture` shows them).
//!
//! The second SQLite process is this test binary run again with `PEER_ENV` set: it then runs
//! only [`peer_process`], which serves commands read from its stdin (one per line) on its own
//! store over the same file and answers on stdout with lines starting with `@peer`.
#![allow(clippy::too_many_lines)] // each test is one scenario, read top to bottom

#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/reliability.rs"]
mod reliability;

use omnisession::backend::memory::MemoryBackend;
use omnisession::backend::{self, Backend};
use omnisession::{
    BackendConfig, EvictionPolicy, NewSession, Options, Patch, Result, Session, SessionUpdate,
    Store,
};
use reliability::{FlipCheck, Held, Hook, Obs, Tally};
use serde_json::{Map, Value, json};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Set (to the database path) in the second SQLite process.
const PEER_ENV: &str = "OMNISESSION_RELIABILITY_PEER";
/// The per-user limit the peer's store is opened with.
const PEER_LIMIT_ENV: &str = "OMNISESSION_RELIABILITY_PEER_LIMIT";
/// How long a held operation stays inside its atomic step: long enough for the racing
/// operation (or the readers) to run against it many times over.
const HOLD: Duration = Duration::from_millis(3);
const LIMIT: usize = 5;

static SINGLE: LazyLock<redis_server::RedisServer> =
    LazyLock::new(|| redis_server::RedisServer::single(&[]));
static CLUSTER: LazyLock<redis_server::RedisServer> =
    LazyLock::new(redis_server::RedisServer::cluster);

const BACKENDS: [&str; 5] = ["memory", "sqlite", "file", "redis", "redis cluster"];

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

fn options(backend: BackendConfig, prefix: &str, limit: usize) -> Options {
    Options {
        backend,
        key_prefix: prefix.to_owned(),
        max_sessions_per_user: limit,
        eviction_policy: EvictionPolicy::Oldest,
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn set(key: &str, value: Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.to_owned(), value);
    m
}

/// Two stores on one backend: `a` (through [`Held`] where the backend can be wrapped) and `b`
/// (another connection, handle or, for SQLite, also another process).
struct Pair {
    a: Store,
    held: Option<Arc<Held>>,
    b: Store,
    peer: Option<Peer>,
    prefix: String,
}

impl Pair {
    async fn open(name: &'static str, dir: &Path, test: &str, limit: usize) -> Pair {
        let prefix = format!("rel-{test}:");
        let redis = |server: &redis_server::RedisServer, cluster| BackendConfig::Redis {
            urls: server.urls.clone(),
            cluster,
            tls_ca: None,
            tls_client: None,
        };
        let (inner, b_config, peer): (Option<Arc<dyn Backend>>, BackendConfig, _) = match name {
            "memory" => {
                let inner: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
                (
                    Some(inner.clone()),
                    BackendConfig::Custom(inner.clone()),
                    None,
                )
            }
            "sqlite" => {
                let path = dir.join(format!("{test}.db"));
                let inner = backend::sqlite::open(&path).await.unwrap();
                let peer = Peer::spawn(&path, limit);
                (Some(inner), BackendConfig::Sqlite { path }, Some(peer))
            }
            "file" => {
                let path = dir.join(format!("{test}-files"));
                let inner = backend::file::open(&path).await.unwrap();
                (Some(inner), BackendConfig::File { path }, None)
            }
            "redis" => (None, redis(&SINGLE, false), None),
            "redis cluster" => (None, redis(&CLUSTER, true), None),
            other => unreachable!("{other}"),
        };
        let held = inner.map(Held::new);
        let a_config = match &held {
            Some(h) => BackendConfig::Custom(h.clone()),
            None => b_config.clone(),
        };
        Pair {
            a: Store::open(options(a_config, &prefix, limit))
                .await
                .unwrap(),
            held,
            b: Store::open(options(b_config, &prefix, limit))
                .await
                .unwrap(),
            peer,
            prefix,
        }
    }

    async fn close(self) {
        self.a.close().await.unwrap();
        self.b.close().await.unwrap();
        if let Some(peer) = self.peer {
            peer.quit();
        }
    }
}

async fn create_many(store: &Store, user_id: &str, n: usize) -> Tally {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (store, u) = (store.clone(), user(user_id));
            tokio::spawn(async move { store.create(u).await })
        })
        .collect();
    let mut t = Tally::default();
    for task in tasks {
        t.count(&task.await.unwrap());
    }
    t
}

async fn patch_keys(store: &Store, id: &str, keys: std::ops::Range<usize>) -> Tally {
    let tasks: Vec<_> = keys
        .map(|i| {
            let (store, id) = (store.clone(), id.to_owned());
            tokio::spawn(async move {
                let patch = Patch {
                    set: set(&format!("k{i}"), json!(i)),
                    ..Default::default()
                };
                store.patch(&id, patch).await
            })
        })
        .collect();
    let mut t = Tally::default();
    for task in tasks {
        t.count(&task.await.unwrap());
    }
    t
}

/// The write a logout races: patch, touch or update.
async fn late_write(store: &Store, id: &str, op: &str) -> Result<Session> {
    match op {
        "patch" => {
            let patch = Patch {
                set: set("late", json!(true)),
                ..Default::default()
            };
            store.patch(id, patch).await
        }
        "touch" => store.touch(id).await,
        "update" => {
            store
                .update(SessionUpdate {
                    id: id.to_owned(),
                    data: set("late", json!("update")),
                    ..Default::default()
                })
                .await
        }
        other => unreachable!("{other}"),
    }
}

/// After a logout has settled: whether the id is still (or again) usable, as codes of get,
/// create-with-the-id and a patch. A sound logout gives `none SESSION_CONFLICT SESSION_NOT_FOUND`.
async fn after_logout(store: &Store, id: &str) -> [String; 3] {
    let got = match store.get(id).await.unwrap() {
        Some(_) => "live".to_owned(),
        None => "none".to_owned(),
    };
    let create = store
        .create(NewSession {
            id: Some(id.to_owned()),
            ..user("u")
        })
        .await;
    let patch = late_write(store, id, "patch").await;
    let code = |r: Result<Session>| r.map_or_else(|e| e.code().to_owned(), |_| "OK".to_owned());
    [got, code(create), code(patch)]
}

/// Reads the old id (and the new one, once known) without pause until `stop`, alternating
/// the order of the two reads.
async fn read_both(
    store: Store,
    old: String,
    new: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    started: Arc<AtomicUsize>,
) -> Vec<Read> {
    let mut seen = Vec::new();
    let mut flip = false;
    while !stop.load(Ordering::SeqCst) {
        let new = new.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut ids = vec![old.clone()];
        ids.extend(new);
        if flip {
            ids.reverse();
        }
        flip = !flip;
        for id in ids {
            let start = Instant::now();
            let live = store.get(&id).await.unwrap().is_some();
            seen.push((start, Instant::now(), id, live));
        }
        if seen.len() <= 2 {
            started.fetch_add(1, Ordering::SeqCst);
        }
        tokio::task::yield_now().await;
    }
    seen
}

/// Classifies the reads of one rotation: of the old id, of the id it committed, and of ids a
/// backend tried and abandoned (a step may run more than once), which must never be live.
fn classify(reads: Vec<Read>, old: &str, new: &str) -> (Vec<Obs>, u64) {
    let mut phantom = 0;
    let mut obs = Vec::new();
    for (start, end, id, live) in reads {
        if id == old || id == new {
            obs.push(Obs {
                start,
                end,
                new_id: id == new,
                live,
            });
        } else {
            phantom += u64::from(live);
        }
    }
    (obs, phantom)
}

/// Publishes the session keys that appear in Redis, so that readers learn a rotation's new id
/// while the rotation is still in flight (Redis cannot be wrapped in [`Held`]).
async fn watch_keys(
    cluster: bool,
    prefix: String,
    old: String,
    new: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
) {
    let pattern = format!("{prefix}*");
    let keys_cmd = redis::cmd("KEYS").arg(&pattern).clone();
    let found = |keys: Vec<String>| {
        for k in keys {
            if let Some(id) = k.strip_prefix(&prefix)
                && omnisession::id::is_well_formed(id)
                && id != old
            {
                *new.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.to_owned());
            }
        }
    };
    if cluster {
        let client = redis::cluster::ClusterClient::new(CLUSTER.urls.clone()).unwrap();
        let mut c = client.get_async_connection().await.unwrap();
        while !stop.load(Ordering::SeqCst) {
            found(keys_cmd.query_async(&mut c).await.unwrap());
        }
    } else {
        let client = redis::Client::open(SINGLE.urls[0].as_str()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        while !stop.load(Ordering::SeqCst) {
            found(keys_cmd.query_async(&mut c).await.unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_user_limit_holds_under_fifty_concurrent_creates() {
    let rounds = reliability::rounds();
    let dir = tempfile::tempdir().unwrap();
    for name in BACKENDS {
        let pair = Pair::open(name, dir.path(), "limit", LIMIT).await;
        let started = Instant::now();
        let (mut tally, mut max_live, mut over, mut under) = (Tally::default(), 0, 0, 0);
        for round in 0..rounds {
            let u = format!("racer{round}");
            let other = match &pair.peer {
                Some(peer) => {
                    peer.send(&format!("create {u} 25"));
                    None
                }
                None => Some(tokio::spawn({
                    let (b, u) = (pair.b.clone(), u.clone());
                    async move { create_many(&b, &u, 25).await }
                })),
            };
            tally.merge(&create_many(&pair.a, &u, 25).await);
            match (other, &pair.peer) {
                (Some(task), _) => tally.merge(&task.await.unwrap()),
                (None, Some(peer)) => tally.merge(&Tally::decode(&peer.expect("created").await[0])),
                (None, None) => unreachable!(),
            }
            let mut views = vec![
                pair.a.list_by_user_id(&u).await.unwrap().len(),
                pair.b.list_by_user_id(&u).await.unwrap().len(),
            ];
            if let Some(peer) = &pair.peer {
                peer.send(&format!("live {u}"));
                views.push(peer.expect("live").await[0].parse().unwrap());
            }
            for live in views {
                max_live = max_live.max(live);
                over += usize::from(live > LIMIT);
                under += usize::from(live < LIMIT);
            }
        }
        let total = pair.a.count().await.unwrap();
        let mut f = reliability::Figures::new("per-user limit, 50 concurrent creates", name);
        f.add("rounds", rounds)
            .add("creates", rounds * 50)
            .add("outcomes", tally.encode())
            .add("max_live_seen", max_live)
            .add("over_admissions", over)
            .add("under_admissions", under)
            .add("live_total", total)
            .add("processes", if pair.peer.is_some() { 2 } else { 1 })
            .add("elapsed_ms", started.elapsed().as_millis())
            .print();
        assert_eq!(tally.failures(), 0, "{name}: {}", tally.encode());
        assert_eq!((over, under), (0, 0), "{name}: max live {max_live}");
        assert_eq!(
            total,
            (LIMIT * rounds) as u64,
            "{name}: an evicted session survived"
        );
        pair.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_patches_of_different_keys_lose_nothing() {
    let rounds = reliability::rounds();
    let dir = tempfile::tempdir().unwrap();
    for name in BACKENDS {
        let pair = Pair::open(name, dir.path(), "patch", 0).await;
        let started = Instant::now();
        let (mut tally, mut lost, mut bad_versions) = (Tally::default(), 0, 0);
        for _ in 0..rounds {
            let id = pair.a.create(user("u")).await.unwrap().id;
            let other = match &pair.peer {
                Some(peer) => {
                    peer.send(&format!("patch {id} 32 64"));
                    None
                }
                None => Some(tokio::spawn({
                    let (b, id) = (pair.b.clone(), id.clone());
                    async move { patch_keys(&b, &id, 32..64).await }
                })),
            };
            tally.merge(&patch_keys(&pair.a, &id, 0..32).await);
            match (other, &pair.peer) {
                (Some(task), _) => tally.merge(&task.await.unwrap()),
                (None, Some(peer)) => tally.merge(&Tally::decode(&peer.expect("patched").await[0])),
                (None, None) => unreachable!(),
            }
            let got = pair.b.get(&id).await.unwrap().unwrap();
            lost += (0..64)
                .filter(|i| got.data.get(&format!("k{i}")) != Some(&json!(i)))
                .count();
            bad_versions += usize::from(got.version != 65);
        }
        let mut f = reliability::Figures::new("64 concurrent patches of different keys", name);
        f.add("rounds", rounds)
            .add("patches", rounds * 64)
            .add("outcomes", tally.encode())
            .add("lost_keys", lost)
            .add("wrong_versions", bad_versions)
            .add("processes", if pair.peer.is_some() { 2 } else { 1 })
            .add("elapsed_ms", started.elapsed().as_millis())
            .print();
        assert_eq!(tally.failures(), 0, "{name}: {}", tally.encode());
        assert_eq!((lost, bad_versions), (0, 0), "{name}");
        pair.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_racing_in_flight_writes_is_never_undone() {
    let rounds = reliability::rounds();
    let dir = tempfile::tempdir().unwrap();
    // Some bulk, so that a save takes a while on every backend (encoding, transfer, fsync).
    let pad = json!("x".repeat(16 * 1024));
    for name in BACKENDS {
        let pair = Pair::open(name, dir.path(), "logout", 0).await;
        let started = Instant::now();
        let (mut outcomes, mut settled) = (Tally::default(), Tally::default());
        let (mut resurrected, mut raced, mut held_rounds) = (0, 0, 0);
        for round in 0..rounds {
            let id = pair
                .a
                .create(NewSession {
                    data: set("pad", pad.clone()),
                    ..user("u")
                })
                .await
                .unwrap()
                .id;
            let op = ["patch", "touch", "update"][round % 3];
            // Held: the write has read the session and sits inside its atomic step when the
            // delete starts. Free: both are started at once and the scheduler decides.
            let held = (pair.held.is_some() || pair.peer.is_some()) && (round / 3) % 2 == 0;
            held_rounds += usize::from(held);
            let (result, started_before) = if let Some(peer) = &pair.peer {
                // The write runs in the other process, the delete in this one.
                let mode = if held { "held" } else { "free" };
                peer.send(&format!("late {id} {op} {mode}"));
                peer.expect(if held { "entered" } else { "started" }).await;
                pair.a.delete(&id).await.unwrap();
                let deleted = unix_ns();
                let words = peer.expect("late").await;
                let start: u128 = words[0].parse().unwrap();
                (words[1].clone(), start < deleted)
            } else {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                if held {
                    let tx = Mutex::new(Some(tx));
                    let hook: Hook = Arc::new(move |_| {
                        if let Some(tx) = tx.lock().unwrap_or_else(PoisonError::into_inner).take() {
                            let _ = tx.send(());
                            std::thread::sleep(HOLD);
                        }
                    });
                    pair.held.as_ref().unwrap().set_hook(Some(hook));
                }
                let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
                let write = tokio::spawn({
                    let (a, id) = (pair.a.clone(), id.clone());
                    async move {
                        let start = Instant::now();
                        let write = late_write(&a, &id, op);
                        let _ = go_tx.send(());
                        (start, write.await)
                    }
                });
                // The delete starts once the write has been called (the write's first
                // step may or may not have run yet: the race is real).
                go_rx.await.unwrap();
                if held {
                    rx.await.unwrap();
                }
                pair.b.delete(&id).await.unwrap();
                let deleted = Instant::now();
                let (start, result) = write.await.unwrap();
                if let Some(h) = &pair.held {
                    h.set_hook(None);
                }
                let code = result.map_or_else(|e| e.code().to_owned(), |_| "OK".to_owned());
                (code, start < deleted)
            };
            outcomes.add(&format!("{op}:{result}"), 1);
            raced += usize::from(started_before);
            let mut views = vec![
                after_logout(&pair.a, &id).await,
                after_logout(&pair.b, &id).await,
            ];
            if let Some(peer) = &pair.peer {
                peer.send(&format!("check {id}"));
                let w = peer.expect("checked").await;
                views.push([w[0].clone(), w[1].clone(), w[2].clone()]);
            }
            let sound = ["none", "SESSION_CONFLICT", "SESSION_NOT_FOUND"];
            for v in &views {
                settled.add(&v.join("/"), 1);
                resurrected += usize::from(v.iter().zip(sound).any(|(a, b)| a != b));
            }
        }
        let mut f = reliability::Figures::new("logout racing in-flight patch/touch/update", name);
        f.add("rounds", rounds)
            .add("held_rounds", held_rounds)
            .add("write_started_before_delete_returned", raced)
            .add("write_outcomes", outcomes.encode())
            .add("after_settle(get/create/patch)", settled.encode())
            .add("resurrections", resurrected)
            .add("processes", if pair.peer.is_some() { 2 } else { 1 })
            .add("elapsed_ms", started.elapsed().as_millis())
            .print();
        assert_eq!(resurrected, 0, "{name}: {}", settled.encode());
        assert_eq!(
            raced, rounds,
            "{name}: every write must start before the delete returns"
        );
        for k in outcomes.0.keys() {
            assert!(
                k.ends_with(":OK") || k.ends_with(":SESSION_NOT_FOUND"),
                "{name}: unexpected outcome {k}"
            );
        }
        pair.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_racing_reads_shows_exactly_one_live_id() {
    const READERS: usize = 3;
    let rounds = reliability::rounds();
    let dir = tempfile::tempdir().unwrap();
    for name in BACKENDS {
        let pair = Pair::open(name, dir.path(), &format!("rotate{}", name.len()), 0).await;
        let started = Instant::now();
        let (mut check, mut peer_check, mut phantom, mut discovered) =
            (FlipCheck::default(), FlipCheck::default(), 0, 0);
        for _ in 0..rounds {
            // The Redis key watcher takes any session key but the old one for the new id.
            pair.a.clear().await.unwrap();
            let old = pair.a.create(user("u")).await.unwrap().id;
            let new: Arc<Mutex<Option<String>>> = Arc::default();
            let stop = Arc::new(AtomicBool::new(false));
            let ready = Arc::new(AtomicUsize::new(0));
            if let Some(peer) = &pair.peer {
                peer.send(&format!("watch {old}"));
            }
            if let Some(h) = &pair.held {
                // Publish the new id from inside the step, then stay there: readers read it
                // while the rotation is in flight.
                let (new, stdin) = (new.clone(), pair.peer.as_ref().map(|p| p.stdin.clone()));
                let hook: Hook = Arc::new(move |record| {
                    let id = record.session.id.clone();
                    if let Some(stdin) = &stdin {
                        send_line(stdin, &format!("new {id}"));
                    }
                    *new.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
                    std::thread::sleep(HOLD);
                });
                h.set_hook(Some(hook));
            }
            let watcher = pair.held.is_none().then(|| {
                tokio::spawn(watch_keys(
                    name == "redis cluster",
                    pair.prefix.clone(),
                    old.clone(),
                    new.clone(),
                    stop.clone(),
                ))
            });
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    tokio::spawn(read_both(
                        pair.b.clone(),
                        old.clone(),
                        new.clone(),
                        stop.clone(),
                        ready.clone(),
                    ))
                })
                .collect();
            while ready.load(Ordering::SeqCst) < READERS {
                tokio::task::yield_now().await;
            }
            let call_start = Instant::now();
            let rotated = pair.a.rotate(&old).await.unwrap();
            let call_end = Instant::now();
            if let Some(peer) = &pair.peer {
                peer.send(&format!("new {}", rotated.id));
                peer.send("rotated");
            }
            if pair.held.is_none() {
                discovered += usize::from(
                    new.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_deref()
                        == Some(&rotated.id),
                );
            }
            *new.lock().unwrap_or_else(PoisonError::into_inner) = Some(rotated.id.clone());
            // Some reads after the return as well.
            tokio::time::sleep(Duration::from_millis(2)).await;
            stop.store(true, Ordering::SeqCst);
            let mut seen = Vec::new();
            for r in readers {
                seen.extend(r.await.unwrap());
            }
            if let Some(w) = watcher {
                w.await.unwrap();
            }
            if let Some(h) = &pair.held {
                h.set_hook(None);
            }
            let (obs, ghosts) = classify(seen, &old, &rotated.id);
            phantom += ghosts;
            check.merge(&FlipCheck::of(&obs, Some(call_start), Some(call_end)));
            if let Some(peer) = &pair.peer {
                peer.send("stop");
                let w = peer.expect("watched").await;
                let words: Vec<&str> = w.iter().map(String::as_str).collect();
                phantom += words[0].parse::<u64>().unwrap();
                peer_check.merge(&FlipCheck::decode(&words[1..]));
            }
            assert!(pair.b.get(&old).await.unwrap().is_none(), "{name}");
            assert!(pair.b.get(&rotated.id).await.unwrap().is_some(), "{name}");
        }
        let mut f = reliability::Figures::new("rotate racing get of old and new id", name);
        f.add("rounds", rounds)
            .add("reads", check.reads)
            .add("new_id_reads_during_rotate", check.in_window)
            .add("both_live", check.both)
            .add("neither_live", check.neither)
            .add("old_back", check.old_back)
            .add("new_gone", check.new_gone)
            .add("stale_after_return", check.stale_after_return)
            .add("rotated_before_call", check.before_call)
            .add("abandoned_ids_live", phantom);
        if pair.held.is_none() {
            f.add("new_id_seen_in_redis_before_return", discovered);
        }
        if pair.peer.is_some() {
            f.add("peer_reads", peer_check.reads)
                .add("peer_new_id_reads_during_rotate", peer_check.in_window)
                .add("peer_violations", peer_check.violations());
        }
        f.add("elapsed_ms", started.elapsed().as_millis()).print();
        assert_eq!(check.violations(), 0, "{name}: {check:?}");
        assert_eq!(
            peer_check.violations(),
            0,
            "{name}: other process: {peer_check:?}"
        );
        assert_eq!(phantom, 0, "{name}: an id a rotation abandoned was live");
        pair.close().await;
    }
}

/// One get: called, returned, id, whether the session was returned.
type Read = (Instant, Instant, String, bool);

/// The second SQLite process, as seen from the first.
struct Peer {
    child: Mutex<Child>,
    stdin: Arc<Mutex<ChildStdin>>,
    lines: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
}

fn send_line(stdin: &Mutex<ChildStdin>, line: &str) {
    let mut w = stdin.lock().unwrap_or_else(PoisonError::into_inner);
    writeln!(w, "{line}").expect("the peer process is gone");
    w.flush().unwrap();
}

impl Peer {
    fn spawn(path: &Path, limit: usize) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "peer_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(PEER_ENV, path)
            .env(PEER_LIMIT_ENV, limit.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the peer process");
        let stdin = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                // The test harness prints its own text, even on the line of our first answer
                // ("test peer_process ... "); our answers are marked.
                if let Some(at) = line.find("@peer ") {
                    let _ = tx.send(line[at + "@peer ".len()..].to_owned());
                }
            }
        });
        Peer {
            child: Mutex::new(child),
            stdin,
            lines: tokio::sync::Mutex::new(rx),
        }
    }

    fn send(&self, line: &str) {
        send_line(&self.stdin, line);
    }

    /// The words after `word` of the peer's next answer, which must be a `word` answer.
    async fn expect(&self, word: &str) -> Vec<String> {
        let mut lines = self.lines.lock().await;
        let line = tokio::time::timeout(Duration::from_secs(60), lines.recv())
            .await
            .unwrap_or_else(|_| panic!("the peer process did not answer {word:?} in 60 s"))
            .unwrap_or_else(|| panic!("the peer process exited (waiting for {word:?})"));
        let mut words = line.split(' ').map(str::to_owned);
        assert_eq!(
            words.next().as_deref(),
            Some(word),
            "peer answered {line:?}"
        );
        words.collect()
    }

    fn quit(self) {
        self.send("quit");
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait().unwrap() {
                Some(status) => {
                    assert!(status.success(), "the peer process failed: {status}");
                    return;
                }
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    panic!("the peer process did not exit");
                }
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Readers of a rotation in the peer process.
struct PeerWatch {
    new: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    readers: Vec<tokio::task::JoinHandle<Vec<Read>>>,
    old: String,
    rotated_at: Option<Instant>,
}

/// Not a test of its own: the entry point of the second SQLite process (see the file comment).
/// Run by the test harness like any test, it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peer_process() {
    let Ok(path) = std::env::var(PEER_ENV) else {
        return;
    };
    let limit: usize = std::env::var(PEER_LIMIT_ENV).unwrap().parse().unwrap();
    let held = Held::new(backend::sqlite::open(&PathBuf::from(path)).await.unwrap());
    // The prefix is not used by SQLite.
    let store = Store::open(options(BackendConfig::Custom(held.clone()), "p:", limit))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut watch: Option<PeerWatch> = None;
    while let Some(line) = rx.recv().await {
        let w: Vec<&str> = line.split(' ').collect();
        match w[..] {
            ["create", u, n] => {
                let t = create_many(&store, u, n.parse().unwrap()).await;
                println!("@peer created {}", t.encode());
            }
            ["live", u] => {
                let n = store.list_by_user_id(u).await.unwrap().len();
                println!("@peer live {n}");
            }
            ["patch", id, from, to] => {
                let t = patch_keys(&store, id, from.parse().unwrap()..to.parse().unwrap()).await;
                println!("@peer patched {}", t.encode());
            }
            ["late", id, op, mode] => {
                if mode == "held" {
                    let once = AtomicBool::new(false);
                    held.set_hook(Some(Arc::new(move |_| {
                        if !once.swap(true, Ordering::SeqCst) {
                            println!("@peer entered");
                            std::thread::sleep(HOLD);
                        }
                    })));
                }
                let start = unix_ns();
                let write = tokio::spawn({
                    let (store, id, op) = (store.clone(), id.to_owned(), op.to_owned());
                    async move { late_write(&store, &id, &op).await }
                });
                if mode == "free" {
                    println!("@peer started");
                }
                let result = write.await.unwrap();
                held.set_hook(None);
                let code = result.map_or_else(|e| e.code().to_owned(), |_| "OK".to_owned());
                println!("@peer late {start} {code}");
            }
            ["check", id] => {
                println!("@peer checked {}", after_logout(&store, id).await.join(" "));
            }
            ["watch", old] => {
                let (new, stop) = (Arc::default(), Arc::new(AtomicBool::new(false)));
                let ready = Arc::new(AtomicUsize::new(0));
                let readers = (0..2)
                    .map(|_| {
                        tokio::spawn(read_both(
                            store.clone(),
                            old.to_owned(),
                            Arc::clone(&new),
                            stop.clone(),
                            ready.clone(),
                        ))
                    })
                    .collect();
                watch = Some(PeerWatch {
                    new,
                    stop,
                    readers,
                    old: old.to_owned(),
                    rotated_at: None,
                });
            }
            ["new", id] => {
                let w = watch.as_ref().unwrap();
                *w.new.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.to_owned());
            }
            ["rotated"] => watch.as_mut().unwrap().rotated_at = Some(Instant::now()),
            ["stop"] => {
                let w = watch.take().unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
                w.stop.store(true, Ordering::SeqCst);
                let mut reads = Vec::new();
                for r in w.readers {
                    reads.extend(r.await.unwrap());
                }
                let new = w
                    .new
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap();
                let (obs, phantom) = classify(reads, &w.old, &new);
                // Only the end of the rotate call is known on this process's clock: the
                // moment its "rotated" message arrived is after it.
                let check = FlipCheck::of(&obs, None, w.rotated_at);
                println!("@peer watched {phantom} {}", check.encode());
            }
            ["quit"] => break,
            _ => panic!("unknown peer command {line:?}"),
        }
    }
    store.close().await.unwrap();
}
