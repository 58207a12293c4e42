//! Connections: the one writer (held by one operation at a time, rolling back what it
//! abandons), the pool of read connections, the quick reader, and the blocking-pool plumbing
//! they run on.
//!
//! Reads and writes run on the calling thread when they can, as better-sqlite3 does, because
//! a read or a write to a WAL database takes microseconds and the hop to the blocking pool and
//! back costs several times more. Only what cannot wait on anything but itself runs there:
//! - the connection (the quick reader, or the writer) is taken with a try-lock: if it is busy,
//!   the pool serves;
//! - its busy timeout is zero for the call: a file locked by another connection or process is
//!   an immediate `SQLITE_BUSY`, and the pool serves, with its own timeout;
//! - a call slower than [`SLOW_CALL`] (a cold cache on a slow disk) turns both off for
//!   [`SLOW_PAUSE`], so a slow disk costs the caller's thread at most one such call per pause;
//! - the writer never checkpoints by itself (an automatic checkpoint syncs the file, which can
//!   take milliseconds): its commit hook ([`count_wal_pages`], which replaces SQLite's automatic
//!   checkpoint) counts the pages in the write-ahead log, and past [`CHECKPOINT_PAGES`] a write
//!   schedules a checkpoint on the pool: passive on a connection of its own while writes go on,
//!   then on the writer for what they added, so the log starts over.

use super::SqliteBackend;
use super::errors::{join_error, open_error, sql_error};
use super::tx::rollback;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, Semaphore};

/// How long a statement waits for another connection's lock before `BACKEND_UNAVAILABLE`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most read connections of one backend.
pub(super) const READERS: usize = 4;
/// A call on the calling thread slower than this was not served from memory.
const SLOW_CALL: Duration = Duration::from_millis(10);
/// How long calls on the calling thread stay off after a slow one.
const SLOW_PAUSE: Duration = Duration::from_secs(1);
/// The write-ahead log length, in pages, past which a write schedules a checkpoint (where
/// SQLite's automatic checkpoint, which this replaces, runs).
const CHECKPOINT_PAGES: u64 = 1000;

/// The instant quick reads are measured from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn since_epoch_ms() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The connections of one backend, shared by its operations.
pub(super) struct Connections {
    pub(super) path: PathBuf,
    /// `:memory:` is one database per connection: everything goes through the writer.
    pub(super) in_memory: bool,
    /// `None` once closed.
    pub(super) writer: Arc<AsyncMutex<Option<Connection>>>,
    /// Read connections not in use.
    pub(super) idle: Mutex<Vec<Connection>>,
    /// One permit per read connection in use; closed by `close`.
    pub(super) readers: Arc<Semaphore>,
    /// The quick reader (module docs), opened by the first read the pool serves.
    pub(super) quick: Mutex<Option<Connection>>,
    /// Calls on the calling thread are off until this instant (ms since [`EPOCH`]).
    pub(super) quick_off_until_ms: AtomicU64,
    /// Pages in the write-ahead log after the writer's last commit.
    pub(super) wal_pages: Arc<AtomicU64>,
    /// A checkpoint is scheduled or running.
    pub(super) checkpointing: AtomicBool,
    pub(super) closed: AtomicBool,
}

impl SqliteBackend {
    /// Waits for the writer connection.
    pub(super) async fn writer(&self) -> Writer {
        Writer(Some(Arc::clone(&self.shared.writer).lock_owned().await))
    }

    /// Runs `f` on the writer connection (`f` opens and ends its own transaction), on the
    /// blocking pool.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let done = self.writer().await.run(f).await;
        self.checkpoint_if_due();
        done
    }

    /// [`write`](Self::write) for a transaction of one session's size (an insert, a removal):
    /// once the writer is this operation's, `f` runs right where it is unless the file is
    /// locked by another process or calls there are off (module docs). That is the caller's
    /// thread when the writer was free (taking it does not wait then), else the runtime thread
    /// that got it: a write queued behind another costs no hop to the blocking pool and back,
    /// so queued writes drain at the speed of writes on the caller's thread.
    pub(super) async fn write_small<T, F>(&self, f: F) -> Result<T>
    where
        F: Fn(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut writer = self.writer().await;
        let done = match writer.conn().and_then(|c| self.run_now(c, &f)) {
            Some(done) => done,
            None => writer.run(f).await,
        };
        drop(writer);
        self.checkpoint_if_due();
        done
    }

    /// Runs `f` on a read connection.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
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
            shared.open_quick();
            let conn = shared.checkout()?;
            let result = f(&conn);
            shared.checkin(conn);
            result
        })
        .await
    }

    /// Runs `f` at once on the quick reader, when that waits on nothing but the read (module
    /// docs); `None` when the pool must serve it instead.
    pub(super) fn read_now<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Option<Result<T>> {
        let shared = &self.shared;
        if shared.in_memory || !shared.quick_allowed() {
            return None;
        }
        let quick = shared.quick.try_lock().ok()?;
        shared.timed(|| f(quick.as_ref()?).map_or_else(busy_is_none, |v| Some(Ok(v))))
    }

    /// Runs `f` on `conn` (the writer, held by the caller) where it is, with a zero busy
    /// timeout; `None` when the file is locked by another connection or calls here are off.
    pub(super) fn run_now<T>(
        &self,
        conn: &Connection,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> Option<Result<T>> {
        let shared = &self.shared;
        if !shared.quick_allowed() {
            return None;
        }
        conn.busy_timeout(Duration::ZERO).ok()?;
        let done = shared.timed(|| f(conn).map_or_else(busy_is_none, |v| Some(Ok(v))));
        // Not restored, the writer would refuse the next write on the pool at once instead of
        // waiting for the lock: a failure here is a broken connection, which that write reports.
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        done
    }

    /// Schedules a passive checkpoint on the pool once the write-ahead log is large (module
    /// docs); called after every write, on either path.
    pub(super) fn checkpoint_if_due(&self) {
        let shared = &self.shared;
        if shared.wal_pages.load(Ordering::Relaxed) < CHECKPOINT_PAGES
            || shared.checkpointing.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let shared = Arc::clone(shared);
        runtime::spawn(async move {
            let passive = |c: &Connection| {
                c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    .map_err(super::errors::sql_error)
            };
            // The bulk on a connection of its own, beside the writes that go on meanwhile;
            // then the frames they added, on the writer, so that the log's next write can
            // start it over (a checkpoint that never catches up with the writes lets it grow).
            let path = shared.path.clone();
            let side = blocking(move || {
                let c = connect(&path).map_err(super::errors::sql_error)?;
                passive(&c)
            });
            let done = match side.await {
                Ok(()) => {
                    let mut writer = Writer(Some(Arc::clone(&shared.writer).lock_owned().await));
                    writer.run(move |c| passive(c)).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                tracing::debug!(target: "omnisession", error = %e, "sqlite checkpoint failed");
            }
            shared.checkpointing.store(false, Ordering::SeqCst);
        });
    }
}

/// A call that met a locked file: `None`, for the pool to make it wait off the caller's thread.
fn busy_is_none<T>(e: Error) -> Option<Result<T>> {
    (e.kind() != ErrorKind::BackendUnavailable).then_some(Err(e))
}

impl Connections {
    /// Whether calls on the calling thread are allowed now (open, and no slow call lately).
    fn quick_allowed(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
            && since_epoch_ms() >= self.quick_off_until_ms.load(Ordering::Relaxed)
    }

    /// Runs `f`, turning calls on the calling thread off for a while if it was slow.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        if started.elapsed() > SLOW_CALL {
            let until = since_epoch_ms().saturating_add(SLOW_PAUSE.as_millis() as u64);
            self.quick_off_until_ms.store(until, Ordering::Relaxed);
        }
        out
    }

    /// Opens the quick reader if it is not open yet (on the blocking pool: opening reads the
    /// file). A failure leaves it closed; the pool serves every read then.
    fn open_quick(&self) {
        let Ok(mut quick) = self.quick.try_lock() else {
            return;
        };
        if quick.is_some() || self.closed.load(Ordering::SeqCst) {
            return;
        }
        let opened = Connection::open(&self.path).and_then(|conn| {
            conn.busy_timeout(Duration::ZERO)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        });
        match opened {
            Ok(conn) => *quick = Some(conn),
            Err(e) => {
                tracing::debug!(target: "omnisession", error = %e, "sqlite: no quick reader");
            }
        }
    }

    /// Closes the quick reader (waiting for a read on it to end).
    pub(super) fn close_quick(&self) {
        let quick = self
            .quick
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(conn) = quick {
            close_connection(conn);
        }
    }

    pub(super) fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
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
pub(super) struct Writer(Option<OwnedMutexGuard<Option<Connection>>>);

impl Writer {
    pub(super) fn conn(&self) -> Option<&Connection> {
        self.0.as_deref().and_then(Option::as_ref)
    }

    pub(super) async fn run<T, F>(&mut self, f: F) -> Result<T>
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

/// Makes `writer` count the pages of the write-ahead log after each commit into `pages`,
/// which also turns SQLite's automatic checkpoint off for it (module docs).
pub(super) fn count_wal_pages(writer: &mut Connection, pages: &Arc<AtomicU64>) -> Result<()> {
    let pages = Arc::clone(pages);
    writer
        .wal_hook(Some(
            move |_: &mut rusqlite::hooks::Wal, n: std::ffi::c_int| {
                pages.store(u64::try_from(n).unwrap_or(0), Ordering::Relaxed);
                Ok(())
            },
        ))
        .map_err(super::errors::sql_error)
}

/// A new connection with the busy timeout every connection of this backend has.
pub(super) fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

pub(super) fn close_connection(conn: Connection) {
    if let Err((_, e)) = conn.close() {
        tracing::warn!(target: "omnisession", error = %e, "closing a sqlite connection failed");
    }
}

/// Runs `f` on the blocking pool.
pub(super) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    runtime::spawn_blocking(f).await.map_err(join_error)?
}
