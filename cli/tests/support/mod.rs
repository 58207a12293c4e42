#![allow(dead_code)] // each test crate uses the part it needs
//! Running the built `omnisession` binary, seeding stores through the core, and the checks
//! every run must pass (no raw id, no password in any output).

use omnisession::store::admin::{Admin, Presence, Target};
use omnisession::{Lifetime, NewSession, Patch, Session, Store};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Strings no output may contain: every session id a test made, every password it used.
pub static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn secret(s: &str) {
    SECRETS.lock().unwrap().push(s.to_owned());
}

/// Runs the binary with `args`, no terminal (stdin, stdout and stderr are pipes), and checks
/// that nothing secret was printed.
pub fn omnisession(args: &[&str]) -> Run {
    omnisession_env(args, &[])
}

pub fn omnisession_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_omnisession"))
        .args(args)
        .env_remove("OMNISESSION_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the omnisession binary");
    let run = Run {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    };
    for s in SECRETS.lock().unwrap().iter() {
        assert!(
            !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
            "a secret was printed by {args:?}: {run:?}"
        );
    }
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{run:?}"
    );
    run
}

/// `omnisession ARGS --url U…` (the urls as repeated `--url`).
pub fn with_urls<'a>(urls: &'a [String], args: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = args.to_vec();
    for u in urls {
        all.push("--url");
        all.push(u);
    }
    all
}

pub fn fp(id: &str) -> String {
    omnisession::id::fingerprint(id)
}

/// A store on the target, for seeding and for looking at what a command did.
pub async fn store(urls: &[String], site: &str) -> Store {
    let target = Target {
        urls: urls.to_vec(),
        site_id: Some(site.to_owned()),
        ..Target::default()
    };
    Store::open(target.options(Presence::MayCreate).unwrap())
        .await
        .unwrap()
}

pub async fn admin(urls: &[String]) -> Admin {
    let target = Target {
        urls: urls.to_vec(),
        ..Target::default()
    };
    Admin::open(&target, Presence::MayCreate).await.unwrap()
}

pub async fn create(store: &Store, user: Option<&str>, ttl_ms: u64) -> Session {
    let s = store
        .create(NewSession {
            user_id: user.map(str::to_owned),
            data: json!({"cart": [1, 2], "theme": "dark"})
                .as_object()
                .unwrap()
                .clone(),
            expires: Some(Lifetime::Ttl(ttl_ms)),
            ip_address: Some("10.0.0.7".into()),
            user_agent: Some("Mozilla/5.0 test".into()),
            ..NewSession::default()
        })
        .await
        .unwrap();
    secret(&s.id);
    s
}

pub async fn bump(store: &Store, id: &str, times: usize) {
    for i in 0..times {
        let mut set = serde_json::Map::new();
        set.insert("n".into(), i.into());
        store
            .patch(
                id,
                Patch {
                    set,
                    ..Patch::default()
                },
            )
            .await
            .unwrap();
    }
}

/// The sessions a scenario seeds, by role.
pub struct Seeded {
    pub alice: Vec<Session>,
    pub bob: Session,
    pub carol: Session,
    pub anonymous: Session,
    pub expired: Session,
}

const HOUR_MS: u64 = 3_600_000;

/// alice: three sessions (default site); bob: one on site `b`; carol: one expiring within
/// the hour; one anonymous; one expired (not yet swept).
pub async fn seed(urls: &[String]) -> Seeded {
    let main = store(urls, "").await;
    let site_b = store(urls, "b").await;
    let mut alice = Vec::new();
    for _ in 0..3 {
        alice.push(create(&main, Some("alice"), 24 * HOUR_MS).await);
    }
    bump(&main, &alice[0].id, 2).await;
    let bob = create(&site_b, Some("bob"), 24 * HOUR_MS).await;
    let carol = create(&main, Some("carol"), HOUR_MS / 2).await;
    let anonymous = create(&main, None, 24 * HOUR_MS).await;
    let expired = create(&main, Some("dave"), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    main.close().await.unwrap();
    site_b.close().await.unwrap();
    Seeded {
        alice,
        bob,
        carol,
        anonymous,
        expired,
    }
}

/// Every command against one backend, with `corrupt` writing a bad record under `bad_id`
/// straight into the backend and `present` telling whether it is still stored. `expired_left`:
/// whether the backend still holds the expired session (Redis expires keys by itself).
pub async fn every_command(
    urls: &[String],
    corrupt: impl FnOnce(&str),
    present: impl Fn(&str) -> bool,
    expired_left: bool,
) {
    let seeded = seed(urls).await;
    reads(urls, &seeded, expired_left);
    writes(urls, &seeded, expired_left).await;
    bad_record(urls, corrupt, present);
}

/// list, inspect, stats and check on the seeded store.
fn reads(u: &[String], seeded: &Seeded, expired_left: bool) {
    // list: the user's live sessions, by id hash, oldest first.
    let run = omnisession(&with_urls(u, &["list", "--user", "alice", "--json"]));
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    let hashes: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id_hash"].as_str().unwrap())
        .collect();
    // Oldest first, ties (same millisecond) by id.
    let mut oldest_first: Vec<&Session> = seeded.alice.iter().collect();
    oldest_first.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let expected: Vec<String> = oldest_first.iter().map(|s| fp(&s.id)).collect();
    assert_eq!(hashes, expected);
    let first = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id_hash"] == fp(&seeded.alice[0].id).as_str())
        .unwrap();
    assert_eq!(first["ip_address"], "10.0.0.7");
    assert_eq!(first["user_agent"], "Mozilla/5.0 test");
    assert_eq!(first["version"], 3, "two patches after the create");
    assert!(first["size"].as_u64().unwrap() > 100);
    assert!(first["expires_at"].as_str().unwrap().ends_with('Z'));
    let run = omnisession(&with_urls(u, &["list", "--user", "bob", "--site", "b"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&fp(&seeded.bob.id)), "{run:?}");
    assert!(run.stdout.contains("ID HASH"), "{run:?}");
    let run = omnisession(&with_urls(u, &["list", "--user", "bob"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains(&fp(&seeded.bob.id)),
        "another site: {run:?}"
    );

    // inspect: the record, its id replaced by its hash.
    let alice0 = fp(&seeded.alice[0].id);
    let run = omnisession(&with_urls(u, &["inspect", "--id-hash", &alice0, "--json"]));
    assert_eq!(run.code, 0, "{run:?}");
    let rec = &run.json()["records"][0];
    assert_eq!(rec["state"], "live");
    assert_eq!(rec["record"]["id"], format!("fp:{alice0}"));
    assert_eq!(rec["record"]["user_id"], "alice");
    assert_eq!(rec["record"]["version"], 3);
    assert_eq!(rec["record"]["data"]["theme"], "dark");
    let run = omnisession(&with_urls(u, &["inspect", "--id-hash", &alice0]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("state:    live"), "{run:?}");
    let run = omnisession(&with_urls(u, &["inspect", "--id-hash", &"0".repeat(20)]));
    assert_eq!(run.code, 1, "{run:?}");

    // stats: every site.
    let run = omnisession(&with_urls(u, &["stats", "--json"]));
    assert_eq!(run.code, 0, "{run:?}");
    let st = run.json();
    assert_eq!(st["live"], 6, "{st}");
    assert_eq!(st["bad"], 0, "{st}");
    assert_eq!(st["expired"], u64::from(expired_left), "{st}");
    assert_eq!(st["live_by_site"], json!({"": 5, "b": 1}), "{st}");
    assert_eq!(
        st["top_users"][0],
        json!({"site": "", "user": "alice", "sessions": 3})
    );
    assert_eq!(st["anonymous"], 1);
    assert_eq!(st["expiring_within_hour"], 1, "{st}");
    let sizes = &st["sizes"];
    assert!(sizes["min"].as_u64() <= sizes["median"].as_u64());
    assert!(sizes["median"].as_u64() <= sizes["max"].as_u64());
    assert!(sizes["total"].as_u64().unwrap() >= 6 * sizes["min"].as_u64().unwrap());
    let run = omnisession(&with_urls(u, &["stats"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("6 live"), "{run:?}");

    // check: all valid.
    let run = omnisession(&with_urls(u, &["check"]));
    assert_eq!(run.code, 0, "{run:?}");
}

/// revoke and cleanup, and what they leave.
async fn writes(u: &[String], seeded: &Seeded, expired_left: bool) {
    // revoke: refused without a terminal and without --yes; nothing changed.
    let run = omnisession(&with_urls(u, &["revoke", "--user", "alice"]));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--yes"), "{run:?}");
    let main = store(u, "").await;
    assert_eq!(main.list_by_user_id("alice").await.unwrap().len(), 3);
    let run = omnisession(&with_urls(
        u,
        &["revoke", "--user", "alice", "--yes", "--json"],
    ));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["revoked"], 3);
    assert!(main.list_by_user_id("alice").await.unwrap().is_empty());
    // Tombstoned as the store's delete does: the id cannot be written again.
    let again = main
        .create(NewSession {
            user_id: Some("alice".into()),
            id: Some(seeded.alice[1].id.clone()),
            ..NewSession::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), "SESSION_CONFLICT");
    let run = omnisession(&with_urls(u, &["revoke", "--user", "alice", "--yes"]));
    assert_eq!(run.code, 1, "nothing left to revoke: {run:?}");
    // By id hash, whatever the site.
    let bob = fp(&seeded.bob.id);
    let run = omnisession(&with_urls(u, &["revoke", "--id-hash", &bob, "--yes"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("revoked 1"), "{run:?}");
    let site_b = store(u, "b").await;
    assert!(site_b.get(&seeded.bob.id).await.unwrap().is_none());
    site_b.close().await.unwrap();
    let run = omnisession(&with_urls(u, &["revoke", "--id-hash", &bob, "--yes"]));
    assert_eq!(run.code, 1, "{run:?}");

    // cleanup
    let run = omnisession(&with_urls(u, &["cleanup"]));
    assert_eq!(run.code, 2, "{run:?}");
    let run = omnisession(&with_urls(u, &["cleanup", "--yes", "--json"]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["removed"], u64::from(expired_left));
    assert!(main.get(&seeded.carol.id).await.unwrap().is_some());
    assert!(main.get(&seeded.anonymous.id).await.unwrap().is_some());
    assert!(main.get(&seeded.expired.id).await.unwrap().is_none());
    main.close().await.unwrap();
}

/// check finds a corrupt record and leaves it; inspect and stats see it.
fn bad_record(u: &[String], corrupt: impl FnOnce(&str), present: impl Fn(&str) -> bool) {
    // check: a corrupt record is reported by its hash and left where it is.
    let bad_id = omnisession::id::generate();
    secret(&bad_id);
    corrupt(&bad_id);
    for _ in 0..2 {
        let run = omnisession(&with_urls(u, &["check", "--json"]));
        assert_eq!(run.code, 1, "{run:?}");
        let doc = run.json();
        assert_eq!(doc["bad"].as_array().unwrap().len(), 1, "{doc}");
        assert_eq!(doc["bad"][0]["id_hash"], fp(&bad_id));
        assert!(present(&bad_id), "check removed the bad record");
    }
    let run = omnisession(&with_urls(u, &["check"]));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains(&fp(&bad_id)), "{run:?}");
    let run = omnisession(&with_urls(
        u,
        &["inspect", "--id-hash", &fp(&bad_id), "--json"],
    ));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["records"][0]["state"], "bad");
    let run = omnisession(&with_urls(u, &["stats", "--json"]));
    assert_eq!(run.json()["bad"], 1, "{run:?}");
}
