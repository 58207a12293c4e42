//! The in-process backend: sharded records, one index lock; a session is copied in, and read
//! out as a copy (`load`) or shared as it is stored (`load_shared`, never changed in place).
//!
//! Locking: reads and plain read-modify-writes (touch, patch, update of the same user) take
//! only their record's shard lock. Anything that changes the (site, user) index or the set of
//! ids (insert, remove, rotate, login, sweep) first takes the index lock, which serialises
//! those steps; under it, shard locks are taken one at a time, so no two locks are ever waited
//! for in different orders.

mod key;

use super::{Backend, Change, Modified, Page, RawPage, RawRecord, Record, WriteCtx, is_live};
use crate::controls::admission::{Admission, Member};
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::session::Session;
use async_trait::async_trait;
use key::Key;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 16;

/// The memory backend.
#[derive(Debug)]
pub struct MemoryBackend {
    shards: Box<[Mutex<Shard>]>,
    index: Mutex<Index>,
    hasher: Hasher,
}

/// The maps' hash: keys are ids the store wrote (random, or the application's), so a seeded
/// fast hash is enough; SipHash cost more than the rest of a lookup.
type Hasher = foldhash::fast::RandomState;

#[derive(Debug, Clone)]
struct Stored {
    /// Shared: a reader takes it and unlocks the shard; `load_shared` hands it out uncopied.
    session: Arc<Session>,
    expires_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Shard {
    records: HashMap<Key, Stored, Hasher>,
    /// (expiry, id) of every record that expires: the sweep pops from the front.
    expiry: BTreeSet<(i64, String)>,
}

impl Shard {
    fn put(&mut self, stored: Stored) {
        if let Some(old) = self.take(&stored.session.id) {
            drop(old);
        }
        if let Some(exp) = stored.expires_ms {
            self.expiry.insert((exp, stored.session.id.clone()));
        }
        self.records.insert(Key::new(&stored.session.id), stored);
    }

    fn take(&mut self, id: &str) -> Option<Stored> {
        let stored = self.records.remove(id.as_bytes())?;
        if let Some(exp) = stored.expires_ms {
            self.expiry.remove(&(exp, id.to_owned()));
        }
        Some(stored)
    }
}

type UserKey = (String, String);

#[derive(Debug, Default)]
struct Index {
    users: HashMap<UserKey, BTreeSet<String>>,
    tombstones: HashMap<String, i64>,
    tombstone_expiry: BTreeSet<(i64, String)>,
}

impl Index {
    fn add(&mut self, s: &Session) {
        if let Some(user) = &s.user_id {
            self.users
                .entry((s.site_id.clone(), user.clone()))
                .or_default()
                .insert(s.id.clone());
        }
    }

    fn drop_member(&mut self, s: &Session) {
        if let Some(user) = &s.user_id {
            let key = (s.site_id.clone(), user.clone());
            if let Some(ids) = self.users.get_mut(&key) {
                ids.remove(&s.id);
                if ids.is_empty() {
                    self.users.remove(&key);
                }
            }
        }
    }

    fn tombstone(&mut self, id: &str, until_ms: i64) {
        if let Some(old) = self.tombstones.insert(id.to_owned(), until_ms) {
            self.tombstone_expiry.remove(&(old, id.to_owned()));
        }
        self.tombstone_expiry.insert((until_ms, id.to_owned()));
    }

    fn is_tombstoned(&self, id: &str, now_ms: i64) -> bool {
        self.tombstones.get(id).is_some_and(|until| now_ms < *until)
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            index: Mutex::new(Index::default()),
            hasher: Hasher::default(),
        }
    }

    fn shard_of(&self, id: &str) -> usize {
        (self.hasher.hash_one(id) as usize) % SHARDS
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, Shard> {
        lock(&self.shards[self.shard_of(id)])
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        lock(&self.index)
    }

    /// One page of stored records in id order, for `page` and `raw_page`: those `keep`
    /// accepts whose id comes after `cursor`, at most `limit`, and the next page's cursor
    /// (the last id, when more follow).
    fn stored_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
        keep: impl Fn(&Stored) -> bool,
    ) -> (Vec<Stored>, Option<String>) {
        let mut all: Vec<Stored> = Vec::new();
        for shard in &self.shards {
            let shard = lock(shard);
            all.extend(
                shard
                    .records
                    .values()
                    .filter(|s| keep(s) && cursor.is_none_or(|c| s.session.id.as_str() > c))
                    .cloned(),
            );
        }
        all.sort_unstable_by(|a, b| a.session.id.cmp(&b.session.id));
        let more = all.len() > limit;
        all.truncate(limit);
        let next = if more {
            all.last().map(|s| s.session.id.clone())
        } else {
            None
        };
        (all, next)
    }

    fn read(&self, id: &str) -> Option<Stored> {
        self.shard(id).records.get(id.as_bytes()).cloned()
    }

    /// Runs an admission for `record`'s (site, user) and applies its decision. The index lock
    /// must be held (it is passed in), so the membership cannot change meanwhile.
    fn admit(
        &self,
        index: &mut Index,
        record: &Record,
        admission: &Admission,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let Some(user) = &record.session.user_id else {
            return Ok(Vec::new());
        };
        let key = (record.session.site_id.clone(), user.clone());
        let members: Vec<Member> = index
            .users
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|id| **id != record.session.id)
            .filter_map(|id| self.read(id))
            .map(|s| Member {
                id: s.session.id.clone(),
                created_ms: s.session.created_at.unix_ms(),
                accessed_ms: s.session.last_accessed_at.unix_ms(),
                expires_ms: s.expires_ms,
            })
            .collect();
        let decision = admission.decide(&members)?;
        let mut evicted = Vec::new();
        for id in &decision.evict {
            if let Some(old) = self.shard(id).take(id) {
                index.drop_member(&old.session);
                index.tombstone(id, ctx.tombstone_until_ms);
                evicted.push(Arc::unwrap_or_clone(old.session));
            }
        }
        for id in &decision.expired {
            if let Some(old) = self.shard(id).take(id) {
                index.drop_member(&old.session);
            }
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn stored(record: &Record) -> Stored {
    Stored {
        session: Arc::new(record.session.clone()),
        expires_ms: record.expires_ms,
    }
}

fn same_membership(a: &Session, b: &Session) -> bool {
    a.id == b.id && a.site_id == b.site_id && a.user_id == b.user_id
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn tombstoned(&self, id: &str, now_ms: i64) -> Result<bool> {
        Ok(self.index().is_tombstoned(id, now_ms))
    }

    async fn load(&self, id: &str) -> Result<Option<Session>> {
        Ok(self.read(id).map(|s| Session::clone(&s.session)))
    }

    async fn load_shared(&self, id: &str) -> Result<Option<Arc<Session>>> {
        Ok(self.read(id).map(|s| s.session))
    }

    async fn insert(
        &self,
        record: &Record,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Vec<Session>> {
        let mut index = self.index();
        let id = &record.session.id;
        if index.is_tombstoned(id, ctx.now_ms) || self.shard(id).records.contains_key(id.as_bytes())
        {
            return Err(Self::conflict(id));
        }
        let evicted = match admission {
            Some(a) => self.admit(&mut index, record, a, ctx)?,
            None => Vec::new(),
        };
        self.shard(id).put(stored(record));
        index.add(&record.session);
        Ok(evicted)
    }

    async fn modify(
        &self,
        id: &str,
        change: &Change<'_>,
        admission: Option<&Admission>,
        ctx: WriteCtx,
    ) -> Result<Modified> {
        // Fast path: the change keeps id, site and user, so only this record's shard is involved.
        {
            let mut shard = self.shard(id);
            let Some(current) = shard.records.get(id.as_bytes()) else {
                return Ok(Modified::Missing);
            };
            let record = change(Session::clone(&current.session))?;
            if same_membership(&current.session, &record.session) {
                shard.put(stored(&record));
                return Ok(Modified::Written {
                    record: Box::new(record),
                    evicted: Vec::new(),
                });
            }
        }
        // Slow path (rotate, login): under the index lock, decide, then commit only if the
        // record is still the one the change saw; otherwise start over.
        let mut index = self.index();
        loop {
            let Some(current) = self.read(id) else {
                return Ok(Modified::Missing);
            };
            let record = change(Session::clone(&current.session))?;
            let new_id = &record.session.id;
            if new_id != id
                && (index.is_tombstoned(new_id, ctx.now_ms) || self.read(new_id).is_some())
            {
                return Err(Self::conflict(new_id));
            }
            let moves_user = record.session.user_id.is_some()
                && (record.session.user_id != current.session.user_id
                    || record.session.site_id != current.session.site_id);
            let mut placed = false;
            {
                let mut shard = self.shard(id);
                match shard.records.get(id.as_bytes()) {
                    Some(now) if now.session == current.session => {}
                    _ => continue,
                }
                if new_id != id {
                    // A rotation puts the new record in place before the old one's shard is
                    // unlocked: a reader (which takes no index lock) finds one of the two
                    // ids, never neither. Holding two shard locks is safe here: every other
                    // holder of a shard lock either holds the index lock we hold, or waits
                    // for nothing while it holds its one shard.
                    if !moves_user {
                        if self.shard_of(new_id) == self.shard_of(id) {
                            shard.put(stored(&record));
                        } else {
                            self.shard(new_id).put(stored(&record));
                        }
                        placed = true;
                    }
                    shard.take(id);
                } else if !moves_user && same_membership(&current.session, &record.session) {
                    shard.put(stored(&record));
                    return Ok(Modified::Written {
                        record: Box::new(record),
                        evicted: Vec::new(),
                    });
                }
            }
            index.drop_member(&current.session);
            let evicted = match (moves_user, admission) {
                (true, Some(a)) => match self.admit(&mut index, &record, a, ctx) {
                    Ok(evicted) => evicted,
                    Err(e) => {
                        // Refused: put the session back exactly as it was.
                        index.add(&current.session);
                        self.shard(id).put(current);
                        return Err(e);
                    }
                },
                _ => Vec::new(),
            };
            if new_id != id {
                index.tombstone(id, ctx.tombstone_until_ms);
            }
            if !placed {
                self.shard(new_id).put(stored(&record));
            }
            index.add(&record.session);
            return Ok(Modified::Written {
                record: Box::new(record),
                evicted,
            });
        }
    }

    async fn remove(&self, ids: &[String], tombstone: bool, ctx: WriteCtx) -> Result<u64> {
        let mut index = self.index();
        let mut removed = 0;
        for id in ids {
            if let Some(old) = self.shard(id).take(id) {
                index.drop_member(&old.session);
                removed += 1;
                if tombstone {
                    index.tombstone(id, ctx.tombstone_until_ms);
                }
            }
        }
        Ok(removed)
    }

    async fn user_sessions(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let index = self.index();
        let key = (site.to_owned(), user.to_owned());
        Ok(index
            .users
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.read(id))
            .map(|s| Session::clone(&s.session))
            .collect())
    }

    async fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        let (stored, cursor) = self.stored_page(cursor, limit, |s| {
            s.session.site_id == site && is_live(s.expires_ms, now_ms)
        });
        let sessions = stored.iter().map(|s| Session::clone(&s.session)).collect();
        Ok(Page { sessions, cursor })
    }

    async fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let live = self.shards.iter().map(|shard| {
            lock(shard)
                .records
                .values()
                .filter(|s| s.session.site_id == site && is_live(s.expires_ms, now_ms))
                .count()
        });
        Ok(live.sum::<usize>() as u64)
    }

    async fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut index = self.index();
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            let ids: Vec<String> = shard
                .records
                .values()
                .filter(|s| s.session.site_id == site)
                .map(|s| s.session.id.clone())
                .collect();
            for id in ids {
                if let Some(old) = shard.take(&id) {
                    index.drop_member(&old.session);
                    removed += u64::from(is_live(old.expires_ms, now_ms));
                }
            }
        }
        Ok(removed)
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<u64> {
        let mut index = self.index();
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            while let Some((exp, id)) = shard.expiry.first().cloned() {
                if is_live(Some(exp), now_ms) {
                    break;
                }
                if let Some(old) = shard.take(&id) {
                    index.drop_member(&old.session);
                    removed += 1;
                }
            }
        }
        while let Some((until, id)) = index.tombstone_expiry.first().cloned() {
            if until > now_ms {
                break;
            }
            index.tombstone_expiry.pop_first();
            index.tombstones.remove(&id);
        }
        Ok(removed)
    }

    async fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        // Records are kept decoded, so each is its wire JSON; in id order, as `page`.
        let (all, cursor) = self.stored_page(cursor, limit, |_| true);
        let records = all
            .into_iter()
            .map(
                |Stored {
                     session: s,
                     expires_ms,
                 }| RawRecord {
                    id: s.id.clone(),
                    bytes: s.to_wire().into_bytes(),
                    unreadable: None,
                    expires_ms,
                    indexed_as: Some((s.site_id.clone(), s.user_id.clone())),
                },
            )
            .collect();
        Ok(RawPage { records, cursor })
    }

    async fn close(&self) -> Result<()> {
        let mut index = self.index();
        *index = Index::default();
        for shard in &self.shards {
            *lock(shard) = Shard::default();
        }
        Ok(())
    }
}
