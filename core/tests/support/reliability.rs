#![allow(dead_code)] // each test crate uses the part of this module it needs
//! Shared pieces of the reliability suite: the size knob, figures printed for the report,
//! tallies of error codes, a backend wrapper that holds an operation inside its atomic step,
//! the linearizability check of a rotation, and mounts undone on drop.

use async_trait::async_trait;
use omnisession::backend::{Backend, Change, Modified, Page, Record, WriteCtx};
use omnisession::controls::admission::Admission;
use omnisession::{Error, Result, Session};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Rounds of every race (and the scale of the fault loads): small by default so that the
/// suite fits in `make test`; `OMNISESSION_RELIABILITY_ROUNDS=1000` gives the published figures.
pub fn rounds() -> usize {
    std::env::var("OMNISESSION_RELIABILITY_ROUNDS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(5)
}

/// One line of figures, printed as `[reliability] test | backend | k=v k=v ...` so that the
/// output of `cargo test -- --nocapture` can be collected as is.
pub struct Figures {
    test: &'static str,
    backend: String,
    values: Vec<(String, String)>,
}

impl Figures {
    /// Figures of `test` on `backend`.
    pub fn new(test: &'static str, backend: &str) -> Self {
        Self {
            test,
            backend: backend.to_owned(),
            values: Vec::new(),
        }
    }

    /// Adds one figure.
    pub fn add(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.values.push((key.to_owned(), value.to_string()));
        self
    }

    /// Prints the line.
    pub fn print(&self) {
        let mut line = format!("[reliability] {} | {} |", self.test, self.backend);
        for (k, v) in &self.values {
            let _ = write!(line, " {k}={v}");
        }
        println!("{line}");
    }
}

/// Outcomes by code (`OK` for successes), in a stable order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<String, u64>);

impl Tally {
    /// Counts one outcome.
    pub fn count<T>(&mut self, result: &Result<T>) {
        let code = match result {
            Ok(_) => "OK",
            Err(e) => e.code(),
        };
        self.add(code, 1);
    }

    /// Adds `n` outcomes of `code`.
    pub fn add(&mut self, code: &str, n: u64) {
        *self.0.entry(code.to_owned()).or_default() += n;
    }

    /// Merges another tally.
    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            self.add(k, *v);
        }
    }

    /// How many of `code`.
    pub fn get(&self, code: &str) -> u64 {
        self.0.get(code).copied().unwrap_or(0)
    }

    /// Every outcome that is not `OK`.
    pub fn failures(&self) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() != "OK")
            .map(|(_, v)| v)
            .sum()
    }

    /// `CODE:n,CODE:n` (or `-`), one word, for figures and the peer protocol.
    pub fn encode(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        self.0
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The inverse of [`Tally::encode`].
    pub fn decode(word: &str) -> Tally {
        let mut t = Tally::default();
        for part in word.split(',').filter(|p| *p != "-" && !p.is_empty()) {
            let (k, v) = part.split_once(':').expect("CODE:n");
            t.add(k, v.parse().expect("a count"));
        }
        t
    }
}

/// Called with the record a change produced, inside the backend's atomic step (before it is
/// committed).
pub type Hook = Arc<dyn Fn(&Record) + Send + Sync>;

/// A backend that runs a hook inside every `modify` step, after the core's change and before
/// the commit: a request that is slow exactly where a race would hurt (it has read the old
/// record and not yet written the new one).
pub struct Held {
    inner: Arc<dyn Backend>,
    hook: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Wraps `inner` (no hook until [`Held::set_hook`]).
    pub fn new(inner: Arc<dyn Backend>) -> Arc<Held> {
        Arc::new(Held {
            inner,
            hook: Mutex::new(None),
        })
    }

    /// Runs `hook` in every later `modify` step (`None` = none).
    pub fn set_hook(&self, hook: Option<Hook>) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }
}

#[async_trait]
impl Backend for Held {
    fn lists_user_sessions(&self) -> bool {
        self.inner.lists_user_sessions()
    }

    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        self.inner.tombstoned(id, now_ms).await
    }

    fn rotation_id(&self, old_id: &str) -> String {
        self.inner.rotation_id(old_id)
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        self.inner.load(id).await
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        self.inner.insert(record, admission, ctx).await
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        let hook = self
            .hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let held = move |s: Session| -> Result<Record, Error> {
            let record = change(s)?;
            if let Some(hook) = &hook {
                hook(&record);
            }
            Ok(record)
        };
        self.inner.modify(id, &held, admission, ctx).await
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        self.inner.remove(ids, tombstone, ctx).await
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        self.inner.user_sessions(site, user).await
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        self.inner.page(site, cursor, limit, now_ms).await
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        self.inner.count(site, now_ms).await
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        self.inner.clear(site, now_ms).await
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        self.inner.purge_expired(now_ms).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

/// One `get` of a rotation's old or new id: when it ran (from call to return) and what it saw.
#[derive(Debug, Clone, Copy)]
pub struct Obs {
    /// When the call was made.
    pub start: Instant,
    /// When it returned.
    pub end: Instant,
    /// Whether it read the new id (else the old one).
    pub new_id: bool,
    /// Whether the session was returned.
    pub live: bool,
}

impl Obs {
    /// Whether this read proves the rotation has happened (new id live, or old id gone).
    fn after(&self) -> bool {
        self.new_id == self.live
    }
}

/// What a set of reads around one rotation proves.
///
/// An atomic rotation is one instant `t`: before it only the old id is live, from it on only
/// the new one. Each read happened at some instant within its call. Reads can be explained by
/// one such `t` exactly when no read that shows "not yet rotated" (old live, new missing)
/// started after a read that shows "rotated" (new live, old missing) had returned. Reads of
/// both ids by one task, in either order, are covered: "new live, then old live" is two live
/// ids at once, "old missing, then new missing" is neither, while "old live, then new live"
/// and "new missing, then old missing" are a rotation between the two reads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlipCheck {
    /// Reads checked.
    pub reads: u64,
    /// Reads of the new id made while the rotate call was in flight.
    pub in_window: u64,
    /// Old id live after the new one was seen live: both ids live at once.
    pub both: u64,
    /// New id missing after the old one was seen missing: neither id live.
    pub neither: u64,
    /// Old id live again after it was seen missing.
    pub old_back: u64,
    /// New id missing again after it was seen live.
    pub new_gone: u64,
    /// "Not yet rotated" read that started after the rotate call returned.
    pub stale_after_return: u64,
    /// "Rotated" read that returned before the rotate call was made.
    pub before_call: u64,
}

impl FlipCheck {
    /// Checks `reads` against one rotation; `called` and `returned` bound the rotate call
    /// when they were measured on the same clock.
    pub fn of(reads: &[Obs], called: Option<Instant>, returned: Option<Instant>) -> FlipCheck {
        // Earliest return of a "rotated" read of each kind.
        let first = |new_id: bool, live: bool| {
            reads
                .iter()
                .filter(|o| o.new_id == new_id && o.live == live)
                .map(|o| o.end)
                .min()
        };
        let (new_live, old_gone) = (first(true, true), first(false, false));
        let later = |o: &Obs, t: Option<Instant>| t.is_some_and(|t| o.start > t);
        let mut c = FlipCheck {
            reads: reads.len() as u64,
            ..FlipCheck::default()
        };
        for o in reads {
            if o.new_id && called.is_none_or(|s| o.start > s) && returned.is_some_and(|e| o.end < e)
            {
                c.in_window += 1;
            }
            if o.after() {
                if called.is_some_and(|s| o.end < s) {
                    c.before_call += 1;
                }
                continue;
            }
            if o.live {
                c.both += u64::from(later(o, new_live));
                c.old_back += u64::from(later(o, old_gone));
            } else {
                c.neither += u64::from(later(o, old_gone));
                c.new_gone += u64::from(later(o, new_live));
            }
            if returned.is_some_and(|e| o.start > e) {
                c.stale_after_return += 1;
            }
        }
        c
    }

    /// Adds another round's counts.
    pub fn merge(&mut self, o: &FlipCheck) {
        self.reads += o.reads;
        self.in_window += o.in_window;
        self.both += o.both;
        self.neither += o.neither;
        self.old_back += o.old_back;
        self.new_gone += o.new_gone;
        self.stale_after_return += o.stale_after_return;
        self.before_call += o.before_call;
    }

    /// Every inconsistency found.
    pub fn violations(&self) -> u64 {
        self.both
            + self.neither
            + self.old_back
            + self.new_gone
            + self.stale_after_return
            + self.before_call
    }

    /// Seven words, for the peer protocol.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.reads,
            self.in_window,
            self.both,
            self.neither,
            self.old_back,
            self.new_gone,
            self.stale_after_return,
            self.before_call
        )
    }

    /// The inverse of [`FlipCheck::encode`].
    pub fn decode(words: &[&str]) -> FlipCheck {
        let n: Vec<u64> = words.iter().map(|w| w.parse().expect("a count")).collect();
        FlipCheck {
            reads: n[0],
            in_window: n[1],
            both: n[2],
            neither: n[3],
            old_back: n[4],
            new_gone: n[5],
            stale_after_return: n[6],
            before_call: n[7],
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A mount made by a test, unmounted when dropped (also when the test panics).
pub struct Mount {
    path: PathBuf,
}

const NEED_ROOT: &str = "the fault tests need to mount file systems: run them as root (or with \
                         CAP_SYS_ADMIN); they fail rather than skip, so that a run without \
                         the fault figures cannot pass";

impl Mount {
    /// A tmpfs of `size` (e.g. `4m`) at `path` (created if missing).
    pub fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).unwrap();
        let p = path.to_str().unwrap();
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
                p,
            ],
        )
        .unwrap_or_else(|e| panic!("cannot mount a {size} tmpfs at {p}: {e}; {NEED_ROOT}"));
        Mount {
            path: path.to_owned(),
        }
    }

    /// `path` bind-mounted over itself, so that it can then be made read-only for new file
    /// operations while descriptors opened before (a lock file) keep their writable mount.
    pub fn bind_over(path: &Path) -> Mount {
        let p = path.to_str().unwrap();
        run("mount", &["--bind", p, p])
            .unwrap_or_else(|e| panic!("cannot bind-mount {p} over itself: {e}; {NEED_ROOT}"));
        Mount {
            path: path.to_owned(),
        }
    }

    /// Remounts read-only (`true`) or read-write.
    pub fn set_read_only(&self, ro: bool) {
        let p = self.path.to_str().unwrap();
        let opts = if ro {
            "remount,bind,ro"
        } else {
            "remount,bind,rw"
        };
        run("mount", &["-o", opts, p])
            .unwrap_or_else(|e| panic!("cannot remount {p} ({opts}): {e}; {NEED_ROOT}"));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.path.to_str().unwrap();
        // A lazy unmount as the fallback: a descriptor left open by a failed test must not
        // leave the mount behind.
        if let Err(e) = run("umount", &[p]) {
            eprintln!("{e}; unmounting lazily");
            let _ = run("umount", &["-l", p]);
        }
    }
}
