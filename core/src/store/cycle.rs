//! The operations of a web request's cycle, which every framework adapter maps its own cycle
//! onto: a read that slides a rolling session, a login, and a save that creates the session
//! when the framework's contract says so. Each is one core call, so that no adapter re-derives
//! login, lifetime or save.

use super::{NewSession, SessionUpdate, Store, apply, not_found};
use crate::at_rest::IssuedIds;
use crate::controls::device;
use crate::controls::expiry::Lifetime;
use crate::controls::user::UserRule;
use crate::error::{Error, ErrorKind, Result};
use crate::id;
use crate::session::Session;
use serde_json::{Map, Value};

/// What `login` takes: who signs in, on which session, with which of this request's changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Login {
    /// The id the request came with, if any (missing, expired, ended, malformed or another
    /// site's: the login starts a new session).
    pub from: Option<String>,
    /// The user who signs in.
    pub user_id: String,
    /// This request's changes: keys to set...
    pub set: Map<String, Value>,
    /// ... and keys to remove.
    pub unset: Vec<String>,
    /// The new session's expiry; `None` = the store's `default_ttl`.
    pub expires: Option<Lifetime>,
    /// Client address; `None` keeps the carried-over session's.
    pub ip_address: Option<String>,
    /// Client user agent; `None` keeps the carried-over session's.
    pub user_agent: Option<String>,
    /// Tenant; `None` keeps the carried-over session's.
    pub organization_id: Option<String>,
}

impl Store {
    /// [`Store::get`] for a rolling session: once more than `refresh_fraction` of its window of
    /// `rolling_ms` has passed, the read also moves its expiry to `rolling_ms` from now
    /// (bounded by `max_lifetime`), so an active user stays signed in at one write per half
    /// window instead of one per request.
    pub async fn get_sliding(&self, id: &str, rolling_ms: u64) -> Result<Option<Session>> {
        let s = &self.inner;
        let found = s.read(&s.ids().id_at_rest(id), Some(rolling_ms)).await?;
        Ok(found.map(|x| s.ids().shown(std::sync::Arc::unwrap_or_clone(x), id)))
    }

    /// Signs `user_id` in, in one atomic step: a new id (fixation defence), the user attached,
    /// the old id ended and tombstoned, the per-user limit applied.
    ///
    /// The old session's data is carried over only when it was anonymous or already this
    /// user's; a session of another user ends and the new one starts empty (plus this
    /// request's changes), so one user never inherits another's data on a shared browser.
    /// The new session starts a new lifetime (`expires`, or `default_ttl`).
    pub async fn login(&self, login: Login) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        let user = s
            .check_user(Some(login.user_id.clone()), UserRule::Required)?
            .unwrap_or_default();
        if let Some(key) = login.unset.iter().find(|k| login.set.contains_key(*k)) {
            return Err(Error::invalid(format!("key {key:?} is both set and unset"))
                .with("key", key.as_str()));
        }
        s.check_go(Some(&user), login.organization_id.as_deref())?;
        let mut set = login.set.clone();
        s.check_data(&mut set, None, Some(&user))?;
        if let Some(from) = login.from.as_deref() {
            if id::is_well_formed(from) {
                let issued = IssuedIds::default();
                let signed_in = s
                    .modify(&s.ids().id_at_rest(from), |old, now, pending| {
                        let carry = old.user_id.as_deref().is_none_or(|u| u == user);
                        let kept = |given: &Option<String>, old: &str| {
                            given.clone().unwrap_or_else(|| {
                                if carry { old.to_owned() } else { String::new() }
                            })
                        };
                        let mut session = Session {
                            id: s.rotation_id(&old.id, &issued)?,
                            user_id: Some(user.clone()),
                            site_id: old.site_id.clone(),
                            organization_id: login
                                .organization_id
                                .clone()
                                .or_else(|| old.organization_id.clone().filter(|_| carry)),
                            data: if carry { old.data.clone() } else { Map::new() },
                            created_at: now,
                            updated_at: now,
                            last_accessed_at: now,
                            expires_at: s.expires_at(now, now, login.expires),
                            ip_address: kept(&login.ip_address, &old.ip_address),
                            user_agent: device::user_agent(kept(
                                &login.user_agent,
                                &old.user_agent,
                            )),
                            version: if carry { old.version + 1 } else { 1 },
                        };
                        apply(&mut session.data, &set, &login.unset);
                        s.seal(session, pending)
                    })
                    .await;
                match signed_in {
                    Ok(session) => return Ok(issued.shown(session)),
                    // Nothing live to sign in on: a new session, as from no session at all.
                    Err(e) if e.kind().is_gone() => {}
                    Err(e) => return Err(e),
                }
            } else {
                s.malformed_id(Some(&user));
            }
        }
        self.create(NewSession {
            user_id: Some(user),
            data: set,
            expires: login.expires,
            id: None,
            ip_address: login.ip_address,
            user_agent: login.user_agent,
            organization_id: login.organization_id,
        })
        .await
    }

    /// Saves a whole session under `update.id`, creating it when no session has that id:
    /// the express-session `Store#set` contract (a store is written to without being read
    /// first). An id that ended (logout, rotation, eviction) stays ended: that is
    /// `SESSION_NOT_FOUND`, and a replay event, never a resurrection.
    pub async fn upsert(&self, update: SessionUpdate) -> Result<Session> {
        let s = &self.inner;
        s.open_check()?;
        if !id::is_well_formed(&update.id) {
            return Err(s.malformed_id(update.user_id.as_deref()));
        }
        // Each turn loses only to a parallel request that created or removed the id meanwhile.
        let mut turns = 0;
        loop {
            match self.update(update.clone()).await {
                // An expired session was removed by the update: its id is free again.
                Err(e) if e.kind().is_gone() => {}
                other => return other,
            }
            turns += 1;
            let created = self
                .create(NewSession {
                    user_id: update.user_id.clone(),
                    data: update.data.clone(),
                    expires: update.expires,
                    id: Some(update.id.clone()),
                    ip_address: update.ip_address.clone(),
                    user_agent: update.user_agent.clone(),
                    organization_id: update.organization_id.clone(),
                })
                .await;
            match created {
                Err(e) if e.kind() == ErrorKind::SessionConflict => {
                    if turns >= 4 {
                        return Err(e);
                    }
                    let id = s.ids().id_at_rest(&update.id);
                    if s.backend.tombstoned(&id, s.now().unix_ms()).await? {
                        // Ended: the update above has reported the replay already.
                        return Err(not_found(&id));
                    }
                    match s.backend.load(&id).await? {
                        // Another site's id: the conflict stands (create reported it).
                        Some(other) if other.site_id != s.options.site_id => return Err(e),
                        // Expired but not yet removed: clear it away and create again.
                        Some(_) => {
                            s.backend.remove(&[id.into_owned()], false, s.ctx()).await?;
                        }
                        // Created by a parallel request since: update it.
                        None => {}
                    }
                }
                other => return other,
            }
        }
    }
}
