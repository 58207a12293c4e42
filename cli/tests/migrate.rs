//! `migrate` between real backends: 10,000 sessions SQLite → Redis → SQLite with nothing lost
//! (ids, versions, timestamps, expiry, data, per-user index), run twice, and into a cluster.

#[path = "../../core/tests/support/redis.rs"]
mod redis_server;
mod support;

use omnisession::store::admin::{ADMIN_PAGE, Admin};
use omnisession::{Lifetime, NewSession, Session, Store};
use redis_server::RedisServer;
use serde_json::json;
use std::collections::BTreeMap;
use support::{admin, omnisession, store};

const SESSIONS: usize = 10_000;
const USERS: usize = 1_000;
const SITES: [&str; 2] = ["", "shop"];

/// Every stored session with its effective expiry, by id.
async fn everything(admin: &Admin) -> BTreeMap<String, (Session, Option<i64>)> {
    let mut all = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = admin.page(cursor.as_deref(), ADMIN_PAGE).await.unwrap();
        for e in page.entries {
            assert!(e.problem().is_none(), "{:?}", e.problem());
            let s = e.session().unwrap().clone();
            all.insert(s.id.clone(), (s, e.expires_ms()));
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return all;
        }
    }
}

/// Each user's `list_by_user_id` on each site, as ids.
async fn indexes(urls: &[String]) -> BTreeMap<(String, String), Vec<String>> {
    let mut out = BTreeMap::new();
    for site in SITES {
        let store = store(urls, site).await;
        for u in 0..USERS {
            let user = format!("user-{u}");
            let ids = store
                .list_by_user_id(&user)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect();
            out.insert((site.to_owned(), user), ids);
        }
        store.close().await.unwrap();
    }
    out
}

async fn seed(urls: &[String]) {
    let stores: Vec<Store> = futures(SITES.iter().map(|s| store(urls, s))).await;
    for i in 0..SESSIONS {
        let store = &stores[i % 2];
        let user = (i % 13 != 0).then(|| format!("user-{}", i % USERS));
        let expires = match i % 5 {
            0 => Lifetime::Never,
            1 => Lifetime::Ttl(600_000 + i as u64),
            _ => Lifetime::Ttl(86_400_000 * (1 + (i % 7) as u64)),
        };
        let s = store
            .create(NewSession {
                user_id: user,
                data: json!({"i": i, "cart": [i, "x"], "nested": {"ok": true}})
                    .as_object()
                    .unwrap()
                    .clone(),
                expires: Some(expires),
                ip_address: Some(format!("10.0.{}.{}", i % 256, i % 199)),
                user_agent: (i % 3 == 0).then(|| "curl/8".to_owned()),
                ..NewSession::default()
            })
            .await
            .unwrap();
        if i % 7 == 0 {
            support::bump(store, &s.id, 1 + i % 3).await;
        }
    }
    for s in stores {
        s.close().await.unwrap();
    }
}

async fn futures<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    for f in fs {
        out.push(f.await);
    }
    out
}

fn migrate(from: &str, to: &str) -> serde_json::Value {
    let run = omnisession(&["migrate", from, to, "--yes", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_redis_to_sqlite_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let first = format!("sqlite://{}", dir.path().join("first.db").display());
    let last = format!("sqlite://{}", dir.path().join("last.db").display());
    let server = RedisServer::single(&[]);
    let redis = server.urls[0].clone();
    seed(std::slice::from_ref(&first)).await;
    let source = admin(std::slice::from_ref(&first)).await;
    let original = everything(&source).await;
    source.close().await.unwrap();
    assert_eq!(original.len(), SESSIONS);
    let original_index = indexes(std::slice::from_ref(&first)).await;
    assert!(original_index.values().map(Vec::len).sum::<usize>() > SESSIONS / 2);

    let done = migrate(&first, &redis);
    assert_eq!(done["created"], SESSIONS, "{done}");
    assert_eq!(done["read"], SESSIONS, "{done}");
    // Run again: nothing is written twice.
    let again = migrate(&first, &redis);
    assert_eq!(again["unchanged"], SESSIONS, "{again}");
    assert_eq!(again["created"], 0, "{again}");
    let back = migrate(&redis, &last);
    assert_eq!(back["created"], SESSIONS, "{back}");

    for urls in [vec![redis.clone()], vec![last.clone()]] {
        let target = admin(&urls).await;
        let copied = everything(&target).await;
        target.close().await.unwrap();
        assert_eq!(copied.len(), original.len(), "{urls:?}");
        for (id, (session, expires)) in &original {
            let (got, got_expires) = &copied[id];
            assert_eq!(got, session, "{urls:?}");
            assert_eq!(got_expires, expires, "{urls:?}");
        }
        assert_eq!(indexes(&urls).await, original_index, "{urls:?}");
    }
    // The copy is a store like any other: a session moved on goes on.
    let shop = store(std::slice::from_ref(&last), "shop").await;
    let (id, _) = original
        .iter()
        .find(|(_, (s, _))| s.site_id == "shop" && s.user_id.is_some())
        .unwrap();
    shop.touch(id).await.unwrap();
    shop.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_a_cluster_and_back_never_undoing_the_targets_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = format!("file://{}", dir.path().join("sessions").display());
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let server = RedisServer::cluster();
    let seed = server.urls[0].clone();
    let main = store(std::slice::from_ref(&file), "").await;
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            support::create(&main, Some(&format!("u{}", i % 5)), 3_600_000)
                .await
                .id,
        );
    }
    main.close().await.unwrap();

    // One seed with --cluster (the local end ignores it).
    let run = omnisession(&["migrate", &file, &seed, "--cluster", "--yes", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["created"], 50, "{run:?}");

    // Written on the cluster since: one session moved on, one ended. A second run keeps both.
    let cluster = store(&server.urls, "").await;
    support::bump(&cluster, &ids[0], 1).await;
    cluster.delete(&ids[1]).await.unwrap();
    let run = omnisession(&["migrate", &file, &seed, "--cluster", "--yes", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["unchanged"], 48, "{doc}");
    assert_eq!(doc["kept_newer"], 1, "{doc}");
    assert_eq!(doc["ended_on_target"], 1, "{doc}");
    assert_eq!(cluster.get(&ids[0]).await.unwrap().unwrap().version, 2);
    assert!(cluster.get(&ids[1]).await.unwrap().is_none());
    for u in 0..5 {
        let n = cluster
            .list_by_user_id(&format!("u{u}"))
            .await
            .unwrap()
            .len();
        assert_eq!(n, if u == 1 { 9 } else { 10 }, "u{u}");
    }
    cluster.close().await.unwrap();

    let run = omnisession(&["migrate", &seed, &back, "--cluster", "--yes", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["created"], 49, "{run:?}");
    let sqlite = store(std::slice::from_ref(&back), "").await;
    assert_eq!(sqlite.get(&ids[0]).await.unwrap().unwrap().version, 2);
    sqlite.close().await.unwrap();
}

/// Turning ids hashed at rest on: SQLite with plain ids → Redis holding HMACs of them. Every
/// session answers to its id on the target, the Redis keys and values hold none of the ids, a
/// second run changes nothing, and the way back (hashed → plain) is refused before any write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_ids_to_ids_hashed_at_rest_and_never_back() {
    const KEY: &str = "a cli test server key of forty bytes....";
    support::secret(KEY);
    let dir = tempfile::tempdir().unwrap();
    let plain = format!("sqlite://{}", dir.path().join("plain.db").display());
    let back = format!("sqlite://{}", dir.path().join("back.db").display());
    let server = RedisServer::single(&[]);
    let redis = server.urls[0].clone();
    let source = store(std::slice::from_ref(&plain), "").await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(
            support::create(&source, Some(&format!("u{}", i % 4)), 3_600_000)
                .await
                .id,
        );
    }
    source.close().await.unwrap();

    let env = [("OMNISESSION_TO_ID_HASH_KEY", KEY)];
    let args = [
        "migrate",
        &plain,
        &redis,
        "--to-ids-at-rest",
        "hmac-sha256",
        "--yes",
        "--json",
    ];
    let run = support::omnisession_env(&args, &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["created"], 40, "{run:?}");
    let run = support::omnisession_env(&args, &env);
    assert_eq!(run.json()["unchanged"], 40, "{run:?}");

    let mut options = omnisession::store::admin::Target {
        urls: vec![redis.clone()],
        ids_at_rest: Some("hmac-sha256".into()),
        id_hash_key: Some(KEY.into()),
        ..Default::default()
    }
    .options(omnisession::store::admin::Presence::MustExist)
    .unwrap();
    options.allow_anonymous = false;
    let hashed = Store::open(options).await.unwrap();
    for id in &ids {
        assert_eq!(hashed.get(id).await.unwrap().unwrap().id, *id);
    }
    assert_eq!(hashed.list_by_user_id("u1").await.unwrap().len(), 10);
    let at_rest: Vec<String> = ids.iter().map(|id| hashed.id_at_rest(id)).collect();
    hashed.close().await.unwrap();
    let keys = redis_server::redis_cli(&["-u", &redis, "--scan"]);
    let mut dump = keys.clone();
    for key in keys.lines() {
        let read = match redis_server::redis_cli(&["-u", &redis, "TYPE", key]).trim() {
            "string" => vec!["GET", key],
            "hash" => vec!["HGETALL", key],
            "zset" => vec!["ZRANGE", key, "0", "-1", "WITHSCORES"],
            "set" => vec!["SMEMBERS", key],
            other => panic!("{key}: unexpected type {other}"),
        };
        let mut args = vec!["-u", redis.as_str()];
        args.extend(read);
        dump.push_str(&redis_server::redis_cli(&args));
    }
    assert!(keys.lines().count() >= 40, "{keys}");
    assert!(
        ids.iter().all(|id| !dump.contains(id.as_str())),
        "an id at rest"
    );
    // What is there instead (the dump reads what it should).
    assert!(at_rest.iter().all(|h| dump.contains(h.as_str())));

    // Back to plain ids: refused, nothing written.
    let run = support::omnisession_env(
        &[
            "migrate",
            &redis,
            &back,
            "--ids-at-rest",
            "hmac-sha256",
            "--to-ids-at-rest",
            "plain",
            "--yes",
        ],
        &[("OMNISESSION_ID_HASH_KEY", KEY)],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("CONFIG_INVALID"), "{run:?}");
    let run = omnisession(&["stats", "--url", &back, "--json"]);
    assert_eq!(run.json()["records"], 0, "{run:?}");
}
