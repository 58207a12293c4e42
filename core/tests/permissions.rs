//! What the SQLite and file backends create is readable by its owner only: a session id is a
//! bearer credential, so the files holding them are 0600 and their directories 0700 (Unix).
#![cfg(unix)]

use omnisession::{BackendConfig, NewSession, Options, Store};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A store over `backend` holding one session (left open: SQLite's side files exist while it is).
async fn with_one_session(backend: BackendConfig) -> Store {
    let store = Store::open(Options {
        backend,
        ..Options::default()
    })
    .await
    .unwrap();
    store
        .create(NewSession {
            user_id: Some("alice".into()),
            ..NewSession::default()
        })
        .await
        .unwrap();
    store
}

/// Every entry under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        }
        out.push(path);
    }
}

#[tokio::test]
async fn sqlite_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let store = with_one_session(BackendConfig::Sqlite { path: db }).await;
    // While the store is open the WAL and shared-memory files exist beside the database.
    for name in ["sessions.db", "sessions.db-wal", "sessions.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn an_existing_sqlite_file_keeps_the_mode_its_owner_gave_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let store = with_one_session(BackendConfig::Sqlite { path: db.clone() }).await;
    store.close().await.unwrap();
    assert_eq!(mode(&db), 0o640);
}

#[tokio::test]
async fn file_backend_directories_and_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/sessions");
    let store = with_one_session(BackendConfig::File { path: root.clone() }).await;
    store.close().await.unwrap();
    assert_eq!(mode(&dir.path().join("nested")), 0o700);
    let mut entries = Vec::new();
    walk(&root, &mut entries);
    assert!(entries.len() >= 3, "{entries:?}");
    for path in entries {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
    }
    assert_eq!(mode(&root), 0o700);
}
