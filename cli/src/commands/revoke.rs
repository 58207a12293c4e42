//! `omnisession revoke --user U` / `--id-hash H`: ends sessions as the store's delete does
//! (removed and tombstoned).

use super::fingerprint_arg;
use crate::args::{Global, Revoke};
use crate::confirm;
use crate::exit::{FOUND, Failure, OK};
use crate::output::Out;
use omnisession::store::admin::Admin;
use serde_json::json;

pub(super) async fn run(admin: &Admin, g: &Global, r: &Revoke, out: Out) -> Result<i32, Failure> {
    let site = g.site.clone().unwrap_or_default();
    let revoked = match (&r.user, &r.id_hash) {
        (Some(user), _) => {
            let live = admin.store().list_by_user_id(user).await?.len();
            if live == 0 {
                let message = format!("no live sessions of user {user:?} on site {site:?}");
                return Ok(nothing(out, &message));
            }
            confirm::ask(
                &format!("Revoke {live} session(s) of user {user:?} on site {site:?}?"),
                g.yes,
            )?;
            admin.store().delete_by_user_id(user).await?
        }
        (None, Some(hash)) => {
            let hash = fingerprint_arg(hash)?;
            let found = admin.find(&hash).await?;
            if found.is_empty() {
                let message = format!("no stored session has the id hash {hash}");
                return Ok(nothing(out, &message));
            }
            if found.len() > 1 {
                // 80 bits make this all but impossible; if it happens, no guess is made.
                let message = format!(
                    "{} stored sessions share the id hash {hash}: nothing revoked (`inspect \
                     --id-hash {hash}` shows them)",
                    found.len()
                );
                return Ok(nothing(out, &message));
            }
            confirm::ask(&format!("Revoke the session with id hash {hash}?"), g.yes)?;
            u64::from(admin.revoke(&found[0]).await?)
        }
        (None, None) => return Err(Failure::usage("revoke needs --user or --id-hash")),
    };
    if out.json {
        out.document(&json!({"revoked": revoked}));
    } else {
        out.line(&format!("revoked {revoked} session(s)"));
    }
    Ok(if revoked == 0 { FOUND } else { OK })
}

fn nothing(out: Out, message: &str) -> i32 {
    if out.json {
        out.document(&json!({"revoked": 0}));
    }
    out.note(&format!("omnisession: {message}"));
    FOUND
}
