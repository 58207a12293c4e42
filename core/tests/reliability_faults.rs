//! Reliability, faults: a network stall between the store and Redis, a full disk under SQLite,
//! a read-only file backend. In each: typed errors, no panic, no hang past the per-op
//! timeout, service resumes, and every acknowledged write survives. (A Redis server killed
//! and restarted mid-load is in `backend_redis.rs`.)
//!
//! The disk tests mount file systems and so need root; they fail, never skip, without it.
#![allow(clippy::too_many_lines)] // each test is one scenario, read top to bottom

#[path = "support/proxy.rs"]
mod proxy;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/reliability.rs"]
mod reliability;

use omnisession::{BackendConfig, ErrorKind, NewSession, Options, Patch, Result, Session, Store};
use proxy::Proxy;
use reliability::{Figures, Mount, Tally};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The Redis backend's per-call timeout (`core/src/backend/redis/conn.rs`, not configurable).
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(750);

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
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

fn opts(backend: BackendConfig) -> Options {
    Options {
        backend,
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

/// Every operation once, concurrently, with how long each took.
/// Every operation, at once: the ones that end or move a session (rotate, delete) on `spare`,
/// the others on `id`. A write that timed out may still reach the server once the network
/// is back (it was sent, as any client's may be), so a rotation of `id` could end it.
async fn every_op(
    store: &Store,
    id: &str,
    spare: &str,
) -> Vec<(&'static str, Duration, Result<()>)> {
    let ops: Vec<(&'static str, _)> = vec![
        ("get", 0),
        ("create", 1),
        ("patch", 2),
        ("touch", 3),
        ("rotate", 4),
        ("delete", 5),
        ("list_by_user_id", 6),
        ("count", 7),
    ];
    let tasks: Vec<_> = ops
        .into_iter()
        .map(|(name, which)| {
            let (store, id, spare) = (store.clone(), id.to_owned(), spare.to_owned());
            tokio::spawn(async move {
                let started = Instant::now();
                let r: Result<()> = match which {
                    0 => store.get(&id).await.map(drop),
                    1 => store.create(user("stall")).await.map(drop),
                    2 => store.patch(&id, patch("x", json!(1))).await.map(drop),
                    3 => store.touch(&id).await.map(drop),
                    4 => store.rotate(&spare).await.map(drop),
                    5 => store.delete(&spare).await,
                    6 => store.list_by_user_id("stall").await.map(drop),
                    _ => store.count().await.map(drop),
                };
                (name, started.elapsed(), r)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_network_to_redis_is_backend_unavailable_and_loses_nothing() {
    let server = redis_server::RedisServer::single(&[]);
    let upstream: u16 = server.urls[0].rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(upstream);
    let store = Store::open(Options {
        key_prefix: "stall:".into(),
        ..opts(BackendConfig::Redis {
            urls: vec![format!("redis://127.0.0.1:{}", proxy.port)],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        })
    })
    .await
    .unwrap();
    let stalls = reliability::rounds().clamp(1, 3);
    // Writers create and patch without pause through every stall; what they were told
    // succeeded is checked at the end.
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acked, mut tally, mut longest) =
                    (Vec::new(), Tally::default(), Duration::ZERO);
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let started = Instant::now();
                    let r = store
                        .create(NewSession {
                            data: set("n", json!(i)),
                            ..user(&format!("w{w}"))
                        })
                        .await;
                    tally.count(&r);
                    let r = match r {
                        Ok(s) => {
                            let p = store.patch(&s.id, patch("patched", json!(i))).await;
                            tally.count(&p);
                            Ok((s.id, p.is_ok()))
                        }
                        Err(e) => Err(e),
                    };
                    longest = longest.max(started.elapsed());
                    if let Ok(x) = r {
                        acked.push(x);
                    }
                }
                (acked, tally, longest)
            })
        })
        .collect();
    let probe = store.create(user("stall")).await.unwrap();
    let (mut op_tally, mut slowest, mut recovery) = (Tally::default(), Duration::ZERO, Vec::new());
    for _ in 0..stalls {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spare = store.create(user("stall")).await.unwrap();
        proxy.stall(true);
        for (name, took, r) in every_op(&store, &probe.id, &spare.id).await {
            op_tally.add(
                &format!(
                    "{name}:{}",
                    r.as_ref().map_or_else(omnisession::Error::code, |()| "OK")
                ),
                1,
            );
            slowest = slowest.max(took);
            let e = r.expect_err(name);
            assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{name}: {e}");
            assert!(took <= OP_TIMEOUT + SLACK, "{name} took {took:?} to fail");
        }
        proxy.stall(false);
        let resumed = Instant::now();
        loop {
            match store.get(&probe.id).await {
                Ok(found) => {
                    assert!(found.is_some(), "the probe session was lost");
                    break;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
                    assert!(
                        resumed.elapsed() < Duration::from_secs(10),
                        "not serving: {e}"
                    );
                }
            }
        }
        recovery.push(resumed.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let (mut acked, mut tally, mut longest) = (Vec::new(), Tally::default(), Duration::ZERO);
    for w in workers {
        let (a, t, l) = w.await.unwrap();
        acked.extend(a);
        tally.merge(&t);
        longest = longest.max(l);
    }
    let mut lost = 0;
    for (id, patched) in &acked {
        match store.get(id).await.unwrap() {
            Some(s) => lost += usize::from(*patched && s.data.get("patched").is_none()),
            None => lost += 1,
        }
    }
    Figures::new("network stall between store and redis", "redis")
        .add("stalls", stalls)
        .add("op_timeout_ms", OP_TIMEOUT.as_millis())
        .add("ops_during_stall", op_tally.encode())
        .add("slowest_failure_ms", slowest.as_millis())
        .add(
            "recovery_ms",
            format!(
                "{:?}",
                recovery.iter().map(Duration::as_millis).collect::<Vec<_>>()
            ),
        )
        .add("load_outcomes", tally.encode())
        .add("longest_load_step_ms", longest.as_millis())
        .add("acknowledged", acked.len())
        .add("acknowledged_lost", lost)
        .print();
    assert_eq!(lost, 0, "acknowledged writes were lost");
    assert!(
        tally
            .0
            .keys()
            .all(|k| k == "OK" || k == "BACKEND_UNAVAILABLE"),
        "untyped failures under load: {}",
        tally.encode()
    );
    assert!(
        tally.get("BACKEND_UNAVAILABLE") > 0,
        "the stall was not noticed"
    );
}

fn integrity(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Fills the file system holding `path` with a ballast file, to the last byte it takes.
fn fill(path: &std::path::Path) -> u64 {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0;
    for chunk in [64 * 1024, 4096, 512, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_sqlite_fails_writes_typed_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let _mount = Mount::tmpfs(&mnt, "4m");
    let db = mnt.join("sessions.db");
    let store = Store::open(opts(BackendConfig::Sqlite { path: db.clone() }))
        .await
        .unwrap();
    let pad = json!("p".repeat(4096));
    let mut acked: Vec<Session> = Vec::new();
    for _ in 0..20 {
        acked.push(
            store
                .create(NewSession {
                    data: set("pad", pad.clone()),
                    ..user("u")
                })
                .await
                .unwrap(),
        );
    }
    let ballast = mnt.join("ballast");
    let ballast_bytes = fill(&ballast);
    // Writes until the first refusal: free pages inside the database and WAL may take a few.
    let (mut before_full, mut first) = (0, None);
    for _ in 0..10_000 {
        let started = Instant::now();
        match store
            .create(NewSession {
                data: set("pad", pad.clone()),
                ..user("u")
            })
            .await
        {
            Ok(s) => {
                acked.push(s);
                before_full += 1;
            }
            Err(e) => {
                first = Some((e, started.elapsed()));
                break;
            }
        }
    }
    let (first, first_took) = first.expect("a full disk never refused a write");
    assert_eq!(first.kind(), ErrorKind::BackendError, "{first}");
    assert_eq!(
        first.details()["sqlite_code"],
        json!(13),
        "SQLITE_FULL: {first}"
    );
    // Every kind of write while full: typed, and no hang.
    let mut writes = Tally::default();
    let mut slowest = first_took;
    let target = acked[0].id.clone();
    for round in 0..10 {
        let started = Instant::now();
        let r: Result<()> = match round % 5 {
            0 => store
                .create(NewSession {
                    data: set("pad", pad.clone()),
                    ..user("u")
                })
                .await
                .map(drop),
            1 => store
                .patch(&target, patch("pad2", pad.clone()))
                .await
                .map(drop),
            2 => store.rotate(&target).await.map(drop),
            3 => store.touch(&target).await.map(drop),
            _ => store.delete(&target).await,
        };
        slowest = slowest.max(started.elapsed());
        if let Err(e) = &r {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::BackendError | ErrorKind::BackendUnavailable
                ),
                "{e}"
            );
        }
        writes.count(&r);
    }
    assert!(
        writes.failures() > 0,
        "writes kept succeeding on a full disk"
    );
    // Reads keep working.
    let read_started = Instant::now();
    let mut read_ok = 0;
    for s in &acked[1..] {
        let got = store
            .get(&s.id)
            .await
            .unwrap()
            .expect("an acknowledged session");
        assert_eq!(got.data["pad"], pad);
        read_ok += 1;
    }
    let live = store.list_by_user_id("u").await.unwrap().len();
    let read_ms = read_started.elapsed().as_millis();
    // Space comes back: writes succeed again.
    std::fs::remove_file(&ballast).unwrap();
    let freed = Instant::now();
    let mut refused_after_free = 0;
    loop {
        match store.create(user("after")).await {
            Ok(s) => {
                acked.push(s);
                break;
            }
            Err(e) => {
                refused_after_free += 1;
                assert!(
                    freed.elapsed() < Duration::from_secs(10),
                    "no recovery: {e}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let recovery = freed.elapsed();
    for _ in 0..20 {
        acked.push(store.create(user("after")).await.unwrap());
    }
    let mut lost = 0;
    for s in &acked {
        // The first session took the write attempts above; its id may have been rotated.
        if s.id != target {
            lost += usize::from(store.get(&s.id).await.unwrap().is_none());
        }
    }
    store.close().await.unwrap();
    let check = integrity(&db);
    Figures::new("disk full under sqlite (4 MiB tmpfs)", "sqlite")
        .add("ballast_bytes", ballast_bytes)
        .add("writes_accepted_after_ballast", before_full)
        .add("first_refusal", format!("{}(sqlite_code=13)", first.code()))
        .add("writes_while_full", writes.encode())
        .add("slowest_write_while_full_ms", slowest.as_millis())
        .add("reads_while_full_ok", read_ok)
        .add("listed_while_full", live)
        .add("read_time_ms", read_ms)
        .add("refused_after_free", refused_after_free)
        .add("recovery_ms", recovery.as_millis())
        .add("acknowledged", acked.len())
        .add("acknowledged_lost", lost)
        .add("integrity_check", &check)
        .print();
    assert_eq!(lost, 0);
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_file_backend_fails_writes_typed_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("files");
    let store = Store::open(opts(BackendConfig::File { path: root.clone() }))
        .await
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..20 {
        acked.push(
            store
                .create(NewSession {
                    data: set("n", json!(i)),
                    ..user("u")
                })
                .await
                .unwrap(),
        );
    }
    // Root ignores permission bits; a read-only mount it cannot ignore. The bind mount over
    // the directory leaves the store's open lock file on the writable mount beneath.
    let mount = Mount::bind_over(&root);
    mount.set_read_only(true);
    let target = acked[0].id.clone();
    let mut writes = Tally::default();
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        let started = Instant::now();
        let r: Result<()> = match round % 5 {
            0 => store.create(user("u")).await.map(drop),
            1 => store.patch(&target, patch("x", json!(1))).await.map(drop),
            2 => store.rotate(&target).await.map(drop),
            3 => store.touch(&target).await.map(drop),
            _ => store.delete(&target).await,
        };
        slowest = slowest.max(started.elapsed());
        let e = r
            .as_ref()
            .expect_err("a write succeeded on a read-only mount");
        assert_eq!(e.kind(), ErrorKind::BackendError, "{e}");
        writes.count(&r);
    }
    let reopen = Store::open(opts(BackendConfig::File { path: root.clone() })).await;
    let reopen_code = reopen
        .as_ref()
        .map_or_else(omnisession::Error::code, |_| "OK");
    let mut read_ok = 0;
    for (i, s) in acked.iter().enumerate() {
        let got = store
            .get(&s.id)
            .await
            .unwrap()
            .expect("an acknowledged session");
        assert_eq!(got.data["n"], json!(i));
        read_ok += 1;
    }
    let listed = store.list_by_user_id("u").await.unwrap().len();
    let counted = store.count().await.unwrap();
    mount.set_read_only(false);
    let resumed = Instant::now();
    let after = store
        .create(user("u"))
        .await
        .expect("writes after remounting rw");
    let recovery = resumed.elapsed();
    store.patch(&target, patch("x", json!(2))).await.unwrap();
    acked.push(after);
    drop(mount);
    let mut lost = 0;
    for s in &acked {
        lost += usize::from(store.get(&s.id).await.unwrap().is_none());
    }
    Figures::new("read-only mount under the file backend", "file")
        .add("writes_while_ro", writes.encode())
        .add("slowest_write_while_ro_ms", slowest.as_millis())
        .add("open_while_ro", reopen_code)
        .add("reads_while_ro_ok", read_ok)
        .add("listed_while_ro", listed)
        .add("counted_while_ro", counted)
        .add("recovery_ms", recovery.as_millis())
        .add("acknowledged", acked.len())
        .add("acknowledged_lost", lost)
        .print();
    assert_eq!(reopen_code, "BACKEND_UNAVAILABLE");
    assert_eq!((read_ok, listed, counted), (20, 20, 20));
    assert_eq!(lost, 0);
}
