//! The file backend (possessions' disk storer): one JSON file per session under a directory.
//!
//! Layout under `path`:
//! - `sessions/<id>.json`: exactly the record's wire JSON;
//! - `meta/<id>`: a small JSON sidecar with the effective expiry and the user key, written
//!   before the session file so that it is never older than the record it describes;
//! - `users/<user key>/<id>`: empty markers, the per-(site, user) index (the key is the hex
//!   SHA-256 of the length-prefixed site and user);
//! - `expiry/<bucket>/<id>`: empty markers, the expiry index (`bucket` = expiry in whole
//!   minutes), so that a sweep only visits the buckets at or before now;
//! - `tombstones/<id>` (until, in Unix ms) and `tombstone-expiry/<bucket>/<id>` markers;
//! - `lock`: the file every mutating step holds an exclusive lock on.
//!
//! Every file with content is written to a temporary file in the same directory, synced, then
//! renamed over its target, so a reader never sees half a record and needs no lock. Every
//! mutating step holds an in-process mutex and then the exclusive lock on `lock` (flock-based:
//! it also excludes other opens of the directory in this process and in other processes).
//!
//! Index markers are written before the record and removed after it, so a crash can leave a
//! stale marker (skipped and removed when noticed) but never an unindexed record. Liveness comes
//! only from the stored expiry, never from file times.

use super::{Backend, Change, Modified, Page, Record, WriteCtx, is_live};
use crate::controls::admission::{Admission, Decision, Member};
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::runtime;
use crate::session::Session;
use crate::timestamp::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Width of an expiry bucket in ms.
const BUCKET_MS: i64 = 60_000;
/// Prefix of temporary files (never a valid id, never ending in `.json`).
const TMP_PREFIX: &str = ".tmp-";
/// Suffix of session files.
const JSON: &str = ".json";

/// Distinguishes the temporary files of one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

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

/// The paths of one backend directory. All its methods do blocking I/O.
#[derive(Debug)]
struct Dirs {
    root: PathBuf,
    sessions: PathBuf,
    meta: PathBuf,
    users: PathBuf,
    expiry: PathBuf,
    tombstones: PathBuf,
    tombstone_expiry: PathBuf,
}

/// The sidecar of a record: what the core computed and the files cannot tell cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    /// Effective expiry in Unix ms, `None` = never.
    expires_ms: Option<i64>,
    /// The `users/` directory that indexes the record, `None` for an anonymous session.
    user_key: Option<String>,
}

/// What a session file holds.
enum Stored {
    Missing,
    Corrupt,
    Found(Box<Session>),
}

/// What a tombstone file holds.
enum Tomb {
    None,
    Corrupt,
    Until(i64),
}

/// An admission decided (nothing written yet) and the sessions it names.
struct Plan {
    decision: Decision,
    sessions: HashMap<String, Session>,
}

/// The in-process mutex and the directory lock, held together; dropping releases both.
struct Held(OwnedMutexGuard<Option<File>>);

impl Held {
    /// Takes the directory lock (blocking) under an already held in-process guard.
    fn acquire(guard: OwnedMutexGuard<Option<File>>) -> Result<Held> {
        let Some(file) = guard.as_ref() else {
            return Err(closed());
        };
        file.lock()
            .map_err(|e| io_error("cannot lock the session directory", &e))?;
        Ok(Held(guard))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(file) = self.0.as_ref()
            && let Err(e) = file.unlock()
        {
            tracing::warn!(target: "omnisession", error = %e,
                "cannot unlock the session directory");
        }
    }
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

fn bucket(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS)
}

/// The index directory name of a (site, user): hex SHA-256 of both, length-prefixed.
fn user_key(site: &str, user: &str) -> String {
    let mut h = Sha256::new();
    h.update((site.len() as u64).to_le_bytes());
    h.update(site.as_bytes());
    h.update(user.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn is_user_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn session_user_key(s: &Session) -> Option<String> {
    s.user_id.as_deref().map(|u| user_key(&s.site_id, u))
}

/// Decodes a session file; it must be UTF-8, a record, and carry the id it is stored under.
fn decode(id: &str, bytes: &[u8]) -> Option<Session> {
    std::str::from_utf8(bytes).ok()?;
    Session::from_wire(bytes).ok().filter(|s| s.id == id)
}

/// The file's content, `None` if it does not exist.
fn read_opt(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; whether it existed.
fn remove_opt(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a directory if it is empty (index directories come and go with their markers).
fn remove_dir_if_empty(path: &Path) {
    // Failing (not empty, already gone) is the normal case: nothing to do.
    let _ = fs::remove_dir(path);
}

/// Names of the entries of a directory (none if it does not exist).
fn names(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Well-formed ids among the names of a marker directory.
fn marker_ids(dir: &Path) -> io::Result<Vec<String>> {
    Ok(names(dir)?
        .into_iter()
        .filter(|n| id::is_well_formed(n))
        .collect())
}

/// Creates an empty marker file (and its directory).
fn touch_marker(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Writes `bytes` to `target` atomically: a temporary file in the same directory, synced,
/// then renamed over the target. The temporary file never outlives a failure.
fn write_atomic(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Dirs {
    fn new(root: PathBuf) -> Self {
        Self {
            sessions: root.join("sessions"),
            meta: root.join("meta"),
            users: root.join("users"),
            expiry: root.join("expiry"),
            tombstones: root.join("tombstones"),
            tombstone_expiry: root.join("tombstone-expiry"),
            root,
        }
    }

    fn all(&self) -> [&Path; 7] {
        [
            &self.root,
            &self.sessions,
            &self.meta,
            &self.users,
            &self.expiry,
            &self.tombstones,
            &self.tombstone_expiry,
        ]
    }

    fn session_path(&self, id: &str) -> PathBuf {
        self.sessions.join(format!("{id}{JSON}"))
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.meta.join(id)
    }

    fn user_marker(&self, key: &str, id: &str) -> PathBuf {
        self.users.join(key).join(id)
    }

    fn expiry_dir(&self, b: i64) -> PathBuf {
        self.expiry.join(b.to_string())
    }

    fn tombstone_path(&self, id: &str) -> PathBuf {
        self.tombstones.join(id)
    }

    fn tombstone_dir(&self, b: i64) -> PathBuf {
        self.tombstone_expiry.join(b.to_string())
    }

    /// Removes temporary files a crashed writer left. Only called under the directory lock,
    /// so no writer is in the middle of one.
    fn sweep_temp(&self) -> io::Result<()> {
        for dir in [&self.sessions, &self.meta, &self.tombstones] {
            for name in names(dir)? {
                if name.starts_with(TMP_PREFIX) {
                    remove_opt(&dir.join(name))?;
                }
            }
        }
        Ok(())
    }

    /// Ids of every session file, in no order.
    fn session_ids(&self) -> Result<Vec<String>> {
        let names = names(&self.sessions).map_err(|e| io_error("cannot list sessions", &e))?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_suffix(JSON).map(str::to_owned))
            .filter(|n| id::is_well_formed(n))
            .collect())
    }

    fn fetch(&self, id: &str) -> Result<Stored> {
        let bytes = read_opt(&self.session_path(id))
            .map_err(|e| io_error_for("cannot read a session file", &e, id))?;
        Ok(match bytes {
            None => Stored::Missing,
            Some(bytes) => {
                decode(id, &bytes).map_or(Stored::Corrupt, |s| Stored::Found(Box::new(s)))
            }
        })
    }

    fn exists(&self, id: &str) -> Result<bool> {
        self.session_path(id)
            .try_exists()
            .map_err(|e| io_error_for("cannot check a session file", &e, id))
    }

    /// The sidecar of `id`; `None` if missing or unreadable as a sidecar.
    fn read_meta(&self, id: &str) -> Result<Option<Meta>> {
        let bytes = read_opt(&self.meta_path(id))
            .map_err(|e| io_error_for("cannot read a session sidecar", &e, id))?;
        let Some(bytes) = bytes else { return Ok(None) };
        match serde_json::from_slice::<Meta>(&bytes) {
            Ok(m) if m.user_key.as_deref().is_none_or(is_user_key) => Ok(Some(m)),
            _ => {
                tracing::warn!(target: "omnisession", session_id_hash = %id::hash(id),
                    "ignoring a corrupt session sidecar");
                Ok(None)
            }
        }
    }

    /// What is known of the stored record `id`: its sidecar, else what its file says
    /// (absolute expiry only), else `None`.
    fn stored_meta(&self, id: &str) -> Result<Option<Meta>> {
        if let Some(meta) = self.read_meta(id)? {
            return Ok(Some(meta));
        }
        Ok(match self.fetch(id)? {
            Stored::Found(s) => Some(Meta {
                expires_ms: s.expires_at.map(Timestamp::unix_ms),
                user_key: session_user_key(&s),
            }),
            Stored::Missing | Stored::Corrupt => None,
        })
    }

    /// Effective expiry of a stored session.
    fn expiry_of(&self, s: &Session) -> Result<Option<i64>> {
        Ok(match self.read_meta(&s.id)? {
            Some(meta) => meta.expires_ms,
            None => s.expires_at.map(Timestamp::unix_ms),
        })
    }

    /// The tombstone of `id`, as stored.
    fn tombstone(&self, id: &str) -> Result<Tomb> {
        let bytes = read_opt(&self.tombstone_path(id))
            .map_err(|e| io_error_for("cannot read a tombstone", &e, id))?;
        let Some(bytes) = bytes else {
            return Ok(Tomb::None);
        };
        Ok(std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map_or(Tomb::Corrupt, Tomb::Until))
    }

    /// Until when `id` is tombstoned, if it is. A tombstone that cannot be read is an error.
    fn read_tombstone(&self, id: &str) -> Result<Option<i64>> {
        match self.tombstone(id)? {
            Tomb::None => Ok(None),
            Tomb::Until(until) => Ok(Some(until)),
            Tomb::Corrupt => {
                Err(Error::backend("a tombstone file is corrupt")
                    .with("session_id_hash", id::hash(id)))
            }
        }
    }

    /// Whether `id` cannot be inserted: its file exists, or a live tombstone.
    fn taken(&self, id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.exists(id)? || self.read_tombstone(id)?.is_some_and(|until| now_ms < until))
    }

    fn write_tombstone(&self, id: &str, until_ms: i64) -> Result<()> {
        let err = |e: io::Error| io_error_for("cannot write a tombstone", &e, id);
        // A previous tombstone that cannot be read only leaves a stale marker behind.
        let old = match self.tombstone(id) {
            Ok(Tomb::Until(until)) => Some(until),
            _ => None,
        };
        touch_marker(&self.tombstone_dir(bucket(until_ms)).join(id)).map_err(err)?;
        write_atomic(
            &self.tombstones,
            &self.tombstone_path(id),
            until_ms.to_string().as_bytes(),
        )
        .map_err(err)?;
        if let Some(old) = old
            && bucket(old) != bucket(until_ms)
        {
            let dir = self.tombstone_dir(bucket(old));
            remove_opt(&dir.join(id)).map_err(err)?;
            remove_dir_if_empty(&dir);
        }
        Ok(())
    }

    /// Writes a record: index markers, sidecar, then the session file; then drops the markers
    /// of the version it replaced.
    fn put(&self, record: &Record) -> Result<()> {
        let id = record.session.id.as_str();
        let err = |e: io::Error| io_error_for("cannot write a session", &e, id);
        let old = self.stored_meta(id)?;
        let meta = Meta {
            expires_ms: record.expires_ms,
            user_key: session_user_key(&record.session),
        };
        if let Some(key) = &meta.user_key {
            touch_marker(&self.user_marker(key, id)).map_err(err)?;
        }
        if let Some(exp) = meta.expires_ms {
            touch_marker(&self.expiry_dir(bucket(exp)).join(id)).map_err(err)?;
        }
        let sidecar = serde_json::to_vec(&meta)
            .map_err(|_| Error::backend("cannot encode a session sidecar"))?;
        write_atomic(&self.meta, &self.meta_path(id), &sidecar).map_err(err)?;
        write_atomic(
            &self.sessions,
            &self.session_path(id),
            record.wire.as_bytes(),
        )
        .map_err(err)?;
        if let Some(old) = old {
            if old.user_key != meta.user_key
                && let Some(key) = &old.user_key
            {
                self.drop_user_marker(key, id)?;
            }
            let old_bucket = old.expires_ms.map(bucket);
            if old_bucket != meta.expires_ms.map(bucket)
                && let Some(b) = old_bucket
            {
                self.drop_expiry_marker(b, id)?;
            }
        }
        Ok(())
    }

    fn drop_user_marker(&self, key: &str, id: &str) -> Result<()> {
        remove_opt(&self.user_marker(key, id))
            .map_err(|e| io_error_for("cannot remove an index marker", &e, id))?;
        remove_dir_if_empty(&self.users.join(key));
        Ok(())
    }

    fn drop_expiry_marker(&self, b: i64, id: &str) -> Result<()> {
        let dir = self.expiry_dir(b);
        remove_opt(&dir.join(id))
            .map_err(|e| io_error_for("cannot remove an expiry marker", &e, id))?;
        remove_dir_if_empty(&dir);
        Ok(())
    }

    /// Removes a record, its sidecar and its markers. Whether the session file existed.
    fn delete_record(&self, id: &str) -> Result<bool> {
        let meta = self.stored_meta(id)?;
        let err = |e: io::Error| io_error_for("cannot remove a session", &e, id);
        let existed = remove_opt(&self.session_path(id)).map_err(err)?;
        remove_opt(&self.meta_path(id)).map_err(err)?;
        if let Some(meta) = meta {
            if let Some(key) = &meta.user_key {
                self.drop_user_marker(key, id)?;
            }
            if let Some(exp) = meta.expires_ms {
                self.drop_expiry_marker(bucket(exp), id)?;
            }
        }
        Ok(existed)
    }

    /// Reads the current members of `session`'s (site, user) (not `session` itself nor
    /// `also_exclude`) and runs the admission on them. Writes nothing but the removal of stale
    /// markers.
    fn plan(&self, session: &Session, admission: &Admission, also_exclude: &str) -> Result<Plan> {
        let mut plan = Plan {
            decision: Decision::default(),
            sessions: HashMap::new(),
        };
        let Some(user) = session.user_id.as_deref() else {
            return Ok(plan);
        };
        let key = user_key(&session.site_id, user);
        let dir = self.users.join(&key);
        let ids = marker_ids(&dir).map_err(|e| io_error("cannot list a user index", &e))?;
        let mut members = Vec::new();
        for id in ids {
            if id == session.id || id == also_exclude {
                continue;
            }
            match self.fetch(&id)? {
                Stored::Found(s)
                    if s.site_id == session.site_id && s.user_id.as_deref() == Some(user) =>
                {
                    members.push(Member {
                        id: id.clone(),
                        created_ms: s.created_at.unix_ms(),
                        accessed_ms: s.last_accessed_at.unix_ms(),
                        expires_ms: self.expiry_of(&s)?,
                    });
                    plan.sessions.insert(id, *s);
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => self.drop_user_marker(&key, &id)?,
            }
        }
        plan.decision = admission.decide(&members)?;
        Ok(plan)
    }

    /// Applies an admission decided by [`Dirs::plan`]: evicts (and tombstones) and drops the
    /// expired members. Returns the evicted sessions.
    fn evict(&self, mut plan: Plan, tombstone_until_ms: i64) -> Result<Vec<Session>> {
        let mut evicted = Vec::new();
        for id in &plan.decision.evict {
            if self.delete_record(id)? {
                self.write_tombstone(id, tombstone_until_ms)?;
                if let Some(s) = plan.sessions.remove(id) {
                    evicted.push(s);
                }
            }
        }
        for id in &plan.decision.expired {
            self.delete_record(id)?;
        }
        Ok(evicted)
    }

    fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let id = record.session.id.as_str();
        if !id::is_well_formed(id) {
            return Err(Error::invalid(
                "the session id is not of the form [A-Za-z0-9_-]{22,128}",
            ));
        }
        if self.taken(id, ctx.now_ms)? {
            return Err(conflict(id));
        }
        let plan = admission
            .map(|a| self.plan(&record.session, a, id))
            .transpose()?;
        self.put(record)?;
        match plan {
            Some(plan) => self.evict(plan, ctx.tombstone_until_ms),
            None => Ok(Vec::new()),
        }
    }

    /// The write half of `modify`, under the lock taken before `current` was read.
    fn commit(
        &self,
        current: &Session,
        record: Record,
        admission: Option<Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        let old_id = current.id.as_str();
        let new_id = record.session.id.as_str();
        let rotating = new_id != old_id;
        if rotating {
            if !id::is_well_formed(new_id) {
                return Err(Error::invalid("the new session id is not well-formed"));
            }
            if self.taken(new_id, ctx.now_ms)? {
                return Err(conflict(new_id));
            }
        }
        let moves_user = record.session.user_id.is_some()
            && (record.session.user_id != current.user_id
                || record.session.site_id != current.site_id);
        let plan = match (moves_user, admission) {
            (true, Some(a)) => Some(self.plan(&record.session, &a, old_id)?),
            _ => None,
        };
        if rotating {
            self.write_tombstone(old_id, ctx.tombstone_until_ms)?;
        }
        self.put(&record)?;
        if rotating {
            self.delete_record(old_id)?;
        }
        let evicted = match plan {
            Some(plan) => self.evict(plan, ctx.tombstone_until_ms)?,
            None => Vec::new(),
        };
        Ok(Modified::Written {
            record: Box::new(record),
            evicted,
        })
    }

    fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut removed = 0;
        for id in ids.iter().filter(|id| id::is_well_formed(id)) {
            if self.delete_record(id)? {
                removed += 1;
                if tombstone {
                    self.write_tombstone(id, ctx.tombstone_until_ms)?;
                }
            }
        }
        Ok(removed)
    }

    /// Indexed sessions of (site, user), and the markers found stale (to drop under the lock).
    fn user_sessions(&self, site: &str, user: &str) -> Result<(Vec<Session>, Vec<String>)> {
        let dir = self.users.join(user_key(site, user));
        let ids = marker_ids(&dir).map_err(|e| io_error("cannot list a user index", &e))?;
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for id in ids {
            match self.fetch(&id)? {
                Stored::Found(s) if s.site_id == site && s.user_id.as_deref() == Some(user) => {
                    sessions.push(*s);
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => stale.push(id),
            }
        }
        Ok((sessions, stale))
    }

    /// Drops the markers of (site, user) that are still stale now that the lock is held.
    fn drop_stale_members(&self, site: &str, user: &str, ids: &[String]) -> Result<()> {
        let key = user_key(site, user);
        for id in ids {
            let stale = match self.fetch(id)? {
                Stored::Found(s) => s.site_id != site || s.user_id.as_deref() != Some(user),
                Stored::Missing => true,
                Stored::Corrupt => false,
            };
            if stale {
                self.drop_user_marker(&key, id)?;
            }
        }
        Ok(())
    }

    /// Calls `f` on every readable session of `site`, in id order from after `cursor`, until
    /// it returns `false`. Corrupt files are skipped with a warning.
    fn scan(
        &self,
        site: &str,
        cursor: Option<&str>,
        mut f: impl FnMut(Session) -> Result<bool>,
    ) -> Result<()> {
        let mut ids = self.session_ids()?;
        ids.retain(|id| cursor.is_none_or(|c| id.as_str() > c));
        ids.sort_unstable();
        for id in ids {
            match self.fetch(&id)? {
                Stored::Found(s) if s.site_id == site => {
                    if !f(*s)? {
                        break;
                    }
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => {}
            }
        }
        Ok(())
    }

    fn page(&self, site: &str, cursor: Option<&str>, limit: usize, now_ms: i64) -> Result<Page> {
        let mut sessions = Vec::new();
        let mut more = false;
        self.scan(site, cursor, |s| {
            if !is_live(self.expiry_of(&s)?, now_ms) {
                return Ok(true);
            }
            if sessions.len() == limit {
                more = true;
                return Ok(false);
            }
            sessions.push(s);
            Ok(true)
        })?;
        let cursor = if more {
            sessions.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok(Page { sessions, cursor })
    }

    fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut n = 0;
        self.scan(site, None, |s| {
            n += u64::from(is_live(self.expiry_of(&s)?, now_ms));
            Ok(true)
        })?;
        Ok(n)
    }

    fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut ids = Vec::new();
        self.scan(site, None, |s| {
            ids.push((is_live(self.expiry_of(&s)?, now_ms), s.id));
            Ok(true)
        })?;
        let mut removed = 0;
        for (live, id) in ids {
            if self.delete_record(&id)? && live {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Bucket directories of `root` at or before `last`, in order.
    fn buckets(root: &Path, last: i64) -> Result<Vec<i64>> {
        let names = names(root).map_err(|e| io_error("cannot list an expiry index", &e))?;
        let mut buckets: Vec<i64> = names
            .iter()
            .filter_map(|n| n.parse().ok())
            .filter(|b| *b <= last)
            .collect();
        buckets.sort_unstable();
        Ok(buckets)
    }

    /// Removes expired records and tombstones, visiting only the buckets at or before now.
    fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let last = bucket(now_ms);
        let mut removed = 0;
        for b in Self::buckets(&self.expiry, last)? {
            let dir = self.expiry_dir(b);
            let ids = marker_ids(&dir).map_err(|e| io_error("cannot list an expiry bucket", &e))?;
            for id in ids {
                match self.stored_meta(&id)? {
                    Some(meta) if meta.expires_ms.map(bucket) == Some(b) => {
                        if !is_live(meta.expires_ms, now_ms) {
                            removed += u64::from(self.delete_record(&id)?);
                        }
                    }
                    // The record is gone or has moved its expiry: the marker is stale.
                    _ => self.drop_expiry_marker(b, &id)?,
                }
            }
            remove_dir_if_empty(&dir);
        }
        for b in Self::buckets(&self.tombstone_expiry, last)? {
            let dir = self.tombstone_dir(b);
            let ids =
                marker_ids(&dir).map_err(|e| io_error("cannot list a tombstone bucket", &e))?;
            for id in ids {
                let err = |e: io::Error| io_error_for("cannot remove a tombstone", &e, &id);
                match self.tombstone(&id)? {
                    Tomb::Until(until) if bucket(until) == b && until > now_ms => continue,
                    Tomb::Until(until) if bucket(until) == b => {
                        remove_opt(&self.tombstone_path(&id)).map_err(err)?;
                    }
                    // Unreadable and past its bucket: nothing can rely on it any more.
                    Tomb::Corrupt => {
                        remove_opt(&self.tombstone_path(&id)).map_err(err)?;
                    }
                    // Gone, or moved to another bucket: the marker is stale.
                    Tomb::Until(_) | Tomb::None => {}
                }
                remove_opt(&dir.join(&id)).map_err(err)?;
            }
            remove_dir_if_empty(&dir);
        }
        Ok(removed)
    }
}

impl FileBackend {
    fn open_blocking(root: PathBuf) -> Result<FileBackend> {
        let dirs = Dirs::new(root);
        let unavailable = |what: &str, e: &io::Error| {
            Error::unavailable(format!("file backend: {what} {}: {e}", dirs.root.display()))
        };
        for dir in dirs.all() {
            fs::create_dir_all(dir)
                .map_err(|e| unavailable("cannot create the session directory", &e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
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

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(closed())
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the blocking pool without a lock (reads).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Dirs) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.check_open()?;
        let dirs = Arc::clone(&self.dirs);
        blocking(move || f(&dirs)).await
    }

    /// Runs `f` on the blocking pool under the in-process mutex and the directory lock.
    async fn locked<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Dirs) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.check_open()?;
        let guard = Arc::clone(&self.lock).lock_owned().await;
        let dirs = Arc::clone(&self.dirs);
        blocking(move || {
            let _held = Held::acquire(guard)?;
            f(&dirs)
        })
        .await
    }
}

#[async_trait]
impl Backend for FileBackend {
    async fn load(&self, id: &str) -> Result<Option<Session>> {
        if !id::is_well_formed(id) {
            return Ok(None);
        }
        let id = id.to_owned();
        self.read(move |d| match d.fetch(&id)? {
            Stored::Missing => Ok(None),
            Stored::Corrupt => Err(corrupt(&id)),
            Stored::Found(s) => Ok(Some(*s)),
        })
        .await
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

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::SeqCst);
        // Waits for the step in progress, then closes the lock file.
        let mut file = self.lock.lock().await;
        drop(file.take());
        Ok(())
    }
}
