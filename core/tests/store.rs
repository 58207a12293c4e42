//! Store behaviour that vectors cannot express: backend failures, host-facing helpers,
//! callbacks that misbehave.

use omnisession::json::NotJson;
use omnisession::{
    BackendConfig, ErrorKind, FnSink, NewSession, Options, Store, Violation, ViolationKind,
};
use std::sync::{Arc, Mutex};

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_unopenable_sqlite_path_is_backend_unavailable() {
    let options = Options {
        backend: BackendConfig::Sqlite {
            path: "/proc/omnisession/x.db".into(),
        },
        ..Options::default()
    };
    let err = Store::open(options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
}

#[tokio::test]
async fn an_unusable_file_directory_is_backend_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let options = Options {
        backend: BackendConfig::File { path: not_a_dir },
        ..Options::default()
    };
    let err = Store::open(options).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BackendUnavailable, "{err}");
}

#[tokio::test]
async fn a_panicking_violation_callback_never_fails_the_operation() {
    let options = Options {
        max_session_size: 10,
        on_violation: Some(Arc::new(FnSink(|_: &Violation| panic!("callback bug")))),
        ..Options::default()
    };
    let store = Store::open(options).await.unwrap();
    let err = store.create(user("u")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionSizeExceeded);
    assert_eq!(store.get("not-an-id").await.unwrap(), None);
}

#[tokio::test]
async fn host_conversion_failures_get_the_core_code_and_event() {
    let seen: Arc<Mutex<Vec<Violation>>> = Arc::default();
    let sink = seen.clone();
    let options = Options {
        on_violation: Some(Arc::new(FnSink(move |v: &Violation| {
            sink.lock().unwrap().push(v.clone());
        }))),
        ..Options::default()
    };
    let store = Store::open(options).await.unwrap();
    let problem = NotJson {
        path: "/when".into(),
        reason: "a Date is not JSON".into(),
    };
    let err = store.not_serializable(Some("u"), &problem);
    assert_eq!(err.code(), "SESSION_NOT_SERIALIZABLE");
    assert_eq!(err.details()["path"], "/when");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].kind, ViolationKind::NotSerializable);
    assert_eq!(seen[0].user_id.as_deref(), Some("u"));
}

#[tokio::test]
async fn raw_ids_never_appear_in_errors_or_events() {
    let seen: Arc<Mutex<Vec<Violation>>> = Arc::default();
    let sink = seen.clone();
    let options = Options {
        max_session_size: 400,
        on_violation: Some(Arc::new(FnSink(move |v: &Violation| {
            sink.lock().unwrap().push(v.clone());
        }))),
        ..Options::default()
    };
    let store = Store::open(options).await.unwrap();
    let s = store.create(user("u")).await.unwrap();
    let mut set = serde_json::Map::new();
    set.insert("big".into(), "x".repeat(500).into());
    let err = store
        .patch(
            &s.id,
            omnisession::Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let text = format!("{err} {:?}", err.details());
    assert!(!text.contains(&s.id), "{text}");
    let events = format!("{:?}", seen.lock().unwrap());
    assert!(!events.contains(&s.id), "{events}");
    assert!(events.contains(&omnisession::id::hash(&s.id)));
}

#[tokio::test]
async fn the_sweeper_removes_expired_sessions_without_being_asked() {
    use omnisession::backend::Backend;
    let clock = Arc::new(omnisession::ManualClock::new(1_000_000));
    let memory = Arc::new(omnisession::backend::memory::MemoryBackend::new());
    let options = Options {
        backend: BackendConfig::Custom(memory.clone()),
        cleanup_interval_ms: 20,
        clock: clock.clone(),
        ..Options::default()
    };
    let store = Store::open(options).await.unwrap();
    let short = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Ttl(1000)),
            ..user("u")
        })
        .await
        .unwrap();
    let forever = store
        .create(NewSession {
            expires: Some(omnisession::Lifetime::Never),
            ..user("u")
        })
        .await
        .unwrap();
    clock.advance(1001);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // Look underneath the store (a store read would remove the expired record itself).
    while memory.load(&short.id).await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not remove the expired session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(memory.load(&forever.id).await.unwrap().is_some());
    store.close().await.unwrap();
    assert_eq!(
        store.count().await.unwrap_err().kind(),
        ErrorKind::StoreClosed
    );
}

/// A Redis password never appears in an error or in `Debug` output: they end up in logs.
#[tokio::test]
async fn redis_passwords_stay_out_of_errors_and_debug_output() {
    let secret = "hunter2-secret";
    for url in [
        format!("http://alice:{secret}@127.0.0.1:6379"),
        format!("redis://alice:{secret}@127.0.0.1:notaport"),
        format!("redis://:{secret}@[::1"),
    ] {
        let mut options = serde_json::Map::new();
        options.insert("backend".into(), "redis".into());
        options.insert("url".into(), url.clone().into());
        let err = match omnisession::Options::from_json(&options) {
            Err(e) => e,
            Ok(o) => {
                assert!(!format!("{o:?}").contains(secret), "Debug of {url}");
                Store::open(o).await.unwrap_err()
            }
        };
        assert_eq!(err.code(), "CONFIG_INVALID", "{url}: {err}");
        assert!(!err.to_string().contains(secret), "{url}: {err}");
        assert!(!format!("{err:?}").contains(secret), "{url}: {err:?}");
    }
    let options = omnisession::Options {
        backend: omnisession::BackendConfig::Redis {
            urls: vec![format!("rediss://bob:{secret}@cache.internal:6380/0")],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        },
        ..omnisession::Options::default()
    };
    let debug = format!("{options:?}");
    assert!(!debug.contains(secret), "{debug}");
    assert!(
        debug.contains("rediss://bob:***@cache.internal:6380/0"),
        "{debug}"
    );
}
