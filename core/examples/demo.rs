//! `make demo`: a SQLite store, the everyday operations, and each control tripping once.

use omnisession::{
    BackendConfig, EvictionPolicy, FnSink, NewSession, Options, Patch, Store, Violation,
};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

fn data(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    omnisession::runtime::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("omnisession-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let seen: Arc<Mutex<Vec<Violation>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let options = |site: &str| Options {
        backend: BackendConfig::Sqlite {
            path: dir.join("sessions.db"),
        },
        site_id: site.to_owned(),
        max_session_size: 512,
        max_sessions_per_user: 2,
        eviction_policy: EvictionPolicy::Oldest,
        on_violation: Some(Arc::new(FnSink({
            let sink = Arc::clone(&sink);
            move |v: &Violation| sink.lock().unwrap().push(v.clone())
        }))),
        ..Options::default()
    };
    let store = Store::open(options("shop")).await?;
    println!(
        "opened a SQLite store at {}",
        dir.join("sessions.db").display()
    );

    let new = |user: &str, d: Value| NewSession {
        user_id: Some(user.into()),
        data: data(&d),
        ..Default::default()
    };
    let s = store
        .create(new("alice", json!({"cart": ["apple"]})))
        .await?;
    println!("created  {} for alice, version {}", &s.id[..8], s.version);
    let got = store.get(&s.id).await?.ok_or("session vanished")?;
    println!("read     data = {}", Value::Object(got.data));
    let patch = Patch {
        set: data(&json!({"theme": "dark"})),
        ..Default::default()
    };
    let patched = store.patch(&s.id, patch).await?;
    println!(
        "patched  data = {}, version {}",
        Value::Object(patched.data.clone()),
        patched.version
    );

    // Size limit: the write is refused before anything is stored.
    let big = Patch {
        set: data(&json!({"blob": "x".repeat(600)})),
        ..Default::default()
    };
    let e = store.patch(&s.id, big).await.unwrap_err();
    println!("too big  -> {}", e.code());
    // JSON-only data: integers beyond 2^53 would not survive JavaScript.
    let e = store
        .create(new("alice", json!({"n": 9_007_199_254_740_993_u64})))
        .await
        .unwrap_err();
    println!("not JSON -> {}", e.code());
    // Per-user limit: the third session evicts the oldest.
    store.create(new("alice", json!({}))).await?;
    store.create(new("alice", json!({}))).await?;
    println!(
        "alice has {} sessions; the first is {}",
        store.list_by_user_id("alice").await?.len(),
        if store.get(&s.id).await?.is_none() {
            "gone (evicted)"
        } else {
            "still there"
        }
    );
    // Site isolation: another site's store cannot see, nor delete, shop's sessions.
    let other = Store::open(options("blog")).await?;
    let mine = store.create(new("bob", json!({}))).await?;
    println!(
        "blog store sees bob's shop session: {}",
        other.get(&mine.id).await?.is_some()
    );
    // Malformed ids never reach the backend.
    println!(
        "get(\"../etc/passwd\") = {:?}",
        store.get("../etc/passwd").await?
    );

    println!("\nviolations reported:");
    for v in seen.lock().unwrap().iter() {
        println!(
            "  {:<22} user={:<6} site={:<5} size={:<4} limit={:<4} {}",
            v.kind.as_str(),
            v.user_id.as_deref().unwrap_or("-"),
            v.site_id,
            v.size,
            v.limit,
            v.message
        );
    }
    store.close().await?;
    other.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
