//! `omnisession list --user U [--site S]`: the user's live sessions on the site.

use crate::args::Global;
use crate::exit::{Failure, OK};
use crate::output::{Out, instant, instant_json, table};
use omnisession::id;
use omnisession::store::admin::Admin;
use serde_json::json;

pub(super) async fn run(admin: &Admin, g: &Global, user: &str, out: Out) -> Result<i32, Failure> {
    let sessions = admin.store().list_by_user_id(user).await?;
    let site = g.site.clone().unwrap_or_default();
    let expiry = admin.store().options().expiry();
    let shown: Vec<_> = sessions
        .iter()
        .map(|s| (id::fingerprint(&s.id), s, expiry.effective_ms(s), s.size()))
        .collect();
    if out.json {
        let rows: Vec<_> = shown
            .iter()
            .map(|(fp, s, expires, size)| {
                json!({
                    "id_hash": fp,
                    "created_at": s.created_at.to_string(),
                    "last_accessed_at": s.last_accessed_at.to_string(),
                    "expires_at": instant_json(*expires),
                    "ip_address": s.ip_address,
                    "user_agent": s.user_agent,
                    "size": size,
                    "version": s.version,
                })
            })
            .collect();
        out.document(&json!({"site": site, "user": user, "sessions": rows}));
        return Ok(OK);
    }
    if shown.is_empty() {
        out.line(&format!(
            "no live sessions of user {user:?} on site {site:?}"
        ));
        return Ok(OK);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|(fp, s, expires, size)| {
            vec![
                fp.clone(),
                s.created_at.to_string(),
                s.last_accessed_at.to_string(),
                instant(*expires),
                s.ip_address.clone(),
                s.user_agent.clone(),
                size.to_string(),
            ]
        })
        .collect();
    out.line(&table(
        &[
            "ID HASH",
            "CREATED",
            "LAST SEEN",
            "EXPIRES",
            "IP",
            "USER AGENT",
            "SIZE",
        ],
        &rows,
    ));
    Ok(OK)
}
