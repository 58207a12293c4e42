//! The file backend (possessions' disk storer): one JSON file per session under a directory.
//!
//! The layout under `path` (session files, meta sidecars, user and expiry index markers,
//! tombstones, the `lock` file) is described in the `layout` module.
//!
//! Every file with content is written to a temporary file in the same directory, synced, then
//! renamed over its target, so a reader never sees half a record and needs no lock. Every
//! mutating step holds an in-process mutex and then the exclusive lock on `lock` (flock-based:
//! it also excludes other opens of the directory in this process and in other processes).
//! A rotation writes two files and removes one; a `get` checks the old id's tombstone before
//! its record, so that it sees the rotation done or not begun, and takes the lock only when it
//! finds an id in the middle of one (`records::Dirs::fetch_unlocked`).
//!
//! Index markers are written before the record and removed after it, so a crash can leave a
//! stale marker (skipped and removed when noticed) but never an unindexed record. Liveness comes
//! only from the stored expiry, never from file times.
//!
//! One concept per child module: `layout` (the paths), `fsio` (atomic writes, optional reads
//! and removes, directory listings), `lock` (the lock, and running work with or without it),
//! `records` (session files, sidecars and their markers), `tombstones`, `admit` (admission
//! plans and evictions), `steps` (insert, the write half of modify, remove), `listing` (the
//! user index and walks of a site), `raw` (the admin walk) and `sweep` (purge by expiry bucket).

mod admit;
mod fsio;
mod layout;
mod listing;
mod lock;
mod raw;
mod records;
mod steps;
mod sweep;
mod tombstones;

use super::{Backend, Change, Modified, Page, RawPage, Record, WriteCtx, owner_only};
use crate::controls::admission::Admission;
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::runtime;
use crate::session::Session;
use async_trait::async_trait;
use layout::Dirs;
use lock::Held;
use records::Stored;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

/// Opens the file backend at `path` (a directory, created if missing).
pub async fn open(path: &Path) -> Result<Arc<dyn Backend>> {
    let root = path.to_path_buf();
    let backend = blocking(move || FileBackend::open_blocking(root)).await?;
    Ok(Arc::new(backend))
}

/// The file backend: see the module documentation for the layout and the locking.
#[derive(Debug)]
pub struct FileBackend {
    dirs: Arc<Dirs>,
    /// The open `lock` file; `None` once closed.
    lock: Arc<Mutex<Option<File>>>,
    closed: AtomicBool,
}

/// Runs filesystem work on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    runtime::spawn_blocking(f)
        .await
        .map_err(|_| Error::backend("a file backend task panicked or was cancelled"))?
}

fn closed() -> Error {
    Error::unavailable("the file backend is closed")
}

fn io_error(what: &str, e: &io::Error) -> Error {
    Error::backend(format!("file backend: {what}: {e}"))
}

fn io_error_for(what: &str, e: &io::Error, id: &str) -> Error {
    io_error(what, e).with("session_id_hash", id::hash(id))
}

fn corrupt(id: &str) -> Error {
    Error::backend("the stored session file is not a valid session record")
        .with("session_id_hash", id::hash(id))
}

fn conflict(id: &str) -> Error {
    Error::new(
        ErrorKind::SessionConflict,
        "a session with this id exists or was recently deleted",
    )
    .with("session_id_hash", id::hash(id))
}

fn warn_corrupt(id: &str) {
    tracing::warn!(target: "omnisession", session_id_hash = %id::hash(id),
        "skipping a corrupt session file");
}

impl FileBackend {
    fn open_blocking(root: PathBuf) -> Result<FileBackend> {
        let dirs = Dirs::new(root);
        let unavailable = |what: &str, e: &io::Error| {
            Error::unavailable(format!("file backend: {what} {}: {e}", dirs.root.display()))
        };
        for dir in dirs.all() {
            owner_only::create_dir_all(dir)
                .map_err(|e| unavailable("cannot create the session directory", &e))?;
        }
        let file = owner_only::write_options()
            .read(true)
            .create(true)
            .truncate(false)
            .open(dirs.root.join("lock"))
            .map_err(|e| unavailable("cannot open the lock file of", &e))?;
        file.lock().map_err(|e| unavailable("cannot lock", &e))?;
        let swept = dirs.sweep_temp();
        file.unlock()
            .map_err(|e| unavailable("cannot unlock", &e))?;
        swept.map_err(|e| unavailable("cannot remove temporary files in", &e))?;
        Ok(FileBackend {
            dirs: Arc::new(dirs),
            lock: Arc::new(Mutex::new(Some(file))),
            closed: AtomicBool::new(false),
        })
    }
}

#[async_trait]
impl Backend for FileBackend {
    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        if !id::is_well_formed(id) {
            return Ok(false);
        }
        let owned = id.to_owned();
        self.read(move |d| d.tombstoned(&owned, now_ms)).await
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        if !id::is_well_formed(id) {
            return Ok(None);
        }
        let owned = id.to_owned();
        let stored = if let Some(stored) = self.read(move |d| d.fetch_unlocked(&owned)).await? {
            stored
        } else {
            // In the middle of a rotation: under the lock it is over.
            let owned = id.to_owned();
            self.locked(move |d| d.fetch(&owned)).await?
        };
        match stored {
            Stored::Missing => Ok(None),
            Stored::Corrupt => Err(corrupt(id)),
            Stored::Found(s) => Ok(Some(*s)),
        }
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let record = record.clone();
        let admission = admission.copied();
        self.locked(move |d| d.insert(&record, admission.as_ref(), ctx))
            .await
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        self.check_open()?;
        if !id::is_well_formed(id) {
            return Ok(Modified::Missing);
        }
        // Read under the lock, run the change here (it is the core's, and not 'static), then
        // write under the same lock: the whole read-modify-write is one step.
        let guard = Arc::clone(&self.lock).lock_owned().await;
        let dirs = Arc::clone(&self.dirs);
        let owned = id.to_owned();
        let (held, stored) = blocking(move || {
            let held = Held::acquire(guard)?;
            let stored = dirs.fetch(&owned)?;
            Ok((held, stored))
        })
        .await?;
        let current = match stored {
            Stored::Missing => return Ok(Modified::Missing),
            Stored::Corrupt => return Err(corrupt(id)),
            Stored::Found(s) => *s,
        };
        let record = change(current.clone())?;
        let admission = admission.copied();
        let dirs = Arc::clone(&self.dirs);
        blocking(move || {
            let _held = held;
            dirs.commit(&current, record, admission, ctx)
        })
        .await
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        self.locked(move |d| d.remove(&ids, tombstone, ctx)).await
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let (site, user) = (site.to_owned(), user.to_owned());
        let (s, u) = (site.clone(), user.clone());
        let (sessions, stale) = self.read(move |d| d.user_sessions(&s, &u)).await?;
        if !stale.is_empty() {
            self.locked(move |d| d.drop_stale_members(&site, &user, &stale))
                .await?;
        }
        Ok(sessions)
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        let site = site.to_owned();
        let cursor = cursor.map(str::to_owned);
        self.read(move |d| d.page(&site, cursor.as_deref(), limit, now_ms))
            .await
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let site = site.to_owned();
        self.read(move |d| d.count(&site, now_ms)).await
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let site = site.to_owned();
        self.locked(move |d| d.clear(&site, now_ms)).await
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        self.locked(move |d| d.purge_expired(now_ms)).await
    }

    async fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        let cursor = cursor.map(str::to_owned);
        self.read(move |d| d.raw_page(cursor.as_deref(), limit))
            .await
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        // Waits for the step in progress, then closes the lock file.
        let mut file = self.lock.lock().await;
        drop(file.take());
        Ok(())
    }
}
