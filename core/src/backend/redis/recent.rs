//! The records this process last read or wrote, by id, so that a write which follows a read
//! (a request that loads its session, then saves or touches it) commits in one round trip
//! instead of reading the record again first.
//!
//! A remembered record is a guess, never an answer: every commit script compares the stored
//! record with the one the change was computed from and writes nothing when they differ, so a
//! stale entry costs one retry (from the record the server holds), never a wrong write. Reads
//! never use it: `get` always asks the server.
//!
//! Two generations bound the memory: entries go into the young one; when it holds
//! [`GENERATION_BYTES`], it becomes the old one and the previous old one is dropped. So an
//! entry lives at least one generation's worth of traffic, and the whole costs at most twice
//! that, whatever the number of sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Bytes of records per generation (ids not counted): 4 MiB, i.e. the last few thousand
/// sessions of 1 KiB touched by this process.
const GENERATION_BYTES: usize = 4 << 20;
/// A record longer than this is not remembered: it would push out too many others.
const MAX_RECORD_BYTES: usize = GENERATION_BYTES / 64;

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<String, Arc<str>>,
    young_bytes: usize,
    old: HashMap<String, Arc<str>>,
}

/// Last-seen records by id (see the module docs).
#[derive(Debug, Default)]
pub(super) struct RecentRecords {
    inner: Mutex<Generations>,
}

impl RecentRecords {
    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record last seen under `id`, if still remembered.
    pub(super) fn get(&self, id: &str) -> Option<Arc<str>> {
        let g = self.lock();
        g.young.get(id).or_else(|| g.old.get(id)).cloned()
    }

    /// Remembers `wire` as the record under `id`.
    pub(super) fn put(&self, id: &str, wire: &str) {
        if wire.len() > MAX_RECORD_BYTES {
            self.forget(id);
            return;
        }
        let wire: Arc<str> = Arc::from(wire);
        let mut g = self.lock();
        if g.young_bytes + wire.len() > GENERATION_BYTES {
            g.old = std::mem::take(&mut g.young);
            g.young_bytes = 0;
        }
        g.old.remove(id);
        g.young_bytes += wire.len();
        if let Some(previous) = g.young.insert(id.to_owned(), wire) {
            g.young_bytes -= previous.len();
        }
    }

    /// Forgets `id` (its record was removed or moved).
    pub(super) fn forget(&self, id: &str) {
        let mut g = self.lock();
        if let Some(previous) = g.young.remove(id) {
            g.young_bytes -= previous.len();
        }
        g.old.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_replaces_and_forgets() {
        let r = RecentRecords::default();
        assert_eq!(r.get("a"), None);
        r.put("a", "one");
        r.put("a", "two");
        assert_eq!(r.get("a").as_deref(), Some("two"));
        assert_eq!(r.lock().young_bytes, 3);
        r.forget("a");
        assert_eq!(r.get("a"), None);
        assert_eq!(r.lock().young_bytes, 0);
    }

    #[test]
    fn memory_stays_within_two_generations() {
        let r = RecentRecords::default();
        let wire = "x".repeat(MAX_RECORD_BYTES);
        for i in 0..1000 {
            r.put(&i.to_string(), &wire);
        }
        let g = r.lock();
        let total: usize = g
            .young
            .values()
            .chain(g.old.values())
            .map(|w| w.len())
            .sum();
        assert!(total <= 2 * GENERATION_BYTES, "{total}");
        assert!(g.young.contains_key("999") && !g.old.contains_key("0"));
    }

    #[test]
    fn a_record_too_long_is_not_kept_and_drops_the_older_one() {
        let r = RecentRecords::default();
        r.put("a", "short");
        r.put("a", &"x".repeat(MAX_RECORD_BYTES + 1));
        assert_eq!(r.get("a"), None);
    }
}
