//! The admin walk: every session file in id order, undecoded (see [`Backend::raw_page`]).
//!
//! [`Backend::raw_page`]: crate::backend::Backend::raw_page

use super::fsio::read_opt;
use super::io_error_for;
use super::layout::Dirs;
use crate::backend::{RawPage, RawRecord};
use crate::error::Result;

impl Dirs {
    /// Up to `limit` session files after `cursor`, with the expiry their sidecars keep.
    pub(super) fn raw_page(&self, cursor: Option<&str>, limit: usize) -> Result<RawPage> {
        let mut ids = self.session_ids()?;
        ids.retain(|id| cursor.is_none_or(|c| id.as_str() > c));
        ids.sort_unstable();
        let more = ids.len() > limit;
        ids.truncate(limit);
        let mut records = Vec::with_capacity(ids.len());
        for id in &ids {
            let bytes = read_opt(&self.session_path(id))
                .map_err(|e| io_error_for("cannot read a session file", &e, id))?;
            // Removed since the directory was listed: not a record any more.
            let Some(bytes) = bytes else { continue };
            records.push(RawRecord {
                id: id.clone(),
                bytes,
                unreadable: None,
                expires_ms: self.read_meta(id)?.and_then(|m| m.expires_ms),
                indexed_as: None,
            });
        }
        let cursor = if more { ids.last().cloned() } else { None };
        Ok(RawPage { records, cursor })
    }
}
