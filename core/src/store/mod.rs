//! The store contract: every operation of docs/design.md, with every control, over any backend.
//!
//! This file is the one place that says what an operation does: which checks run, in which
//! order, what counts as missing or expired, which violation is raised. Backends only store.
//! The operations of a web request's cycle (login, upsert, sliding reads) are in `cycle.rs`.

pub mod admin;
mod cycle;

pub use cycle::Login;

use crate::at_rest::{IdsAtRest, IssuedIds};
use crate::backend::{self, Backend, Modified, Page, Record, WriteCtx};
use crate::controls::Refusal;
use crate::controls::admission::Admission;
use crate::controls::expiry::Lifetime;
use crate::controls::user::UserRule;
use crate::controls::violation::{Reporter, Violation, ViolationKind};
use crate::controls::{device, omnistorage, session_id, site, size, user};
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::json::{self, NotJson};
use crate::options::{BackendConfig, Options};
use crate::runtime;
use crate::session::Session;
use crate::timestamp::Timestamp;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use crate::controls::device::MAX_USER_AGENT_CHARS;
pub use crate::controls::user::MAX_USER_ID_BYTES;
/// Page size of [`Store::list`] when none is given, and the largest accepted.
pub const DEFAULT_PAGE: usize = 100;
/// Largest page size of [`Store::list`].
pub const MAX_PAGE: usize = 1000;

/// What `create` takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewSession {
    /// The owner; `None` only with `allow_anonymous`.
    pub user_id: Option<String>,
    /// Initial data.
    pub data: Map<String, Value>,
    /// When it expires; `None` = the store's `default_ttl`.
    pub expires: Option<Lifetime>,
    /// A caller-chosen id (must match `^[A-Za-z0-9_-]{22,128}$`); `None` = generated.
    pub id: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Tenant.
    pub organization_id: Option<String>,
}

/// What `update` takes: the new state of a session (a whole-record replace).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate {
    /// The session to replace.
    pub id: String,
    /// The new data (replaces the old data entirely).
    pub data: Map<String, Value>,
    /// Attach a user to an anonymous session (login); the same user is a no-op, another user
    /// is `SESSION_INVALID` (rotate, or create a new session, to change users).
    pub user_id: Option<String>,
    /// New tenant; `None` keeps the stored one.
    pub organization_id: Option<String>,
    /// New client address; `None` keeps the stored one.
    pub ip_address: Option<String>,
    /// New user agent; `None` keeps the stored one.
    pub user_agent: Option<String>,
    /// Expected current version; a mismatch is `SESSION_CONFLICT`.
    pub version: Option<u64>,
    /// A new expiry; `None` keeps the current one.
    pub expires: Option<Lifetime>,
}

/// What `patch` takes: top-level data keys to set and to remove.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Patch {
    /// Keys to set (other keys are left as they are).
    pub set: Map<String, Value>,
    /// Keys to remove.
    pub unset: Vec<String>,
    /// Expected current version; a mismatch is `SESSION_CONFLICT`.
    pub version: Option<u64>,
    /// Attach a user to an anonymous session, as in [`SessionUpdate::user_id`].
    pub user_id: Option<String>,
    /// A new expiry; `None` keeps the current one.
    pub expires: Option<Lifetime>,
}

/// One page of [`Store::list`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionPage {
    /// The sessions of this page.
    pub sessions: Vec<Session>,
    /// Pass it back to get the next page; `None` after the last one.
    pub cursor: Option<String>,
}

/// A session store: cheap to clone, safe to share across tasks and threads.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Arc<dyn Backend>,
    /// Whether `close` closes the backend: a custom backend belongs to whoever built it.
    owns_backend: bool,
    options: Options,
    reporter: Reporter,
    closed: AtomicBool,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Store {
    /// Validates the options, opens the backend and starts the expiry sweep.
    pub async fn open(options: Options) -> Result<Store> {
        options.validate()?;
        let backend: Arc<dyn Backend> = match &options.backend {
            BackendConfig::Memory => Arc::new(backend::memory::MemoryBackend::new()),
            BackendConfig::Sqlite { path } => backend::sqlite::open(path).await?,
            BackendConfig::File { path } => backend::file::open(path).await?,
            BackendConfig::Redis {
                urls,
                cluster,
                tls_ca,
                tls_client,
            } => {
                let pem = |option: &str, path: &std::path::Path| {
                    std::fs::read(path).map_err(|e| {
                        Error::config(
                            option,
                            format!("cannot read the {option} file {}: {e}", path.display()),
                        )
                    })
                };
                let tls = backend::redis::Tls {
                    ca: tls_ca.as_deref().map(|p| pem("tls_ca", p)).transpose()?,
                    client: match tls_client {
                        Some(c) => Some((pem("tls_cert", &c.cert)?, pem("tls_key", &c.key)?)),
                        None => None,
                    },
                };
                let target = backend::redis::Target {
                    urls: urls.clone(),
                    cluster: *cluster,
                    tls,
                };
                backend::redis::open(
                    &target,
                    &options.key_prefix,
                    options.expiry(),
                    options.omnistorage_compat,
                    (options.wait_replicas > 0).then_some(backend::redis::Durability {
                        replicas: options.wait_replicas,
                        timeout_ms: options.wait_timeout_ms,
                    }),
                )
                .await?
            }
            BackendConfig::Custom(b) => Arc::clone(b),
        };
        if options.max_sessions_per_user > 0 && !backend.lists_user_sessions() {
            return Err(Error::config(
                "max_sessions_per_user",
                "max_sessions_per_user needs a custom backend with a listByUserId method",
            ));
        }
        let inner = Arc::new(Inner {
            backend,
            owns_backend: !matches!(options.backend, BackendConfig::Custom(_)),
            reporter: Reporter::new(options.on_violation.clone()),
            options,
            closed: AtomicBool::new(false),
            sweeper: Mutex::new(None),
        });
        if inner.options.cleanup_interval_ms > 0 {
            let task = runtime::spawn(sweep(
                Arc::downgrade(&inner),
                inner.options.cleanup_interval_ms,
            ));
            *inner
                .sweeper
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task);
        }
        Ok(Store { inner })
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Creates a session: every control applies; an existing or recently deleted id is
    /// `SESSION_CONFLICT` (never an overwrite).
    pub async fn create(&self, new: NewSession) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let rule = if s.options.allow_anonymous {
            UserRule::Optional
        } else {
            UserRule::Required
        };
        let user_id = s.check_user(new.user_id, rule)?;
        s.check_go(user_id.as_deref(), new.organization_id.as_deref())?;
        let shown = match new.id {
            Some(id) if id::is_well_formed(&id) => id,
            Some(_) => return Err(s.malformed_id(user_id.as_deref())),
            None => id::generate(),
        };
        let id = s.ids().id_at_rest(&shown).into_owned();
        let mut data = new.data;
        s.check_data(&mut data, Some(&id), user_id.as_deref())?;
        let now = s.now();
        let session = Session {
            id,
            user_id,
            site_id: s.options.site_id.clone(),
            organization_id: new.organization_id,
            data,
            created_at: now,
            updated_at: now,
            last_accessed_at: now,
            expires_at: s.expires_at(now, now, new.expires),
            ip_address: new.ip_address.unwrap_or_default(),
            user_agent: new.user_agent.map(device::user_agent).unwrap_or_default(),
            version: 1,
        };
        let pending = Pending::default();
        let record = s.seal(session, &pending);
        pending.flush(&s.reporter);
        let record = record?;
        let admission = s.admission(record.session.user_id.as_deref());
        let result = s.backend.insert(&record, admission.as_ref(), s.ctx()).await;
        if let Err(e) = &result
            && e.kind() == ErrorKind::SessionConflict
            && let Ok(Some(existing)) = s.backend.load(&record.session.id).await
            && !site::is_own(&s.options.site_id, &existing)
        {
            // The id belongs to another site: the conflict stands (never an overwrite), and the
            // attempt is reported like any other cross-site access.
            s.site_mismatch(&existing);
        }
        let evicted = s.admitted(
            result,
            &record.session.id,
            record.session.user_id.as_deref(),
        )?;
        s.report_evictions(&record.session, &evicted);
        Ok(s.ids().shown(record.session, &shown))
    }

    /// The live session with this id, or `None` (missing, expired, another site's, malformed
    /// id). Writes nothing but the removal of an expired record.
    pub async fn get(&self, id: &str) -> Result<Option<Session>> {
        Ok(self.get_shared(id).await?.map(Arc::unwrap_or_clone))
    }

    /// [`Store::get`] for a caller that only reads the session (a host converting it): the
    /// memory backend's copy is shared, not cloned.
    ///
    /// A session returned has the id asked for: every backend checks the record it reads
    /// against its key (a mismatch is `BACKEND_ERROR`), so a host may reuse the id it passed.
    ///
    /// With `idle_timeout`, a read is an access: once more than `refresh_fraction` of the idle
    /// window has passed, the read moves `last_accessed_at` (one write per that much time, not
    /// one per request), so a user who only reads stays signed in.
    pub async fn get_shared(&self, id: &str) -> Result<Option<Arc<Session>>> {
        let s = &self.inner;
        let found = s.read(&s.ids().id_at_rest(id), None).await?;
        Ok(found.map(|x| s.shown_shared(x, id)))
    }

    /// Replaces a session's data (and attaches a user to an anonymous one). Bumps `version`.
    pub async fn update(&self, update: SessionUpdate) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let new_user = s.check_user(update.user_id.clone(), UserRule::Optional)?;
        s.check_go(new_user.as_deref(), update.organization_id.as_deref())?;
        let id = s.ids().id_at_rest(&update.id);
        let mut data = update.data;
        s.check_data(&mut data, Some(&id), new_user.as_deref())?;
        let updated = s
            .modify(&id, |mut session, now, pending| {
                check_version(&session, update.version)?;
                attach_user(&mut session, new_user.as_deref())?;
                session.data.clone_from(&data);
                if let Some(org) = &update.organization_id {
                    session.organization_id = Some(org.clone());
                }
                if let Some(ip) = &update.ip_address {
                    session.ip_address.clone_from(ip);
                }
                if let Some(ua) = &update.user_agent {
                    session.user_agent = device::user_agent(ua.clone());
                }
                s.set_expiry(&mut session, now, update.expires);
                bump(&mut session, now);
                s.seal(session, pending)
            })
            .await?;
        Ok(s.ids().shown(updated, &update.id))
    }

    /// Sets and removes top-level data keys atomically: parallel patches of different keys
    /// all win. Same controls as `update`.
    pub async fn patch(&self, id: &str, patch: Patch) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        if let Some(key) = patch.unset.iter().find(|k| patch.set.contains_key(*k)) {
            return Err(Error::invalid(format!("key {key:?} is both set and unset"))
                .with("key", key.as_str()));
        }
        let new_user = s.check_user(patch.user_id, UserRule::Optional)?;
        s.check_go(new_user.as_deref(), None)?;
        let shown = id;
        let id = s.ids().id_at_rest(shown);
        let mut set = patch.set;
        s.check_data(&mut set, Some(&id), new_user.as_deref())?;
        let patched = s
            .modify(&id, |mut session, now, pending| {
                check_version(&session, patch.version)?;
                attach_user(&mut session, new_user.as_deref())?;
                apply(&mut session.data, &set, &patch.unset);
                s.set_expiry(&mut session, now, patch.expires);
                bump(&mut session, now);
                s.seal(session, pending)
            })
            .await?;
        Ok(s.ids().shown(patched, shown))
    }

    /// Marks the session used now: moves `last_accessed_at` (and so the idle expiry), never
    /// past `expires_at`; leaves data, `updated_at` and `version` alone.
    pub async fn touch(&self, id: &str) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let touched = s.touch(&s.ids().id_at_rest(id), None).await?;
        Ok(s.ids().shown(touched, id))
    }

    /// [`Store::touch`] that also sets a new expiry: a rolling session's window moves (or an
    /// expiry is shortened), bounded by `max_lifetime`. Data and `version` stay as they are.
    pub async fn touch_with(&self, id: &str, expires: Lifetime) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let touched = s.touch(&s.ids().id_at_rest(id), Some(expires)).await?;
        Ok(s.ids().shown(touched, id))
    }

    /// Gives the session a new id (same user, data and expiry); the old id is gone and
    /// tombstoned in the same step. The defence against session fixation.
    pub async fn rotate(&self, id: &str) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let issued = IssuedIds::default();
        let rotated = s
            .modify(&s.ids().id_at_rest(id), |mut session, now, _| {
                session.id = s.rotation_id(&session.id, &issued)?;
                bump(&mut session, now);
                Ok(s.record(session))
            })
            .await?;
        Ok(issued.shown(rotated))
    }

    /// Deletes a session; a missing one is not an error. The id stays unusable for
    /// `tombstone_ttl` (no resurrection by an in-flight request after logout).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let s = &self.inner;
        s.open_check()?;
        if !id::is_well_formed(id) {
            return Err(s.malformed_id(None));
        }
        self.delete_at_rest(&s.ids().id_at_rest(id)).await
    }

    /// What a listing ([`Store::list`], [`Store::list_by_user_id`]) shows as the id of the
    /// session with this id: the id itself, or with `ids_at_rest` its hash. How an "active
    /// devices" page finds "this device" among a user's sessions.
    pub fn id_at_rest(&self, id: &str) -> String {
        self.inner.ids().id_at_rest(id).into_owned()
    }

    /// [`Store::delete`] of a session by the id a listing showed ([`Store::id_at_rest`]):
    /// with `ids_at_rest`, the store cannot know the ids behind the hashes it lists, and
    /// [`Store::delete`] would hash the hash. The same as `delete` without it.
    pub async fn delete_at_rest(&self, id: &str) -> Result<()> {
        let s = &self.inner;
        s.open_check()?;
        if !id::is_well_formed(id) {
            return Err(s.malformed_id(None));
        }
        match s.backend.load(id).await {
            Ok(Some(session)) if !site::is_own(&s.options.site_id, &session) => {
                s.site_mismatch(&session);
            }
            // An unreadable record belongs to no site we can tell: deleting it is the only
            // way out for its owner, and reveals nothing.
            Err(e) if e.kind() != ErrorKind::BackendError => return Err(e),
            _ => {
                s.backend.remove(&[id.to_owned()], true, s.ctx()).await?;
            }
        }
        Ok(())
    }

    /// Deletes this site's sessions of a user; returns how many live ones were removed.
    pub async fn delete_by_user_id(&self, user_id: &str) -> Result<u64> {
        let s = &self.inner;
        s.open_check()?;
        let user = s
            .check_user(Some(user_id.to_owned()), UserRule::Required)?
            .unwrap_or_default();
        let (live, expired) = s.user_sessions(&user).await?;
        let ids = |v: Vec<Session>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let removed = s.backend.remove(&ids(live), true, s.ctx()).await?;
        s.backend.remove(&ids(expired), false, s.ctx()).await?;
        Ok(removed)
    }

    /// This site's live sessions of a user, oldest `created_at` first, ties by id.
    pub async fn list_by_user_id(&self, user_id: &str) -> Result<Vec<Session>> {
        let s = &self.inner;
        s.open_check()?;
        let user = s
            .check_user(Some(user_id.to_owned()), UserRule::Required)?
            .unwrap_or_default();
        let (mut live, _) = s.user_sessions(&user).await?;
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }

    /// One page of this site's live sessions (admin views, express-session `all()`).
    pub async fn list(&self, cursor: Option<&str>, limit: Option<usize>) -> Result<SessionPage> {
        let s = &self.inner;
        s.open_check()?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(
                Error::invalid(format!("limit must be between 1 and {MAX_PAGE}"))
                    .with("limit", limit),
            );
        }
        let Page { sessions, cursor } = s
            .backend
            .page(&s.options.site_id, cursor, limit, s.now().unix_ms())
            .await?;
        let sessions = sessions.into_iter().filter(|x| s.is_live(x)).collect();
        Ok(SessionPage { sessions, cursor })
    }

    /// Number of this site's live sessions.
    pub async fn count(&self) -> Result<u64> {
        let s = &self.inner;
        s.open_check()?;
        s.backend.count(&s.options.site_id, s.now().unix_ms()).await
    }

    /// Removes every session of this site; returns how many live ones there were.
    pub async fn clear(&self) -> Result<u64> {
        let s = &self.inner;
        s.open_check()?;
        s.backend.clear(&s.options.site_id, s.now().unix_ms()).await
    }

    /// Removes expired sessions now (the sweep runs this every `cleanup_interval`).
    pub async fn cleanup(&self) -> Result<u64> {
        let s = &self.inner;
        s.open_check()?;
        s.backend.purge_expired(s.now().unix_ms()).await
    }

    /// Closes the store: stops the sweep and releases the backend. Idempotent; every later
    /// operation is `STORE_CLOSED`.
    pub async fn close(&self) -> Result<()> {
        let s = &self.inner;
        if s.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(task) = s
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        if s.owns_backend {
            s.backend.close().await
        } else {
            Ok(())
        }
    }

    /// The error (and `not_serializable` violation) for host data that has no JSON form.
    ///
    /// Bindings call this when their conversion meets such a value, so that the rule's code and
    /// event are the core's whatever the host.
    pub fn not_serializable(&self, user_id: Option<&str>, problem: &NotJson) -> Error {
        self.inner.not_serializable(None, user_id, problem)
    }

    /// [`Store::not_serializable`] for data addressed to a known session id (a caller-chosen
    /// id on create, the id of an update or patch): the event and error carry its hash, as
    /// when the core itself finds the problem.
    pub fn not_serializable_for(
        &self,
        id: &str,
        user_id: Option<&str>,
        problem: &NotJson,
    ) -> Error {
        self.inner.not_serializable(Some(id), user_id, problem)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.sweeper.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

async fn sweep(store: Weak<Inner>, interval_ms: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(s) = store.upgrade() else { return };
        if s.closed.load(Ordering::SeqCst) {
            return;
        }
        match s.backend.purge_expired(s.now().unix_ms()).await {
            Ok(n) if n > 0 => {
                tracing::debug!(target: "omnisession", removed = n, "expired sessions swept");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "omnisession", error = %e, "expiry sweep failed"),
        }
    }
}

fn check_version(session: &Session, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(v) if v != session.version => Err(Error::new(
            ErrorKind::SessionConflict,
            format!(
                "version {v} expected, the session is at version {}",
                session.version
            ),
        )
        .with("expected", v)
        .with("actual", session.version)
        .with("session_id_hash", id::hash(&session.id))),
        _ => Ok(()),
    }
}

/// Attaches `user` to an anonymous session; the same user is a no-op; another user is
/// `SESSION_INVALID`, because handing one id from user to user is how fixation works.
fn attach_user(session: &mut Session, user: Option<&str>) -> Result<()> {
    match (session.user_id.as_deref(), user) {
        (Some(old), Some(new)) if old != new => Err(Error::invalid(
            "a session cannot change users; log in (a new id) or create a new one",
        )
        .with("session_id_hash", id::hash(&session.id))),
        (None, Some(new)) => {
            session.user_id = Some(new.to_owned());
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Applies a per-key change to session data.
fn apply(data: &mut Map<String, Value>, set: &Map<String, Value>, unset: &[String]) {
    for key in unset {
        data.remove(key);
    }
    for (k, v) in set {
        data.insert(k.clone(), v.clone());
    }
}

fn bump(session: &mut Session, now: Timestamp) {
    session.updated_at = now;
    session.last_accessed_at = now;
    session.version += 1;
}

/// Violations found inside a backend's atomic step, reported once the step is over (a step
/// may run its change more than once; only the last run's findings stand).
#[derive(Debug, Default)]
struct Pending(Mutex<Vec<Violation>>);

impl Pending {
    fn reset(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn push(&self, v: Violation) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(v);
    }

    fn flush(&self, reporter: &Reporter) {
        for v in self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
        {
            reporter.report(&v);
        }
    }
}

impl Inner {
    fn now(&self) -> Timestamp {
        self.options.clock.now()
    }

    fn ctx(&self) -> WriteCtx {
        let now_ms = self.now().unix_ms();
        WriteCtx {
            now_ms,
            tombstone_until_ms: now_ms.saturating_add(self.options.tombstone_ttl_ms as i64),
        }
    }

    fn ids(&self) -> &IdsAtRest {
        &self.options.ids_at_rest
    }

    /// [`IdsAtRest::shown`] for a shared session: copied only when ids are hashed.
    fn shown_shared(&self, session: Arc<Session>, shown: &str) -> Arc<Session> {
        if self.ids().is_hashed() {
            Arc::new(self.ids().shown(Arc::unwrap_or_clone(session), shown))
        } else {
            session
        }
    }

    /// A new id for a rotation of `old_id` (as held at rest), noted in `issued` so that the
    /// caller gets the id it will present: the backend's choice ([`Backend::rotation_id`]),
    /// or with ids hashed at rest [`IdsAtRest::rotation_id`]'s. Refused unless it is a
    /// well-formed id other than the old one.
    fn rotation_id(&self, old_id: &str, issued: &IssuedIds) -> Result<String> {
        let new = self.ids().rotation_id(&*self.backend, old_id);
        let new_id = new.at_rest.clone();
        issued.push(new);
        if id::is_well_formed(&new_id) && new_id != old_id {
            Ok(new_id)
        } else {
            Err(
                Error::backend("the backend proposed an unusable id for a rotation")
                    .with("session_id_hash", id::hash(old_id)),
            )
        }
    }

    fn open_check(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    fn is_live(&self, session: &Session) -> bool {
        backend::is_live(
            self.options.expiry().effective_ms(session),
            self.now().unix_ms(),
        )
    }

    fn violation(
        &self,
        kind: ViolationKind,
        id: Option<&str>,
        user: Option<&str>,
        message: String,
    ) -> Violation {
        Violation::new(kind, &self.options.site_id, self.now(), id, user, message)
    }

    /// Reports a control's refusal and returns its error.
    fn refuse(&self, refusal: Refusal) -> Error {
        self.reporter.report(&refusal.violation);
        refusal.error
    }

    /// A user id as given, checked against the user rule.
    fn check_user(&self, user: Option<String>, rule: UserRule) -> Result<Option<String>> {
        user::check(user, rule, &self.options.site_id, self.now()).map_err(|r| self.refuse(*r))
    }

    /// With `omnistorage_compat`, refuses ids a Go service could not read (see
    /// [`omnistorage::check`]). Only ids being written are checked: lookups by a legacy user
    /// id still work, so that its sessions can be listed and revoked.
    fn check_go(&self, user: Option<&str>, organization: Option<&str>) -> Result<()> {
        if !self.options.omnistorage_compat {
            return Ok(());
        }
        omnistorage::check(user, organization, &self.options.site_id, self.now())
            .map_err(|r| self.refuse(*r))
    }

    fn malformed_id(&self, user: Option<&str>) -> Error {
        self.refuse(session_id::malformed(
            &self.options.site_id,
            user,
            self.now(),
        ))
    }

    fn site_mismatch(&self, foreign: &Session) {
        self.reporter
            .report(&site::mismatch(&self.options.site_id, foreign, self.now()));
    }

    /// The error for an id with no session; an id that ended (tombstoned) is also reported
    /// as a replay.
    async fn missing(&self, id: &str) -> Error {
        self.report_if_replayed(id).await;
        not_found(id)
    }

    async fn report_if_replayed(&self, id: &str) {
        match self.backend.tombstoned(id, self.now().unix_ms()).await {
            Ok(true) => {
                self.reporter
                    .report(&session_id::replayed(&self.options.site_id, id, self.now()));
            }
            Ok(false) => {}
            // The answer only decides whether an event is sent: a failure to look is logged.
            Err(e) => tracing::warn!(target: "omnisession", error = %e, "tombstone lookup failed"),
        }
    }

    /// The absolute expiry a write at `now` sets on a session created at `created`.
    fn expires_at(
        &self,
        now: Timestamp,
        created: Timestamp,
        lifetime: Option<Lifetime>,
    ) -> Option<Timestamp> {
        self.options.expiry().absolute(now, created, lifetime)
    }

    /// Applies a write's new expiry, if it sets one.
    fn set_expiry(&self, session: &mut Session, now: Timestamp, lifetime: Option<Lifetime>) {
        if lifetime.is_some() {
            session.expires_at = self.expires_at(now, session.created_at, lifetime);
        }
    }

    fn not_serializable(&self, id: Option<&str>, user: Option<&str>, problem: &NotJson) -> Error {
        let message = format!(
            "session data is not JSON-only at {}: {}",
            problem.path, problem.reason
        );
        self.reporter.report(&self.violation(
            ViolationKind::NotSerializable,
            id,
            user,
            message.clone(),
        ));
        let mut e = Error::new(ErrorKind::SessionNotSerializable, message)
            .with("path", problem.path.as_str())
            .with("reason", problem.reason.as_str());
        if let Some(id) = id {
            e = e.with("session_id_hash", id::hash(id));
        }
        e
    }

    fn check_data(
        &self,
        data: &mut Map<String, Value>,
        id: Option<&str>,
        user: Option<&str>,
    ) -> Result<()> {
        json::check_data(data).map_err(|p| self.not_serializable(id, user, &p))
    }

    /// The record to store, without the size limit: for touch and rotate, which change no
    /// data (a timestamp or an id of another length must not make a session unusable).
    fn record(&self, session: Session) -> Record {
        let expires_ms = self.options.expiry().effective_ms(&session);
        let wire = if self.options.omnistorage_compat {
            session.to_go_wire()
        } else {
            session.to_wire()
        };
        Record {
            session,
            wire,
            expires_ms,
        }
    }

    /// The record to store after a data write: wire bytes, size limit, effective expiry.
    fn seal(&self, session: Session, pending: &Pending) -> Result<Record> {
        let record = self.record(session);
        match size::check(
            self.options.max_session_size,
            &record.session,
            record.wire.len(),
            self.now(),
        ) {
            Ok(()) => Ok(record),
            Err(refusal) => {
                pending.push(refusal.violation);
                Err(refusal.error)
            }
        }
    }

    fn admission(&self, user: Option<&str>) -> Option<Admission> {
        (self.options.max_sessions_per_user > 0 && user.is_some()).then(|| Admission {
            limit: self.options.max_sessions_per_user,
            policy: self.options.eviction_policy,
            now_ms: self.now().unix_ms(),
        })
    }

    /// Reports a refused admission as a violation; passes everything else through.
    fn admitted<T>(&self, result: Result<T>, id: &str, user: Option<&str>) -> Result<T> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::SessionLimitExceeded
        {
            let mut v = self.violation(
                ViolationKind::SessionLimitExceeded,
                Some(id),
                user,
                e.message().to_owned(),
            );
            v.size = e
                .details()
                .get("count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            v.limit = self.options.max_sessions_per_user as u64;
            self.reporter.report(&v);
        }
        result
    }

    fn report_evictions(&self, session: &Session, evicted: &[Session]) {
        if evicted.is_empty() {
            return;
        }
        let limit = self.options.max_sessions_per_user;
        let had = limit - 1 + evicted.len();
        let mut v = self.violation(
            ViolationKind::SessionLimitExceeded,
            Some(&session.id),
            session.user_id.as_deref(),
            format!(
                "user has {had} sessions, limit is {limit}, evicted {}",
                evicted.len()
            ),
        );
        v.size = had as u64;
        v.limit = limit as u64;
        self.reporter.report(&v);
        for old in evicted {
            tracing::info!(target: "omnisession", session_id_hash = %id::hash(&old.id),
                user_id = old.user_id.as_deref().unwrap_or(""), "evicted session to enforce the per-user limit");
        }
    }

    /// The read behind `get`: the live session, slid forward once enough of its idle window
    /// (or of the rolling window `rolling_ms` the caller keeps it in) has passed.
    async fn read(&self, id: &str, rolling_ms: Option<u64>) -> Result<Option<Arc<Session>>> {
        self.open_check()?;
        if !id::is_well_formed(id) {
            self.malformed_id(None);
            return Ok(None);
        }
        let Some(session) = self.backend.load_shared(id).await? else {
            self.report_if_replayed(id).await;
            return Ok(None);
        };
        if !site::is_own(&self.options.site_id, &session) {
            self.site_mismatch(&session);
            return Ok(None);
        }
        if !self.is_live(&session) {
            self.backend
                .remove(std::slice::from_ref(&session.id), false, self.ctx())
                .await?;
            return Ok(None);
        }
        debug_assert_eq!(session.id, id, "a backend returned another id's session");
        if !self
            .options
            .expiry()
            .needs_refresh(&session, self.now(), rolling_ms)
        {
            return Ok(Some(session));
        }
        match self.touch(id, rolling_ms.map(Lifetime::Ttl)).await {
            Ok(slid) => Ok(Some(Arc::new(slid))),
            // Ended or expired between the read and the slide: as if read a moment later.
            Err(e) if e.kind().is_gone() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves `last_accessed_at` to now and, with `expires`, sets a new expiry.
    async fn touch(&self, id: &str, expires: Option<Lifetime>) -> Result<Session> {
        self.modify(id, |mut session, now, _| {
            session.last_accessed_at = now;
            self.set_expiry(&mut session, now, expires);
            Ok(self.record(session))
        })
        .await
    }

    /// Live and expired indexed sessions of a user on this site.
    async fn user_sessions(&self, user: &str) -> Result<(Vec<Session>, Vec<Session>)> {
        let all = self
            .backend
            .user_sessions(&self.options.site_id, user)
            .await?;
        Ok(all
            .into_iter()
            // The user too: on Redis with omnistorage_compat, ids also come from Go's per-user
            // index, which any writer of the prefix can change.
            .filter(|x| x.site_id == self.options.site_id && x.user_id.as_deref() == Some(user))
            .partition(|x| self.is_live(x)))
    }

    /// The shared path of update, patch, touch and rotate: id check, then one atomic
    /// read-modify-write in which site, expiry and the caller's change are applied.
    async fn modify<F>(&self, id: &str, change: F) -> Result<Session>
    where
        F: Fn(Session, Timestamp, &Pending) -> Result<Record> + Send + Sync,
    {
        if !id::is_well_formed(id) {
            return Err(self.malformed_id(None));
        }
        let pending = Pending::default();
        let foreign: Mutex<Option<Session>> = Mutex::new(None);
        let expired = AtomicBool::new(false);
        let now = self.now();
        // The backend may run the step more than once (a retry after a concurrent write, or a
        // record it had remembered that turned out stale): each run starts from nothing.
        let step = |session: Session| -> Result<Record> {
            pending.reset();
            *foreign
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            expired.store(false, Ordering::SeqCst);
            if !site::is_own(&self.options.site_id, &session) {
                *foreign
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session);
                return Err(not_found(id));
            }
            if !backend::is_live(self.options.expiry().effective_ms(&session), now.unix_ms()) {
                expired.store(true, Ordering::SeqCst);
                return Err(
                    Error::new(ErrorKind::SessionExpired, "the session has expired")
                        .with("session_id_hash", id::hash(id)),
                );
            }
            change(session, now, &pending)
        };
        // Only used by the backend when the change attaches a user (login of an anonymous session).
        let admission = self.admission(Some(""));
        let result = self
            .backend
            .modify(id, &step, admission.as_ref(), self.ctx())
            .await;
        pending.flush(&self.reporter);
        if let Some(foreign) = foreign
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            self.site_mismatch(&foreign);
        }
        match result {
            Ok(Modified::Missing) => Err(self.missing(id).await),
            Ok(Modified::Written { record, evicted }) => {
                self.report_evictions(&record.session, &evicted);
                Ok(record.session)
            }
            Err(e) if e.kind() == ErrorKind::SessionLimitExceeded => {
                self.admitted(Err(e), id, None)
            }
            Err(e) => {
                if expired.load(Ordering::SeqCst) {
                    self.backend
                        .remove(&[id.to_owned()], false, self.ctx())
                        .await?;
                }
                Err(e)
            }
        }
    }
}

fn not_found(id: &str) -> Error {
    Error::new(ErrorKind::SessionNotFound, "no such session").with("session_id_hash", id::hash(id))
}
