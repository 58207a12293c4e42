//! The admin API: what operators' tools (the `omnisession` command) do to a store as a whole,
//! on every backend, with the store's own rules.
//!
//! - [`Target`] turns backend URLs into [`Options`](crate::Options);
//! - [`Admin::page`] walks every stored record of every site, live, expired or bad, as
//!   [`Entry`] values: each checked against the record rules and shown only under its
//!   stable [`fingerprint`](crate::id::fingerprint);
//! - [`Admin::find`] finds a record by that fingerprint, [`Admin::revoke`] ends it as
//!   [`Store::delete`] does (removed and tombstoned);
//! - [`Admin::import`] writes a record read from another store as it is (migration);
//! - [`StatsBuilder`] sums a walk up.
//!
//! The per-site, per-user operations (`list_by_user_id`, `delete_by_user_id`, `cleanup`) are
//! the [`Store`]'s own: [`Admin::store`] hands it out.

mod entry;
mod import;
mod stats;
mod target;

pub use entry::Entry;
pub use import::Imported;
pub use stats::{SOON_MS, Sizes, Stats, StatsBuilder, UserCount};
pub use target::{Presence, Target};

use super::Store;
use crate::error::Result;
use crate::id;

/// Records asked of the backend per [`Admin::page`] when none is given.
pub const ADMIN_PAGE: usize = 500;

/// One page of [`Admin::page`].
#[derive(Debug, Clone, Default)]
pub struct AdminPage {
    /// The records of this page (fewer than asked, even none, before the last page).
    pub entries: Vec<Entry>,
    /// Where the next page starts; `None` after the last.
    pub cursor: Option<String>,
}

/// A store opened for administration.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Store,
}

impl Admin {
    /// Opens the store `target` names.
    pub async fn open(target: &Target, presence: Presence) -> Result<Admin> {
        let options = target.options(presence)?;
        Ok(Admin {
            store: Store::open(options).await?,
        })
    }

    /// Administers an open store.
    pub fn new(store: Store) -> Admin {
        Admin { store }
    }

    /// The store, for its per-site operations.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What the store holds for each session id (`ids_at_rest`).
    pub fn ids_at_rest(&self) -> &crate::at_rest::IdsAtRest {
        self.store.inner.ids()
    }

    /// The store's current time in Unix ms (what liveness is decided against).
    pub fn now_ms(&self) -> i64 {
        self.store.inner.now().unix_ms()
    }

    /// Up to about `limit` stored records after `cursor` (from [`AdminPage::cursor`]), every
    /// site, live, expired or bad. `BACKEND_ERROR`/`CONFIG_INVALID` on a custom backend,
    /// which cannot walk its records.
    pub async fn page(&self, cursor: Option<&str>, limit: usize) -> Result<AdminPage> {
        let s = &self.store.inner;
        s.open_check()?;
        let page = s.backend.raw_page(cursor, limit.max(1)).await?;
        let rule = s.options.expiry();
        Ok(AdminPage {
            entries: page
                .records
                .into_iter()
                .map(|r| Entry::new(r, &rule))
                .collect(),
            cursor: page.cursor,
        })
    }

    /// Every record whose id has this [`fingerprint`](id::fingerprint) (one, unless two ids
    /// share one: see its docs). Walks the whole store: an admin lookup, not a request's.
    pub async fn find(&self, fingerprint: &str) -> Result<Vec<Entry>> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.page(cursor.as_deref(), ADMIN_PAGE).await?;
            found.extend(
                page.entries
                    .into_iter()
                    .filter(|e| e.fingerprint() == fingerprint),
            );
            cursor = page.cursor;
            if cursor.is_none() {
                return Ok(found);
            }
        }
    }

    /// Ends the session of `entry`, whatever its site, as [`Store::delete`] does: removed and
    /// tombstoned, so no in-flight request brings it back. A bad record is removed all the
    /// same. Whether a record was removed.
    pub async fn revoke(&self, entry: &Entry) -> Result<bool> {
        let s = &self.store.inner;
        s.open_check()?;
        let removed = s
            .backend
            .remove(&[entry.id().to_owned()], true, s.ctx())
            .await?;
        tracing::info!(target: "omnisession", session_id_hash = %id::hash(entry.id()),
            "session revoked by an admin");
        Ok(removed > 0)
    }

    /// Closes the store.
    pub async fn close(&self) -> Result<()> {
        self.store.close().await
    }
}
