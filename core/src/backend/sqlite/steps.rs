//! The write steps that run inside the caller's transaction: the admission with its
//! evictions, and the write half of modify.

use super::errors::{conflict, sql_error};
use super::queries::{
    INSERT_ROW, SELECT_MEMBERS, UPDATE_ROW, delete_row, load_raw, put_tombstone, taken, write_row,
};
use crate::backend::{Record, WriteCtx};
use crate::controls::admission::{Admission, Member};
use crate::error::Result;
use crate::session::Session;
use rusqlite::{Connection, params};

/// Runs the admission for `session`'s (site, user) and applies its decision, inside the
/// caller's transaction. Members come from the columns, so a corrupt record still counts.
pub(super) fn admit(
    conn: &Connection,
    session: &Session,
    admission: &Admission,
    ctx: WriteCtx,
) -> Result<Vec<Session>> {
    let Some(user) = &session.user_id else {
        return Ok(Vec::new());
    };
    let members: Vec<Member> = conn
        .prepare_cached(SELECT_MEMBERS)
        .and_then(|mut stmt| {
            stmt.query_map(params![session.site_id, user, session.id], |r| {
                Ok(Member {
                    id: r.get(0)?,
                    created_ms: r.get(1)?,
                    accessed_ms: r.get(2)?,
                    expires_ms: r.get(3)?,
                })
            })?
            .collect()
        })
        .map_err(sql_error)?;
    let decision = admission.decide(&members)?;
    let mut evicted = Vec::new();
    for id in &decision.evict {
        let Some(row) = load_raw(conn, id)? else {
            continue;
        };
        delete_row(conn, id)?;
        put_tombstone(conn, id, ctx.tombstone_until_ms)?;
        // A corrupt record is evicted all the same; it just cannot be reported as a session.
        if let Some(old) = row.decode_or_skip() {
            evicted.push(old);
        }
    }
    for id in &decision.expired {
        delete_row(conn, id)?;
    }
    Ok(evicted)
}

/// The write half of [`Backend::modify`](crate::backend::Backend::modify), inside the
/// transaction its read half began.
pub(super) fn store_modified(
    conn: &Connection,
    old_id: &str,
    current: &Session,
    record: &Record,
    admission: Option<Admission>,
    ctx: WriteCtx,
) -> Result<Vec<Session>> {
    let new = &record.session;
    let rotated = new.id != old_id;
    if rotated && taken(conn, &new.id, ctx.now_ms)? {
        return Err(conflict(&new.id));
    }
    let moves_user =
        new.user_id.is_some() && (new.user_id != current.user_id || new.site_id != current.site_id);
    // The current record is not a member of the new (site, user): admission never evicts it.
    let evicted = match (moves_user, admission) {
        (true, Some(a)) => admit(conn, new, &a, ctx)?,
        _ => Vec::new(),
    };
    if rotated {
        delete_row(conn, old_id)?;
        put_tombstone(conn, old_id, ctx.tombstone_until_ms)?;
        write_row(conn, INSERT_ROW, record)?;
    } else {
        write_row(conn, UPDATE_ROW, record)?;
    }
    Ok(evicted)
}
