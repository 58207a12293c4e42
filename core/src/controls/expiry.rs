//! Expiry: absolute, idle and maximum lifetimes combined into the one instant every backend
//! stores, the lifetime a write may set, and when a read slides a session forward.

use crate::session::Session;
use crate::timestamp::Timestamp;

/// Whether a record with effective expiry `expires_ms` is live at `now_ms`.
///
/// Expired means strictly after the expiry instant, as in omnistorage-core and Redis: a
/// session is still served at exactly `expires_at`. Backends that filter in their own query
/// language use the same comparison (`expires_ms IS NULL OR expires_ms >= now`).
pub fn is_live(expires_ms: Option<i64>, now_ms: i64) -> bool {
    expires_ms.is_none_or(|exp| now_ms <= exp)
}

/// When a session expires, as a write sets it.
///
/// Only [`Lifetime::Never`] means never: a ttl of 0 is "now", and an instant in the past is
/// accepted and means the session is expired (Django's `set_expiry` to a past date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// This many milliseconds from now.
    Ttl(u64),
    /// At this instant.
    At(Timestamp),
    /// No absolute expiry (still bounded by `max_lifetime` and the idle timeout).
    Never,
}

/// The expiry options of a store, in milliseconds (0 = off).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExpiryRule {
    /// Lifetime given to a session written without one (0 = never expires).
    pub default_ttl_ms: u64,
    /// With a value > 0, a session also expires this long after its last access.
    pub idle_timeout_ms: u64,
    /// With a value > 0, no expiry is ever set later than this long after `created_at`
    /// (OWASP's absolute timeout: sliding cannot keep a session alive forever).
    pub max_lifetime_ms: u64,
    /// A read slides a session (idle, or a rolling window) only once this fraction of the
    /// window has passed, so a reader stays signed in without a write on every request.
    pub refresh_fraction: f64,
}

impl ExpiryRule {
    /// The absolute expiry a write sets at `now` for a session created at `created`:
    /// `lifetime`, or the default ttl when none is given, bounded by `max_lifetime`.
    pub fn absolute(
        &self,
        now: Timestamp,
        created: Timestamp,
        lifetime: Option<Lifetime>,
    ) -> Option<Timestamp> {
        let wanted = match lifetime {
            Some(Lifetime::Ttl(ms)) => Some(now.plus_ms(clamp_ms(ms))),
            // A past instant is stored as the millisecond before now: as expired, and never an
            // instant some backend cannot write (Redis refuses an expiry before 1970).
            Some(Lifetime::At(at)) => Some(at.max(now.plus_ms(-1))),
            Some(Lifetime::Never) => None,
            None if self.default_ttl_ms == 0 => None,
            None => Some(now.plus_ms(clamp_ms(self.default_ttl_ms))),
        };
        if self.max_lifetime_ms == 0 {
            return wanted;
        }
        let cap = created.plus_ms(clamp_ms(self.max_lifetime_ms));
        Some(wanted.map_or(cap, |w| w.min(cap)))
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

    /// Whether a read at `now` should slide this live session forward: its idle window, or the
    /// rolling window `rolling_ms` a host asked for, is more than `refresh_fraction` used up.
    pub fn needs_refresh(&self, s: &Session, now: Timestamp, rolling_ms: Option<u64>) -> bool {
        let now_ms = now.unix_ms();
        let used_up = |since_ms: i64, window_ms: u64| {
            window_ms > 0
                && (now_ms.saturating_sub(since_ms) as f64)
                    > self.refresh_fraction * window_ms as f64
        };
        if used_up(s.last_accessed_at.unix_ms(), self.idle_timeout_ms) {
            return true;
        }
        match (rolling_ms, s.expires_at) {
            // The window started `window` before the current expiry.
            (Some(window), Some(exp)) => {
                used_up(exp.unix_ms().saturating_sub(clamp_ms(window)), window)
            }
            _ => false,
        }
    }
}

/// A duration in ms as an offset: longer than 100 years is refused by the options already;
/// this only keeps a caller's ttl from overflowing.
fn clamp_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX / 4).min(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(max: u64) -> ExpiryRule {
        ExpiryRule {
            default_ttl_ms: 1000,
            idle_timeout_ms: 0,
            max_lifetime_ms: max,
            refresh_fraction: 0.5,
        }
    }

    #[test]
    fn only_never_means_never_and_max_lifetime_bounds_everything() {
        let t0 = Timestamp::from_unix_ms(10_000);
        let now = t0.plus_ms(500);
        let r = rule(0);
        assert_eq!(r.absolute(now, t0, Some(Lifetime::Ttl(0))), Some(now));
        assert_eq!(r.absolute(now, t0, Some(Lifetime::Never)), None);
        assert_eq!(r.absolute(now, t0, None), Some(now.plus_ms(1000)));
        let past = Timestamp::from_unix_ms(1);
        assert_eq!(
            r.absolute(now, t0, Some(Lifetime::At(past))),
            Some(now.plus_ms(-1))
        );
        let capped = rule(800);
        assert_eq!(
            capped.absolute(now, t0, Some(Lifetime::Never)),
            Some(t0.plus_ms(800))
        );
        assert_eq!(capped.absolute(now, t0, None), Some(t0.plus_ms(800)));
        assert_eq!(
            capped.absolute(now, t0, Some(Lifetime::Ttl(100))),
            Some(now.plus_ms(100))
        );
    }
}
