//! `omnistorage_compat` on Redis, one node and a cluster, with Go's writes simulated byte for
//! byte (the real Go library runs in `interop_go.rs`): omnisession keeps omnistorage-core's
//! `{prefix}user:{uuid}` index in step with its own, reads the sessions only Go's index holds,
//! refuses ids Go cannot read, and never serves what its own expiry rules say is over.

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::{
    BackendConfig, ErrorKind, EvictionPolicy, ManualClock, NewSession, Options, Patch,
    SessionUpdate, Store,
};
use redis_server::RedisServer;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// 2030-01-01: a clock ahead of the server's, so nothing expires behind a test's back.
const START_MS: i64 = 1_893_456_000_000;
const ALICE: &str = "550e8400-e29b-41d4-a716-446655440000";
const NIL: &str = "00000000-0000-0000-0000-000000000000";

fn options(server: &RedisServer, clock: &Arc<ManualClock>) -> Options {
    Options {
        backend: BackendConfig::Redis {
            urls: server.urls.clone(),
            cluster: server.urls.len() > 1,
            tls_ca: None,
            tls_client: None,
        },
        cleanup_interval_ms: 0,
        omnistorage_compat: true,
        clock: clock.clone(),
        ..Options::default()
    }
}

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

/// Plain Redis commands on either topology.
async fn cmd<T: redis::FromRedisValue>(server: &RedisServer, c: &redis::Cmd) -> T {
    if server.urls.len() > 1 {
        let mut conn = redis::cluster::ClusterClient::new(server.urls.clone())
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        c.query_async(&mut conn).await.unwrap()
    } else {
        let mut conn = redis::Client::open(server.urls[0].as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        c.query_async(&mut conn).await.unwrap()
    }
}

async fn get(server: &RedisServer, key: &str) -> Option<String> {
    cmd(server, redis::cmd("GET").arg(key)).await
}

/// Go's index of a user, as its `getUserSessionIDs` reads it.
async fn go_index(server: &RedisServer, user: &str) -> Vec<String> {
    match get(server, &format!("session:user:{user}")).await {
        Some(raw) => serde_json::from_str(&raw).expect("Go's index is a JSON array of ids"),
        None => Vec::new(),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn rfc3339(ms: i64) -> String {
    omnisession::Timestamp::from_unix_ms(ms).to_string()
}

/// What omnistorage-core's `Create` does for a session of `user`: SET the record (no
/// `version`), then append the id to `{prefix}user:{user}`.
async fn go_create(server: &RedisServer, id: &str, user: &str, at_ms: i64) {
    let t = rfc3339(at_ms);
    let record = format!(
        r#"{{"id":"{id}","user_id":"{user}","data":{{"from":"go"}},"created_at":"{t}","updated_at":"{t}","last_accessed_at":"{t}","expires_at":"{}"}}"#,
        rfc3339(at_ms + 3_600_000)
    );
    let () = cmd(
        server,
        redis::cmd("SET").arg(format!("session:{id}")).arg(record),
    )
    .await;
    let mut ids = go_index(server, user).await;
    ids.push(id.to_owned());
    let () = cmd(
        server,
        redis::cmd("SET")
            .arg(format!("session:user:{user}"))
            .arg(serde_json::to_string(&ids).unwrap()),
    )
    .await;
}

/// What omnistorage-core's `Update` does to a record it read: drops `version` (its struct has
/// none), sets `updated_at` to now, and SETs it with its own TTL.
async fn go_update(server: &RedisServer, id: &str, at_ms: i64, ttl_ms: u64) {
    let raw = get(server, &format!("session:{id}")).await.unwrap();
    let mut v: Map<String, Value> = serde_json::from_str(&raw).unwrap();
    v.remove("version");
    v.insert("updated_at".into(), json!(rfc3339(at_ms)));
    let mut c = redis::cmd("SET");
    c.arg(format!("session:{id}"))
        .arg(serde_json::to_string(&v).unwrap());
    if ttl_ms > 0 {
        c.arg("PX").arg(ttl_ms);
    }
    let () = cmd(server, &c).await;
}

async fn index_follows_every_write(server: &RedisServer) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        max_sessions_per_user: 3,
        ..options(server, &clock)
    })
    .await
    .unwrap();
    let a = store.create(user(ALICE)).await.unwrap();
    let b = store.create(user(ALICE)).await.unwrap();
    assert_eq!(
        go_index(server, ALICE).await,
        vec![a.id.clone(), b.id.clone()]
    );
    let ttl: i64 = cmd(
        server,
        redis::cmd("PEXPIRETIME").arg(format!("session:user:{ALICE}")),
    )
    .await;
    assert_eq!(
        ttl,
        b.expires_at.unwrap().unix_ms() + 3_600_000,
        "an hour past the newest record, as Go sets it"
    );
    let rotated = store.rotate(&a.id).await.unwrap();
    assert_eq!(
        sorted(go_index(server, ALICE).await),
        sorted(vec![b.id.clone(), rotated.id.clone()])
    );
    store.delete(&b.id).await.unwrap();
    assert_eq!(go_index(server, ALICE).await, vec![rotated.id.clone()]);
    // The limit (3) evicts the oldest: it leaves Go's index in the same step.
    clock.advance(1);
    let third = store.create(user(ALICE)).await.unwrap();
    clock.advance(1);
    let fourth = store.create(user(ALICE)).await.unwrap();
    clock.advance(1);
    let fifth = store.create(user(ALICE)).await.unwrap();
    assert_eq!(
        sorted(go_index(server, ALICE).await),
        sorted(vec![third.id.clone(), fourth.id.clone(), fifth.id.clone()])
    );
    assert_eq!(store.delete_by_user_id(ALICE).await.unwrap(), 3);
    assert_eq!(get(server, &format!("session:user:{ALICE}")).await, None);
}

#[tokio::test]
async fn go_index_follows_every_write_single() {
    index_follows_every_write(&RedisServer::single(&[])).await;
}

#[tokio::test]
async fn go_index_follows_every_write_cluster() {
    index_follows_every_write(&RedisServer::cluster()).await;
}

async fn go_only_sessions_are_listed_counted_and_revoked(server: &RedisServer) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        max_sessions_per_user: 3,
        eviction_policy: EvictionPolicy::Reject,
        ..options(server, &clock)
    })
    .await
    .unwrap();
    let go_a = "goCreatedSessionA_0123456789abcdefABCDEFGH";
    let go_b = "goCreatedSessionB_0123456789abcdefABCDEFGH";
    go_create(server, go_a, ALICE, START_MS - 2).await;
    go_create(server, go_b, ALICE, START_MS - 1).await;
    let ours = store.create(user(ALICE)).await.unwrap();
    let listed: Vec<String> = store
        .list_by_user_id(ALICE)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        vec![go_a.to_owned(), go_b.to_owned(), ours.id.clone()]
    );
    // Two from Go and one of ours fill a limit of 3.
    let err = store.create(user(ALICE)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionLimitExceeded);
    assert_eq!(store.delete_by_user_id(ALICE).await.unwrap(), 3);
    assert_eq!(get(server, &format!("session:{go_a}")).await, None);
    assert_eq!(go_index(server, ALICE).await, Vec::<String>::new());
    // Revoked from here, a Go id is tombstoned like ours: it cannot come back.
    let again = store
        .create(NewSession {
            id: Some(go_a.into()),
            ..user(ALICE)
        })
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::SessionConflict);
}

#[tokio::test]
async fn go_only_sessions_are_listed_counted_and_revoked_single() {
    go_only_sessions_are_listed_counted_and_revoked(&RedisServer::single(&[])).await;
}

#[tokio::test]
async fn go_only_sessions_are_listed_counted_and_revoked_cluster() {
    go_only_sessions_are_listed_counted_and_revoked(&RedisServer::cluster()).await;
}

#[tokio::test]
async fn a_go_delete_frees_its_place_under_the_limit() {
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        max_sessions_per_user: 2,
        eviction_policy: EvictionPolicy::Reject,
        ..options(&server, &clock)
    })
    .await
    .unwrap();
    let a = store.create(user(ALICE)).await.unwrap();
    store.create(user(ALICE)).await.unwrap();
    // Go's Delete: DEL the record, rewrite its index; our index still names the id.
    let () = cmd(&server, redis::cmd("DEL").arg(format!("session:{}", a.id))).await;
    store
        .create(user(ALICE))
        .await
        .expect("a session Go deleted no longer counts");
}

#[tokio::test]
async fn ids_go_cannot_read_are_refused_and_anonymous_sessions_use_the_nil_uuid() {
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        allow_anonymous: true,
        ..options(&server, &clock)
    })
    .await
    .unwrap();
    for bad in ["alice", "550E8400-E29B-41D4-A716-446655440000", NIL] {
        let err = store.create(user(bad)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SessionInvalid, "{bad}");
        assert!(err.message().contains("omnistorage_compat"), "{err}");
    }
    let err = store
        .create(NewSession {
            organization_id: Some("acme".into()),
            ..user(ALICE)
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("organization id"), "{err}");
    let anon = store.create(NewSession::default()).await.unwrap();
    assert_eq!(anon.user_id, None);
    let raw = get(&server, &format!("session:{}", anon.id)).await.unwrap();
    assert!(raw.contains(&format!(r#""user_id":"{NIL}""#)), "{raw}");
    assert_eq!(store.get(&anon.id).await.unwrap().unwrap().user_id, None);
    let err = store
        .patch(
            &anon.id,
            Patch {
                user_id: Some("alice".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionInvalid);
    let logged_in = store
        .patch(
            &anon.id,
            Patch {
                user_id: Some(ALICE.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(go_index(&server, ALICE).await, vec![logged_in.id]);
}

#[test]
fn the_option_is_named_and_refused_where_go_cannot_share() {
    let parse = |v: Value| Options::from_json(v.as_object().unwrap());
    assert!(
        parse(json!({"omnistorage_compat": true}))
            .unwrap()
            .omnistorage_compat
    );
    assert!(
        !parse(json!({})).unwrap().omnistorage_compat,
        "off by default"
    );
    for bad in [
        json!({"omnistorage_compat": "yes"}),
        json!({"omnistorage_compat": true, "backend": "sqlite", "path": "x.db"}),
        json!({"omnistorage_compat": true, "backend": "file", "path": "dir"}),
    ] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
        assert_eq!(err.details()["option"], "omnistorage_compat");
    }
}

/// The ABA of the issue: a Go write drops `version`, a patch then bumped 0 to 1, and a stale
/// `update(version = 1)` from before the Go write overwrote both. Runs without compat too:
/// versions never go back in any mode.
#[tokio::test]
async fn a_stale_version_never_passes_after_a_go_write() {
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    for compat in [false, true] {
        let store = Store::open(Options {
            omnistorage_compat: compat,
            ..options(&server, &clock)
        })
        .await
        .unwrap();
        let s = store.create(user(ALICE)).await.unwrap();
        assert_eq!(s.version, 1);
        go_update(&server, &s.id, START_MS + 5, 0).await;
        let after_go = store.get(&s.id).await.unwrap().unwrap();
        assert!(after_go.version > 1, "derived from updated_at, not 0");
        let mut set = Map::new();
        set.insert("theme".into(), json!("dark"));
        let patched = store
            .patch(
                &s.id,
                Patch {
                    set,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(patched.version, after_go.version + 1);
        let stale = store
            .update(SessionUpdate {
                id: s.id.clone(),
                version: Some(1),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::SessionConflict, "compat={compat}");
        let kept = store.get(&s.id).await.unwrap().unwrap();
        assert_eq!(kept.data["theme"], "dark");
    }
}

/// After a Go `Update` the key's TTL is Go's (24 h); omnisession's rules still end the session
/// at its idle timeout: not read, not listed, not counted, and swept.
#[tokio::test]
async fn a_go_ttl_never_outlives_our_expiry() {
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(Options {
        idle_timeout_ms: 2_000,
        ..options(&server, &clock)
    })
    .await
    .unwrap();
    let s = store.create(user(ALICE)).await.unwrap();
    go_update(&server, &s.id, START_MS, 24 * 3_600_000).await;
    clock.advance(3_000);
    assert_eq!(store.get(&s.id).await.unwrap(), None);
    let t = store.create(user(ALICE)).await.unwrap();
    go_update(&server, &t.id, START_MS + 3_000, 24 * 3_600_000).await;
    clock.advance(3_000);
    assert_eq!(store.count().await.unwrap(), 0);
    assert!(store.list(None, None).await.unwrap().sessions.is_empty());
    assert_eq!(store.list_by_user_id(ALICE).await.unwrap(), vec![]);
    assert_eq!(store.cleanup().await.unwrap(), 1);
    assert_eq!(get(&server, &format!("session:{}", t.id)).await, None);
}

/// Records a Go service may write with any valid `encoding/json` shape read correctly; a
/// value that is not a session is `BACKEND_ERROR` for its id only.
#[tokio::test]
async fn go_shapes_read_and_garbage_stays_with_its_id() {
    let server = RedisServer::single(&[]);
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = Store::open(options(&server, &clock)).await.unwrap();
    let id = "goShapedRecord_0123456789abcdefABCDEFGHIJK";
    // A zone offset, nanoseconds, no data, no site, no version, an organization.
    let record = format!(
        r#"{{"id":"{id}","user_id":"{ALICE}","organization_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","created_at":"2029-12-31T23:30:00.123456789-01:00","updated_at":"2030-01-01T00:30:00.5+00:30","last_accessed_at":"2030-01-01T00:00:00Z","expires_at":"2030-01-01T01:00:00Z"}}"#
    );
    let () = cmd(
        &server,
        redis::cmd("SET").arg(format!("session:{id}")).arg(record),
    )
    .await;
    let s = store.get(id).await.unwrap().unwrap();
    assert_eq!(s.created_at.to_string(), "2030-01-01T00:30:00.123456789Z");
    assert_eq!(s.updated_at.to_string(), "2030-01-01T00:00:00.5Z");
    assert!(s.data.is_empty());
    let junk = "notASessionAtAll_0123456789abcdefABCDEFGHI";
    let () = cmd(
        &server,
        redis::cmd("SET")
            .arg(format!("session:{junk}"))
            .arg(r#"{"hello":"world"}"#),
    )
    .await;
    let ids = serde_json::to_string(&[id, junk]).unwrap();
    let () = cmd(
        &server,
        redis::cmd("SET")
            .arg(format!("session:user:{ALICE}"))
            .arg(ids),
    )
    .await;
    assert_eq!(
        store.get(junk).await.unwrap_err().kind(),
        ErrorKind::BackendError
    );
    let listed = store.list_by_user_id(ALICE).await.unwrap();
    assert_eq!(listed.len(), 1, "the junk id is skipped, the session kept");
    assert_eq!(listed[0].id, id);
}
