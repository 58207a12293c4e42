//! Ids hashed at rest (`ids_at_rest`): a dump of what each backend holds (Redis keys and
//! values on a node and on a cluster, the SQLite file with its WAL, the session directory's
//! names and contents) contains no id the test was handed, while every operation keeps
//! working by those ids. The same run with plain ids finds them all: the search can fail.
//! (tests/conformance is run in this mode too: every operation and control, every backend.)

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::{BackendConfig, ErrorKind, Login, NewSession, Options, Store};
use redis_server::{RedisServer, Reply};
use serde_json::{Map, json};
use std::path::Path;

const KEY: &str = "a server key of forty bytes, for tests..";

#[derive(Clone, Copy, PartialEq)]
enum Ids {
    Plain,
    Hashed,
}

fn options(backend: BackendConfig, ids: Ids, prefix: &str) -> Options {
    let mut map = Map::new();
    map.insert("max_sessions_per_user".into(), json!(3));
    map.insert("cleanup_interval".into(), json!(0));
    map.insert("key_prefix".into(), json!(prefix));
    if ids == Ids::Hashed {
        map.insert("ids_at_rest".into(), json!("hmac-sha256"));
        map.insert("id_hash_key".into(), json!(KEY));
    }
    let mut o = Options::from_json(&map).expect("options");
    o.backend = backend;
    o
}

/// Creates, patches, rotates, signs in, evicts and deletes; checks each through the ids it was
/// handed. Returns every id it was handed (live or ended: none may be at rest).
async fn exercise(store: &Store) -> Vec<String> {
    let mut ids = Vec::new();
    let mut alice = Vec::new();
    for i in 0..4 {
        // The fourth evicts the first (limit 3).
        let s = store
            .create(NewSession {
                user_id: Some("alice".into()),
                data: Map::from_iter([("n".into(), json!(i))]),
                ..Default::default()
            })
            .await
            .unwrap();
        alice.push(s.id.clone());
        ids.push(s.id);
    }
    // One of them was evicted (which one: created in the same millisecond, ties go by id).
    let mut live = Vec::new();
    for id in &alice {
        if store.get(id).await.unwrap().is_some() {
            live.push(id.clone());
        }
    }
    assert_eq!(live.len(), 3, "one evicted");
    let alice = live;
    let caller_chosen = "caller-chosen-id-0123456789abcdefghijklmnop".to_owned();
    store
        .create(NewSession {
            id: Some(caller_chosen.clone()),
            user_id: Some("bob".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    ids.push(caller_chosen.clone());
    let patched = store
        .patch(
            &alice[0],
            omnisession::Patch {
                set: Map::from_iter([("k".into(), json!("v"))]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.id, alice[0], "a write returns the id it was given");
    let before = store.get(&alice[1]).await.unwrap().unwrap();
    let rotated = store.rotate(&alice[1]).await.unwrap();
    assert_ne!(rotated.id, alice[1]);
    let after = store.get(&rotated.id).await.unwrap().unwrap();
    assert_eq!(after.data, before.data);
    assert!(
        store.get(&alice[1]).await.unwrap().is_none(),
        "rotated away"
    );
    ids.push(rotated.id.clone());
    let anonymous_store_login = store
        .login(Login {
            from: Some(caller_chosen.clone()),
            user_id: "bob".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_ne!(anonymous_store_login.id, caller_chosen);
    assert!(store.get(&caller_chosen).await.unwrap().is_none());
    ids.push(anonymous_store_login.id.clone());
    let touched = store.touch(&alice[2]).await.unwrap();
    assert_eq!(touched.id, alice[2]);
    // A replay of an ended id is refused as one.
    let e = store
        .update(omnisession::SessionUpdate {
            id: alice[1].clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SessionNotFound);

    // Listings show ids at rest; `id_at_rest` finds "this device", `delete_at_rest` ends one.
    let listed = store.list_by_user_id("alice").await.unwrap();
    let shown: Vec<String> = listed.iter().map(|s| s.id.clone()).collect();
    let mut expected: Vec<String> = [&alice[0], &rotated.id, &alice[2]]
        .iter()
        .map(|id| store.id_at_rest(id))
        .collect();
    expected.sort();
    let mut sorted = shown.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    store
        .delete_at_rest(&store.id_at_rest(&alice[0]))
        .await
        .unwrap();
    assert!(store.get(&alice[0]).await.unwrap().is_none());
    store.delete(&alice[2]).await.unwrap();
    assert_eq!(store.list_by_user_id("alice").await.unwrap().len(), 1);
    ids
}

/// Which of `ids` occur in `dump`.
fn found<'a>(ids: &'a [String], dump: &str) -> Vec<&'a String> {
    ids.iter().filter(|id| dump.contains(id.as_str())).collect()
}

/// Both modes over a fresh place each: plain leaves every id in the dump (the search works),
/// hashed leaves none.
async fn check(open: impl Fn(Ids) -> (BackendConfig, String), dump: impl Fn(Ids) -> String) {
    for ids_mode in [Ids::Plain, Ids::Hashed] {
        let (backend, prefix) = open(ids_mode);
        let store = Store::open(options(backend, ids_mode, &prefix))
            .await
            .unwrap();
        let ids = exercise(&store).await;
        store.close().await.unwrap();
        let text = dump(ids_mode);
        let seen = found(&ids, &text);
        match ids_mode {
            // Every id is there: in a key, a record, an index entry or a tombstone.
            Ids::Plain => assert_eq!(seen.len(), ids.len(), "plain: {seen:?} of {ids:?}"),
            Ids::Hashed => assert!(seen.is_empty(), "ids found at rest: {seen:?}"),
        }
    }
}

/// Every byte of every file under `dir` and every file name, as text.
fn dump_dir(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push_str(&path.file_name().unwrap().to_string_lossy());
        out.push('\n');
        if path.is_dir() {
            out.push_str(&dump_dir(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn a_sqlite_file_and_its_wal_hold_no_id() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let at = |ids: Ids| dirs[usize::from(ids == Ids::Hashed)].path().to_owned();
    check(
        |ids| {
            let path = at(ids).join("sessions.db");
            (BackendConfig::Sqlite { path }, "session:".into())
        },
        |ids| dump_dir(&at(ids)),
    )
    .await;
}

#[tokio::test]
async fn a_session_directory_holds_no_id_in_names_or_contents() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let at = |ids: Ids| dirs[usize::from(ids == Ids::Hashed)].path().to_owned();
    check(
        |ids| {
            let path = at(ids).join("sessions");
            (BackendConfig::File { path }, "session:".into())
        },
        |ids| dump_dir(&at(ids)),
    )
    .await;
}

/// Every key under `prefix` on every node, with its value whatever its type.
fn dump_redis(server: &RedisServer, prefix: &str) -> String {
    let mut out = String::new();
    for node in 0..server.nodes() {
        for key in server.keys_on(node, &format!("{prefix}*")) {
            out.push_str(&key);
            out.push('\n');
            let kind = server.query(node, &["TYPE", &key]).unwrap();
            let value = match kind.text() {
                "string" => server.query(node, &["GET", &key]),
                "hash" => server.query(node, &["HGETALL", &key]),
                "set" => server.query(node, &["SMEMBERS", &key]),
                "zset" => server.query(node, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "list" => server.query(node, &["LRANGE", &key, "0", "-1"]),
                other => panic!("unexpected key type {other} for {key}"),
            };
            flatten(&value.unwrap(), &mut out);
        }
    }
    out
}

fn flatten(r: &Reply, out: &mut String) {
    match r {
        Reply::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        other => {
            out.push_str(other.text());
            out.push('\n');
        }
    }
}

async fn redis_check(server: &RedisServer, cluster: bool) {
    let tag = if cluster { "cluster" } else { "node" };
    let prefix = |ids: Ids| format!("at-rest-{tag}-{}:", u8::from(ids == Ids::Hashed));
    check(
        |ids| {
            let backend = BackendConfig::Redis {
                urls: server.urls.clone(),
                cluster,
                tls_ca: None,
                tls_client: None,
            };
            (backend, prefix(ids))
        },
        |ids| dump_redis(server, &prefix(ids)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_dump_holds_no_id() {
    redis_check(&RedisServer::single(&[]), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_dump_holds_no_id() {
    redis_check(&RedisServer::cluster(), true).await;
}

#[tokio::test]
async fn another_key_finds_nothing_and_compat_mode_refuses_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let backend = || BackendConfig::Sqlite {
        path: dir.path().join("s.db"),
    };
    let store = Store::open(options(backend(), Ids::Hashed, "session:"))
        .await
        .unwrap();
    let s = store
        .create(NewSession {
            user_id: Some("u".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    let mut other = options(backend(), Ids::Hashed, "session:");
    other.ids_at_rest =
        omnisession::IdsAtRest::HmacSha256(b"another key of forty bytes, for tests...".to_vec());
    let other = Store::open(other).await.unwrap();
    assert!(other.get(&s.id).await.unwrap().is_none());
    other.close().await.unwrap();

    let mut map = Map::new();
    map.insert("omnistorage_compat".into(), json!(true));
    map.insert("ids_at_rest".into(), json!("sha256"));
    let e = Options::from_json(&map).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid);
    assert_eq!(e.details()["option"], "ids_at_rest");
}
