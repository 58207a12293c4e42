//! The Redis key layout (docs/redis.md).
//!
//! - `{prefix}{id}`: the session record, the wire JSON, `PEXPIREAT` = effective expiry. The
//!   same key and bytes omnistorage-core's KVS backend uses.
//! - `{prefix}~tomb:{id}`: a tombstone, `PEXPIREAT` = end of the tombstone.
//! - `{prefix}~idx:{hash}`: the (site, user) index, a hash of `id -> "created accessed expires"`
//!   plus a `~v` field that changes with every membership change (optimistic admission).
//!
//! - `{prefix}user:{uuid}`: omnistorage-core's per-user index (a JSON array of ids), kept
//!   only with `omnistorage_compat` (docs/go-interop.md).
//!
//! `~` and `:` are outside the id alphabet, so no id can address a tombstone or an index.

use super::slot;
use crate::controls::admission::Member;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Builds every key from one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn session(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The cluster slot of the session key of `id`.
    pub(crate) fn session_slot(&self, id: &str) -> u16 {
        slot::of(self.session(id).as_bytes())
    }

    /// A new random id whose session key is in the slot of `id`'s (see [`slot::id_in_slot`]).
    pub(crate) fn id_in_slot_of(&self, id: &str) -> String {
        slot::id_in_slot(&self.prefix, self.session_slot(id))
    }

    pub(crate) fn tombstone(&self, id: &str) -> String {
        format!("{}~tomb:{id}", self.prefix)
    }

    /// The index key of (site, user): hashed, so any site and user make a safe key.
    pub(crate) fn index(&self, site: &str, user: &str) -> String {
        let digest = Sha256::new()
            .chain_update(site)
            .chain_update([0])
            .chain_update(user)
            .finalize();
        let mut key = format!("{}~idx:", self.prefix);
        for b in &digest[..16] {
            let _ = write!(key, "{b:02x}");
        }
        key
    }

    /// omnistorage-core's index of `user`'s sessions (its `userSessionsKey`).
    pub(crate) fn go_user(&self, user: &str) -> String {
        format!("{}user:{user}", self.prefix)
    }

    /// The id of a session key, if `key` is one (not a tombstone, index or foreign key).
    pub(crate) fn id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)
            .filter(|rest| crate::id::is_well_formed(rest))
    }

    /// A SCAN pattern matching every key under the prefix, glob characters escaped.
    pub(crate) fn scan_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 2);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

/// An index entry's value: `"created accessed expires"` in Unix ms, `-` for no expiry.
pub(crate) fn member_value(created_ms: i64, accessed_ms: i64, expires_ms: Option<i64>) -> String {
    match expires_ms {
        Some(exp) => format!("{created_ms} {accessed_ms} {exp}"),
        None => format!("{created_ms} {accessed_ms} -"),
    }
}

/// Marks a cluster reservation: the member is admitted, its record not yet written.
pub(crate) const PENDING: &str = " p";

/// Parses an index entry (and whether it is a reservation); `None` for a value not ours.
pub(crate) fn parse_member(id: &str, value: &str) -> Option<(Member, bool)> {
    let (value, pending) = match value.strip_suffix(PENDING) {
        Some(v) => (v, true),
        None => (value, false),
    };
    let mut parts = value.split(' ');
    let created_ms = parts.next()?.parse().ok()?;
    let accessed_ms = parts.next()?.parse().ok()?;
    let expires_ms = match parts.next()? {
        "-" => None,
        exp => Some(exp.parse().ok()?),
    };
    let member = Member {
        id: id.to_owned(),
        created_ms,
        accessed_ms,
        expires_ms,
    };
    parts.next().is_none().then_some((member, pending))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_collide_with_session_ids() {
        let k = Keys::new("session:");
        assert_eq!(k.session("abc"), "session:abc");
        assert_eq!(
            k.id_of(&k.session(&"a".repeat(43))),
            Some("a".repeat(43).as_str())
        );
        assert_eq!(k.id_of(&k.tombstone(&"a".repeat(43))), None);
        assert_eq!(k.id_of(&k.index("site", "user")), None);
        let go = k.go_user("550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(go, "session:user:550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(k.id_of(&go), None);
        assert_ne!(k.index("a", "bc"), k.index("ab", "c"));
    }

    #[test]
    fn scan_patterns_escape_globs() {
        assert_eq!(Keys::new("app[1]*:").scan_pattern(), r"app\[1\]\*:*");
    }

    #[test]
    fn members_round_trip() {
        let (m, pending) = parse_member("x", &member_value(1, 2, Some(3))).unwrap();
        assert_eq!(
            (m.created_ms, m.accessed_ms, m.expires_ms, pending),
            (1, 2, Some(3), false)
        );
        assert_eq!(
            parse_member("x", &member_value(1, 2, None))
                .unwrap()
                .0
                .expires_ms,
            None
        );
        assert!(
            parse_member("x", &format!("{}{PENDING}", member_value(1, 2, None)))
                .unwrap()
                .1
        );
        assert!(parse_member("x", "garbage").is_none());
    }
}
