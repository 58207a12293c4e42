//! Every command on a real SQLite file and a real session directory, and bad input.

mod support;

use std::path::Path;
use support::{every_command, fp, omnisession, omnisession_env, secret};

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let urls = vec![sqlite_url(&db)];
    let corrupt = |id: &str| {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute(
            "INSERT INTO sessions (id, site, user_id, created_ms, accessed_ms, expires_ms, record) \
             VALUES (?1, '', 'mallory', 0, 0, NULL, ?2)",
            rusqlite::params![id, format!("{{\"id\":\"{id}\",\"user_id\":")],
        )
        .unwrap();
    };
    let present = |id: &str| {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.query_row("SELECT COUNT(*) FROM sessions WHERE id = ?1", [id], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
            == 1
    };
    every_command(&urls, corrupt, present, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_on_a_session_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let urls = vec![format!("file://{}", root.display())];
    let file_of = |id: &str| root.join("sessions").join(format!("{id}.json"));
    let corrupt = |id: &str| std::fs::write(file_of(id), b"{\"id\": [").unwrap();
    let present = |id: &str| file_of(id).exists();
    every_command(&urls, corrupt, present, true).await;
}

#[test]
fn the_url_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    std::fs::File::create(&db).unwrap();
    let url = sqlite_url(&db);
    let run = omnisession_env(&["stats", "--json"], &[("OMNISESSION_URL", &url)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["records"], 0);
    let run = omnisession(&["stats"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("OMNISESSION_URL"), "{run:?}");
}

#[test]
fn bad_urls_and_flags_are_usage_errors_without_secrets() {
    secret("hunter2");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.db");
    for (args, code, says) in [
        (
            vec!["stats", "--url", "http://example.com/x"],
            2,
            "CONFIG_INVALID",
        ),
        (
            vec!["stats", "--url", "mysql://root:hunter2@db/x"],
            2,
            "CONFIG_INVALID",
        ),
        (
            vec!["list", "--user", "u", "--url", "sqlite://"],
            2,
            "names no path",
        ),
        (
            vec![
                "stats",
                "--url",
                "redis://u:hunter2@h:1",
                "--url",
                "sqlite:///x.db",
            ],
            2,
            "local backend",
        ),
        (vec!["stats", "--bogus"], 2, "--bogus"),
        (vec!["list"], 2, "--user"),
        (
            vec!["revoke", "--url", "sqlite:///x.db", "--yes"],
            2,
            "required",
        ),
        (vec!["frobnicate"], 2, "unrecognized subcommand"),
        // clap repeats a stray argument: its password is hidden.
        (
            vec!["stats", "redis://u:hunter2@h:1"],
            2,
            "redis://u:***@h:1",
        ),
    ] {
        let run = omnisession(&args);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        assert!(run.stderr.contains(says), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    let url = sqlite_url(&missing);
    let run = omnisession(&["check", "--url", &url]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("CONFIG_INVALID") && run.stderr.contains("no SQLite database file"),
        "{run:?}"
    );
    assert!(!missing.exists(), "a missing database must not be created");
    let run = omnisession(&["stats", "--url", "http://x", "--json"]);
    assert_eq!(run.code, 2, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
    assert_eq!(err["error"]["code"], "CONFIG_INVALID");
    // A session id passed as an id hash is refused and not repeated back.
    let id = omnisession::id::generate();
    secret(&id);
    let db = dir.path().join("empty.db");
    std::fs::File::create(&db).unwrap();
    // Also one that begins with '-', as one generated id in 64 does.
    let dashed = format!("-{}", &id[1..]);
    secret(&dashed);
    for id in [&id, &dashed] {
        let run = omnisession(&["inspect", "--id-hash", id, "--url", &sqlite_url(&db)]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("form of a session id"), "{run:?}");
        assert!(!run.stderr.contains(&id[1..]), "the id repeated: {run:?}");
    }
    let run = omnisession(&["inspect", "--id-hash", &fp(&id), "--url", &sqlite_url(&db)]);
    assert_eq!(run.code, 1, "{run:?}");
    let upper = fp(&id).to_ascii_uppercase();
    let run = omnisession(&["inspect", "--id-hash", &upper, "--url", &sqlite_url(&db)]);
    assert_eq!(run.code, 1, "either case is an id hash: {run:?}");
}

#[test]
fn commands_that_change_a_store_refuse_without_a_terminal_or_yes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    std::fs::File::create(&db).unwrap();
    let url = sqlite_url(&db);
    let to = sqlite_url(&dir.path().join("to.db"));
    for args in [
        vec!["revoke", "--user", "u", "--url", &url],
        vec!["revoke", "--id-hash", "00000000000000000000", "--url", &url],
        vec!["cleanup", "--url", &url],
        vec!["migrate", &url, &to],
    ] {
        let run = omnisession(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("no terminal") && run.stderr.contains("--yes"),
            "{run:?}"
        );
    }
    assert!(!dir.path().join("to.db").exists());
    let run = omnisession(&["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("migrate") && run.stdout.contains("Exit codes"),
        "{run:?}"
    );
}

/// Runs `command` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_a_terminal(command: &str, answer: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script`, to give the command a terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_revoke_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("tty.db"));
    let urls = vec![url.clone()];
    let store = support::store(&urls, "").await;
    let session = support::create(&store, Some("alice"), 3_600_000).await;
    let command = format!(
        "{} revoke --user alice --url {url}",
        env!("CARGO_BIN_EXE_omnisession")
    );
    let (code, shown) = on_a_terminal(&command, "n\n");
    assert_eq!(code, 5, "{shown}");
    assert!(
        shown.contains("Revoke 1 session(s) of user \"alice\""),
        "{shown}"
    );
    assert!(shown.contains("cancelled"), "{shown}");
    assert!(store.get(&session.id).await.unwrap().is_some());
    let (code, shown) = on_a_terminal(&command, "y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("revoked 1 session(s)"), "{shown}");
    assert!(!shown.contains(&session.id), "{shown}");
    assert!(store.get(&session.id).await.unwrap().is_none());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_leaves_bad_records_behind_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from.db");
    let from = sqlite_url(&db);
    let to = format!("file://{}", dir.path().join("to").display());
    let store = support::store(std::slice::from_ref(&from), "").await;
    for _ in 0..3 {
        support::create(&store, Some("alice"), 3_600_000).await;
    }
    store.close().await.unwrap();
    let bad = omnisession::id::generate();
    secret(&bad);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO sessions (id, site, user_id, created_ms, accessed_ms, expires_ms, record) \
             VALUES (?1, '', NULL, 0, 0, NULL, 'garbage')",
            [&bad],
        )
        .unwrap();
    let run = omnisession(&["migrate", &from, &to, "--yes", "--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(
        (doc["created"].as_u64(), doc["bad"].as_u64()),
        (Some(3), Some(1)),
        "{doc}"
    );
    let run = omnisession(&["migrate", &from, &to, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("3 unchanged") && run.stdout.contains("1 bad"),
        "{run:?}"
    );
    assert!(run.stderr.contains("check"), "{run:?}");
    let run = omnisession(&["migrate", &from, &from, "--yes"]);
    assert_eq!(run.code, 2, "{run:?}");
}
