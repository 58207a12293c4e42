//! The backend seam: storage primitives only.
//!
//! A backend stores records, keeps a per-(site, user) index, keeps tombstones, and makes each
//! primitive atomic. It never decides policy: who may be admitted, what a change does to a
//! record, what counts as expired. Those decisions are handed to it by the core as
//! [`Admission`] and [`Change`] values and run inside the backend's atomic step, so that every
//! control holds on every backend while living once, in the core.

pub mod custom;
pub mod file;
pub mod memory;
mod owner_only;
mod raw;
pub mod redis;
pub mod sqlite;

use crate::controls::admission::Admission;
use crate::error::{Error, Result};
use crate::session::Session;
use async_trait::async_trait;
use std::fmt::Debug;
use std::sync::Arc;

/// A record as the core hands it to a backend for writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session (its `id`, `site_id` and `user_id` address and index it).
    pub session: Session,
    /// The wire JSON, computed once by the core (the size limit measured these bytes).
    pub wire: String,
    /// Effective expiry in Unix ms (the earlier of absolute and idle), `None` = never.
    pub expires_ms: Option<i64>,
}

impl Record {
    /// Created-at in ms: the `oldest` eviction order.
    pub fn created_ms(&self) -> i64 {
        self.session.created_at.unix_ms()
    }

    /// Last-accessed-at in ms: the `lru` eviction order.
    pub fn accessed_ms(&self) -> i64 {
        self.session.last_accessed_at.unix_ms()
    }
}

pub use crate::controls::expiry::is_live;
pub use raw::{RawPage, RawRecord};

/// Times every write needs: now, and until when a removed id stays unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCtx {
    /// The core's current time in Unix ms.
    pub now_ms: i64,
    /// Tombstones written by this step expire at this instant (Unix ms).
    pub tombstone_until_ms: i64,
}

/// The decision a [`Backend::modify`] runs on the current record, inside its atomic step.
///
/// `Err` aborts the step and writes nothing. The returned record may carry a new id (rotate):
/// the backend then inserts it under the new id and removes (and tombstones) the old one.
pub type Change<'a> = dyn Fn(Session) -> Result<Record> + Send + Sync + 'a;

/// What [`Backend::modify`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Modified {
    /// No record has that id (never existed, removed, or tombstoned).
    Missing,
    /// The record was replaced; `evicted` lists sessions removed by the admission.
    Written {
        /// The record as stored.
        record: Box<Record>,
        /// Sessions evicted to admit a newly attached user.
        evicted: Vec<Session>,
    },
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// Sessions of the page, in the backend's stable order (ids ascending unless noted).
    pub sessions: Vec<Session>,
    /// Where the next page starts; `None` when this was the last page.
    pub cursor: Option<String>,
}

/// Storage primitives. Every method is atomic with respect to every other method on the same
/// backend, across every process that shares it. All of them are called by the core only
/// after it has checked the store is open, the id is well-formed and the site matches.
#[async_trait]
pub trait Backend: Send + Sync + Debug + 'static {
    /// Whether [`Backend::user_sessions`] can list a user's sessions: the per-user limit
    /// needs it (a custom storage without `listByUserId` cannot).
    fn lists_user_sessions(&self) -> bool {
        true
    }

    /// Whether `id` was removed with a tombstone still in force at `now_ms` (a deleted,
    /// rotated or evicted id): the core reports such an id presented again as a replay.
    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool>;

    /// The id a rotation of `old_id` moves the session to; the core calls it once per attempt
    /// and checks the answer is well-formed and not `old_id`.
    ///
    /// The default is [`crate::id::generate`]. A backend may narrow the choice to ids it can
    /// move a record to in one atomic step (Redis Cluster: ids whose key is in the old key's
    /// hash slot), provided the id keeps the form of [`crate::id::generate`] and is uniformly
    /// random over the ids it allows, so that it stays as unguessable as the set is large;
    /// its [`Backend::modify`] may then refuse (`BACKEND_ERROR`) a new id outside that set.
    fn rotation_id(&self, old_id: &str) -> String {
        let _ = old_id;
        crate::id::generate()
    }

    /// Whether a rotation may move the record of `old_id` to `new_id` in one atomic step:
    /// with ids hashed at rest the core draws the new id itself (its hash cannot be chosen)
    /// and asks. Any id, unless the backend narrows [`Backend::rotation_id`].
    fn rotation_allows(&self, old_id: &str, new_id: &str) -> bool {
        let _ = (old_id, new_id);
        true
    }

    /// The record with this id, expired or not (the core decides), or `None`.
    ///
    /// A record that cannot be decoded is `BACKEND_ERROR` with `session_id_hash`, and must
    /// not affect any other id.
    async fn load(&self, id: &str) -> Result<Option<Session>>;

    /// [`Backend::load`] for a reader that only looks at the session: a backend that keeps
    /// sessions in memory hands out its own copy instead of making one.
    async fn load_shared(&self, id: &str) -> Result<Option<Arc<Session>>> {
        Ok(self.load(id).await?.map(Arc::new))
    }

    /// Stores a new record in one atomic step:
    /// - `SESSION_CONFLICT` if the id exists (expired or not) or has a live tombstone;
    /// - with `admission`, the live members of the record's (site, user) are passed to
    ///   [`Admission::decide`]; its error aborts the step, and the ids it returns are removed
    ///   and tombstoned in the same step.
    ///
    /// Returns the evicted sessions.
    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>>;

    /// Atomic read-modify-write of one record: loads it, runs `change`, stores the result.
    ///
    /// When the new record has another user or site than the old one, the index moves, and
    /// `admission` (if given) is run for the new (site, user) as in [`Backend::insert`].
    /// When it has another id, it is inserted under that id (`SESSION_CONFLICT` if taken or
    /// tombstoned) and the old id is removed and tombstoned, in the same step.
    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified>;

    /// Removes these ids (missing ones are skipped) and, with `tombstone`, tombstones them.
    /// Returns how many records were actually removed.
    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64>;

    /// Every indexed session of (site, user), live or expired, in any order.
    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>>;

    /// Up to `limit` live sessions of `site` after `cursor`, in a stable order.
    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page>;

    /// Live sessions of `site`.
    async fn count(&self, site: &str, now_ms: i64) -> Result<u64>;

    /// Removes every session of `site` (tombstoning none: ids are random). Returns the count
    /// of live sessions removed.
    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64>;

    /// Removes every expired record and expired tombstone, of every site, at a cost
    /// proportional to the number expired. Returns the number of sessions removed.
    async fn purge_expired(&self, now_ms: i64) -> Result<u64>;

    /// Admin (`crate::store::admin`): up to about `limit` stored records after `cursor`, of
    /// every site, live or expired, undecoded, in a stable order; tombstones and index entries
    /// are not records. A record that cannot be read or decoded is returned all the same
    /// (that is what `omnisession check` looks for); listings skip it.
    ///
    /// The default refuses: a custom backend has no way to walk its records as stored.
    async fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        let _ = (cursor, limit);
        Err(Error::config(
            "backend",
            "this backend cannot list its stored records (admin operations need memory, \
             sqlite, file or redis)",
        ))
    }

    /// Releases connections and files. Idempotent.
    async fn close(&self) -> Result<()>;
}
