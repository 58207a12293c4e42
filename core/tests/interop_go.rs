//! A Go service on the real omnistorage-core (tests/interop/go: `sessionkvs.NewWithControls`
//! over `kvsredis`) and omnisession on one Redis: records are read, updated and re-encoded byte
//! for byte both ways; with `omnistorage_compat`, logout everywhere and the per-user limit
//! cover both sides, and a Go write never lets a stale version through.
//!
//! Needs `go` (optional: `make test` runs it where go is installed, with
//! `cargo test --test interop_go -- --ignored`) and the library: `OMNISTORAGE_CORE_DIR`, or the
//! checkout beside the repository (`../shared/vendor/omnistorage-core`). With go and without
//! the library the test fails and says so.

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::{
    BackendConfig, ErrorKind, EvictionPolicy, NewSession, Options, Patch, SessionUpdate, Store,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "550e8400-e29b-41d4-a716-446655440000";

/// `go build` of tests/interop/go against the real library; returns the binary.
fn go_binary(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = root.join("tests/interop/go");
    let tmp =
        std::env::temp_dir().join(format!("omnisession-interop-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut build = Command::new("go");
    build
        .current_dir(&src)
        .args(["build", "-o"])
        .arg(tmp.join("interop"))
        .arg(".");
    if let Some(dir) = std::env::var_os("OMNISTORAGE_CORE_DIR") {
        let dir = Path::new(&dir)
            .canonicalize()
            .unwrap_or_else(|e| panic!("OMNISTORAGE_CORE_DIR={}: {e}", Path::new(&dir).display()));
        // A go.work's replace takes precedence over go.mod's.
        let work = tmp.join("go.work");
        std::fs::write(
            &work,
            format!(
                "go 1.26.0\n\nuse {}\n\nreplace github.com/plexusone/omnistorage-core => {}\n",
                src.display(),
                dir.display()
            ),
        )
        .unwrap();
        build.env("GOWORK", work);
    } else {
        let beside = root.join("../shared/vendor/omnistorage-core/go.mod");
        assert!(
            beside.is_file(),
            "the Go interop test builds on the real omnistorage-core v0.5.1, which the Go \
             module proxy does not serve: check it out at {} or name a checkout with \
             OMNISTORAGE_CORE_DIR",
            beside.parent().unwrap().display()
        );
        build.env("GOWORK", "off");
    }
    let status = build
        .status()
        .expect("the Go interop test needs go (https://go.dev/dl or apt-get install golang)");
    assert!(status.success(), "go build of tests/interop/go failed");
    tmp.join("interop")
}

/// One call of the Go store; its stdout, or its error (`Err`).
fn go_try(bin: &Path, env: &[(&str, &str)], args: &[&str]) -> Result<String, String> {
    let out = Command::new(bin)
        .env("TZ", "UTC")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run the Go interop program");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn go(bin: &Path, args: &[&str]) -> String {
    go_try(bin, &[], args).unwrap_or_else(|e| panic!("interop {args:?}: {e}"))
}

fn options(url: &str, compat: bool) -> Options {
    Options {
        backend: BackendConfig::Redis {
            urls: vec![url.to_owned()],
            cluster: false,
            tls_ca: None,
            tls_client: None,
        },
        omnistorage_compat: compat,
        cleanup_interval_ms: 0,
        ..Options::default()
    }
}

fn set(key: &str, value: Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(key.into(), value);
    m
}

#[tokio::test]
#[ignore = "needs go; run by `make test` where go is installed"]
async fn go_and_omnisession_share_records_both_ways() {
    let bin = go_binary("records");
    let server = redis_server::RedisServer::single(&[]);
    let url = server.urls[0].clone();
    let store = Store::open(options(&url, false)).await.unwrap();

    // Go writes, omnisession reads and patches, Go reads the patch.
    let written: Value =
        serde_json::from_str(&go(&bin, &["write", &url, "session:", USER])).unwrap();
    let id = written["id"].as_str().unwrap();
    let s = store
        .get(id)
        .await
        .unwrap()
        .expect("omnisession reads the Go record");
    assert_eq!(s.user_id.as_deref(), Some(USER));
    assert_eq!(s.data["from"], "go");
    assert_eq!(s.data["html"], "<b>&</b>");
    assert_eq!(
        s.version,
        omnisession::session::derived_version(s.updated_at),
        "a Go record has no version: it is its updated_at in µs"
    );
    let patched = store
        .patch(
            id,
            Patch {
                set: set("from_rust", json!(true)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.version, s.version + 1);
    let seen: Value = serde_json::from_str(&go(&bin, &["read", &url, "session:", id])).unwrap();
    assert_eq!(seen["data"]["from_rust"], true);
    assert_eq!(seen["data"]["n"], 42);

    // omnisession writes, Go decodes and re-encodes it to the same bytes (less `version`).
    let mut new = NewSession {
        user_id: Some(USER.into()),
        ..Default::default()
    };
    new.data
        .insert("cart".into(), json!(["<apple>", 1.5, 2, {"q": null}]));
    new.ip_address = Some("10.0.0.1".into());
    let ours = store.create(new).await.unwrap();
    let reencoded = go(&bin, &["read", &url, "session:", &ours.id]);
    let wire = ours.to_wire();
    let without_version = wire.replace(&format!(",\"version\":{}", ours.version), "");
    assert_eq!(reencoded, without_version);

    // Go updates our record; we read its change (Go's struct drops `version`: derived).
    go(
        &bin,
        &["update", &url, "session:", &ours.id, "theme", "dark"],
    );
    let after = store.get(&ours.id).await.unwrap().unwrap();
    assert_eq!(after.data["theme"], "dark");
    assert_eq!(after.data["cart"], json!(["<apple>", 1.5, 2, {"q": null}]));
    assert!(after.version > ours.version);
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

/// The ABA, with the real Go `Update` in the middle: a version read before it never
/// passes after it, whatever omnisession wrote since.
#[tokio::test]
#[ignore = "needs go; run by `make test` where go is installed"]
async fn a_stale_version_fails_after_a_real_go_update() {
    let bin = go_binary("aba");
    let server = redis_server::RedisServer::single(&[]);
    let url = server.urls[0].clone();
    let store = Store::open(options(&url, true)).await.unwrap();
    let s = store
        .create(NewSession {
            user_id: Some(USER.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(s.version, 1);
    go(&bin, &["update", &url, "session:", &s.id, "by", "go"]);
    store
        .patch(
            &s.id,
            Patch {
                set: set("by", json!("rust")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let stale = store
        .update(SessionUpdate {
            id: s.id.clone(),
            version: Some(1),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::SessionConflict);
    assert_eq!(store.get(&s.id).await.unwrap().unwrap().data["by"], "rust");
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

/// Logout everywhere and the per-user limit with the real Go store: each side sees, counts and
/// revokes the other's sessions; ids Go cannot decode are refused before they are written.
#[tokio::test]
#[ignore = "needs go; run by `make test` where go is installed"]
async fn logout_everywhere_and_the_limit_cover_both_sides() {
    let bin = go_binary("logout");
    let server = redis_server::RedisServer::single(&[]);
    let url = server.urls[0].clone();
    let store = Store::open(Options {
        max_sessions_per_user: 4,
        eviction_policy: EvictionPolicy::Reject,
        allow_anonymous: true,
        ..options(&url, true)
    })
    .await
    .unwrap();
    let user = || NewSession {
        user_id: Some(USER.into()),
        ..Default::default()
    };
    let list_go = || -> Vec<String> {
        let mut ids: Vec<String> =
            serde_json::from_str(&go(&bin, &["list", &url, "session:", USER])).unwrap();
        ids.sort();
        ids
    };
    for revoker in ["go", "omnisession"] {
        let from_go: Value =
            serde_json::from_str(&go(&bin, &["write", &url, "session:", USER])).unwrap();
        let from_go = from_go["id"].as_str().unwrap().to_owned();
        let a = store.create(user()).await.unwrap().id;
        let b = store.create(user()).await.unwrap().id;
        let mut all = vec![from_go.clone(), a.clone(), b.clone()];
        all.sort();
        assert_eq!(list_go(), all, "Go lists ours");
        let mut ours: Vec<String> = store
            .list_by_user_id(USER)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        ours.sort();
        assert_eq!(ours, all, "we list Go's");
        if revoker == "go" {
            assert_eq!(go(&bin, &["logout", &url, "session:", USER]), "3");
        } else {
            assert_eq!(store.delete_by_user_id(USER).await.unwrap(), 3);
            // Revoked here, Go's id is tombstoned: it cannot be created again.
            let again = store
                .create(NewSession {
                    id: Some(from_go.clone()),
                    ..user()
                })
                .await
                .unwrap_err();
            assert_eq!(again.kind(), ErrorKind::SessionConflict);
        }
        for id in &all {
            assert_eq!(store.get(id).await.unwrap(), None, "{revoker}: {id}");
            assert!(go_try(&bin, &[], &["read", &url, "session:", id]).is_err());
        }
        assert!(list_go().is_empty());
    }

    // The limit (4) counts Go's sessions; Go's own limit counts ours.
    for _ in 0..2 {
        go(&bin, &["write", &url, "session:", USER]);
    }
    store.create(user()).await.unwrap();
    store.create(user()).await.unwrap();
    let refused = store.create(user()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::SessionLimitExceeded);
    go_try(
        &bin,
        &[("GO_MAX_PER_USER", "4")],
        &["write", &url, "session:", USER],
    )
    .unwrap();
    assert_eq!(
        store.list_by_user_id(USER).await.unwrap().len(),
        4,
        "Go evicted its oldest to stay at 4, counting ours"
    );

    // Ids Go cannot decode are refused; an anonymous session is one Go can read.
    let err = store
        .create(NewSession {
            user_id: Some("alice".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionInvalid);
    let anon = store.create(NewSession::default()).await.unwrap();
    let read: Value =
        serde_json::from_str(&go(&bin, &["read", &url, "session:", &anon.id])).unwrap();
    assert_eq!(read["user_id"], "00000000-0000-0000-0000-000000000000");
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

/// The interop matrix of docs/go-interop.md, measured: which of omnisession's controls hold
/// when the operation is done from Go.
#[tokio::test]
#[ignore = "needs go; run by `make test` where go is installed"]
async fn which_controls_hold_for_operations_done_from_go() {
    let bin = go_binary("matrix");
    let server = redis_server::RedisServer::single(&[]);
    let url = server.urls[0].clone();
    let open = |site: &str, size: usize| {
        Store::open(Options {
            site_id: site.to_owned(),
            max_session_size: size,
            ..options(&url, true)
        })
    };
    let store = open("", 1 << 20).await.unwrap();
    let user = || NewSession {
        user_id: Some(USER.into()),
        ..Default::default()
    };

    // Tombstones: an id omnisession ended cannot be updated from Go (its record is gone)...
    let ended = store.create(user()).await.unwrap();
    store.delete(&ended.id).await.unwrap();
    assert!(
        go_try(
            &bin,
            &[],
            &["update", &url, "session:", &ended.id, "k", "v"]
        )
        .is_err()
    );
    // ...but a Go Delete writes none: an in-flight upsert of that id creates it again.
    let s = store.create(user()).await.unwrap();
    go(&bin, &["delete", &url, "session:", &s.id]);
    let again = store
        .upsert(SessionUpdate {
            id: s.id.clone(),
            user_id: Some(USER.into()),
            ..Default::default()
        })
        .await;
    assert!(again.is_ok(), "no tombstone after a Go delete");

    // Size: a Go Update is measured against Go's MaxSessionSize only; ours refuses the next
    // write from here, and reads it as it is.
    let small = open("", 600).await.unwrap();
    let s = small.create(user()).await.unwrap();
    go(
        &bin,
        &["update", &url, "session:", &s.id, "blob", &"x".repeat(2000)],
    );
    assert!(small.get(&s.id).await.unwrap().is_some());
    let err = small
        .patch(
            &s.id,
            Patch {
                set: set("k", json!(1)),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionSizeExceeded);

    // Site: Go with its SiteID reads only its site; Go's DeleteByUserID ignores sites.
    let site_a = open("a", 1 << 20).await.unwrap();
    let in_a = site_a.create(user()).await.unwrap();
    assert!(
        go_try(
            &bin,
            &[("GO_SITE_ID", "b")],
            &["read", &url, "session:", &in_a.id]
        )
        .is_err()
    );
    go_try(
        &bin,
        &[("GO_SITE_ID", "b")],
        &["logout", &url, "session:", USER],
    )
    .unwrap();
    assert_eq!(
        site_a.get(&in_a.id).await.unwrap(),
        None,
        "Go's logout of site b removed site a's session"
    );
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}
