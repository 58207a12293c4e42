//! The bench's Rust runner (`bench/run.py` calls it): the core's memory and Redis stores under the
//! workloads of the other runners, so they compare with omnistorage-core's Go stores directly.
//!
//! `cargo run --release -p omnisession --example bench_stores -- <redis-url> <out.json> [n] [gets]`
//!
//! With `gets`, only the cells the Rust-vs-Go targets divide (1 KiB, 64 in flight: create as the
//! fill, get, get_shared): `bench/harness/native_pairs.py` runs that in turns with the Go runner.

use omnisession::{BackendConfig, NewSession, Options, Patch, Store};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn payload(size: usize, i: usize) -> Map<String, Value> {
    let blob = "x".repeat(size.saturating_sub(64));
    let v = json!({"user": format!("user-{i}"), "cart": [1, 2, 3], "blob": blob});
    v.as_object().cloned().unwrap_or_default()
}

/// Runs `op(i)` for i in 0..n from `in_flight` tasks, after `warmup` calls with indices past n.
async fn measure<F, Fut>(
    n: usize,
    in_flight: usize,
    warmup: usize,
    op: F,
) -> Result<Value, BoxError>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), BoxError>> + Send,
{
    for i in 0..warmup {
        op(n + i).await?;
    }
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..in_flight.min(n))
        .map(|_| {
            let (op, next) = (Arc::clone(&op), Arc::clone(&next));
            omnisession::runtime::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, BoxError>(lat);
                    }
                    let t = Instant::now();
                    op(i).await?;
                    lat.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut lat: Vec<Duration> = Vec::with_capacity(n);
    for w in workers {
        lat.extend(w.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| lat[((p * n as f64) as usize).min(n - 1)].as_secs_f64() * 1e6;
    Ok(json!({"n": n, "ops_per_s": n as f64 / secs, "p50_us": pct(0.5), "p99_us": pct(0.99)}))
}

type Pool = Arc<Vec<std::sync::OnceLock<String>>>;

/// The create cell; the sessions it creates are the pool the other cells work on.
async fn create_cell(
    store: &Store,
    size: usize,
    n: usize,
    in_flight: usize,
) -> Result<(Value, Pool), BoxError> {
    let pool: Pool = Arc::new((0..n).map(|_| std::sync::OnceLock::new()).collect());
    let (s, p) = (store.clone(), Arc::clone(&pool));
    let created = measure(n, in_flight, 0, move |i| {
        let (s, p) = (s.clone(), Arc::clone(&p));
        async move {
            let new = NewSession {
                user_id: Some(format!("u-{i}")),
                data: payload(size, i),
                ..Default::default()
            };
            let created = s.create(new).await?;
            let _ = p[i].set(created.id);
            Ok(())
        }
    })
    .await?;
    Ok((created, pool))
}

/// The get cell: `get` (a copy of the session), or `get_shared`, a read that shares the
/// stored session instead (what Go's Get does with its Data map), for callers that only look.
///
/// The store and the pool are leaked for the cell, as Go's closure holds plain pointers: an
/// `Arc` cloned per op would put two contended atomic counters in every measured call.
async fn get_cell(
    store: &Store,
    pool: &Pool,
    n: usize,
    in_flight: usize,
    warmup: usize,
    shared: bool,
) -> Result<Value, BoxError> {
    let s: &'static Store = Box::leak(Box::new(store.clone()));
    let p: &'static [std::sync::OnceLock<String>] = Box::leak(pool.to_vec().into_boxed_slice());
    measure(n, in_flight, warmup, move |i| async move {
        let key = p[i % p.len()].get().map_or("", String::as_str);
        let found = if shared {
            s.get_shared(key).await?.is_some()
        } else {
            s.get(key).await?.is_some()
        };
        found.then_some(()).ok_or_else(|| "lost a session".into())
    })
    .await
}

async fn cells(
    store: &Store,
    backend: &str,
    size: usize,
    n: usize,
    gets_only: bool,
) -> Result<Vec<Value>, BoxError> {
    let warmup = (n / 20).max(5);
    let consume = (n.saturating_sub(2 * warmup) / 2).max(5);
    let mut out = Vec::new();
    let in_flights: &[usize] = if gets_only { &[64] } else { &[1, 64] };
    for &in_flight in in_flights {
        let mut add = |op: &str, mut r: Value| {
            let meta = json!({"runner": "rust", "impl": "omnisession", "backend": backend,
                              "op": op, "size": size, "in_flight": in_flight});
            if let (Some(r), Some(meta)) = (r.as_object_mut(), meta.as_object()) {
                r.extend(meta.clone());
            }
            out.push(r);
        };
        let (created, pool) = create_cell(store, size, n + warmup, in_flight).await?;
        add("create", created);
        let id = |p: &[std::sync::OnceLock<String>], i: usize| {
            p[i % p.len()].get().cloned().unwrap_or_default()
        };
        add(
            "get",
            get_cell(store, &pool, n, in_flight, warmup, false).await?,
        );
        add(
            "get_shared",
            get_cell(store, &pool, n, in_flight, warmup, true).await?,
        );
        if gets_only {
            continue;
        }
        let (s, p) = (store.clone(), Arc::clone(&pool));
        add(
            "save",
            measure(n, in_flight, warmup, move |i| {
                let (s, key) = (s.clone(), id(&p, i));
                async move {
                    let mut set = Map::new();
                    set.insert("counter".into(), json!(i));
                    s.patch(
                        &key,
                        Patch {
                            set,
                            ..Default::default()
                        },
                    )
                    .await?;
                    Ok(())
                }
            })
            .await?,
        );
        let (s, p) = (store.clone(), Arc::clone(&pool));
        add(
            "touch",
            measure(n, in_flight, warmup, move |i| {
                let (s, key) = (s.clone(), id(&p, i));
                async move { s.touch(&key).await.map(|_| ()).map_err(Into::into) }
            })
            .await?,
        );
        let (s, p) = (store.clone(), Arc::clone(&pool));
        add(
            "rotate",
            measure(consume, in_flight, warmup, move |i| {
                let (s, key) = (s.clone(), id(&p, i));
                async move { s.rotate(&key).await.map(|_| ()).map_err(Into::into) }
            })
            .await?,
        );
        let s = store.clone();
        let base = consume + warmup;
        add(
            "deleteByUserId",
            measure(consume, in_flight, warmup, move |i| {
                let s = s.clone();
                async move {
                    s.delete_by_user_id(&format!("u-{}", base + i))
                        .await
                        .map(|_| ())
                        .map_err(Into::into)
                }
            })
            .await?,
        );
        eprintln!("rust {backend} {size}B x{in_flight} done");
    }
    Ok(out)
}

async fn run() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let (url, out) = match (args.get(1), args.get(2)) {
        (Some(u), Some(o)) => (u.clone(), o.clone()),
        _ => return Err("usage: bench_stores <redis-url> <out.json> [n] [gets]".into()),
    };
    let n: usize = args.get(3).map_or(Ok(10_000), |s| s.parse())?;
    let gets_only = args.get(4).is_some_and(|m| m == "gets");
    let sizes: &[usize] = if gets_only { &[1024] } else { &[1024, 16_384] };
    let mut results = Vec::new();
    for backend in ["memory", "redis"] {
        for &size in sizes {
            let config = if backend == "memory" {
                BackendConfig::Memory
            } else {
                BackendConfig::Redis {
                    urls: vec![url.clone()],
                    cluster: false,
                    tls_ca: None,
                    tls_client: None,
                }
            };
            let store = Store::open(Options {
                backend: config,
                key_prefix: format!("rust:{size}:"),
                cleanup_interval_ms: 0,
                ..Options::default()
            })
            .await?;
            results.extend(cells(&store, backend, size, n, gets_only).await?);
            store.close().await?;
        }
    }
    std::fs::write(out, serde_json::to_string_pretty(&results)?)?;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    omnisession::runtime::block_on(run())
}
