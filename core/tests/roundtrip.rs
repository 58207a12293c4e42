//! Property: any data the JSON-only rule accepts reads back identically, value and bytes,
//! from every backend.

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::backend::memory::MemoryBackend;
use omnisession::{BackendConfig, NewSession, Options, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Number, Value};
use std::sync::Arc;

/// Strings that stress the writer: HTML characters, controls, U+2028, astral planes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        "[<>&\"\\\\/\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}é漢🙂]{0,12}",
        any::<String>(),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    const SAFE: i64 = (1 << 53) - 1;
    prop_oneof![
        (-SAFE..=SAFE).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite, not integral", |f| f.is_finite()
                && f.fract() != 0.0)
            .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn data() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(text(), value(), 0..8).prop_map(|m| m.into_iter().collect())
}

#[test]
fn accepted_data_round_trips_byte_for_byte_on_every_backend() {
    let rt = omnisession::runtime::owned();
    let dir = tempfile::tempdir().unwrap();
    let redis = redis_server::RedisServer::single(&[]);
    let backends = [
        (
            "memory",
            BackendConfig::Custom(Arc::new(MemoryBackend::new())),
        ),
        (
            "sqlite",
            BackendConfig::Sqlite {
                path: dir.path().join("p.db"),
            },
        ),
        (
            "file",
            BackendConfig::File {
                path: dir.path().join("p"),
            },
        ),
        (
            "redis",
            BackendConfig::Redis {
                urls: redis.urls.clone(),
                cluster: false,
                tls_ca: None,
                tls_client: None,
            },
        ),
    ];
    for (name, backend) in backends {
        let options = Options {
            backend,
            max_session_size: 0,
            ..Options::default()
        };
        let store = rt.block_on(Store::open(options)).unwrap();
        let mut runner = TestRunner::new(Config {
            cases: 96,
            ..Config::default()
        });
        runner
            .run(&data(), |data| {
                let new = NewSession {
                    user_id: Some("u".into()),
                    data,
                    ..Default::default()
                };
                let created = rt.block_on(store.create(new.clone())).unwrap();
                let read = rt.block_on(store.get(&created.id)).unwrap().unwrap();
                prop_assert_eq!(&read.data, &new.data, "{}", name);
                prop_assert_eq!(read.to_wire(), created.to_wire(), "{}", name);
                Ok(())
            })
            .unwrap();
        rt.block_on(store.close()).unwrap();
    }
}
