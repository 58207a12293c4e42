//! Records as a backend stores them, undecoded: what the admin API walks (`omnisession check`,
//! `stats`, `migrate`), so that a record which no longer decodes is seen and reported instead
//! of skipped as listings skip it.

/// One stored record, as the backend holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The id its key, row or file name gives it (the record itself may say otherwise: that
    /// is one of the things a check finds).
    pub id: String,
    /// The stored bytes (the wire JSON when all is well).
    pub bytes: Vec<u8>,
    /// Why the backend could not even read the bytes (a Redis key of another type), if so;
    /// `bytes` is then empty.
    pub unreadable: Option<String>,
    /// The expiry the backend keeps for the record (a SQLite column, a Redis key's
    /// `PEXPIRETIME`, a file's sidecar) in Unix ms; `None` = none kept, or never.
    pub expires_ms: Option<i64>,
    /// The (site, user) the backend indexes the record under, where it keeps them beside the
    /// record (SQLite's columns); `None` where it does not.
    pub indexed_as: Option<(String, Option<String>)>,
}

/// One page of [`Backend::raw_page`](super::Backend::raw_page).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawPage {
    /// The records of this page. A page may hold fewer than asked for, even none, before the
    /// last one (Redis returns what one `SCAN` call found).
    pub records: Vec<RawRecord>,
    /// Where the next page starts (opaque); `None` after the last page.
    pub cursor: Option<String>,
}
