//! Where "now" comes from. A manual clock makes expiry and eviction order deterministic
//! in the conformance vectors; production uses the system clock.

use crate::timestamp::Timestamp;
use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole milliseconds.
///
/// Milliseconds are the unit every backend agrees on (Redis `PEXPIREAT`, SQLite columns),
/// so the core never stamps a finer instant than a backend can compare.
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // Seconds and milliseconds apart: `as_millis` divides a u128, a good part of a get.
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            i64::try_from(d.as_secs())
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
                .saturating_add(i64::from(d.subsec_millis()))
        });
        Timestamp::from_unix_ms(ms)
    }
}

/// A clock that only moves when told to (tests and conformance vectors).
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `ms` Unix milliseconds.
    pub fn new(ms: i64) -> Self {
        Self {
            ms: AtomicI64::new(ms),
        }
    }

    /// Moves the clock forward (or back, for a negative `ms`).
    pub fn advance(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_ms(self.ms.load(Ordering::SeqCst))
    }
}
