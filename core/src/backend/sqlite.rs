//! The SQLite backend: one database file in WAL mode, shareable by several stores and processes.
//!
//! Atomicity comes from SQLite, never from in-process locks alone: every write is one
//! `BEGIN IMMEDIATE` transaction, so an admission decision, its evictions and the insert it
//! admits see and change the same state whichever store or process runs them. Each backend
//! has one writer connection (operations of one backend queue for it without occupying a
//! thread) and a small pool of read connections (WAL readers block neither the writer nor each
//! other). Every SQLite call runs on the blocking pool ([`runtime::spawn_blocking`]).
//!
//! [`Backend::modify`] runs the core's `change` between two blocking calls: the first begins
//! the transaction and reads the record, the second writes and commits. The writer stays held
//! in between, and an operation abandoned half-way (its future dropped, a panic) rolls its
//! transaction back when it lets go of the writer, so the file's write lock never outlives it.
//!
//! Timestamps are integer Unix milliseconds. A record is the wire JSON; the columns beside it
//! (site, user, times, effective expiry) are what the indexes, the admission and the sweep
//! read, so a record that no longer decodes still counts, expires and can be evicted.

use super::{Backend, Change, Modified, Page, Record, WriteCtx};
use crate::controls::admission::{Admission, Member};
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::runtime;
use crate::session::Session;
use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, Semaphore};

/// The schema this build writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// The schema. `sessions.record` is the wire JSON; the other columns are copies of what the
/// queries need, written from the same [`Record`]. `(site, id)` serves the paged listing in id
/// order, `(site, user_id)` the per-user index, `expires_ms` the sweep.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY NOT NULL,
    site        TEXT NOT NULL,
    user_id     TEXT,
    created_ms  INTEGER NOT NULL,
    accessed_ms INTEGER NOT NULL,
    expires_ms  INTEGER,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_site_user ON sessions (site, user_id);
CREATE INDEX IF NOT EXISTS sessions_site_id ON sessions (site, id);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_ms);
CREATE TABLE IF NOT EXISTS tombstones (
    id       TEXT PRIMARY KEY NOT NULL,
    until_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_until ON tombstones (until_ms);
";

/// How long a statement waits for another connection's lock before `BACKEND_UNAVAILABLE`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most read connections of one backend.
const READERS: usize = 4;
/// Rows removed per transaction by the sweep.
const PURGE_BATCH: usize = 500;

const SELECT_ONE: &str = "SELECT id, site, user_id, record FROM sessions WHERE id = ?1";
const SELECT_USER: &str =
    "SELECT id, site, user_id, record FROM sessions WHERE site = ?1 AND user_id = ?2";
const SELECT_PAGE: &str = "SELECT id, site, user_id, record FROM sessions \
     WHERE site = ?1 AND id > ?2 AND (expires_ms IS NULL OR expires_ms >= ?3) \
     ORDER BY id LIMIT ?4";
const SELECT_MEMBERS: &str = "SELECT id, created_ms, accessed_ms, expires_ms FROM sessions \
     WHERE site = ?1 AND user_id = ?2 AND id <> ?3";
const COUNT_LIVE: &str = "SELECT COUNT(*) FROM sessions \
     WHERE site = ?1 AND (expires_ms IS NULL OR expires_ms >= ?2)";
const TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1) \
     OR EXISTS (SELECT 1 FROM tombstones WHERE id = ?1 AND until_ms > ?2)";
const INSERT_ROW: &str = "INSERT INTO sessions \
     (id, site, user_id, created_ms, accessed_ms, expires_ms, record) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const UPDATE_ROW: &str = "UPDATE sessions SET site = ?2, user_id = ?3, created_ms = ?4, \
     accessed_ms = ?5, expires_ms = ?6, record = ?7 WHERE id = ?1";
const DELETE_ROW: &str = "DELETE FROM sessions WHERE id = ?1";
const DELETE_SITE: &str = "DELETE FROM sessions WHERE site = ?1";
const PUT_TOMBSTONE: &str = "INSERT INTO tombstones (id, until_ms) VALUES (?1, ?2) \
     ON CONFLICT (id) DO UPDATE SET until_ms = excluded.until_ms";
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE rowid IN \
     (SELECT rowid FROM sessions WHERE expires_ms < ?1 LIMIT ?2)";
const PURGE_TOMBSTONES: &str = "DELETE FROM tombstones WHERE rowid IN \
     (SELECT rowid FROM tombstones WHERE until_ms <= ?1 LIMIT ?2)";

/// Opens the sqlite backend at `path` (created if missing; `:memory:` for a private,
/// in-process database).
pub async fn open(path: &Path) -> Result<Arc<dyn Backend>> {
    let path = path.to_path_buf();
    let backend = blocking(move || SqliteBackend::open_blocking(path)).await?;
    Ok(Arc::new(backend))
}

/// The SQLite backend.
pub struct SqliteBackend {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// `:memory:` is one database per connection: everything goes through the writer.
    in_memory: bool,
    /// `None` once closed.
    writer: Arc<AsyncMutex<Option<Connection>>>,
    /// Read connections not in use.
    idle: Mutex<Vec<Connection>>,
    /// One permit per read connection in use; closed by `close`.
    readers: Arc<Semaphore>,
    closed: AtomicBool,
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.shared.path)
            .field("closed", &self.shared.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    fn open_blocking(path: PathBuf) -> Result<Self> {
        let in_memory = path.as_os_str() == ":memory:";
        let writer = connect(&path).map_err(|e| open_error(&path, &e))?;
        configure_writer(&writer, in_memory)
            .map_err(|e| e.with("path", path.display().to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                in_memory,
                writer: Arc::new(AsyncMutex::new(Some(writer))),
                idle: Mutex::new(Vec::new()),
                readers: Arc::new(Semaphore::new(READERS)),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Waits for the writer connection.
    async fn writer(&self) -> Writer {
        Writer(Some(Arc::clone(&self.shared.writer).lock_owned().await))
    }

    /// Runs `f` on the writer connection (`f` opens and ends its own transaction).
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.writer().await.run(f).await
    }

    /// Runs `f` on a read connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        if self.shared.in_memory {
            return self.write(f).await;
        }
        let permit = Arc::clone(&self.shared.readers)
            .acquire_owned()
            .await
            .map_err(|_| Error::closed())?;
        let shared = Arc::clone(&self.shared);
        blocking(move || {
            let _permit = permit;
            let conn = shared.checkout()?;
            let result = f(&conn);
            shared.checkin(conn);
            result
        })
        .await
    }
}

impl Shared {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkout(&self) -> Result<Connection> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::closed());
        }
        if let Some(conn) = self.idle().pop() {
            return Ok(conn);
        }
        let conn = connect(&self.path).map_err(|e| open_error(&self.path, &e))?;
        // Readers never write: a bug that tries is an error, not a second writer.
        conn.pragma_update(None, "query_only", true)
            .map_err(sql_error)?;
        Ok(conn)
    }

    fn checkin(&self, conn: Connection) {
        let surplus = {
            let mut idle = self.idle();
            // `closed` is read under the pool lock, which `close` takes after setting it.
            if conn.is_autocommit() && !self.closed.load(Ordering::SeqCst) && idle.len() < READERS {
                idle.push(conn);
                None
            } else {
                Some(conn)
            }
        };
        if let Some(conn) = surplus {
            close_connection(conn);
        }
    }
}

/// The writer connection, held by one operation from its first blocking call to its last.
///
/// Dropped with a transaction still open (its operation abandoned or panicking), it rolls the
/// transaction back, so the file's write lock never outlives the operation. Between calls it
/// lives in the operation's future; during a call, in the blocking task, so a future dropped
/// mid-call leaves the rollback to the blocking thread.
struct Writer(Option<OwnedMutexGuard<Option<Connection>>>);

impl Writer {
    fn conn(&self) -> Option<&Connection> {
        self.0.as_deref().and_then(Option::as_ref)
    }

    async fn run<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let held = Writer(self.0.take());
        let (held, result) = runtime::spawn_blocking(move || {
            let result = match held.conn() {
                Some(conn) => f(conn),
                None => Err(Error::closed()),
            };
            (held, result)
        })
        .await
        .map_err(join_error)?;
        *self = held;
        result
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(conn) = self.conn() {
            rollback(conn);
        }
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn load(&self, id: &str) -> Result<Option<Session>> {
        let id = id.to_owned();
        self.read(move |c| load_raw(c, &id)?.map(RawRow::decode).transpose())
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
        self.write(move |c| {
            in_tx(c, |c| {
                let id = &record.session.id;
                if taken(c, id, ctx.now_ms)? {
                    return Err(conflict(id));
                }
                let evicted = match &admission {
                    Some(a) => admit(c, &record.session, a, ctx)?,
                    None => Vec::new(),
                };
                write_row(c, INSERT_ROW, &record)?;
                Ok(evicted)
            })
        })
        .await
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        let mut writer = self.writer().await;
        let old_id = id.to_owned();
        let current = writer
            .run(move |c| {
                begin(c)?;
                let current =
                    load_raw(c, &old_id).and_then(|row| row.map(RawRow::decode).transpose());
                if !matches!(current, Ok(Some(_))) {
                    rollback(c);
                }
                current
            })
            .await?;
        let Some(current) = current else {
            return Ok(Modified::Missing);
        };
        // The change runs here, between the two blocking calls: the transaction is open and
        // the writer held, so nothing can change the record meanwhile.
        let record = match change(current.clone()) {
            Ok(record) => record,
            Err(e) => {
                // A failed rollback is rolled back again when the writer is next used.
                let _ = writer
                    .run(|c| {
                        rollback(c);
                        Ok(())
                    })
                    .await;
                return Err(e);
            }
        };
        let old_id = id.to_owned();
        let admission = admission.copied();
        writer
            .run(move |c| {
                let stored = store_modified(c, &old_id, &current, &record, admission, ctx);
                let evicted = finish(c, stored)?;
                Ok(Modified::Written {
                    record: Box::new(record),
                    evicted,
                })
            })
            .await
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        self.write(move |c| {
            in_tx(c, |c| {
                let mut removed = 0;
                for id in &ids {
                    if delete_row(c, id)? {
                        removed += 1;
                        if tombstone {
                            put_tombstone(c, id, ctx.tombstone_until_ms)?;
                        }
                    }
                }
                Ok(removed)
            })
        })
        .await
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let (site, user) = (site.to_owned(), user.to_owned());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(SELECT_USER).map_err(sql_error)?;
            let rows = stmt
                .query_map(params![site, user], RawRow::read)
                .map_err(sql_error)?;
            let mut sessions = Vec::new();
            for row in rows {
                if let Some(s) = row.map_err(sql_error)?.decode_or_skip() {
                    sessions.push(s);
                }
            }
            Ok(sessions)
        })
        .await
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        let site = site.to_owned();
        // Every id is non-empty, so "after the empty string" is "from the start".
        let after = cursor.unwrap_or_default().to_owned();
        let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(SELECT_PAGE).map_err(sql_error)?;
            let mut rows: Vec<RawRow> = stmt
                .query_map(params![site, after, now_ms, fetch], RawRow::read)
                .map_err(sql_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(sql_error)?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            // The cursor is the last id examined, so a corrupt last row is not seen again.
            let cursor = if more {
                rows.last().map(|r| r.id.clone())
            } else {
                None
            };
            let sessions = rows
                .into_iter()
                .filter_map(RawRow::decode_or_skip)
                .collect();
            Ok(Page { sessions, cursor })
        })
        .await
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let site = site.to_owned();
        self.read(move |c| count_live(c, &site, now_ms)).await
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let site = site.to_owned();
        self.write(move |c| {
            in_tx(c, |c| {
                let live = count_live(c, &site, now_ms)?;
                c.prepare_cached(DELETE_SITE)
                    .and_then(|mut s| s.execute([&site]))
                    .map_err(sql_error)?;
                Ok(live)
            })
        })
        .await
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        // Short transactions of at most PURGE_BATCH rows each, taking the writer anew for
        // each, so that writes of this and every other store get in between.
        let mut removed = 0u64;
        for (sql, count) in [(PURGE_SESSIONS, true), (PURGE_TOMBSTONES, false)] {
            loop {
                let n = self
                    .write(move |c| {
                        in_tx(c, |c| {
                            c.prepare_cached(sql)
                                .and_then(|mut s| s.execute(params![now_ms, PURGE_BATCH as i64]))
                                .map_err(sql_error)
                        })
                    })
                    .await?;
                if count {
                    removed += n as u64;
                }
                if n < PURGE_BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }

    async fn close(&self) -> Result<()> {
        let shared = &self.shared;
        if shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        shared.readers.close();
        // Waits for the write in progress, if any; later ones find no connection.
        let writer = Arc::clone(&shared.writer).lock_owned().await;
        let idle = std::mem::take(&mut *shared.idle());
        blocking(move || {
            let mut writer = writer;
            for conn in writer.take().into_iter().chain(idle) {
                close_connection(conn);
            }
            Ok(())
        })
        .await
    }
}

/// A row as stored: the columns that address it and the record bytes, not yet decoded.
struct RawRow {
    id: String,
    site: String,
    user: Option<String>,
    record: Vec<u8>,
}

impl RawRow {
    /// Reads the columns `id, site, user_id, record`, in that order.
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            id: row.get(0)?,
            site: row.get(1)?,
            user: row.get(2)?,
            // Text or blob; anything else decodes as nothing, i.e. as a corrupt record.
            record: row
                .get_ref(3)?
                .as_bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        })
    }

    /// The session, or `BACKEND_ERROR` with `session_id_hash` if the record is corrupt.
    fn decode(self) -> Result<Session> {
        let session = Session::from_wire(&self.record).map_err(|why| corrupt(&self.id, &why))?;
        if session.id != self.id || session.site_id != self.site || session.user_id != self.user {
            return Err(corrupt(
                &self.id,
                "the record does not match its id, site or user",
            ));
        }
        Ok(session)
    }

    /// The session, or `None` (logged) if the record is corrupt: for listings, where one bad
    /// record must not hide the others.
    fn decode_or_skip(self) -> Option<Session> {
        let id = id::hash(&self.id);
        match self.decode() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(target: "omnisession", session_id_hash = %id, error = %e,
                    "skipping a corrupt session record");
                None
            }
        }
    }
}

/// A new connection with the busy timeout every connection of this backend has.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// WAL, `synchronous=NORMAL` and the schema.
fn configure_writer(conn: &Connection, in_memory: bool) -> Result<()> {
    let opening = |e: rusqlite::Error| open_error(Path::new(""), &e);
    if !in_memory {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::unavailable(format!(
                "sqlite: the database cannot use write-ahead logging (journal mode {mode:?})"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(opening)?;
    in_tx(conn, |c| {
        let version: i64 = c
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(opening)?;
        match version {
            0 => {
                c.execute_batch(SCHEMA).map_err(opening)?;
                c.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(opening)
            }
            SCHEMA_VERSION => Ok(()),
            other => Err(Error::backend(format!(
                "sqlite: the database has schema version {other}; this build reads version \
                 {SCHEMA_VERSION}"
            ))
            .with("schema_version", other)),
        }
    })
}

/// `BEGIN IMMEDIATE`: takes the file's write lock now (waiting up to the busy timeout), so the
/// reads of the transaction see the state its writes apply to.
fn begin(conn: &Connection) -> Result<()> {
    // A transaction left open by a panic is finished here at the latest.
    rollback(conn);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)
}

/// Commits on `Ok`, rolls back on `Err` (returned unchanged).
fn finish<T>(conn: &Connection, result: Result<T>) -> Result<T> {
    match result {
        Ok(value) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                rollback(conn);
                Err(sql_error(e))
            }
        },
        Err(e) => {
            rollback(conn);
            Err(e)
        }
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction.
fn in_tx<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    begin(conn)?;
    let result = f(conn);
    finish(conn, result)
}

/// Rolls back the open transaction, if any.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(target: "omnisession", error = %e, "sqlite rollback failed");
    }
}

fn close_connection(conn: Connection) {
    if let Err((_, e)) = conn.close() {
        tracing::warn!(target: "omnisession", error = %e, "closing a sqlite connection failed");
    }
}

fn load_raw(conn: &Connection, id: &str) -> Result<Option<RawRow>> {
    conn.prepare_cached(SELECT_ONE)
        .and_then(|mut s| s.query_row([id], RawRow::read).optional())
        .map_err(sql_error)
}

/// Whether `id` is in use: stored (expired or not) or tombstoned until after `now_ms`.
fn taken(conn: &Connection, id: &str, now_ms: i64) -> Result<bool> {
    conn.prepare_cached(TAKEN)
        .and_then(|mut s| s.query_row(params![id, now_ms], |r| r.get(0)))
        .map_err(sql_error)
}

fn count_live(conn: &Connection, site: &str, now_ms: i64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(COUNT_LIVE)
        .and_then(|mut s| s.query_row(params![site, now_ms], |r| r.get(0)))
        .map_err(sql_error)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Runs [`INSERT_ROW`] or [`UPDATE_ROW`] with the record's columns.
fn write_row(conn: &Connection, sql: &str, record: &Record) -> Result<()> {
    let s = &record.session;
    conn.prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                s.id,
                s.site_id,
                s.user_id,
                record.created_ms(),
                record.accessed_ms(),
                record.expires_ms,
                record.wire,
            ])
        })
        .map(drop)
        .map_err(sql_error)
}

/// Deletes a row; whether there was one.
fn delete_row(conn: &Connection, id: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(DELETE_ROW)
        .and_then(|mut s| s.execute([id]))
        .map_err(sql_error)?;
    Ok(n > 0)
}

fn put_tombstone(conn: &Connection, id: &str, until_ms: i64) -> Result<()> {
    conn.prepare_cached(PUT_TOMBSTONE)
        .and_then(|mut s| s.execute(params![id, until_ms]))
        .map(drop)
        .map_err(sql_error)
}

/// Runs the admission for `session`'s (site, user) and applies its decision, inside the
/// caller's transaction. Members come from the columns, so a corrupt record still counts.
fn admit(
    conn: &Connection,
    session: &Session,
    admission: &Admission,
    ctx: WriteCtx,
) -> Result<Vec<Session>> {
    let Some(user) = &session.user_id else {
        return Ok(Vec::new());
    };
    let members: Vec<Member> = conn
        .prepare_cached(SELECT_MEMBERS)
        .and_then(|mut stmt| {
            stmt.query_map(params![session.site_id, user, session.id], |r| {
                Ok(Member {
                    id: r.get(0)?,
                    created_ms: r.get(1)?,
                    accessed_ms: r.get(2)?,
                    expires_ms: r.get(3)?,
                })
            })?
            .collect()
        })
        .map_err(sql_error)?;
    let decision = admission.decide(&members)?;
    let mut evicted = Vec::new();
    for id in &decision.evict {
        let Some(row) = load_raw(conn, id)? else {
            continue;
        };
        delete_row(conn, id)?;
        put_tombstone(conn, id, ctx.tombstone_until_ms)?;
        // A corrupt record is evicted all the same; it just cannot be reported as a session.
        if let Some(old) = row.decode_or_skip() {
            evicted.push(old);
        }
    }
    for id in &decision.expired {
        delete_row(conn, id)?;
    }
    Ok(evicted)
}

/// The write half of [`Backend::modify`], inside the transaction its read half began.
fn store_modified(
    conn: &Connection,
    old_id: &str,
    current: &Session,
    record: &Record,
    admission: Option<Admission>,
    ctx: WriteCtx,
) -> Result<Vec<Session>> {
    let new = &record.session;
    let rotated = new.id != old_id;
    if rotated && taken(conn, &new.id, ctx.now_ms)? {
        return Err(conflict(&new.id));
    }
    let moves_user =
        new.user_id.is_some() && (new.user_id != current.user_id || new.site_id != current.site_id);
    // The current record is not a member of the new (site, user): admission never evicts it.
    let evicted = match (moves_user, admission) {
        (true, Some(a)) => admit(conn, new, &a, ctx)?,
        _ => Vec::new(),
    };
    if rotated {
        delete_row(conn, old_id)?;
        put_tombstone(conn, old_id, ctx.tombstone_until_ms)?;
        write_row(conn, INSERT_ROW, record)?;
    } else {
        write_row(conn, UPDATE_ROW, record)?;
    }
    Ok(evicted)
}

fn conflict(id: &str) -> Error {
    Error::new(
        ErrorKind::SessionConflict,
        "a session with this id exists or was recently deleted",
    )
    .with("session_id_hash", id::hash(id))
}

/// `BACKEND_ERROR` for a record that does not decode. The reason never quotes the id.
fn corrupt(id: &str, why: &str) -> Error {
    let why = if id.is_empty() {
        why.to_owned()
    } else {
        why.replace(id, "<id>")
    };
    Error::new(
        ErrorKind::BackendError,
        format!("corrupt session record: {why}"),
    )
    .with("session_id_hash", id::hash(id))
}

/// An SQLite error: `BACKEND_UNAVAILABLE` when the file is locked past the busy timeout or
/// cannot be opened, `BACKEND_ERROR` otherwise. SQLite's messages name no values.
#[allow(clippy::needless_pass_by_value)] // the shape `map_err` takes
fn sql_error(e: rusqlite::Error) -> Error {
    let message = format!("sqlite: {e}");
    let error = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen) => {
            Error::unavailable(message)
        }
        _ => Error::backend(message),
    };
    match e.sqlite_extended_error_code() {
        Some(code) => error.with("sqlite_code", code),
        None => error,
    }
}

/// An error while opening: `BACKEND_ERROR` when the file is not a (sound) database,
/// `BACKEND_UNAVAILABLE` when it cannot be used at all (missing directory, permissions, locks).
fn open_error(path: &Path, e: &rusqlite::Error) -> Error {
    let message = if path.as_os_str().is_empty() {
        format!("sqlite: cannot open the database: {e}")
    } else {
        format!("sqlite: cannot open the database {}: {e}", path.display())
    };
    let error = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::backend(message),
        _ => Error::unavailable(message),
    };
    match e.sqlite_extended_error_code() {
        Some(code) => error.with("sqlite_code", code),
        None => error,
    }
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` takes
fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_cancelled() {
        Error::unavailable("sqlite: the blocking task was cancelled (runtime shutting down)")
    } else {
        Error::backend("sqlite: the blocking task panicked")
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    runtime::spawn_blocking(f).await.map_err(join_error)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str, n: usize) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args: Vec<rusqlite::types::Value> = (0..n).map(|_| 1i64.into()).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3));
        rows.unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn every_query_uses_an_index() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        for (sql, n) in [
            (SELECT_ONE, 1),
            (SELECT_USER, 2),
            (SELECT_PAGE, 4),
            (SELECT_MEMBERS, 3),
            (COUNT_LIVE, 2),
            (TAKEN, 2),
            (DELETE_SITE, 1),
            (PURGE_SESSIONS, 2),
            (PURGE_TOMBSTONES, 2),
        ] {
            let plan = plan(&conn, sql, n);
            assert!(plan.contains("INDEX"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}: {plan}");
            for table in ["sessions", "tombstones"] {
                let full_scan = format!("SCAN {table}");
                assert!(
                    !plan.split(" | ").any(|step| step == full_scan),
                    "{sql}: {plan}"
                );
            }
        }
        assert!(plan(&conn, PURGE_SESSIONS, 2).contains("sessions_expires"));
        assert!(plan(&conn, SELECT_PAGE, 4).contains("sessions_site_id"));
    }

    #[test]
    fn the_schema_version_is_recorded_and_a_newer_one_refused() {
        let conn = Connection::open_in_memory().unwrap();
        configure_writer(&conn, true).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        configure_writer(&conn, true).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = configure_writer(&conn, true).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BackendError);
    }

    #[test]
    fn busy_is_unavailable_and_corrupt_hides_the_id() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert_eq!(sql_error(busy).kind(), ErrorKind::BackendUnavailable);
        let id = "a".repeat(43);
        let e = corrupt(&id, &format!("invalid type: string \"{id}\""));
        assert!(!e.message().contains(&id), "{}", e.message());
        assert_eq!(e.details()["session_id_hash"], id::hash(&id));
    }
}
