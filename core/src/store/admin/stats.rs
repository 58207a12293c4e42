//! What `omnisession stats` reports, computed from a walk of every record.

use super::Entry;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Sessions expiring within this long count as "expiring soon".
pub const SOON_MS: i64 = 3_600_000;

/// Record sizes of live sessions, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// The smallest.
    pub min: usize,
    /// The median (the lower of the two middle ones for an even count).
    pub median: usize,
    /// The largest.
    pub max: usize,
    /// All of them together.
    pub total: u64,
}

/// One user's live sessions on one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserCount {
    /// The site.
    pub site: String,
    /// The user.
    pub user: String,
    /// Live sessions.
    pub sessions: u64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records walked, of every kind.
    pub records: u64,
    /// Live sessions.
    pub live: u64,
    /// Expired sessions not yet removed.
    pub expired: u64,
    /// Records that are not valid sessions (`omnisession check` lists them).
    pub bad: u64,
    /// Live sessions per site (`""` is the default site).
    pub live_by_site: BTreeMap<String, u64>,
    /// The users with the most live sessions, most first.
    pub top_users: Vec<UserCount>,
    /// Anonymous live sessions (no user).
    pub anonymous: u64,
    /// Live sessions whose expiry is within the next hour.
    pub expiring_within_hour: u64,
    /// Sizes of the live sessions; `None` when there are none.
    pub sizes: Option<Sizes>,
}

/// Gathers [`Stats`] one entry at a time, so a walk needs no more than one page in memory
/// besides the counts.
#[derive(Debug)]
pub struct StatsBuilder {
    now_ms: i64,
    stats: Stats,
    users: HashMap<(String, String), u64>,
    sizes: Vec<usize>,
}

impl StatsBuilder {
    /// Counts as of `now_ms`.
    pub fn new(now_ms: i64) -> StatsBuilder {
        StatsBuilder {
            now_ms,
            stats: Stats {
                records: 0,
                live: 0,
                expired: 0,
                bad: 0,
                live_by_site: BTreeMap::new(),
                top_users: Vec::new(),
                anonymous: 0,
                expiring_within_hour: 0,
                sizes: None,
            },
            users: HashMap::new(),
            sizes: Vec::new(),
        }
    }

    /// Counts one record.
    pub fn add(&mut self, entry: &Entry) {
        let st = &mut self.stats;
        st.records += 1;
        let Some(session) = entry.session() else {
            st.bad += 1;
            return;
        };
        if !entry.is_live(self.now_ms) {
            st.expired += 1;
            return;
        }
        st.live += 1;
        *st.live_by_site.entry(session.site_id.clone()).or_default() += 1;
        match &session.user_id {
            Some(user) => {
                *self
                    .users
                    .entry((session.site_id.clone(), user.clone()))
                    .or_default() += 1;
            }
            None => st.anonymous += 1,
        }
        if entry
            .expires_ms()
            .is_some_and(|e| e <= self.now_ms.saturating_add(SOON_MS))
        {
            st.expiring_within_hour += 1;
        }
        self.sizes.push(entry.size());
    }

    /// The report, with the `top` users with the most sessions (ties by site, then user).
    pub fn finish(mut self, top: usize) -> Stats {
        let mut users: Vec<UserCount> = self
            .users
            .into_iter()
            .map(|((site, user), sessions)| UserCount {
                site,
                user,
                sessions,
            })
            .collect();
        users.sort_by(|a, b| (b.sessions, &a.site, &a.user).cmp(&(a.sessions, &b.site, &b.user)));
        users.truncate(top);
        self.stats.top_users = users;
        self.sizes.sort_unstable();
        if let (Some(&min), Some(&max)) = (self.sizes.first(), self.sizes.last()) {
            self.stats.sizes = Some(Sizes {
                min,
                median: self.sizes[(self.sizes.len() - 1) / 2],
                max,
                total: self.sizes.iter().map(|&s| s as u64).sum(),
            });
        }
        self.stats
    }
}
