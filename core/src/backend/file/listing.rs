//! Walks that read: the indexed sessions of a (site, user) (and the stale markers found on
//! the way), and the sessions of a site in id order, for pages, counts and clears.

use super::fsio::{marker_ids, names};
use super::layout::{Dirs, JSON, user_key};
use super::records::Stored;
use super::{io_error, warn_corrupt};
use crate::backend::{Page, is_live};
use crate::error::Result;
use crate::id;
use crate::session::Session;

impl Dirs {
    /// Ids of every session file, in no order.
    pub(super) fn session_ids(&self) -> Result<Vec<String>> {
        let names = names(&self.sessions).map_err(|e| io_error("cannot list sessions", &e))?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_suffix(JSON).map(str::to_owned))
            .filter(|n| id::is_well_formed(n))
            .collect())
    }

    /// Indexed sessions of (site, user), and the markers found stale (to drop under the lock).
    pub(super) fn user_sessions(
        &self,
        site: &str,
        user: &str,
    ) -> Result<(Vec<Session>, Vec<String>)> {
        let dir = self.users.join(user_key(site, user));
        let ids = marker_ids(&dir).map_err(|e| io_error("cannot list a user index", &e))?;
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        for id in ids {
            match self.fetch(&id)? {
                Stored::Found(s) if s.site_id == site && s.user_id.as_deref() == Some(user) => {
                    sessions.push(*s);
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => stale.push(id),
            }
        }
        Ok((sessions, stale))
    }

    /// Drops the markers of (site, user) that are still stale now that the lock is held.
    pub(super) fn drop_stale_members(&self, site: &str, user: &str, ids: &[String]) -> Result<()> {
        let key = user_key(site, user);
        for id in ids {
            let stale = match self.fetch(id)? {
                Stored::Found(s) => s.site_id != site || s.user_id.as_deref() != Some(user),
                Stored::Missing => true,
                Stored::Corrupt => false,
            };
            if stale {
                self.drop_user_marker(&key, id)?;
            }
        }
        Ok(())
    }

    /// Calls `f` on every readable session of `site`, in id order from after `cursor`, until
    /// it returns `false`. Corrupt files are skipped with a warning.
    fn scan(
        &self,
        site: &str,
        cursor: Option<&str>,
        mut f: impl FnMut(Session) -> Result<bool>,
    ) -> Result<()> {
        let mut ids = self.session_ids()?;
        ids.retain(|id| cursor.is_none_or(|c| id.as_str() > c));
        ids.sort_unstable();
        for id in ids {
            match self.fetch(&id)? {
                Stored::Found(s) if s.site_id == site => {
                    if !f(*s)? {
                        break;
                    }
                }
                Stored::Corrupt => warn_corrupt(&id),
                Stored::Found(_) | Stored::Missing => {}
            }
        }
        Ok(())
    }

    pub(super) fn page(
        &self,
        site: &str,
        cursor: Option<&str>,
        limit: usize,
        now_ms: i64,
    ) -> Result<Page> {
        let mut sessions = Vec::new();
        let mut more = false;
        self.scan(site, cursor, |s| {
            if !is_live(self.expiry_of(&s)?, now_ms) {
                return Ok(true);
            }
            if sessions.len() == limit {
                more = true;
                return Ok(false);
            }
            sessions.push(s);
            Ok(true)
        })?;
        let cursor = if more {
            sessions.last().map(|s| s.id.clone())
        } else {
            None
        };
        Ok(Page { sessions, cursor })
    }

    pub(super) fn count(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut n = 0;
        self.scan(site, None, |s| {
            n += u64::from(is_live(self.expiry_of(&s)?, now_ms));
            Ok(true)
        })?;
        Ok(n)
    }

    pub(super) fn clear(&self, site: &str, now_ms: i64) -> Result<u64> {
        let mut ids = Vec::new();
        self.scan(site, None, |s| {
            ids.push((is_live(self.expiry_of(&s)?, now_ms), s.id));
            Ok(true)
        })?;
        let mut removed = 0;
        for (live, id) in ids {
            if self.delete_record(&id)? && live {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
