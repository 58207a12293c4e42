//! A Go service and omnisession on one Redis: records written by either are read, updated and
//! re-encoded byte for byte by the other. Needs `go` (optional: `make test` runs it where go is
//! installed, with `cargo test --test interop_go -- --ignored`).

#[path = "support/redis.rs"]
mod redis_server;

use omnisession::{BackendConfig, NewSession, Options, Patch, Store};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const USER: &str = "550e8400-e29b-41d4-a716-446655440000";

fn go_binary() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/go");
    let out = std::env::temp_dir().join(format!("omnisession-interop-{}", std::process::id()));
    let status = Command::new("go")
        .current_dir(&src)
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .status()
        .expect("the Go interop test needs go (https://go.dev/dl or apt-get install golang)");
    assert!(status.success(), "go build of tests/interop/go failed");
    out
}

fn go(bin: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(bin)
        .env("TZ", "UTC")
        .args(args)
        .output()
        .expect("run the Go interop program");
    assert!(
        out.status.success(),
        "interop {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
#[ignore = "needs go; run by `make test` where go is installed"]
async fn go_and_omnisession_share_records_both_ways() {
    let bin = go_binary();
    let server = redis_server::RedisServer::single(&[]);
    let url = server.urls[0].clone();
    let options = Options {
        backend: BackendConfig::Redis {
            urls: vec![url.clone()],
            cluster: false,
            tls_ca: None,
        },
        ..Options::default()
    };
    let store = Store::open(options).await.unwrap();

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
    assert_eq!(s.version, 0, "Go records carry no version");
    let mut set = serde_json::Map::new();
    set.insert("from_rust".into(), json!(true));
    let patched = store
        .patch(
            id,
            Patch {
                set,
                ..Default::default()
            },
        )
        .await
        .unwrap();
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

    // Go updates our record; we read its change (Go's struct drops `version`).
    go(
        &bin,
        &["update", &url, "session:", &ours.id, "theme", "dark"],
    );
    let after = store.get(&ours.id).await.unwrap().unwrap();
    assert_eq!(after.data["theme"], "dark");
    assert_eq!(after.data["cart"], json!(["<apple>", 1.5, 2, {"q": null}]));
    assert_eq!(after.version, 0);
    assert!(patched.version >= 1);
    let _ = std::fs::remove_file(bin);
}
