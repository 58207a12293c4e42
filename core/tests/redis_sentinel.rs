//! Redis through Sentinel, against real servers: a master, a replica and three sentinels.
//! The store finds the master by asking the sentinels and follows a failover (the master
//! killed, or `SENTINEL FAILOVER`) without a restart, under a steady mixed load whose figures
//! each test prints (docs/reliability.md has the table). Bad URLs and unreachable or
//! disagreeing sentinels fail typed, naming what failed and never the password.
#![allow(clippy::too_many_lines)] // each test is one scenario, read top to bottom

#[path = "support/failover.rs"]
mod failover;
#[path = "support/redis.rs"]
mod redis_server;
#[path = "support/reliability.rs"]
mod reliability;
#[path = "support/sentinel.rs"]
mod sentinel;

use failover::{LIMIT, Load, Verdict};
use omnisession::{BackendConfig, ErrorKind, EvictionPolicy, NewSession, Options, Store};
use reliability::Figures;
use sentinel::Sentinels;
use std::time::{Duration, Instant};

/// The Redis backend's per-call timeout (`core/src/backend/redis/conn.rs`).
const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(750);

fn options(url: String) -> Options {
    durable(url, 0)
}

/// `options` with `wait_replicas`.
fn durable(url: String, wait_replicas: usize) -> Options {
    Options {
        wait_replicas,
        backend: BackendConfig::Redis {
            urls: vec![url],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        },
        key_prefix: "sentinel:".into(),
        max_sessions_per_user: LIMIT,
        eviction_policy: EvictionPolicy::Reject,
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

fn user(u: &str) -> NewSession {
    NewSession {
        user_id: Some(u.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_every_operation_on_the_master_the_sentinels_name() {
    let s = Sentinels::start();
    let store = Store::open(options(s.url())).await.unwrap();
    let created = store.create(user("ada")).await.unwrap();
    assert_eq!(
        store.get(&created.id).await.unwrap().unwrap().id,
        created.id
    );
    let rotated = store.rotate(&created.id).await.unwrap();
    assert_eq!(store.list_by_user_id("ada").await.unwrap().len(), 1);
    let master = s.master_port().to_string();
    let keys = redis_server::redis_cli(&["-p", &master, "--scan", "--pattern", "sentinel:*"]);
    assert!(
        keys.lines().count() >= 2,
        "nothing written on the master: {keys}"
    );
    store.delete(&rotated.id).await.unwrap();
    assert!(store.get(&rotated.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_sentinel_url_is_config_invalid_and_unreachable_sentinels_unavailable() {
    let secret = "pa55-w0rd";
    let refused = async |url: String| {
        let started = Instant::now();
        let e = Store::open(options(url.clone())).await.expect_err(&url);
        assert!(
            started.elapsed() <= OP_TIMEOUT * 3 + SLACK,
            "{url}: took {:?}",
            started.elapsed()
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(secret), "the password leaked: {shown}");
        e
    };
    for url in [
        format!("redis+sentinel://:{secret}@127.0.0.1:26379"),
        format!("redis+sentinel://:{secret}@127.0.0.1:26379/"),
        format!("redis+sentinel://:{secret}@127.0.0.1:x/sessions"),
        format!("redis+sentinel://127.0.0.1/sessions?sentinel_password={secret}&db=1"),
    ] {
        let e = refused(url).await;
        assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");
        assert!(e.to_string().contains("url"), "{e}");
    }
    let e = Store::open(Options {
        backend: BackendConfig::Redis {
            urls: vec![
                "redis+sentinel://127.0.0.1/sessions".into(),
                "redis://127.0.0.1".into(),
            ],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        },
        ..Options::default()
    })
    .await
    .expect_err("a sentinel url among others");
    assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{e}");

    // No sentinel listening.
    let (first, second) = (redis_server::free_port(), redis_server::free_port());
    let e = refused(format!(
        "redis+sentinel://:{secret}@127.0.0.1:{first},127.0.0.1:{second}/sessions?sentinel_password={secret}"
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(e.to_string().contains("no sentinel answered"), "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{first}")), "{e}");

    // Sentinels that know no such master.
    let s = Sentinels::start();
    let url = s.url().replace("/sessions", "/nosuch");
    let e = refused(url).await;
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(
        e.to_string()
            .contains("no sentinel knows a master named \"nosuch\""),
        "{e}"
    );

    // Sentinels that each name a different master, none of them up.
    let (dead, also_dead) = (redis_server::free_port(), redis_server::free_port());
    let lone = Sentinels::watching(&[dead, also_dead]);
    let e = refused(lone.url()).await;
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(e.to_string().contains("the sentinels disagree"), "{e}");
    assert!(
        e.to_string().contains(&format!("127.0.0.1:{dead} by 1")),
        "{e}"
    );
}

/// What a failover did to the load, printed and checked.
fn report(what: &'static str, v: &Verdict, promoted_in: Duration, demoted_in: Duration) {
    Figures::new(what, "redis sentinel")
        .add("operations", v.operations)
        .add("outcomes", v.tally.encode())
        .add("promotion_ms", promoted_in.as_millis())
        .add("old_master_a_replica_ms", demoted_in.as_millis())
        .add("recovery_ms", v.recovery.as_millis())
        .add("longest_op_ms", v.longest.as_millis())
        .add("acknowledged", v.acknowledged)
        .add("sessions_lost", v.lost_sessions)
        .add("patches_lost", v.lost_patches)
        .add("resurrected", v.resurrected)
        .add("over_admitted", v.over_admitted)
        .print();
    assert!(
        v.untyped().is_empty(),
        "untyped failures: {}",
        v.tally.encode()
    );
    assert!(
        v.longest <= OP_TIMEOUT + SLACK,
        "an operation took {:?}",
        v.longest
    );
    assert_eq!(v.over_admitted, 0, "a user got more than {LIMIT} sessions");
}

/// How a failover is made.
#[derive(Clone, Copy)]
enum Fault {
    /// `SIGKILL` of the master, restarted (empty, as after a lost disk) once the replica is
    /// promoted, to come back as a replica.
    Kill,
    /// `SENTINEL FAILOVER`.
    Manual,
}

/// Rounds of: a steady load, the fault, the promotion, the load served again; each round's
/// figures printed and checked. Returns the rounds' verdicts.
async fn failovers(fault: Fault, what: &'static str, wait_replicas: usize) -> Vec<Verdict> {
    let mut s = Sentinels::start();
    let store = Store::open(durable(s.url(), wait_replicas)).await.unwrap();
    let mut verdicts = Vec::new();
    // One failover each way by default; more in `make reliability`.
    for round in 0..(reliability::rounds() / 50).clamp(2, 10) {
        let load = Load::start(&store, 4, &format!("r{round}-"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let old = s.master_port();
        let node = s.node_on(old);
        let at = Instant::now();
        let (_, promoted_in) = tokio::task::block_in_place(|| {
            match fault {
                Fault::Kill => s.nodes[node].kill(),
                Fault::Manual => s.failover(),
            }
            s.await_promotion(old, Duration::from_secs(30))
        });
        // The old master comes back as a replica (restarted empty after a kill; demoted by
        // the sentinels after a manual failover) while the load runs on the new one: what it
        // took that the new master never saw is thrown away here.
        let demoted_in = tokio::task::block_in_place(|| {
            if let Fault::Kill = fault {
                s.nodes[node].restart();
            }
            Sentinels::await_replica(old, Duration::from_secs(30))
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let v = load.finish(&store, at).await;
        report(what, &v, promoted_in, demoted_in);
        verdicts.push(v);
    }
    verdicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_is_followed_to_its_promoted_replica() {
    let verdicts = failovers(
        Fault::Kill,
        "master killed, replica promoted by sentinel",
        0,
    )
    .await;
    // Replication is asynchronous: a write acknowledged by the master and not yet sent to
    // the replica is lost with it. Counted and printed (docs/redis.md), not asserted.
    for v in &verdicts {
        assert!(v.recovery < Duration::from_secs(10), "{v:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_failover_is_followed_without_a_restart() {
    let verdicts = failovers(Fault::Manual, "SENTINEL FAILOVER", 0).await;
    for v in &verdicts {
        assert!(v.recovery < Duration::from_secs(10), "{v:?}");
    }
}

/// `SENTINEL FAILOVER` promotes the replica without stopping the old master first: what the
/// old master takes until the store hears of the switch is thrown away when it is demoted.
/// With `wait_replicas: 1` such a write is never acknowledged (the promoted replica no longer
/// follows the old master, so it never has it): no login or logout that was acknowledged is
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_wait_replicas_no_acknowledged_login_or_logout_is_lost_in_a_failover() {
    let mut verdicts = failovers(Fault::Manual, "SENTINEL FAILOVER, wait_replicas 1", 1).await;
    verdicts.extend(failovers(Fault::Kill, "master killed, wait_replicas 1", 1).await);
    for v in &verdicts {
        assert_eq!(v.lost_sessions, 0, "{v:?}");
        assert_eq!(v.resurrected, 0, "{v:?}");
    }
}
