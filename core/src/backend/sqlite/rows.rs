//! Rows as stored and their decoding: a corrupt record is `BACKEND_ERROR` for the one id
//! asked for, and skipped (logged) in listings.

use super::errors::corrupt;
use crate::error::Result;
use crate::id;
use crate::session::Session;

/// A row as stored: the columns that address it and the record bytes, not yet decoded.
pub(super) struct RawRow {
    pub(super) id: String,
    site: String,
    user: Option<String>,
    record: Vec<u8>,
}

impl RawRow {
    /// Reads the columns `id, site, user_id, record`, in that order.
    pub(super) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            id: row.get(0)?,
            site: row.get(1)?,
            user: row.get(2)?,
            // Text or blob; anything else decodes as nothing, i.e. as a corrupt record.
            record: row
                .get_ref(3)?
                .as_bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        })
    }

    /// The session, or `BACKEND_ERROR` with `session_id_hash` if the record is corrupt.
    pub(super) fn decode(self) -> Result<Session> {
        let session = Session::from_wire(&self.record).map_err(|why| corrupt(&self.id, &why))?;
        if session.id != self.id || session.site_id != self.site || session.user_id != self.user {
            return Err(corrupt(
                &self.id,
                "the record does not match its id, site or user",
            ));
        }
        Ok(session)
    }

    /// The session, or `None` (logged) if the record is corrupt: for listings, where one bad
    /// record must not hide the others.
    pub(super) fn decode_or_skip(self) -> Option<Session> {
        let id = id::hash(&self.id);
        match self.decode() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(target: "omnisession", session_id_hash = %id, error = %e,
                    "skipping a corrupt session record");
                None
            }
        }
    }
}
