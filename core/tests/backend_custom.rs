//! Custom backends (host storage with get/set/delete and optional listings): every control
//! still holds, missing methods are refused at open, host failures are typed.

#[path = "support/map_storage.rs"]
mod map_storage;

use map_storage::MapStorage;
use omnisession::backend::custom::{Capabilities, CustomBackend};
use omnisession::{BackendConfig, ErrorKind, NewSession, Options, Patch, Store};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

async fn open(storage: MapStorage, base: Options) -> (Store, Arc<CustomBackend<MapStorage>>) {
    let backend = Arc::new(CustomBackend::new(storage, base.expiry()));
    let store = Store::open(Options {
        backend: BackendConfig::Custom(backend.clone()),
        ..base
    })
    .await
    .unwrap();
    (store, backend)
}

#[tokio::test]
async fn a_limit_without_list_by_user_id_is_refused_at_open() {
    let base = Options {
        max_sessions_per_user: 3,
        ..Options::default()
    };
    let storage = MapStorage::default();
    let backend = Arc::new(CustomBackend::new(storage, base.expiry()));
    let err = Store::open(Options {
        backend: BackendConfig::Custom(backend),
        ..base
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConfigInvalid);
    assert_eq!(err.details()["option"], "max_sessions_per_user");
}

#[tokio::test]
async fn operations_needing_a_missing_method_say_which() {
    let (store, _) = open(MapStorage::default(), Options::default()).await;
    let s = store.create(user("u")).await.unwrap();
    assert!(store.get(&s.id).await.unwrap().is_some());
    for err in [
        store.count().await.unwrap_err(),
        store.list(None, None).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::ConfigInvalid, "{err}");
        assert!(err.message().contains("list"), "{err}");
    }
    let err = store.list_by_user_id("u").await.unwrap_err();
    assert!(err.message().contains("listByUserId"), "{err}");
}

#[tokio::test]
async fn a_failing_host_storage_is_a_backend_error_and_changes_nothing() {
    let (store, backend) = open(MapStorage::full(), Options::default()).await;
    let s = store.create(user("u")).await.unwrap();
    backend.storage().failing.store(true, Ordering::SeqCst);
    let mut set = serde_json::Map::new();
    set.insert("k".into(), json!(1));
    let err = store
        .patch(
            &s.id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendError);
    assert_eq!(
        store.create(user("u")).await.unwrap_err().kind(),
        ErrorKind::BackendError
    );
    backend.storage().failing.store(false, Ordering::SeqCst);
    let got = store.get(&s.id).await.unwrap().unwrap();
    assert!(got.data.is_empty());
    assert_eq!(got.version, 1);
}

#[tokio::test]
async fn an_unreadable_record_fails_alone_and_can_be_deleted() {
    let (store, backend) = open(MapStorage::full(), Options::default()).await;
    let good = store.create(user("u")).await.unwrap();
    let bad = "hostWroteGarbage_0123456789";
    backend.storage().put_raw(bad, "not a record");
    assert_eq!(
        store.get(bad).await.unwrap_err().kind(),
        ErrorKind::BackendError
    );
    assert!(store.get(&good.id).await.unwrap().is_some());
    store.delete(bad).await.unwrap();
    assert_eq!(store.get(bad).await.unwrap(), None);
}

#[tokio::test]
async fn a_record_stored_under_another_id_is_never_that_session() {
    let (store, backend) = open(MapStorage::full(), Options::default()).await;
    let victim = store.create(user("u")).await.unwrap();
    let other = "hostMixedUpItsKeys_0123456789";
    backend.storage().put_raw(other, &victim.to_wire());
    for read in [
        store.get(other).await.map(|_| ()),
        store.touch(other).await.map(|_| ()),
        store.rotate(other).await.map(|_| ()),
    ] {
        let e = read.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendError);
        assert_eq!(
            e.details()["session_id_hash"],
            json!(omnisession::id::hash(other))
        );
    }
    assert_eq!(store.get(&victim.id).await.unwrap().unwrap(), victim);
}

#[tokio::test]
async fn controls_hold_over_a_custom_backend() {
    let clock = Arc::new(omnisession::ManualClock::new(1_893_456_000_000));
    let base = Options {
        max_sessions_per_user: 2,
        max_session_size: 400,
        site_id: "a".into(),
        clock: clock.clone(),
        ..Options::default()
    };
    let (store, backend) = open(MapStorage::full(), base.clone()).await;
    let first = store.create(user("u")).await.unwrap();
    for _ in 0..2 {
        clock.advance(1);
        store.create(user("u")).await.unwrap();
    }
    assert_eq!(store.list_by_user_id("u").await.unwrap().len(), 2);
    assert_eq!(
        store.get(&first.id).await.unwrap(),
        None,
        "the oldest was evicted"
    );
    let mut big = user("v");
    big.data.insert("x".into(), json!("y".repeat(500)));
    assert_eq!(
        store.create(big).await.unwrap_err().kind(),
        ErrorKind::SessionSizeExceeded
    );
    // Another site's store over the same host storage sees none of site a's sessions.
    let other = Store::open(Options {
        backend: BackendConfig::Custom(backend.clone()),
        site_id: "b".into(),
        ..base
    })
    .await
    .unwrap();
    assert_eq!(other.count().await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 2);
    let caps = backend.storage().caps;
    assert_eq!(
        caps,
        Capabilities {
            list_by_user_id: true,
            list: true,
            cleanup: false
        }
    );
}
