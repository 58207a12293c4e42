//! Races that the controls must win on every backend: over-admission under concurrent creates,
//! and lost updates under concurrent patches. Two `Store`s share each backend (two connections
//! to one SQLite file, two handles on one directory, one shared memory backend).

#[path = "support/map_storage.rs"]
mod map_storage;
#[path = "support/redis.rs"]
mod redis_server;

use omnisession::backend::custom::CustomBackend;
use omnisession::backend::memory::MemoryBackend;
use omnisession::{BackendConfig, ErrorKind, EvictionPolicy, NewSession, Options, Patch, Store};
use serde_json::{Map, json};
use std::sync::Arc;

async fn two_stores(
    backend: BackendConfig,
    prefix: &str,
    limit: usize,
    policy: EvictionPolicy,
) -> (Store, Store) {
    let options = || Options {
        backend: backend.clone(),
        key_prefix: prefix.to_owned(),
        max_sessions_per_user: limit,
        eviction_policy: policy,
        cleanup_interval_ms: 0,
        ..Options::default()
    };
    (
        Store::open(options()).await.unwrap(),
        Store::open(options()).await.unwrap(),
    )
}

/// One Redis node and one Redis Cluster for the whole file, started on first use.
static SINGLE: std::sync::LazyLock<redis_server::RedisServer> =
    std::sync::LazyLock::new(|| redis_server::RedisServer::single(&[]));
static CLUSTER: std::sync::LazyLock<redis_server::RedisServer> =
    std::sync::LazyLock::new(redis_server::RedisServer::cluster);

/// Every backend; Redis ones get a key prefix of their own per test.
fn backends(dir: &std::path::Path) -> Vec<(&'static str, BackendConfig, String)> {
    let prefix = format!("race-{}:", dir.file_name().unwrap().to_string_lossy());
    let redis = |server: &redis_server::RedisServer, cluster| BackendConfig::Redis {
        urls: server.urls.clone(),
        cluster,
        tls_ca: None,
        tls_client: None,
    };
    let custom = CustomBackend::new(map_storage::MapStorage::full(), Options::default().expiry());
    vec![
        (
            "memory",
            BackendConfig::Custom(Arc::new(MemoryBackend::new())),
            prefix.clone(),
        ),
        (
            "custom",
            BackendConfig::Custom(Arc::new(custom)),
            prefix.clone(),
        ),
        (
            "sqlite",
            BackendConfig::Sqlite {
                path: dir.join("race.db"),
            },
            prefix.clone(),
        ),
        (
            "file",
            BackendConfig::File {
                path: dir.join("race-files"),
            },
            prefix.clone(),
        ),
        ("redis", redis(&SINGLE, false), prefix.clone()),
        ("redis cluster", redis(&CLUSTER, true), prefix),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_never_exceed_the_per_user_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, prefix) in backends(dir.path()) {
        let (a, b) = two_stores(backend, &prefix, 5, EvictionPolicy::Oldest).await;
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    store
                        .create(NewSession {
                            user_id: Some("racer".into()),
                            ..Default::default()
                        })
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: create failed: {e}"));
            ok += 1;
        }
        assert_eq!(ok, 50, "{name}");
        let live = a.list_by_user_id("racer").await.unwrap();
        assert_eq!(live.len(), 5, "{name}: {} live sessions", live.len());
        assert_eq!(a.count().await.unwrap(), 5, "{name}");
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_concurrent_creates_under_reject_admit_exactly_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, prefix) in backends(dir.path()) {
        let (a, b) = two_stores(backend, &prefix, 5, EvictionPolicy::Reject).await;
        let tasks: Vec<_> = (0..30)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    store
                        .create(NewSession {
                            user_id: Some("racer".into()),
                            ..Default::default()
                        })
                        .await
                })
            })
            .collect();
        let (mut ok, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::SessionLimitExceeded, "{name}: {e}");
                    refused += 1;
                }
            }
        }
        assert_eq!((ok, refused), (5, 25), "{name}");
        assert_eq!(b.list_by_user_id("racer").await.unwrap().len(), 5, "{name}");
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_patches_of_different_keys_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, prefix) in backends(dir.path()) {
        let (a, b) = two_stores(backend, &prefix, 0, EvictionPolicy::Oldest).await;
        let s = a
            .create(NewSession {
                user_id: Some("u".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let id = s.id.clone();
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
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: patch failed: {e}"));
        }
        let got = b.get(&s.id).await.unwrap().unwrap();
        assert_eq!(
            got.data.len(),
            64,
            "{name}: keys {:?}",
            got.data.keys().collect::<Vec<_>>()
        );
        for i in 0..64 {
            assert_eq!(got.data[&format!("k{i}")], json!(i), "{name}");
        }
        assert_eq!(
            got.version, 65,
            "{name}: every patch bumps the version once"
        );
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_racing_a_delete_never_resurrects_the_session() {
    let dir = tempfile::tempdir().unwrap();
    for (name, backend, prefix) in backends(dir.path()) {
        let (a, b) = two_stores(backend, &prefix, 0, EvictionPolicy::Oldest).await;
        for round in 0..20 {
            let s = a
                .create(NewSession {
                    user_id: Some("u".into()),
                    ..Default::default()
                })
                .await
                .unwrap();
            let id = s.id.clone();
            let patcher = {
                let b = b.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    let mut set = Map::new();
                    set.insert("late".into(), json!(true));
                    b.patch(
                        &id,
                        Patch {
                            set,
                            ..Default::default()
                        },
                    )
                    .await
                })
            };
            a.delete(&id).await.unwrap();
            let _ = patcher.await.unwrap();
            assert!(
                a.get(&id).await.unwrap().is_none(),
                "{name}: round {round}: deleted session came back"
            );
        }
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
}
