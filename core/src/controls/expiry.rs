//! Absolute and idle expiry, combined into the one instant every backend stores.

use crate::session::Session;
use crate::timestamp::Timestamp;

/// The expiry options of a store, in milliseconds (0 = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryRule {
    /// Lifetime given to a session created without a ttl (0 = never expires).
    pub default_ttl_ms: u64,
    /// With a value > 0, a session also expires this long after its last access.
    pub idle_timeout_ms: u64,
}

impl ExpiryRule {
    /// The absolute expiry of a session created at `now` with `ttl_ms` (or the default).
    pub fn absolute(&self, now: Timestamp, ttl_ms: Option<u64>) -> Option<Timestamp> {
        match ttl_ms.unwrap_or(self.default_ttl_ms) {
            0 => None,
            ttl => Some(now.plus_ms(i64::try_from(ttl).unwrap_or(i64::MAX / 2))),
        }
    }

    /// The effective expiry: the earlier of the absolute and the idle one, in Unix ms.
    pub fn effective_ms(&self, s: &Session) -> Option<i64> {
        let absolute = s.expires_at.map(Timestamp::unix_ms);
        let idle = (self.idle_timeout_ms > 0).then(|| {
            s.last_accessed_at
                .unix_ms()
                .saturating_add(self.idle_timeout_ms as i64)
        });
        match (absolute, idle) {
            (Some(a), Some(i)) => Some(a.min(i)),
            (a, i) => a.or(i),
        }
    }
}
