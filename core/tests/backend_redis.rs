//! The Redis backend against real servers: wire compatibility, hostile values, TLS, unix
//! sockets, races on both topologies, and a server killed mid-run.

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::{
    BackendConfig, ClientCertificate, ErrorKind, ManualClock, NewSession, Options, Store,
};
use redis::AsyncCommands;
use redis_server::RedisServer;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2030-01-01: a clock ahead of the server's, so nothing expires behind a test's back.
const START_MS: i64 = 1_893_456_000_000;

fn options(server: &RedisServer, prefix: &str) -> Options {
    Options {
        backend: BackendConfig::Redis {
            urls: server.urls.clone(),
            cluster: server.urls.len() > 1,
            tls_ca: server.ca.clone(),
            tls_client: None,
        },
        key_prefix: prefix.to_owned(),
        cleanup_interval_ms: 0,
        clock: Arc::new(ManualClock::new(START_MS)),
        ..Options::default()
    }
}

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

/// A key's expiry in Unix ms (`PEXPIRETIME`: -1 none, -2 no key).
async fn expire_time(r: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(r)
        .await
        .unwrap()
}

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.urls[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn records_are_omnistorage_wire_json_with_pexpireat() {
    let server = RedisServer::single(&[]);
    let store = Store::open(options(&server, "session:")).await.unwrap();
    let mut s = user("550e8400-e29b-41d4-a716-446655440000");
    s.data.insert("cart".into(), json!(["<apple>"]));
    let created = store.create(s).await.unwrap();
    let mut r = raw(&server).await;
    let bytes: String = r.get(format!("session:{}", created.id)).await.unwrap();
    assert_eq!(bytes, created.to_wire());
    let at = expire_time(&mut r, &format!("session:{}", created.id)).await;
    assert_eq!(at, created.expires_at.unwrap().unix_ms());
}

#[tokio::test]
async fn records_written_by_a_go_service_are_read() {
    let server = RedisServer::single(&[]);
    let store = Store::open(options(&server, "session:")).await.unwrap();
    let id = "goWrittenSessionId_0123456789abcdefABCDEFG";
    let go = format!(
        r#"{{"id":"{id}","user_id":"550e8400-e29b-41d4-a716-446655440000","data":{{"n":1}},"created_at":"2029-12-31T23:00:00.123456789+01:00","updated_at":"2029-12-31T22:00:00Z","last_accessed_at":"2029-12-31T22:00:00Z","expires_at":"0001-01-01T00:00:00Z"}}"#
    );
    let mut r = raw(&server).await;
    let () = r.set(format!("session:{id}"), go).await.unwrap();
    let got = store
        .get(id)
        .await
        .unwrap()
        .expect("the Go record is visible");
    // No `version`: it is derived from `updated_at` (µs), above every counted version.
    assert_eq!(got.version, 1_893_448_800_000_000);
    assert_eq!(got.data["n"], 1);
    assert_eq!(got.created_at.to_string(), "2029-12-31T22:00:00.123456789Z");
    let touched = store.touch(id).await.unwrap();
    assert_eq!(touched.version, got.version, "touch leaves the version");
}

#[tokio::test]
async fn foreign_or_corrupt_values_are_backend_errors_for_that_id_only() {
    let server = RedisServer::single(&[]);
    let store = Store::open(options(&server, "app:")).await.unwrap();
    let good = store.create(user("u")).await.unwrap();
    let mut r = raw(&server).await;
    let not_json = "notJsonAtAll_0123456789abcdef";
    let wrong_type = "wrongTypeKey_0123456789abcdef";
    let other_id = "otherIdInside_0123456789abcdef";
    let () = r.set(format!("app:{not_json}"), "{{{").await.unwrap();
    let () = r.hset(format!("app:{wrong_type}"), "f", "v").await.unwrap();
    let () = r
        .set(format!("app:{other_id}"), good.to_wire())
        .await
        .unwrap();
    for id in [not_json, wrong_type, other_id] {
        let err = store.get(id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError, "{id}: {err}");
        assert_eq!(err.details()["session_id_hash"], omnisession::id::hash(id));
        assert!(!err.to_string().contains(id));
    }
    assert!(store.get(&good.id).await.unwrap().is_some());
    assert_eq!(
        store.count().await.unwrap(),
        1,
        "unreadable records are skipped by listings"
    );
    assert_eq!(store.list_by_user_id("u").await.unwrap().len(), 1);
}

#[tokio::test]
async fn glob_characters_in_the_prefix_are_escaped() {
    let server = RedisServer::single(&[]);
    let globby = Store::open(options(&server, "app[1]*:")).await.unwrap();
    let neighbour = Store::open(options(&server, "app1x:")).await.unwrap();
    globby.create(user("u")).await.unwrap();
    neighbour.create(user("u")).await.unwrap();
    neighbour.create(user("u")).await.unwrap();
    assert_eq!(globby.count().await.unwrap(), 1);
    assert_eq!(neighbour.count().await.unwrap(), 2);
    assert_eq!(globby.clear().await.unwrap(), 1);
    assert_eq!(neighbour.count().await.unwrap(), 2);
}

#[tokio::test]
async fn the_user_index_lives_as_long_as_its_newest_session_and_no_longer() {
    let server = RedisServer::single(&[]);
    let store = Store::open(options(&server, "ix:")).await.unwrap();
    let short = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Ttl(60_000)),
            ..user("u")
        })
        .await
        .unwrap();
    let long = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Ttl(3_600_000)),
            ..user("u")
        })
        .await
        .unwrap();
    let mut r = raw(&server).await;
    let keys: Vec<String> = r.keys("ix:~idx:*").await.unwrap();
    assert_eq!(keys.len(), 1);
    let at = expire_time(&mut r, &keys[0]).await;
    assert_eq!(at, long.expires_at.unwrap().unix_ms());
    store.delete(&long.id).await.unwrap();
    let at = expire_time(&mut r, &keys[0]).await;
    assert_eq!(at, short.expires_at.unwrap().unix_ms());
    store.delete(&short.id).await.unwrap();
    let exists: bool = r.exists(&keys[0]).await.unwrap();
    assert!(!exists, "an empty index is removed");
}

#[tokio::test]
async fn tls_with_a_private_ca_and_unix_sockets() {
    let tls = RedisServer::tls();
    let store = Store::open(options(&tls, "tls:")).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    assert!(store.get(&s.id).await.unwrap().is_some());
    let mut untrusted = options(&tls, "tls:");
    untrusted.backend = BackendConfig::Redis {
        urls: tls.urls.clone(),
        cluster: false,
        tls_ca: None,
        tls_client: None,
    };
    let err = Store::open(untrusted).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");

    let unix = RedisServer::unix_socket();
    let store = Store::open(options(&unix, "sock:")).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    assert!(store.get(&s.id).await.unwrap().is_some());
}

/// The option a `CONFIG_INVALID` names.
fn option_of(e: &omnisession::Error) -> Option<&str> {
    e.details()
        .get("option")
        .and_then(serde_json::Value::as_str)
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate_and_never_shows_its_key() {
    let (server, cert, key) = RedisServer::mutual_tls();
    let with = |tls_client| {
        let mut o = options(&server, "mtls:");
        o.backend = BackendConfig::Redis {
            urls: server.urls.clone(),
            cluster: false,
            tls_ca: server.ca.clone(),
            tls_client,
        };
        o
    };
    let client = ClientCertificate {
        cert: cert.clone(),
        key: key.clone(),
    };
    let store = Store::open(with(Some(client.clone()))).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    assert!(store.get(&s.id).await.unwrap().is_some());
    let shown = format!("{:?}", with(Some(client.clone())));
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(!shown.contains(pem.lines().nth(1).unwrap()), "{shown}");

    let err = Store::open(with(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");

    // A certificate for a connection without TLS, or half of one, is a mistake to report.
    let plain = |extra: &[(&str, &str)]| {
        let mut map = serde_json::Map::new();
        map.insert("backend".into(), "redis".into());
        map.insert("url".into(), "redis://127.0.0.1:6379".into());
        for (k, v) in extra {
            map.insert((*k).into(), (*v).into());
        }
        Options::from_json(&map).unwrap_err()
    };
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let e = plain(&[("tls_cert", cert), ("tls_key", key)]);
    assert_eq!(option_of(&e), Some("tls_cert"), "{e}");
    let e = plain(&[("tls_cert", cert)]);
    assert_eq!(option_of(&e), Some("tls_key"), "{e}");
    let mut unreadable = with(Some(ClientCertificate {
        cert: server.ca.clone().unwrap(),
        key: "/nonexistent/client.key".into(),
    }));
    unreadable.key_prefix = "mtls:".into();
    let e = Store::open(unreadable).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
    assert_eq!(option_of(&e), Some("tls_key"), "{e}");
}

#[tokio::test]
async fn an_acl_user_connects_and_its_password_is_never_shown() {
    let secret = "acl-s3cret-pw";
    let server = RedisServer::single(&[
        "--user",
        "app",
        "on",
        &format!(">{secret}"),
        "~*",
        "&*",
        "+@all",
        // Without credentials a client is the default user, who may only PING (what the
        // test harness asks to know the server is up).
        "--user",
        "default",
        "on",
        "nopass",
        "resetchannels",
        "-@all",
        "+ping",
    ]);
    let port = server.urls[0].rsplit(':').next().unwrap().to_owned();
    let at = |auth: &str| {
        let mut o = options(&server, "acl:");
        o.backend = BackendConfig::Redis {
            urls: vec![format!("redis://{auth}127.0.0.1:{port}")],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        };
        o
    };
    let store = Store::open(at(&format!("app:{secret}@"))).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    assert!(store.get(&s.id).await.unwrap().is_some());
    assert!(!format!("{:?}", at(&format!("app:{secret}@"))).contains(secret));
    // A user the server does not let run what a store runs: refused at the first operation.
    let unprivileged = Store::open(at("")).await.unwrap();
    let e = unprivileged.create(user("u")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
    for auth in [format!("app:{secret}x@"), format!("nobody:{secret}@")] {
        let e = Store::open(at(&auth)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{auth}: {e}");
        assert_eq!(
            e.details()
                .get("option")
                .and_then(serde_json::Value::as_str),
            Some("url"),
            "{e}"
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn an_absent_server_is_backend_unavailable_quickly() {
    let server = RedisServer::single(&[]);
    let mut gone = options(&server, "x:");
    drop(server);
    gone.key_prefix = "x:".into();
    let started = Instant::now();
    let err = Store::open(gone).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

async fn limit_holds_under_races(server: &RedisServer, rounds: usize) {
    let store = Store::open(Options {
        max_sessions_per_user: 5,
        ..options(server, "race:")
    })
    .await
    .unwrap();
    for round in 0..rounds {
        let user_id = format!("racer{round}");
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                let u = user(&user_id);
                tokio::spawn(async move { store.create(u).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let live = store.list_by_user_id(&user_id).await.unwrap();
        assert_eq!(live.len(), 5, "round {round}: {} live sessions", live.len());
    }
    assert_eq!(
        store.count().await.unwrap(),
        (5 * rounds) as u64,
        "no evicted session survives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_never_exceed_the_limit_single_node() {
    let server = RedisServer::single(&[]);
    limit_holds_under_races(&server, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_never_exceed_the_limit_cluster() {
    let server = RedisServer::cluster();
    limit_holds_under_races(&server, 200).await;
}

/// The cluster slot Redis itself gives `key`.
async fn keyslot(r: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(r)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_cluster_rotation_stays_in_its_slot_and_keeps_the_key_layout() {
    let server = RedisServer::cluster();
    let mut node = raw(&server).await;
    let mut c = redis::cluster::ClusterClient::new(server.urls.clone())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    // Without a hash tag the slot depends on the id; with one, on the prefix only.
    for prefix in ["session:", "{app}:s:", "a{b:"] {
        let store = Store::open(options(&server, prefix)).await.unwrap();
        let first = store.create(user("rita")).await.unwrap();
        let slot = keyslot(&mut node, &format!("{prefix}{}", first.id)).await;
        let mut old = first.clone();
        for _ in 0..20 {
            let new = store.rotate(&old.id).await.unwrap();
            let key = format!("{prefix}{}", new.id);
            assert_eq!(keyslot(&mut node, &key).await, slot, "{prefix}");
            assert_eq!(new.id.len(), 43);
            assert!(omnisession::id::is_well_formed(&new.id));
            assert_ne!(new.id, old.id);
            let wire: String = c.get(&key).await.unwrap();
            assert_eq!(wire, new.to_wire());
            let at = expire_time(&mut c, &key).await;
            assert_eq!(at, new.expires_at.unwrap().unix_ms());
            let gone: bool = c.exists(format!("{prefix}{}", old.id)).await.unwrap();
            assert!(!gone, "{prefix}: the old record is gone");
            let tomb: bool = c.exists(format!("{prefix}~tomb:{}", old.id)).await.unwrap();
            assert!(tomb, "{prefix}: the old id is tombstoned");
            assert_eq!(store.get(&old.id).await.unwrap(), None);
            assert_eq!(
                store.list_by_user_id("rita").await.unwrap(),
                vec![new.clone()]
            );
            old = new;
        }
        assert_eq!((old.data, old.created_at), (first.data, first.created_at));
        let indexes: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}~idx:*"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(indexes.len(), 1, "{prefix}");
        let index: std::collections::HashMap<String, String> =
            c.hgetall(&indexes[0]).await.unwrap();
        let members: Vec<&String> = index.keys().filter(|k| !k.starts_with('~')).collect();
        assert_eq!(
            members,
            vec![&old.id],
            "{prefix}: only the last id is indexed"
        );
        store.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_rotation_racing_creates_of_its_user_stays_indexed() {
    let server = RedisServer::cluster();
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        max_sessions_per_user: 10_000,
        clock: clock.clone(),
        ..options(&server, "rix:")
    })
    .await
    .unwrap();
    let mut id = store.create(user("ann")).await.unwrap().id;
    // Older than the grace after which an admission takes a member without a record for gone
    // (the rotated id's member has no record until the record moves).
    clock.advance(11_000);
    for round in 0..40 {
        let creates: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.create(user("ann")).await })
            })
            .collect();
        id = store.rotate(&id).await.unwrap().id;
        for c in creates {
            c.await.unwrap().unwrap();
        }
        let listed = store.list_by_user_id("ann").await.unwrap();
        assert!(
            listed.iter().any(|s| s.id == id),
            "round {round}: the rotated session fell out of its user's index"
        );
        assert_eq!(listed.len(), 1 + 4 * (round + 1), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_server_gives_typed_errors_and_loses_nothing_acknowledged() {
    let mut server = RedisServer::single(&["--appendonly", "yes", "--appendfsync", "always"]);
    let store = Store::open(options(&server, "crash:")).await.unwrap();
    // Eight workers create and read without pause while the server dies and comes back.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    match store.create(user("u")).await {
                        Ok(s) => match store.get(&s.id).await {
                            Ok(found) => {
                                assert!(
                                    found.is_some(),
                                    "a session vanished right after its create"
                                );
                                acknowledged.push(s.id);
                            }
                            Err(e) => {
                                acknowledged.push(s.id);
                                failures.push(e.kind());
                            }
                        },
                        Err(e) => failures.push(e.kind()),
                    }
                }
                (acknowledged, failures)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let restarted = Instant::now();
    loop {
        match store.create(user("u")).await {
            Ok(_) => break,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
                assert!(
                    restarted.elapsed() < Duration::from_secs(1),
                    "not serving 1 s after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    println!("serving again {:?} after the restart", restarted.elapsed());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut acknowledged, mut failures) = (Vec::new(), Vec::new());
    for w in workers {
        let (a, f) = w.await.unwrap();
        acknowledged.extend(a);
        failures.extend(f);
    }
    assert!(
        !failures.is_empty(),
        "the kill was not noticed: the test did not test anything"
    );
    assert!(
        failures.iter().all(|k| *k == ErrorKind::BackendUnavailable),
        "untyped failures: {failures:?}"
    );
    for id in &acknowledged {
        assert!(
            store.get(id).await.unwrap().is_some(),
            "an acknowledged session was lost"
        );
    }
    println!(
        "{} acknowledged, {} typed failures",
        acknowledged.len(),
        failures.len()
    );
}

#[tokio::test]
async fn a_read_survives_one_dropped_connection() {
    let server = RedisServer::single(&[]);
    let store = Store::open(options(&server, "drop:")).await.unwrap();
    let created = store.create(user("u")).await.unwrap();
    let mut r = raw(&server).await;
    for round in 0..5 {
        // Drop every client connection but the one asking; the store's next read meets a dead
        // socket, reconnects and repeats the read once.
        let killed: i64 = redis::cmd("CLIENT")
            .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
            .query_async(&mut r)
            .await
            .unwrap();
        assert!(
            killed >= 1,
            "round {round}: no connection of the store was dropped"
        );
        let got = store.get(&created.id).await;
        assert_eq!(
            got.unwrap_or_else(|e| panic!("round {round}: {e}"))
                .map(|s| s.id),
            Some(created.id.clone()),
            "round {round}"
        );
    }
}

/// Two stores on one server stand for two app processes. Each write of `a` starts from the
/// record `a` last saw; `b` changes or removes it in between, and `a`'s write must see that.
async fn writes_start_from_the_server_record_not_a_remembered_one(server: &RedisServer) {
    use omnisession::{Lifetime, Patch, SessionUpdate};
    let clock = Arc::new(ManualClock::new(START_MS));
    let on_clock = || Options {
        clock: clock.clone(),
        ..options(server, "recent:")
    };
    let a = Store::open(on_clock()).await.unwrap();
    let b = Store::open(on_clock()).await.unwrap();
    let set = |k: &str, v: i64| Patch {
        set: [(k.to_owned(), json!(v))].into_iter().collect(),
        ..Patch::default()
    };
    let s = a.create(user("u-recent")).await.unwrap();
    assert_eq!(a.get(&s.id).await.unwrap().unwrap().version, 1);

    // `b` patches another key: `a`'s patch keeps it (a merge, never a lost update).
    b.patch(&s.id, set("from_b", 1)).await.unwrap();
    let merged = a.patch(&s.id, set("from_a", 2)).await.unwrap();
    assert_eq!(merged.data["from_b"], json!(1), "{:?}", merged.data);
    assert_eq!(merged.version, 3);

    // A version check is against the server's version, not the one `a` remembers.
    b.patch(&s.id, set("from_b", 3)).await.unwrap();
    let stale = SessionUpdate {
        id: s.id.clone(),
        version: Some(3),
        ..SessionUpdate::default()
    };
    let err = a.update(stale).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionConflict);

    // `b` extends a session that `a` remembers as ending sooner: `a` sees it live.
    let short = a
        .create(NewSession {
            expires: Some(Lifetime::Ttl(50)),
            ..user("u-recent")
        })
        .await
        .unwrap();
    b.touch_with(&short.id, Lifetime::Ttl(3_600_000))
        .await
        .unwrap();
    clock.advance(100);
    a.touch(&short.id).await.unwrap();

    // `b` deletes it: `a`'s write finds nothing, and no write brings it back.
    b.delete(&s.id).await.unwrap();
    let err = a.patch(&s.id, set("late", 4)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionNotFound);
    assert!(b.get(&s.id).await.unwrap().is_none());
    let err = a.touch(&s.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionNotFound);
    assert!(a.get(&s.id).await.unwrap().is_none());
}

#[tokio::test]
async fn writes_start_from_the_server_record_single_node() {
    writes_start_from_the_server_record_not_a_remembered_one(&RedisServer::single(&[])).await;
}

#[tokio::test]
async fn writes_start_from_the_server_record_cluster() {
    writes_start_from_the_server_record_not_a_remembered_one(&RedisServer::cluster()).await;
}

#[tokio::test]
async fn a_write_in_place_leaves_exactly_the_record_and_expiry_a_whole_write_would() {
    use omnisession::Patch;
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        idle_timeout_ms: 600_000,
        ..options(&server, "inplace:")
    })
    .await
    .unwrap();
    let mut r = raw(&server).await;
    let mut new = user("u-inplace");
    new.data.insert("blob".into(), json!("x".repeat(1024)));
    let s = store.create(new).await.unwrap();
    let set = |v: serde_json::Value| Patch {
        set: [("n".to_owned(), v)].into_iter().collect(),
        ..Patch::default()
    };
    // A touch (two timestamps of the same length move: written in place), a patch of the
    // same length, and one that changes the length (a whole write).
    let idx: String = redis::cmd("KEYS")
        .arg("inplace:~idx:*")
        .query_async::<Vec<String>>(&mut r)
        .await
        .unwrap()
        .remove(0);
    for step in 0..5 {
        clock.advance(1_234);
        let session = match step {
            1 => store.patch(&s.id, set(json!(1))).await,
            2 => store.patch(&s.id, set(json!(2))).await,
            3 => store.patch(&s.id, set(json!("longer value"))).await,
            _ => store.touch(&s.id).await,
        }
        .unwrap();
        let key = format!("inplace:{}", session.id);
        let wire: String = r.get(&key).await.unwrap();
        let at = expire_time(&mut r, &key).await;
        assert_eq!(wire, session.to_wire(), "step {step}");
        assert_eq!(
            at,
            session.last_accessed_at.unix_ms() + 600_000,
            "step {step}"
        );
        let member: String = r.hget(&idx, &s.id).await.unwrap();
        assert!(
            member.ends_with(&format!(" {at}")),
            "step {step}: {member} vs {at}"
        );
    }
    // At least one of those writes went in place (the others were whole writes).
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut r)
        .await
        .unwrap();
    assert!(stats.contains("cmdstat_setrange:calls="), "{stats}");
}

#[tokio::test]
async fn a_write_under_a_fixed_lifetime_keeps_the_expiry_and_a_lost_index_is_rebuilt() {
    use omnisession::Patch;
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        clock: clock.clone(),
        ..options(&server, "fixed:")
    })
    .await
    .unwrap();
    let mut r = raw(&server).await;
    let mut new = user("u-fixed");
    new.data.insert("blob".into(), json!("x".repeat(1024)));
    let s = store.create(new).await.unwrap();
    let key = format!("fixed:{}", s.id);
    let at = s.expires_at.unwrap().unix_ms();
    assert_eq!(expire_time(&mut r, &key).await, at);
    let idx: String = redis::cmd("KEYS")
        .arg("fixed:~idx:*")
        .query_async::<Vec<String>>(&mut r)
        .await
        .unwrap()
        .remove(0);
    let set = |n: i64| Patch {
        set: [("n".to_owned(), json!(n))].into_iter().collect(),
        ..Patch::default()
    };
    for n in 0..3 {
        clock.advance(1_000);
        let patched = store.patch(&s.id, set(n)).await.unwrap();
        let stored: String = r.get(&key).await.unwrap();
        assert_eq!(stored, patched.to_wire());
        assert_eq!(
            expire_time(&mut r, &key).await,
            at,
            "the key's expiry stays"
        );
        assert_eq!(
            expire_time(&mut r, &idx).await,
            at,
            "the index's expiry stays"
        );
    }
    // The index lost behind the store's back: the next write puts the session back in it,
    // with the index's expiry.
    let _: () = r.del(&idx).await.unwrap();
    store.patch(&s.id, set(9)).await.unwrap();
    let member: Option<String> = r.hget(&idx, &s.id).await.unwrap();
    assert!(member.is_some_and(|m| m.ends_with(&format!(" {at}"))));
    assert_eq!(expire_time(&mut r, &idx).await, at);
    assert_eq!(store.list_by_user_id("u-fixed").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_replicas_acknowledges_only_what_replicas_hold() {
    let durable = |server: &RedisServer, prefix: &str| Options {
        wait_replicas: 1,
        // Every step of a cluster login waits; on a busy machine a replica can take more
        // than 200 ms to acknowledge one.
        wait_timeout_ms: 1000,
        max_sessions_per_user: 2,
        ..options(server, prefix)
    };
    // Replicas on every shard: logins, rotations, evictions and logouts are acknowledged.
    let replicated = RedisServer::cluster_with_replicas();
    let store = Store::open(durable(&replicated, "wait:")).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(store.create(user("u")).await.unwrap().id);
    }
    assert_eq!(
        store.list_by_user_id("u").await.unwrap().len(),
        2,
        "one evicted"
    );
    let rotated = store.rotate(&ids[2]).await.unwrap();
    store.delete(&rotated.id).await.unwrap();
    assert!(store.get(&rotated.id).await.unwrap().is_none());

    // No replica to hold them: the write is on the master, and the caller is told it is not
    // yet safe. Reads and patches do not wait.
    for bare in [RedisServer::single(&[]), RedisServer::cluster()] {
        let store = Store::open(durable(&bare, "wait:")).await.unwrap();
        let e = store.create(user("u")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
        assert!(e.to_string().contains("0 of 1 replicas"), "{e}");
        let mut plain = options(&bare, "wait:");
        plain.max_sessions_per_user = 2;
        let s = Store::open(plain)
            .await
            .unwrap()
            .create(user("v"))
            .await
            .unwrap();
        let mut set = serde_json::Map::new();
        set.insert("k".into(), 1.into());
        let patch = omnisession::Patch {
            set,
            ..Default::default()
        };
        store.patch(&s.id, patch).await.unwrap();
        assert!(store.get(&s.id).await.unwrap().is_some());
    }
}

/// A write waiting for its replicas when its master is demoted (a coordinated `FAILOVER`):
/// `BACKEND_UNAVAILABLE` at once, as any write whose fate a failover decides, never
/// `BACKEND_ERROR` and never a wait to the end of `wait_timeout`. A standalone master closes
/// its clients' connections; a cluster master answers the `WAIT` `UNBLOCKED` (seen in the
/// manual-failover runs), which `client.rs` maps the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_cut_short_by_a_failover_is_unavailable() {
    let master = RedisServer::single(&[]);
    let port = master.port(0).to_string();
    let replica = RedisServer::single(&["--replicaof", "127.0.0.1", &port]);
    redis_server::wait_for("the replica in sync", || {
        redis_server::redis_cli(&["-p", &port, "INFO", "replication"]).contains("state=online")
    });
    let store = Store::open(Options {
        wait_replicas: 2,
        wait_timeout_ms: 2500,
        ..options(&master, "unblocked:")
    })
    .await
    .unwrap();
    let replica_port = replica.port(0).to_string();
    let failover = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(300));
        redis_server::redis_cli(&["-p", &port, "FAILOVER", "TO", "127.0.0.1", &replica_port])
    });
    let started = Instant::now();
    let e = store.create(user("u")).await.unwrap_err();
    assert_eq!(failover.await.unwrap().trim(), "OK");
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not cut short: {e}"
    );
}

/// A listing walked page by page while sessions come and go between pages: every session that
/// lived through the whole walk is listed exactly once. A page ends inside a `SCAN` batch (the
/// keyspace is one batch here), and the next page scans that batch again: it must resume after
/// what it returned, not at a position that the removals and additions have moved.
async fn a_listing_misses_nothing_while_sessions_come_and_go(server: &RedisServer) {
    let store = Store::open(options(server, "walk:")).await.unwrap();
    let mut survivors = std::collections::BTreeSet::new();
    let mut doomed = Vec::new();
    for i in 0..60 {
        let s = store.create(user(&format!("u-walk-{i}"))).await.unwrap();
        if i % 3 == 0 {
            doomed.push(s.id);
        } else {
            survivors.insert(s.id);
        }
    }
    let (mut cursor, mut seen, mut pages) = (None, Vec::new(), 0);
    loop {
        let page = store.list(cursor.as_deref(), Some(7)).await.unwrap();
        assert!(page.sessions.len() <= 7);
        seen.extend(page.sessions.into_iter().map(|s| s.id));
        pages += 1;
        // Between pages: one session ends, another begins (neither is a survivor).
        if let Some(id) = doomed.pop() {
            store.delete(&id).await.unwrap();
        }
        store
            .create(user(&format!("u-walk-new-{pages}")))
            .await
            .unwrap();
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 100, "the walk does not end");
    }
    let mut counts = std::collections::BTreeMap::new();
    for id in &seen {
        *counts.entry(id.as_str()).or_insert(0) += 1;
    }
    let missed: Vec<_> = survivors
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        missed.is_empty(),
        "{} of {} survivors never listed",
        missed.len(),
        survivors.len()
    );
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "listed more than once: {twice:?}");
}

#[tokio::test]
async fn a_listing_misses_nothing_while_sessions_come_and_go_single_node() {
    a_listing_misses_nothing_while_sessions_come_and_go(&RedisServer::single(&[])).await;
}

#[tokio::test]
async fn a_listing_misses_nothing_while_sessions_come_and_go_cluster() {
    a_listing_misses_nothing_while_sessions_come_and_go(&RedisServer::cluster()).await;
}
