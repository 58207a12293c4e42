//! `omnistorage_compat`: omnistorage-core's per-user index, `{prefix}user:{uuid}`, a JSON array
//! of session ids (docs/go-interop.md).
//!
//! A Go service finds a user's sessions only through it (`DeleteByUserID`, `ListByUserID` and
//! so its per-user limit), so omnisession adds every session it writes for a user to it, and
//! drops every one it removes: in the same script on one node; on a cluster, added before the
//! record is written and dropped after it is gone (docs/redis.md), so a crash leaves at most a
//! stale id, which Go skips. omnisession in turn reads the ids only Go's index holds when it
//! lists, revokes or admits a user's sessions, and recomputes each member from its record,
//! since Go may have touched, updated or deleted it without telling our index.

use super::{RedisBackend, decode, scripts, warn_corrupt};
use crate::controls::admission::Member;
use crate::error::{ErrorKind, Result};
use crate::id;
use crate::session::Session;

/// What one session key holds.
enum Fetched {
    Record(Box<Session>, Option<i64>),
    Missing,
    Unreadable,
}

impl RedisBackend {
    /// The Go index a session belongs in: with `omnistorage_compat`, any session with a user.
    pub(super) fn go_key(&self, s: &Session) -> Option<String> {
        match &s.user_id {
            Some(user) if self.compat => Some(self.keys.go_user(user)),
            _ => None,
        }
    }

    /// The effective expiry of a record whose key expires at `key_ms` (PEXPIRETIME, `< 0` =
    /// none): the earlier of the key's and the store's rule's.
    pub(super) fn effective_ms(&self, s: &Session, key_ms: i64) -> Option<i64> {
        let key = (key_ms >= 0).then_some(key_ms);
        match (key, self.expiry.effective_ms(s)) {
            (Some(k), Some(r)) => Some(k.min(r)),
            (k, r) => k.or(r),
        }
    }

    /// Go's index of `user`: its raw value (for the commit's comparison) and its ids. A value
    /// that is not a JSON array of strings has no ids, as Go reads it.
    pub(super) async fn read_go_index(&self, user: &str) -> Result<(Option<String>, Vec<String>)> {
        let raw: Option<String> = self
            .conn
            .read(redis::cmd("GET").arg(self.keys.go_user(user)))
            .await?;
        let ids = raw
            .as_deref()
            .and_then(|r| serde_json::from_str::<Vec<serde_json::Value>>(r).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        Ok((raw, ids))
    }

    /// Cluster: drops ids from a Go index (once their records are gone).
    pub(super) async fn go_drop(&self, go_key: &str, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let args: Vec<&str> = ids.iter().map(String::as_str).collect();
        let _: String = self
            .script_holding(true, &scripts::GO_DROP, &[go_key], &args)
            .await?;
        Ok(())
    }

    /// Cluster: adds an id to a Go index (before its record is written).
    pub(super) async fn go_add(&self, go_key: &str, id: &str, pxat: &str) -> Result<()> {
        let _: String = self
            .script_holding(true, &scripts::GO_ADD, &[go_key], &[id, pxat])
            .await?;
        Ok(())
    }

    async fn fetch_one(&self, id: &str) -> Result<Fetched> {
        let reply: Result<(Option<String>, i64)> = self
            .conn
            .script(&scripts::FETCH, &[&self.keys.session(id)], &[])
            .await;
        let (wire, key_ms) = match reply {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::BackendError => {
                warn_corrupt(id, &e);
                return Ok(Fetched::Unreadable);
            }
            Err(e) => return Err(e),
        };
        let Some(wire) = wire else {
            return Ok(Fetched::Missing);
        };
        Ok(match decode(id, &wire) {
            Ok(s) => {
                let expires = self.effective_ms(&s, key_ms);
                Fetched::Record(Box::new(s), expires)
            }
            Err(e) => {
                warn_corrupt(id, &e);
                Fetched::Unreadable
            }
        })
    }

    /// The members admission decides on, for a new `session`: each of ours as its record now
    /// says, then the sessions of this site and user that only Go's index holds (`skip`: ids
    /// already reserved). Also Go's index as read (`=` + raw) and, on one node, our members
    /// whose record is gone (a Go `Delete`, an expiry): the commit drops them. On a cluster
    /// a recordless member may be a step in flight, which the reservation grace handles.
    pub(super) async fn go_members(
        &self,
        ours: &[Member],
        skip: &[&str],
        session: &Session,
    ) -> Result<(Vec<Member>, String, Vec<String>)> {
        let user = session.user_id.as_deref().unwrap_or_default();
        let (raw, go_ids) = self.read_go_index(user).await?;
        let member = |s: &Session, expires_ms| Member {
            id: s.id.clone(),
            created_ms: s.created_at.unix_ms(),
            accessed_ms: s.last_accessed_at.unix_ms(),
            expires_ms,
        };
        let mut members = Vec::new();
        let mut recordless = Vec::new();
        for m in ours {
            match self.fetch_one(&m.id).await? {
                Fetched::Record(s, expires) => members.push(member(&s, expires)),
                Fetched::Missing if !self.conn.is_cluster() => recordless.push(m.id.clone()),
                Fetched::Missing | Fetched::Unreadable => members.push(m.clone()),
            }
        }
        for go_id in go_ids {
            let known = go_id == session.id
                || skip.contains(&go_id.as_str())
                || ours.iter().any(|m| m.id == go_id)
                || members.iter().any(|m| m.id == go_id);
            if known || !id::is_well_formed(&go_id) {
                continue;
            }
            if let Fetched::Record(s, expires) = self.fetch_one(&go_id).await?
                && s.site_id == session.site_id
                && s.user_id == session.user_id
            {
                members.push(member(&s, expires));
            }
        }
        Ok((members, format!("={}", raw.unwrap_or_default()), recordless))
    }
}
