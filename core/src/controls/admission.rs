//! The per-user limit: which sessions make room for a new one, or whether it is refused.
//!
//! Backends call [`Admission::decide`] inside their atomic insert, so eviction and insert are
//! one step and eviction only happens when the insert does.

use super::expiry::is_live;
use crate::error::{Error, ErrorKind, Result};
use std::str::FromStr;

/// What happens when a user already has `max_sessions_per_user` live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Evict the sessions created first (ties: smaller id first).
    #[default]
    Oldest,
    /// Evict the sessions accessed least recently (ties: smaller id first).
    Lru,
    /// Refuse the new session with `SESSION_LIMIT_EXCEEDED`.
    Reject,
}

impl FromStr for EvictionPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "oldest" => Ok(Self::Oldest),
            "lru" => Ok(Self::Lru),
            "reject" => Ok(Self::Reject),
            other => Err(Error::config(
                "eviction_policy",
                format!("eviction policy must be \"oldest\", \"lru\" or \"reject\", not {other:?}"),
            )),
        }
    }
}

/// A member of a (site, user) index, as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Session id.
    pub id: String,
    /// `created_at` in Unix ms.
    pub created_ms: i64,
    /// `last_accessed_at` in Unix ms.
    pub accessed_ms: i64,
    /// Effective expiry in Unix ms.
    pub expires_ms: Option<i64>,
}

/// What a backend must do to admit one more session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Live sessions to remove and tombstone (the eviction).
    pub evict: Vec<String>,
    /// Expired members to drop from the index (and the store) while at it.
    pub expired: Vec<String>,
}

/// The per-user limit for one admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Most live sessions one user may hold on one site.
    pub limit: usize,
    /// What to do at the limit.
    pub policy: EvictionPolicy,
    /// The current time (Unix ms): expired members never count.
    pub now_ms: i64,
}

impl Admission {
    /// Decides, for the current members of the (site, user) (the new session excluded).
    pub fn decide(&self, members: &[Member]) -> Result<Decision> {
        let (mut live, expired): (Vec<&Member>, Vec<&Member>) = members
            .iter()
            .partition(|m| is_live(m.expires_ms, self.now_ms));
        let expired = expired.into_iter().map(|m| m.id.clone()).collect();
        let excess = (live.len() + 1).saturating_sub(self.limit);
        if excess == 0 {
            return Ok(Decision {
                evict: Vec::new(),
                expired,
            });
        }
        match self.policy {
            EvictionPolicy::Reject => {
                return Err(Error::new(
                    ErrorKind::SessionLimitExceeded,
                    format!("user has {} sessions, limit is {}", live.len(), self.limit),
                )
                .with("count", live.len())
                .with("limit", self.limit));
            }
            EvictionPolicy::Oldest => {
                live.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
            }
            EvictionPolicy::Lru => {
                live.sort_by(|a, b| (a.accessed_ms, &a.id).cmp(&(b.accessed_ms, &b.id)));
            }
        }
        Ok(Decision {
            evict: live[..excess].iter().map(|m| m.id.clone()).collect(),
            expired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, created: i64, accessed: i64, exp: Option<i64>) -> Member {
        Member {
            id: id.into(),
            created_ms: created,
            accessed_ms: accessed,
            expires_ms: exp,
        }
    }

    #[test]
    fn oldest_evicts_by_created_then_id() {
        let a = Admission {
            limit: 2,
            policy: EvictionPolicy::Oldest,
            now_ms: 100,
        };
        let d = a
            .decide(&[m("c", 5, 50, None), m("b", 5, 1, None), m("a", 9, 0, None)])
            .unwrap();
        assert_eq!(d.evict, vec!["b", "c"]);
    }

    #[test]
    fn lru_evicts_by_access_and_expired_never_count() {
        let a = Admission {
            limit: 2,
            policy: EvictionPolicy::Lru,
            now_ms: 100,
        };
        let d = a
            .decide(&[
                m("x", 1, 90, None),
                m("y", 2, 10, None),
                m("z", 0, 0, Some(99)),
            ])
            .unwrap();
        assert_eq!(d.evict, vec!["y"]);
        assert_eq!(d.expired, vec!["z"]);
    }

    #[test]
    fn under_the_limit_nothing_and_reject_refuses() {
        let ok = Admission {
            limit: 3,
            policy: EvictionPolicy::Reject,
            now_ms: 0,
        };
        assert!(ok.decide(&[m("a", 0, 0, None)]).unwrap().evict.is_empty());
        let full = Admission { limit: 1, ..ok };
        assert_eq!(
            full.decide(&[m("a", 0, 0, None)]).unwrap_err().kind(),
            ErrorKind::SessionLimitExceeded
        );
    }
}
