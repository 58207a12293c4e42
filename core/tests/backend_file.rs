//! The file backend through the public API: persistence, the on-disk format, corruption,
//! atomic writes, races between two stores on one directory, the sweep, rotation.

use omnisession::{
    BackendConfig, ErrorKind, ManualClock, NewSession, Options, Patch, Session, SessionUpdate,
    Store,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 2030-01-01T00:00:00Z, a whole minute (far from the file times the OS writes).
const START_MS: i64 = 1_893_456_000_000;

fn options(path: &Path) -> Options {
    Options {
        backend: BackendConfig::File {
            path: path.to_path_buf(),
        },
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

async fn open(path: &Path) -> Store {
    Store::open(options(path))
        .await
        .expect("open the file store")
}

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

fn data(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn session_file(root: &Path, id: &str) -> PathBuf {
    root.join("sessions").join(format!("{id}.json"))
}

/// Every regular file under `root`, recursively.
fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Ids of the session files present.
fn stored_ids(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|n| {
            n.strip_suffix(".json")
                .unwrap_or_else(|| panic!("stray file {n}"))
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let store = open(&root).await;
    let mut new = user("alice");
    new.data = data(&[("cart", json!([1, 2, {"x": "y"}])), ("n", json!(1.5))]);
    new.organization_id = Some("org".into());
    let a = store.create(new).await.unwrap();
    let b = store.create(user("alice")).await.unwrap();
    let mut set = Map::new();
    set.insert("theme".into(), json!("dark"));
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
    store.delete(&b.id).await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    assert_eq!(
        store.get(&a.id).await.unwrap_err().kind(),
        ErrorKind::StoreClosed
    );

    let reopened = open(&root).await;
    assert_eq!(reopened.get(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(reopened.get(&b.id).await.unwrap(), None);
    assert_eq!(
        reopened.list_by_user_id("alice").await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(reopened.count().await.unwrap(), 1);
    // The tombstone of the deleted id survived too.
    let again = NewSession {
        id: Some(b.id.clone()),
        ..user("alice")
    };
    assert_eq!(
        reopened.create(again).await.unwrap_err().kind(),
        ErrorKind::SessionConflict
    );
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn the_session_file_holds_exactly_the_wire_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut new = user("bob");
    new.data = data(&[("k", json!({"nested": [true, null, "é<>"]}))]);
    new.ip_address = Some("10.0.0.1".into());
    let s = store.create(new).await.unwrap();
    let on_disk = std::fs::read_to_string(session_file(dir.path(), &s.id)).unwrap();
    assert_eq!(on_disk, s.to_wire());
    assert_eq!(Session::from_wire(on_disk.as_bytes()).unwrap(), s);

    let touched = store.touch(&s.id).await.unwrap();
    let on_disk = std::fs::read_to_string(session_file(dir.path(), &s.id)).unwrap();
    assert_eq!(on_disk, touched.to_wire());
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_file_is_a_backend_error_for_that_id_only() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        ..options(dir.path())
    })
    .await
    .unwrap();
    let bad = store.create(user("carol")).await.unwrap();
    let bad_utf8 = store.create(user("carol")).await.unwrap();
    let good = store.create(user("carol")).await.unwrap();
    std::fs::write(session_file(dir.path(), &bad.id), b"{\"id\": not json").unwrap();
    std::fs::write(
        session_file(dir.path(), &bad_utf8.id),
        b"\xff\xfe\x00garbage",
    )
    .unwrap();

    for id in [&bad.id, &bad_utf8.id] {
        let err = store.get(id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError, "{err}");
        assert_eq!(err.code(), "BACKEND_ERROR");
        assert!(
            err.details().contains_key("session_id_hash"),
            "{:?}",
            err.details()
        );
        assert!(
            !err.to_string().contains(id.as_str()),
            "raw id leaked: {err}"
        );
        assert!(!format!("{:?}", err.details()).contains(id.as_str()));
        let mut set = Map::new();
        set.insert("x".into(), json!(1));
        let err = store
            .patch(
                id,
                Patch {
                    set,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError, "{err}");
    }
    // The corrupt file was not replaced by the failed patch.
    let still = std::fs::read(session_file(dir.path(), &bad.id)).unwrap();
    assert_eq!(still, b"{\"id\": not json");

    assert_eq!(store.get(&good.id).await.unwrap(), Some(good.clone()));
    assert_eq!(
        store.list_by_user_id("carol").await.unwrap(),
        vec![good.clone()]
    );
    assert_eq!(store.count().await.unwrap(), 1);
    let page = store.list(None, None).await.unwrap();
    assert_eq!(page.sessions, vec![good.clone()]);
    let other = store.create(user("dave")).await.unwrap();
    assert_eq!(store.get(&other.id).await.unwrap(), Some(other));
    // The sweep still removes corrupt records once their stored expiry has passed.
    clock.advance(24 * 3600 * 1000 + 1);
    assert_eq!(store.cleanup().await.unwrap(), 4);
    assert!(stored_ids(dir.path()).is_empty());
    assert_eq!(store.get(&bad.id).await.unwrap(), None);
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_file_under_another_id_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let a = store.create(user("eve")).await.unwrap();
    let b = store.create(user("eve")).await.unwrap();
    std::fs::copy(
        session_file(dir.path(), &a.id),
        session_file(dir.path(), &b.id),
    )
    .unwrap();
    assert_eq!(
        store.get(&b.id).await.unwrap_err().kind(),
        ErrorKind::BackendError
    );
    assert_eq!(store.get(&a.id).await.unwrap(), Some(a));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_temporary_files_are_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Options {
        max_sessions_per_user: 2,
        ..options(dir.path())
    })
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let s = store
            .create(user(if i % 2 == 0 { "u1" } else { "u2" }))
            .await
            .unwrap();
        ids.push(s.id);
    }
    let live: Vec<String> = store
        .list(None, None)
        .await
        .unwrap()
        .sessions
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live.len(), 4);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let id = live[i % live.len()].clone();
            tokio::spawn(async move {
                let mut set = Map::new();
                set.insert(format!("k{i}"), json!(i));
                store
                    .patch(
                        &id,
                        Patch {
                            set,
                            ..Default::default()
                        },
                    )
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let rotated = store.rotate(&live[0]).await.unwrap();
    store.touch(&rotated.id).await.unwrap();
    store.delete(&live[1]).await.unwrap();
    store.cleanup().await.unwrap();
    store.close().await.unwrap();

    let files = all_files(dir.path());
    assert!(!files.is_empty());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        let stem = name.strip_suffix(".json").unwrap_or(&name);
        assert!(
            name == "lock" || omnisession::id::is_well_formed(stem),
            "temporary or stray file left behind: {}",
            f.display()
        );
    }
    let expected: BTreeSet<String> = [rotated.id.clone(), live[2].clone(), live[3].clone()].into();
    assert_eq!(stored_ids(dir.path()), expected);
}

#[tokio::test]
async fn cleanup_removes_exactly_the_expired_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        default_ttl_ms: 0,
        idle_timeout_ms: 120_000,
        ..options(dir.path())
    })
    .await
    .unwrap();
    // first, touched, other idle out at +120 s; short (ttl 30 s) and late come at +100 s.
    let first = store.create(user("u")).await.unwrap();
    let touched = store.create(user("u")).await.unwrap();
    let other = store.create(user("v")).await.unwrap();
    clock.advance(100_000);
    // touched's expiry moves to +220 s, two buckets later: its old expiry entry is stale.
    let touched = store.touch(&touched.id).await.unwrap();
    let short = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Ttl(30_000)),
            ..user("u")
        })
        .await
        .unwrap();
    let late = store.create(user("w")).await.unwrap();

    clock.set(START_MS + 120_000);
    // Still served at exactly the expiry instant, so nothing is swept yet.
    assert_eq!(store.cleanup().await.unwrap(), 0);
    assert_eq!(stored_ids(dir.path()).len(), 5);

    clock.set(START_MS + 150_000);
    assert_eq!(store.cleanup().await.unwrap(), 3);
    let expected: BTreeSet<String> = [touched.id.clone(), late.id.clone()].into();
    assert_eq!(stored_ids(dir.path()), expected);
    assert_eq!(store.get(&touched.id).await.unwrap(), Some(touched.clone()));
    for gone in [&first.id, &other.id, &short.id] {
        assert_eq!(store.get(gone).await.unwrap(), None);
    }
    assert_eq!(
        store.list_by_user_id("u").await.unwrap(),
        vec![touched.clone()]
    );
    assert_eq!(store.cleanup().await.unwrap(), 0);

    // touched (at +100 s) and late (created at +100 s) idle out at +220 s.
    clock.set(START_MS + 220_001);
    assert_eq!(store.count().await.unwrap(), 0);
    assert_eq!(store.cleanup().await.unwrap(), 2);
    assert!(stored_ids(dir.path()).is_empty());
    assert_eq!(store.cleanup().await.unwrap(), 0);
    store.close().await.unwrap();
}

/// A store on `dir` whose tombstones last 60 s, and a session deleted from it (its tombstone
/// left behind).
async fn deleted_with_tombstone(dir: &Path) -> (Store, Arc<ManualClock>, Session) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        tombstone_ttl_ms: 60_000,
        ..options(dir)
    })
    .await
    .unwrap();
    let s = store.create(user("u")).await.unwrap();
    store.delete(&s.id).await.unwrap();
    (store, clock, s)
}

#[tokio::test]
async fn expired_tombstones_are_swept_and_free_their_id() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, s) = deleted_with_tombstone(dir.path()).await;
    let again = || NewSession {
        id: Some(s.id.clone()),
        ..user("u")
    };
    assert_eq!(
        store.create(again()).await.unwrap_err().kind(),
        ErrorKind::SessionConflict
    );
    clock.advance(60_000);
    assert_eq!(store.cleanup().await.unwrap(), 0);
    assert!(!dir.path().join("tombstones").join(&s.id).exists());
    assert_eq!(store.create(again()).await.unwrap().id, s.id);
    store.close().await.unwrap();
}

#[tokio::test]
async fn rotate_leaves_no_file_for_the_old_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let mut new = user("frank");
    new.data = data(&[("role", json!("admin"))]);
    let old = store.create(new).await.unwrap();
    let rotated = store.rotate(&old.id).await.unwrap();
    assert_ne!(rotated.id, old.id);
    assert_eq!(rotated.data, old.data);
    assert!(!session_file(dir.path(), &old.id).exists());
    let on_disk = std::fs::read_to_string(session_file(dir.path(), &rotated.id)).unwrap();
    assert_eq!(on_disk, rotated.to_wire());
    assert_eq!(stored_ids(dir.path()), [rotated.id.clone()].into());
    assert_eq!(store.get(&old.id).await.unwrap(), None);
    assert_eq!(
        store.touch(&old.id).await.unwrap_err().kind(),
        ErrorKind::SessionNotFound
    );
    let reuse = NewSession {
        id: Some(old.id.clone()),
        ..user("frank")
    };
    assert_eq!(
        store.create(reuse).await.unwrap_err().kind(),
        ErrorKind::SessionConflict
    );
    assert_eq!(store.list_by_user_id("frank").await.unwrap(), vec![rotated]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn login_of_an_anonymous_session_is_admitted_against_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        allow_anonymous: true,
        max_sessions_per_user: 2,
        ..options(dir.path())
    })
    .await
    .unwrap();
    let first = store.create(user("gina")).await.unwrap();
    clock.advance(1);
    let second = store.create(user("gina")).await.unwrap();
    clock.advance(1);
    let anon = store.create(NewSession::default()).await.unwrap();
    assert_eq!(store.list_by_user_id("gina").await.unwrap().len(), 2);
    let login = SessionUpdate {
        id: anon.id.clone(),
        user_id: Some("gina".into()),
        ..Default::default()
    };
    let logged_in = store.update(login).await.unwrap();
    assert_eq!(logged_in.user_id.as_deref(), Some("gina"));
    let ids: Vec<String> = store
        .list_by_user_id("gina")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![second.id.clone(), anon.id.clone()]);
    assert!(!session_file(dir.path(), &first.id).exists());
    store.close().await.unwrap();
}

#[tokio::test]
async fn list_pages_in_id_order_and_clear_respects_sites() {
    let dir = tempfile::tempdir().unwrap();
    let site = |name: &str| Options {
        site_id: name.into(),
        ..options(dir.path())
    };
    let a = Store::open(site("a")).await.unwrap();
    let b = Store::open(site("b")).await.unwrap();
    let mut ids = BTreeSet::new();
    for _ in 0..7 {
        ids.insert(a.create(user("h")).await.unwrap().id);
    }
    let other = b.create(user("h")).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = a.list(cursor.as_deref(), Some(3)).await.unwrap();
        pages += 1;
        assert!(page.sessions.len() <= 3);
        seen.extend(page.sessions.into_iter().map(|s| s.id));
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids.iter().cloned().collect::<Vec<_>>());
    assert_eq!(a.count().await.unwrap(), 7);
    assert_eq!(b.count().await.unwrap(), 1);
    assert_eq!(a.list_by_user_id("h").await.unwrap().len(), 7);
    assert_eq!(b.list_by_user_id("h").await.unwrap(), vec![other.clone()]);

    assert_eq!(a.clear().await.unwrap(), 7);
    assert_eq!(a.count().await.unwrap(), 0);
    assert_eq!(stored_ids(dir.path()), [other.id.clone()].into());
    assert_eq!(b.get(&other.id).await.unwrap(), Some(other));
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_session_file_removed_behind_the_stores_back_is_just_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let kept = store.create(user("ivan")).await.unwrap();
    let lost = store.create(user("ivan")).await.unwrap();
    std::fs::remove_file(session_file(dir.path(), &lost.id)).unwrap();
    assert_eq!(
        store.list_by_user_id("ivan").await.unwrap(),
        vec![kept.clone()]
    );
    assert_eq!(store.get(&lost.id).await.unwrap(), None);
    assert_eq!(store.delete_by_user_id("ivan").await.unwrap(), 1);
    assert!(store.list_by_user_id("ivan").await.unwrap().is_empty());
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_unusable_directory_is_backend_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(options(&file)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_takes_the_lock_only_for_an_id_caught_in_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let plain = store.create(user("u")).await.unwrap();
    let caught = store.create(user("u")).await.unwrap();
    let deleted = store.create(user("u")).await.unwrap();
    store.delete(&deleted.id).await.unwrap();
    // What a rotation leaves between its first write and its last: the old id's tombstone
    // beside the old record. And another process in the middle of a step, holding the lock.
    let until = (START_MS + 60_000).to_string();
    std::fs::write(dir.path().join("tombstones").join(&caught.id), until).unwrap();
    let lock = std::fs::File::open(dir.path().join("lock")).unwrap();
    lock.lock().unwrap();
    let quick = std::time::Duration::from_secs(2);
    // A plain get, and a get of a deleted (tombstoned, recordless) id, take no lock.
    let got = tokio::time::timeout(quick, store.get(&plain.id)).await;
    assert_eq!(got.expect("no wait").unwrap(), Some(plain));
    let got = tokio::time::timeout(quick, store.get(&deleted.id)).await;
    assert_eq!(got.expect("no wait").unwrap(), None);
    // The id caught in a rotation is read once the step in progress is over.
    let pending = tokio::spawn({
        let (store, id) = (store.clone(), caught.id.clone());
        async move { store.get(&id).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "it waits for the lock");
    lock.unlock().unwrap();
    assert_eq!(pending.await.unwrap().unwrap(), Some(caught));
    store.close().await.unwrap();
}

#[tokio::test]
async fn creating_over_an_expired_tombstone_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, s) = deleted_with_tombstone(dir.path()).await;
    clock.advance(60_000);
    let tomb = dir.path().join("tombstones").join(&s.id);
    assert!(tomb.exists(), "not swept yet");
    let again = NewSession {
        id: Some(s.id.clone()),
        ..user("u")
    };
    assert_eq!(store.create(again).await.unwrap().id, s.id);
    assert!(!tomb.exists());
    assert_eq!(store.get(&s.id).await.unwrap().unwrap().id, s.id);
    store.close().await.unwrap();
}
