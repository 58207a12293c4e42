//! `omnisession cleanup`: removes expired sessions now (the store's own sweep).

use crate::args::Global;
use crate::confirm;
use crate::exit::{Failure, OK};
use crate::output::Out;
use crate::progress;
use omnisession::store::admin::Admin;
use serde_json::json;

pub(super) async fn run(admin: &Admin, g: &Global, out: Out) -> Result<i32, Failure> {
    confirm::ask("Remove every expired session now?", g.yes)?;
    let bar = progress::waiting("removing expired sessions");
    let removed = admin.store().cleanup().await;
    bar.finish_and_clear();
    let removed = removed?;
    if out.json {
        out.document(&json!({"removed": removed}));
    } else {
        out.line(&format!("removed {removed} expired session(s)"));
    }
    Ok(OK)
}
