//! `omnisession check`: every stored record read and validated; the bad ones reported by id
//! hash and left where they are (removing one is `revoke --id-hash`'s decision).

use super::walk;
use crate::exit::{FOUND, Failure, OK};
use crate::output::{Out, table};
use omnisession::store::admin::Admin;
use serde_json::json;

pub(super) async fn run(admin: &Admin, out: Out) -> Result<i32, Failure> {
    let mut bad: Vec<(String, String)> = Vec::new();
    let records = walk(admin, "checking", |e| {
        if let Some(problem) = e.problem() {
            bad.push((e.fingerprint().to_owned(), problem.to_owned()));
        }
    })
    .await?;
    let code = if bad.is_empty() { OK } else { FOUND };
    if out.json {
        let list: Vec<_> = bad
            .iter()
            .map(|(fp, problem)| json!({"id_hash": fp, "problem": problem}))
            .collect();
        out.document(&json!({"records": records, "bad": list}));
        return Ok(code);
    }
    if bad.is_empty() {
        out.line(&format!("{records} record(s) checked, all valid"));
        return Ok(code);
    }
    let rows: Vec<Vec<String>> = bad
        .iter()
        .map(|(fp, p)| vec![fp.clone(), p.clone()])
        .collect();
    out.line(&table(&["ID HASH", "PROBLEM"], &rows));
    out.line(&format!(
        "{records} record(s) checked, {} bad (left in place; `omnisession inspect --id-hash H` \
         shows one, `omnisession revoke --id-hash H` removes it)",
        bad.len()
    ));
    Ok(code)
}
