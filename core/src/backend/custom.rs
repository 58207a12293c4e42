//! Custom backends: storage written in the host language (a JS or Python object with `get`,
//! `set`, `delete` and optional listing methods), with every control still enforced here.
//!
//! A host storage has no transactions, so this adapter makes each step atomic within the
//! process: steps on one id, and admissions for one (site, user), are serialised by striped
//! locks, and tombstones are kept in memory. Several processes sharing one custom storage get
//! each control per process only; the README says so.

use super::{Backend, Change, Modified, Page, Record, WriteCtx, is_live};
use crate::controls::admission::{Admission, Member};
use crate::controls::expiry::ExpiryRule;
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::session::Session;
use async_trait::async_trait;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt::Debug;
use std::hash::BuildHasher;
use std::sync::Mutex;
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

/// Which optional methods a host storage has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::struct_excessive_bools)]
pub struct Capabilities {
    /// `list_by_user_id`: needed by the per-user limit and the user operations.
    pub list_by_user_id: bool,
    /// `list`: needed by `list`, `count` and `clear`.
    pub list: bool,
    /// `cleanup`: expired sessions removed by the storage itself.
    pub cleanup: bool,
}

/// The storage a host implements. Records are whole sessions; `expires_ms` is when the storage
/// may forget one (its effective expiry), `None` = never.
#[async_trait]
pub trait CustomStorage: Send + Sync + Debug + 'static {
    /// Which optional methods exist.
    fn capabilities(&self) -> Capabilities;
    /// The session stored under `id`, or `None`.
    async fn get(&self, id: &str) -> Result<Option<Session>>;
    /// Stores `session` under its id (insert or replace).
    async fn set(&self, session: &Session, expires_ms: Option<i64>) -> Result<()>;
    /// Forgets `id`; a missing id is not an error.
    async fn delete(&self, id: &str) -> Result<()>;
    /// Every stored session of (site, user).
    async fn list_by_user_id(&self, site: &str, user: &str) -> Result<Vec<Session>>;
    /// One page of every stored session, and the cursor of the next page.
    async fn list(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Session>, Option<String>)>;
    /// Removes sessions expired at `now_ms`; returns how many.
    async fn cleanup(&self, now_ms: i64) -> Result<u64>;
}

const STRIPES: usize = 64;

/// The adapter from a [`CustomStorage`] to the backend seam.
#[derive(Debug)]
pub struct CustomBackend<S> {
    storage: S,
    /// The store's expiry rule: records hold their absolute expiry only, idle is derived.
    expiry: ExpiryRule,
    ids: Vec<AsyncMutex<()>>,
    users: Vec<AsyncMutex<()>>,
    tombstones: Mutex<HashMap<String, i64>>,
    hasher: RandomState,
}

impl<S: CustomStorage> CustomBackend<S> {
    /// Wraps a host storage for a store with this expiry rule (`Options::expiry`).
    pub fn new(storage: S, expiry: ExpiryRule) -> Self {
        Self {
            storage,
            expiry,
            ids: (0..STRIPES).map(|_| AsyncMutex::new(())).collect(),
            users: (0..STRIPES).map(|_| AsyncMutex::new(())).collect(),
            tombstones: Mutex::new(HashMap::new()),
            hasher: RandomState::new(),
        }
    }

    /// The wrapped storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The host storage's record of `id`. A record whose id is another one is a broken storage,
    /// never that other session: every reader (and a host that reuses the id it asked for, as
    /// the Node binding's `get` does) may rely on a session read under `id` being `id`'s.
    async fn read(&self, id: &str) -> Result<Option<Session>> {
        match self.storage.get(id).await? {
            Some(s) if s.id != id => Err(Error::backend(
                "the record of a session cannot be read: its id is not the id of its key",
            )
            .with("session_id_hash", id::hash(id))),
            found => Ok(found),
        }
    }

    fn stripe(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % STRIPES
    }

    /// Locks the (site, user) stripes of `users`, then the id stripes of `ids`, each set in
    /// ascending order, so two steps never wait for each other in opposite orders.
    async fn lock(&self, users: &[(&str, &str)], ids: &[&str]) -> Vec<MutexGuard<'_, ()>> {
        let mut user_stripes: Vec<usize> = users
            .iter()
            .map(|(site, user)| self.stripe(&format!("{site}\0{user}")))
            .collect();
        let mut id_stripes: Vec<usize> = ids.iter().map(|id| self.stripe(id)).collect();
        user_stripes.sort_unstable();
        user_stripes.dedup();
        id_stripes.sort_unstable();
        id_stripes.dedup();
        let mut guards = Vec::with_capacity(user_stripes.len() + id_stripes.len());
        for i in user_stripes {
            guards.push(self.users[i].lock().await);
        }
        for i in id_stripes {
            guards.push(self.ids[i].lock().await);
        }
        guards
    }

    fn is_tombstoned(&self, id: &str, now_ms: i64) -> bool {
        let mut t = self
            .tombstones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.retain(|_, until| *until > now_ms);
        t.contains_key(id)
    }

    fn tombstone(&self, id: &str, until_ms: i64) {
        let mut t = self
            .tombstones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.insert(id.to_owned(), until_ms);
    }

    fn needs(has: bool, method: &str) -> Result<()> {
        if has {
            Ok(())
        } else {
            Err(Error::config(
                "backend",
                format!("the custom backend has no `{method}` method"),
            ))
        }
    }

    /// Runs an admission for `session`'s (site, user) and removes what it evicts.
    async fn admit(
        &self,
        session: &Session,
        admission: &Admission,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let Some(user) = &session.user_id else {
            return Ok(Vec::new());
        };
        let current = self.storage.list_by_user_id(&session.site_id, user).await?;
        let members: Vec<Member> = current
            .iter()
            .filter(|s| s.id != session.id && s.site_id == session.site_id)
            .map(|s| Member {
                id: s.id.clone(),
                created_ms: s.created_at.unix_ms(),
                accessed_ms: s.last_accessed_at.unix_ms(),
                expires_ms: self.expiry.effective_ms(s),
            })
            .collect();
        let decision = admission.decide(&members)?;
        let mut evicted = Vec::new();
        for old in current
            .into_iter()
            .filter(|s| decision.evict.contains(&s.id))
        {
            self.storage.delete(&old.id).await?;
            self.tombstone(&old.id, ctx.tombstone_until_ms);
            evicted.push(old);
        }
        for id in &decision.expired {
            self.storage.delete(id).await?;
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

    /// Every stored session, page by page (count, clear, the sweep without `cleanup`).
    async fn all(&self) -> Result<Vec<Session>> {
        Self::needs(self.storage.capabilities().list, "list")?;
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = self.storage.list(cursor.as_deref(), 1000).await?;
            out.extend(page);
            match next {
                Some(c) if cursor.as_deref() != Some(c.as_str()) => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl<S: CustomStorage> Backend for CustomBackend<S> {
    fn lists_user_sessions(&self) -> bool {
        self.storage.capabilities().list_by_user_id
    }

    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.is_tombstoned(id, now_ms))
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        self.read(id).await
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let s = &record.session;
        let user = s.user_id.as_deref().map(|u| (s.site_id.as_str(), u));
        let _guards = self.lock(user.as_slice(), &[&s.id]).await;
        if self.is_tombstoned(&s.id, ctx.now_ms) || self.read(&s.id).await?.is_some() {
            return Err(Self::conflict(&s.id));
        }
        let evicted = match admission {
            Some(a) => self.admit(s, a, ctx).await?,
            None => Vec::new(),
        };
        self.storage.set(s, record.expires_ms).await?;
        Ok(evicted)
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        // The id lock is held across the read and the write; a change that moves the session
        // (login, rotate) is redone under the locks of everything it moves.
        let Some(peek) = self.read(id).await? else {
            return Ok(Modified::Missing);
        };
        let preview = change(peek)?;
        let new_id = preview.session.id.clone();
        let user = preview
            .session
            .user_id
            .as_deref()
            .map(|u| (preview.session.site_id.as_str(), u));
        let _guards = self.lock(user.as_slice(), &[id, &new_id]).await;
        let Some(current) = self.read(id).await? else {
            return Ok(Modified::Missing);
        };
        let joins = current.user_id != preview.session.user_id
            || current.site_id != preview.session.site_id;
        let record = change(current)?;
        if record.session.id != id
            && (self.is_tombstoned(&record.session.id, ctx.now_ms)
                || self.read(&record.session.id).await?.is_some())
        {
            return Err(Self::conflict(&record.session.id));
        }
        let evicted = match admission {
            Some(a) if joins && record.session.user_id.is_some() => {
                self.admit(&record.session, a, ctx).await?
            }
            _ => Vec::new(),
        };
        self.storage.set(&record.session, record.expires_ms).await?;
        if record.session.id != id {
            self.storage.delete(id).await?;
            self.tombstone(id, ctx.tombstone_until_ms);
        }
        Ok(Modified::Written {
            record: Box::new(record),
            evicted,
        })
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut removed = 0;
        for id in ids {
            let _guards = self.lock(&[], &[id]).await;
            let existed = match self.read(id).await {
                Ok(found) => found.is_some(),
                // An unreadable record is still removed.
                Err(e) if e.kind() == ErrorKind::BackendError => true,
                Err(e) => return Err(e),
            };
            if existed {
                self.storage.delete(id).await?;
                removed += 1;
                if tombstone {
                    self.tombstone(id, ctx.tombstone_until_ms);
                }
            }
        }
        Ok(removed)
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        Self::needs(self.storage.capabilities().list_by_user_id, "listByUserId")?;
        let all = self.storage.list_by_user_id(site, user).await?;
        Ok(all.into_iter().filter(|s| s.site_id == site).collect())
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        Self::needs(self.storage.capabilities().list, "list")?;
        let wanted =
            |s: &Session| s.site_id == site && is_live(self.expiry.effective_ms(s), now_ms);
        // Host cursors are opaque, so host pages are asked for no bigger than the room left:
        // a page never holds more of this site's sessions than fit, and is never cut.
        let mut sessions: Vec<Session> = Vec::new();
        let mut at = cursor.map(str::to_owned);
        let mut next = None;
        let mut first = true;
        while sessions.len() < limit && (first || at.is_some()) {
            first = false;
            let (page, after) = self
                .storage
                .list(at.as_deref(), limit - sessions.len())
                .await?;
            sessions.extend(page.into_iter().filter(|s| wanted(s)));
            next = after.filter(|c| Some(c) != at.as_ref());
            at.clone_from(&next);
        }
        let mut probe = next.clone();
        while let Some(at) = probe {
            let (ahead, after) = self.storage.list(Some(&at), limit).await?;
            if ahead.iter().any(wanted) {
                return Ok(Page {
                    sessions,
                    cursor: next,
                });
            }
            probe = after.filter(|c| *c != at);
        }
        Ok(Page {
            sessions,
            cursor: None,
        })
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let all = self.all().await?;
        let live = all
            .iter()
            .filter(|s| s.site_id == site && is_live(self.expiry.effective_ms(s), now_ms));
        Ok(live.count() as u64)
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut removed = 0;
        for s in self.all().await?.into_iter().filter(|s| s.site_id == site) {
            let _guards = self.lock(&[], &[&s.id]).await;
            self.storage.delete(&s.id).await?;
            removed += u64::from(is_live(self.expiry.effective_ms(&s), now_ms));
        }
        Ok(removed)
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let caps = self.storage.capabilities();
        if caps.cleanup {
            return self.storage.cleanup(now_ms).await;
        }
        if !caps.list {
            // Nothing to sweep with; records expire when read (the core removes them then).
            return Ok(0);
        }
        let mut removed = 0;
        for s in self.all().await? {
            if !is_live(self.expiry.effective_ms(&s), now_ms) {
                let _guards = self.lock(&[], &[&s.id]).await;
                self.storage.delete(&s.id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
