//! The directory layout: the path of every file of a session (record, meta sidecar, user and
//! expiry index markers, tombstone and its bucket marker), and the names derived for them
//! (user keys, expiry buckets).
//!
//! Layout under `path`:
//! - `sessions/<id>.json`: exactly the record's wire JSON;
//! - `meta/<id>`: a small JSON sidecar with the effective expiry and the user key, written
//!   before the session file so that it is never older than the record it describes;
//! - `users/<user key>/<id>`: empty markers, the per-(site, user) index (the key is the hex
//!   SHA-256 of the length-prefixed site and user);
//! - `expiry/<bucket>/<id>`: empty markers, the expiry index (`bucket` = expiry in whole
//!   minutes), so that a sweep only visits the buckets at or before now;
//! - `tombstones/<id>` (until, in Unix ms) and `tombstone-expiry/<bucket>/<id>` markers;
//! - `lock`: the file every mutating step holds an exclusive lock on.

use crate::session::Session;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Width of an expiry bucket in ms.
const BUCKET_MS: i64 = 60_000;
/// Suffix of session files.
pub(super) const JSON: &str = ".json";

/// The paths of one backend directory. All its methods do blocking I/O.
#[derive(Debug)]
pub(super) struct Dirs {
    pub(super) root: PathBuf,
    pub(super) sessions: PathBuf,
    pub(super) meta: PathBuf,
    pub(super) users: PathBuf,
    pub(super) expiry: PathBuf,
    pub(super) tombstones: PathBuf,
    pub(super) tombstone_expiry: PathBuf,
}

pub(super) fn bucket(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS)
}

/// The index directory name of a (site, user): hex SHA-256 of both, length-prefixed.
pub(super) fn user_key(site: &str, user: &str) -> String {
    let mut h = Sha256::new();
    h.update((site.len() as u64).to_le_bytes());
    h.update(site.as_bytes());
    h.update(user.as_bytes());
    h.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(super) fn is_user_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn session_user_key(s: &Session) -> Option<String> {
    s.user_id.as_deref().map(|u| user_key(&s.site_id, u))
}

impl Dirs {
    pub(super) fn new(root: PathBuf) -> Self {
        Self {
            sessions: root.join("sessions"),
            meta: root.join("meta"),
            users: root.join("users"),
            expiry: root.join("expiry"),
            tombstones: root.join("tombstones"),
            tombstone_expiry: root.join("tombstone-expiry"),
            root,
        }
    }

    pub(super) fn all(&self) -> [&Path; 7] {
        [
            &self.root,
            &self.sessions,
            &self.meta,
            &self.users,
            &self.expiry,
            &self.tombstones,
            &self.tombstone_expiry,
        ]
    }

    pub(super) fn session_path(&self, id: &str) -> PathBuf {
        self.sessions.join(format!("{id}{JSON}"))
    }

    pub(super) fn meta_path(&self, id: &str) -> PathBuf {
        self.meta.join(id)
    }

    pub(super) fn user_marker(&self, key: &str, id: &str) -> PathBuf {
        self.users.join(key).join(id)
    }

    pub(super) fn expiry_dir(&self, b: i64) -> PathBuf {
        self.expiry.join(b.to_string())
    }

    pub(super) fn tombstone_path(&self, id: &str) -> PathBuf {
        self.tombstones.join(id)
    }

    pub(super) fn tombstone_dir(&self, b: i64) -> PathBuf {
        self.tombstone_expiry.join(b.to_string())
    }
}
