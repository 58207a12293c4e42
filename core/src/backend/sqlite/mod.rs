//! The SQLite backend: one database file in WAL mode, shareable by several stores and processes.
//!
//! Atomicity comes from SQLite, never from in-process locks alone: every write is one
//! `BEGIN IMMEDIATE` transaction, so an admission decision, its evictions and the insert it
//! admits see and change the same state whichever store or process runs them. Each backend
//! has one writer connection (operations of one backend queue for it without occupying a
//! thread) and a small pool of read connections (WAL readers block neither the writer nor each
//! other). Every SQLite call runs on the blocking pool ([`crate::runtime::spawn_blocking`]),
//! except the reads the quick reader serves at once on the calling thread (`pool.rs` says
//! when it may).
//!
//! [`Backend::modify`] runs the core's `change` between two blocking calls: the first begins
//! the transaction and reads the record, the second writes and commits. The writer stays held
//! in between, and an operation abandoned half-way (its future dropped, a panic) rolls its
//! transaction back when it lets go of the writer, so the file's write lock never outlives it.
//!
//! Timestamps are integer Unix milliseconds. A record is the wire JSON; the columns beside it
//! (site, user, times, effective expiry) are what the indexes, the admission and the sweep
//! read, so a record that no longer decodes still counts, expires and can be evicted.
//!
//! One concept per child module: `schema` (SQL, version, pragmas), `pool` (the writer, the
//! readers and the blocking-pool plumbing), `tx` (transactions), `queries` (the statements and
//! their helpers), `rows` (decoding rows, corrupt records), `steps` (admission and the write
//! half of modify), `purge` (the batched sweep), `raw` (the admin walk) and `errors`.

mod errors;
mod pool;
mod purge;
mod queries;
mod raw;
mod rows;
mod schema;
mod steps;
mod tx;

use super::{Backend, Change, Modified, Page, RawPage, Record, WriteCtx, owner_only};
use crate::controls::admission::Admission;
use crate::error::{Error, Result};
use crate::session::Session;
use async_trait::async_trait;
use errors::{conflict, open_error, sql_error};
use pool::{Connections, READERS, blocking, close_connection, connect, count_wal_pages};
use queries::{
    DELETE_SITE, INSERT_ROW, SELECT_PAGE, SELECT_USER, count_live, delete_row, load_raw,
    put_tombstone, taken, tombstoned, write_row,
};
use rows::RawRow;
use rusqlite::{Connection, params};
use schema::configure_writer;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use steps::{admit, store_modified};
use tokio::sync::{Mutex as AsyncMutex, Semaphore};
use tx::{begin, finish, in_tx, rollback};

/// Opens the sqlite backend at `path` (created if missing; `:memory:` for a private,
/// in-process database).
pub async fn open(path: &Path) -> Result<Arc<dyn Backend>> {
    let path = path.to_path_buf();
    let backend = blocking(move || SqliteBackend::open_blocking(path)).await?;
    Ok(Arc::new(backend))
}

/// The SQLite backend.
pub struct SqliteBackend {
    shared: Arc<Connections>,
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
        if !in_memory {
            owner_only::ensure_file(&path).map_err(|e| {
                Error::unavailable(format!("sqlite: cannot create {}: {e}", path.display()))
            })?;
        }
        let mut writer = connect(&path).map_err(|e| open_error(&path, &e))?;
        configure_writer(&writer, in_memory)
            .map_err(|e| e.with("path", path.display().to_string()))?;
        let wal_pages = Arc::new(AtomicU64::new(0));
        if !in_memory {
            count_wal_pages(&mut writer, &wal_pages)?;
        }
        Ok(Self {
            shared: Arc::new(Connections {
                path,
                in_memory,
                writer: Arc::new(AsyncMutex::new(Some(writer))),
                idle: Mutex::new(Vec::new()),
                readers: Arc::new(Semaphore::new(READERS)),
                quick: Mutex::new(None),
                quick_off_until_ms: AtomicU64::new(0),
                wal_pages,
                checkpointing: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        if let Some(done) = self.read_now(|c| tombstoned(c, id, now_ms)) {
            return done;
        }
        let id = id.to_owned();
        self.read(move |c| tombstoned(c, &id, now_ms)).await
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        let load =
            |c: &rusqlite::Connection, id: &str| load_raw(c, id)?.map(RawRow::decode).transpose();
        if let Some(done) = self.read_now(|c| load(c, id)) {
            return done;
        }
        let id = id.to_owned();
        self.read(move |c| load(c, &id)).await
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let admission = admission.copied();
        let record = record.clone();
        self.write_small(move |c| insert_tx(c, &record, admission.as_ref(), ctx))
            .await
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        let admission = admission.copied();
        let mut writer = self.writer().await;
        // The writer is ours: the whole step runs here unless the file is locked (`pool.rs`).
        if let Some(done) = writer
            .conn()
            .and_then(|c| self.run_now(c, |c| modify_tx(c, id, change, admission.as_ref(), ctx)))
        {
            drop(writer);
            self.checkpoint_if_due();
            return done;
        }
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
        let done = writer
            .run(move |c| {
                let stored = store_modified(c, &old_id, &current, &record, admission, ctx);
                let evicted = finish(c, stored)?;
                Ok(Modified::Written {
                    record: Box::new(record),
                    evicted,
                })
            })
            .await;
        drop(writer);
        self.checkpoint_if_due();
        done
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        self.write_small(move |c| remove_tx(c, &ids, tombstone, ctx))
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
        self.purge(now_ms).await
    }

    async fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        self.raw(cursor, limit).await
    }

    async fn close(&self) -> Result<()> {
        let shared = &self.shared;
        if shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        shared.readers.close();
        shared.close_quick();
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

/// A new record, admitted, in one transaction.
fn insert_tx(
    c: &Connection,
    record: &Record,
    admission: Option<&Admission>,
    ctx: WriteCtx,
) -> Result<Vec<Session>> {
    in_tx(c, |c| {
        let id = &record.session.id;
        if taken(c, id, ctx.now_ms)? {
            return Err(conflict(id));
        }
        let evicted = match admission {
            Some(a) => admit(c, &record.session, a, ctx)?,
            None => Vec::new(),
        };
        write_row(c, INSERT_ROW, record)?;
        Ok(evicted)
    })
}

/// A whole read-modify-write in one transaction (the calling thread's path; the pool's runs
/// the change between two blocking calls instead, see the module docs).
fn modify_tx(
    c: &Connection,
    id: &str,
    change: &Change<'_>,
    admission: Option<&Admission>,
    ctx: WriteCtx,
) -> Result<Modified> {
    begin(c)?;
    let current = match load_raw(c, id).and_then(|row| row.map(RawRow::decode).transpose()) {
        Ok(Some(current)) => current,
        other => {
            rollback(c);
            return other.map(|_| Modified::Missing);
        }
    };
    let record = match change(current.clone()) {
        Ok(record) => record,
        Err(e) => {
            rollback(c);
            return Err(e);
        }
    };
    let stored = store_modified(c, id, &current, &record, admission.copied(), ctx);
    let evicted = finish(c, stored)?;
    Ok(Modified::Written {
        record: Box::new(record),
        evicted,
    })
}

/// Removes (and tombstones) ids in one transaction.
fn remove_tx(c: &Connection, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
    in_tx(c, |c| {
        let mut removed = 0;
        for id in ids {
            if delete_row(c, id)? {
                removed += 1;
                if tombstone {
                    put_tombstone(c, id, ctx.tombstone_until_ms)?;
                }
            }
        }
        Ok(removed)
    })
}
