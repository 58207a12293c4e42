//! The SQLite backend through the public API: durability across reopen, corrupt records, races
//! between two stores on one file, the sweep, tombstones, locking and cancellation.

use omnisession::{
    BackendConfig, ErrorKind, ManualClock, NewSession, Options, Patch, Session, SessionUpdate,
    Store,
};
use rusqlite::Connection;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// 2030-01-01T00:00:00Z.
const START_MS: i64 = 1_893_456_000_000;

fn options(path: &Path) -> Options {
    Options {
        backend: BackendConfig::Sqlite {
            path: path.to_path_buf(),
        },
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

fn clocked(path: &Path, clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: clock.clone(),
        ..options(path)
    }
}

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

fn with_id(u: &str, id: &str) -> NewSession {
    NewSession {
        id: Some(id.into()),
        ..user(u)
    }
}

fn data(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn ids(sessions: &[Session]) -> BTreeSet<String> {
    sessions.iter().map(|s| s.id.clone()).collect()
}

/// A connection of our own to the store's file, as another process would have.
fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

fn scalar(path: &Path, sql: &str) -> i64 {
    raw(path).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every page of `store.list` with pages of `limit`, checking that the listing ends.
async fn list_all(store: &Store, limit: usize) -> Vec<Session> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = store.list(cursor.as_deref(), Some(limit)).await.unwrap();
        all.extend(page.sessions);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("the listing never ended");
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let open = || {
        Store::open(Options {
            allow_anonymous: true,
            ..options(&path)
        })
    };

    let store = open().await.unwrap();
    let a = store
        .create(NewSession {
            data: data(&[("cart", json!([1, 2, {"sku": "x<y>"}])), ("n", json!(1.5))]),
            ip_address: Some("10.0.0.1".into()),
            user_agent: Some("agent/1".into()),
            organization_id: Some("org".into()),
            ..user("u1")
        })
        .await
        .unwrap();
    let b = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Never),
            ..user("u1")
        })
        .await
        .unwrap();
    let anon = store.create(NewSession::default()).await.unwrap();
    let mut set = Map::new();
    set.insert("step".into(), json!(2));
    let a = store
        .patch(
            &a.id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b2 = store.rotate(&b.id).await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();

    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    drop(conn);

    let store = open().await.unwrap();
    assert_eq!(store.get(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get(&b2.id).await.unwrap(), Some(b2.clone()));
    assert_eq!(store.get(&anon.id).await.unwrap(), Some(anon.clone()));
    assert_eq!(
        store.get(&b.id).await.unwrap(),
        None,
        "a rotated-away id stays gone"
    );
    assert_eq!(b2.expires_at, None);
    assert_eq!(a.version, 2);
    let listed = store.list_by_user_id("u1").await.unwrap();
    assert_eq!(ids(&listed), ids(&[a.clone(), b2.clone()]));
    assert_eq!(store.count().await.unwrap(), 3);
    let err = store.create(with_id("u1", &b.id)).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::SessionConflict,
        "the tombstone survived the reopen"
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(clocked(&path, &clock)).await.unwrap();
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(store.create(user("u")).await.unwrap());
    }
    let (text, blob, other, good) = (&made[0], &made[1], &made[2], &made[3..]);
    let conn = raw(&path);
    let set = "UPDATE sessions SET record = ?2 WHERE id = ?1";
    assert_eq!(
        conn.execute(set, rusqlite::params![text.id, "garbage {"])
            .unwrap(),
        1
    );
    let invalid_utf8: &[u8] = &[0xff, 0x00, 0xfe];
    assert_eq!(
        conn.execute(set, rusqlite::params![blob.id, invalid_utf8])
            .unwrap(),
        1
    );
    // A well-formed record, but of another session: it does not belong under this id.
    assert_eq!(
        conn.execute(set, rusqlite::params![other.id, good[0].to_wire()])
            .unwrap(),
        1
    );
    drop(conn);

    for bad in [text, blob, other] {
        let err = store.get(&bad.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError, "{err}");
        assert_eq!(err.code(), "BACKEND_ERROR");
        let hash = err.details()["session_id_hash"].as_str().unwrap();
        assert_eq!(hash, omnisession::id::hash(&bad.id));
        assert!(
            !err.to_string().contains(&bad.id),
            "the message names the id: {err}"
        );
        let patched = store.patch(&bad.id, Patch::default()).await.unwrap_err();
        assert_eq!(patched.kind(), ErrorKind::BackendError, "{patched}");
    }
    for ok in good {
        assert_eq!(store.get(&ok.id).await.unwrap().as_ref(), Some(ok));
    }
    let good_ids = ids(good);
    assert_eq!(ids(&store.list_by_user_id("u").await.unwrap()), good_ids);
    assert_eq!(
        ids(&store.list(None, None).await.unwrap().sessions),
        good_ids
    );
    for limit in [1, 2, 3] {
        assert_eq!(
            ids(&list_all(&store, limit).await),
            good_ids,
            "pages of {limit}"
        );
    }
    // The untouched sessions still take writes, and new sessions come and go.
    let mut set = Map::new();
    set.insert("k".into(), json!("v"));
    let patched = store
        .patch(
            &good[0].id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.data["k"], json!("v"));
    let fresh = store.create(user("u")).await.unwrap();
    store.delete(&fresh.id).await.unwrap();

    // The columns are intact, so the sweep still removes corrupt records once they expire.
    clock.advance(25 * 3600 * 1000);
    assert_eq!(store.cleanup().await.unwrap(), 5);
    assert_eq!(scalar(&path, "SELECT COUNT(*) FROM sessions"), 0);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_exactly_the_expired_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(clocked(&path, &clock)).await.unwrap();
    let ttl = |ms: u64| NewSession {
        expires: Some(omnisession::Lifetime::Ttl(ms)),
        ..user("u")
    };
    let mut short = Vec::new();
    for _ in 0..3 {
        short.push(store.create(ttl(1000)).await.unwrap());
    }
    let mut long = Vec::new();
    for _ in 0..2 {
        long.push(store.create(ttl(5000)).await.unwrap());
    }
    let forever = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Never),
            ..user("u")
        })
        .await
        .unwrap();

    assert_eq!(store.cleanup().await.unwrap(), 0);
    clock.advance(1000);
    assert_eq!(
        store.cleanup().await.unwrap(),
        0,
        "a session is live at exactly its expiry"
    );
    assert_eq!(store.count().await.unwrap(), 6);
    clock.advance(1);
    assert_eq!(store.cleanup().await.unwrap(), 3);
    assert_eq!(store.cleanup().await.unwrap(), 0);
    assert_eq!(scalar(&path, "SELECT COUNT(*) FROM sessions"), 3);
    for s in &short {
        assert_eq!(store.get(&s.id).await.unwrap(), None);
    }
    for s in long.iter().chain([&forever]) {
        assert!(store.get(&s.id).await.unwrap().is_some());
    }
    clock.advance(4000);
    assert_eq!(store.cleanup().await.unwrap(), 2);
    assert_eq!(
        store.list_by_user_id("u").await.unwrap(),
        vec![forever.clone()]
    );

    // More than one batch: every expired session goes, the live one stays.
    for i in 0..1203 {
        store
            .create(NewSession {
                expires: Some(omnisession::Lifetime::Ttl(10)),
                ..user(&format!("bulk{i}"))
            })
            .await
            .unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 1204);
    clock.advance(11);
    assert_eq!(store.cleanup().await.unwrap(), 1203);
    assert_eq!(store.count().await.unwrap(), 1);
    assert_eq!(scalar(&path, "SELECT COUNT(*) FROM sessions"), 1);

    // Tombstones go too, once their time is up.
    let doomed = store.create(ttl(0)).await.unwrap();
    store.delete(&doomed.id).await.unwrap();
    assert_eq!(scalar(&path, "SELECT COUNT(*) FROM tombstones"), 1);
    assert_eq!(store.cleanup().await.unwrap(), 0);
    assert_eq!(
        scalar(&path, "SELECT COUNT(*) FROM tombstones"),
        1,
        "still in force"
    );
    clock.advance(10 * 60 * 1000);
    assert_eq!(
        store.cleanup().await.unwrap(),
        0,
        "tombstones are not sessions"
    );
    assert_eq!(scalar(&path, "SELECT COUNT(*) FROM tombstones"), 0);
    assert_eq!(store.get(&forever.id).await.unwrap(), Some(forever));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_ids_are_tombstoned_across_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(ManualClock::new(START_MS));
    let open = || {
        Store::open(Options {
            max_sessions_per_user: 1,
            ..clocked(&path, &clock)
        })
    };
    let (a, b) = (open().await.unwrap(), open().await.unwrap());
    let conflict = |e: omnisession::Error, id: &str| {
        assert_eq!(e.kind(), ErrorKind::SessionConflict, "{e}");
        assert_eq!(e.details()["session_id_hash"], omnisession::id::hash(id));
        assert!(!e.to_string().contains(id));
    };

    // Deleted.
    let deleted = "deleted-session-id-0000000000000000000000";
    a.create(with_id("u1", deleted)).await.unwrap();
    a.delete(deleted).await.unwrap();
    conflict(a.create(with_id("u1", deleted)).await.unwrap_err(), deleted);
    conflict(b.create(with_id("u2", deleted)).await.unwrap_err(), deleted);
    // Live.
    let live = b.create(user("u3")).await.unwrap();
    conflict(
        a.create(with_id("u4", &live.id)).await.unwrap_err(),
        &live.id,
    );
    // Rotated away.
    let rotated = a.rotate(&live.id).await.unwrap();
    assert_eq!(b.get(&live.id).await.unwrap(), None);
    assert_eq!(b.get(&rotated.id).await.unwrap().unwrap().data, live.data);
    conflict(
        b.create(with_id("u3", &live.id)).await.unwrap_err(),
        &live.id,
    );
    // Evicted by the per-user limit.
    let first = a.create(user("u5")).await.unwrap();
    let second = b.create(user("u5")).await.unwrap();
    assert_eq!(ids(&a.list_by_user_id("u5").await.unwrap()), ids(&[second]));
    conflict(
        a.create(with_id("u5", &first.id)).await.unwrap_err(),
        &first.id,
    );
    // Deleted by user.
    assert_eq!(b.delete_by_user_id("u3").await.unwrap(), 1);
    conflict(
        a.create(with_id("u3", &rotated.id)).await.unwrap_err(),
        &rotated.id,
    );

    // The tombstone ends: the id is free again, with or without a sweep.
    clock.advance(10 * 60 * 1000);
    let again = a.create(with_id("u1", deleted)).await.unwrap();
    assert_eq!(b.get(deleted).await.unwrap(), Some(again));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_of_an_anonymous_session_runs_the_admission() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let open = || {
        Store::open(Options {
            allow_anonymous: true,
            max_sessions_per_user: 1,
            ..options(&path)
        })
    };
    let (a, b) = (open().await.unwrap(), open().await.unwrap());
    let old = a.create(user("u")).await.unwrap();
    let anon = b.create(NewSession::default()).await.unwrap();
    let logged_in = b
        .update(SessionUpdate {
            id: anon.id.clone(),
            user_id: Some("u".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logged_in.user_id.as_deref(), Some("u"));
    assert_eq!(a.list_by_user_id("u").await.unwrap(), vec![logged_in]);
    assert_eq!(a.get(&old.id).await.unwrap(), None);
    let err = a.create(with_id("u", &old.id)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionConflict);
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_sharing_a_file_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let site = |s: &str| {
        Store::open(Options {
            site_id: s.into(),
            ..options(&path)
        })
    };
    let (a, b) = (site("a").await.unwrap(), site("b").await.unwrap());
    let sa = a.create(user("u")).await.unwrap();
    for _ in 0..3 {
        b.create(user("u")).await.unwrap();
    }
    assert_eq!((a.count().await.unwrap(), b.count().await.unwrap()), (1, 3));
    assert_eq!(list_all(&a, 2).await, vec![sa.clone()]);
    assert_eq!(list_all(&b, 2).await.len(), 3);
    assert_eq!(b.list_by_user_id("u").await.unwrap().len(), 3);
    assert_eq!(b.get(&sa.id).await.unwrap(), None);
    assert_eq!(b.clear().await.unwrap(), 3);
    assert_eq!(b.count().await.unwrap(), 0);
    assert_eq!(a.get(&sa.id).await.unwrap(), Some(sa));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_locked_file_is_backend_unavailable_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = Store::open(options(&path)).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    let other = raw(&path);
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let err = store.create(user("u")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "gave up after {:?}",
        started.elapsed()
    );
    // WAL readers are not blocked by a writer.
    assert_eq!(store.get(&s.id).await.unwrap(), Some(s.clone()));
    other.execute_batch("COMMIT").unwrap();
    store.create(user("u")).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_write_releases_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let (a, b) = (
        Store::open(options(&path)).await.unwrap(),
        Store::open(options(&path)).await.unwrap(),
    );
    let s = a.create(user("u")).await.unwrap();
    for i in 0..20u64 {
        let mut set = Map::new();
        set.insert(format!("k{i}"), json!(i));
        // The patch is dropped while its transaction is open: after one poll (the read half
        // under way), or after a moment (the write half under way, or done).
        let mut pending = Box::pin(a.patch(
            &s.id,
            Patch {
                set,
                ..Default::default()
            },
        ));
        if i % 2 == 0 {
            std::future::poll_fn(|cx| {
                let _ = pending.as_mut().poll(cx);
                Poll::Ready(())
            })
            .await;
            drop(pending);
        } else {
            let _ = tokio::time::timeout(Duration::from_micros(i * 50), pending).await;
        }
        // Another store on the file must get the write lock well within its busy timeout.
        let started = Instant::now();
        b.create(user("other")).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "waited {:?}",
            started.elapsed()
        );
    }
    let mut set = Map::new();
    set.insert("last".into(), json!(true));
    let last = a
        .patch(
            &s.id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.get(&s.id).await.unwrap(), Some(last));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn close_is_idempotent_and_leaves_other_stores_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let (a, b) = (
        Store::open(options(&path)).await.unwrap(),
        Store::open(options(&path)).await.unwrap(),
    );
    let s = a.create(user("u")).await.unwrap();
    a.close().await.unwrap();
    a.close().await.unwrap();
    assert_eq!(
        a.get(&s.id).await.unwrap_err().kind(),
        ErrorKind::StoreClosed
    );
    assert_eq!(
        a.create(user("u")).await.unwrap_err().kind(),
        ErrorKind::StoreClosed
    );
    assert_eq!(b.get(&s.id).await.unwrap(), Some(s));
    b.create(user("u")).await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn an_in_memory_database_works() {
    let store = Store::open(options(Path::new(":memory:"))).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    let mut set = Map::new();
    set.insert("k".into(), json!(1));
    let s = store
        .patch(
            &s.id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(store.get(&s.id).await.unwrap(), Some(s.clone()));
    assert_eq!(store.list_by_user_id("u").await.unwrap(), vec![s.clone()]);
    assert_eq!(list_all(&store, 1).await, vec![s.clone()]);
    assert_eq!(store.count().await.unwrap(), 1);
    assert_eq!(store.cleanup().await.unwrap(), 0);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    std::fs::write(&path, vec![0x5au8; 8192]).unwrap();
    let err = Store::open(options(&path)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendError, "{err}");
    let missing = dir.path().join("no-such-dir").join("sessions.db");
    let err = Store::open(options(&missing)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
}

/// Polls `fut` once, as a host does on its own thread before handing the rest to the runtime,
/// and says how long that poll held the thread.
fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> (Option<F::Output>, Duration) {
    let started = Instant::now();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let ready = match std::pin::Pin::new(fut).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    };
    (ready, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_is_served_at_once_and_a_locked_file_is_waited_for_off_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(options(&path)).await.unwrap();
    let s = store.create(user("u1")).await.unwrap();
    // The first read is served by the pool, which opens the quick reader.
    assert!(store.get(&s.id).await.unwrap().is_some());

    // Unlocked: served on the first poll, with no thread hop.
    let mut get = Box::pin(store.get(&s.id));
    let served = poll_once(&mut get)
        .0
        .expect("a read of an unlocked file is served at once");
    assert_eq!(served.unwrap().unwrap().id, s.id);

    // Write-locked by another connection: a read is still served at once (WAL readers wait
    // for no writer), and a write hands over at once, its wait for the lock off this thread.
    let locker = Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut get = Box::pin(store.get(&s.id));
    let (served, held) = poll_once(&mut get);
    assert_eq!(served.expect("served at once").unwrap().unwrap().id, s.id);
    assert!(held < Duration::from_millis(50), "{held:?}");
    let mut write = Box::pin(store.patch(&s.id, Patch::default()));
    let (ready, held) = poll_once(&mut write);
    assert!(
        ready.is_none(),
        "a write to a locked file waits on the pool"
    );
    assert!(
        held < Duration::from_millis(50),
        "the caller's thread was held {held:?}"
    );
    let release = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(200));
        locker.execute_batch("COMMIT").unwrap();
    });
    assert_eq!(write.await.unwrap().version, 2);
    release.await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_checkpointed_by_the_store_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = Store::open(options(&path)).await.unwrap();
    let wal = dir.path().join("s.db-wal");
    let mut largest = 0;
    // About 25 MB of records: with no checkpoint the log would hold all of it.
    for i in 0..1500 {
        let mut new = user(&format!("u{i}"));
        new.data.insert("blob".into(), json!("x".repeat(16 * 1024)));
        store.create(new).await.unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert!(
        largest < 16 << 20,
        "the log reached {largest} bytes: checkpoints did not keep up"
    );
    assert_eq!(store.count().await.unwrap(), 1500);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_a_free_file_is_done_on_the_first_poll() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(options(&dir.path().join("s.db")))
        .await
        .unwrap();
    let s = store.create(user("u1")).await.unwrap();
    let mut write = Box::pin(store.patch(&s.id, Patch::default()));
    let written = poll_once(&mut write)
        .0
        .expect("a write to a free file is done at once");
    assert_eq!(written.unwrap().version, 2);
    let mut create = Box::pin(store.create(user("u2")));
    assert!(poll_once(&mut create).0.expect("done at once").is_ok());
    store.close().await.unwrap();
}
