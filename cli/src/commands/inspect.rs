//! `omnisession inspect --id-hash H`: one stored record, its id replaced by its fingerprint.

use super::fingerprint_arg;
use crate::exit::{FOUND, Failure, OK};
use crate::output::{Out, instant, instant_json};
use omnisession::store::admin::{Admin, Entry};
use serde_json::{Value, json};

pub(super) async fn run(admin: &Admin, hash: &str, out: Out) -> Result<i32, Failure> {
    let hash = fingerprint_arg(hash)?;
    let found = admin.find(&hash).await?;
    if found.is_empty() {
        if out.json {
            out.document(&json!({"records": []}));
        }
        out.note(&format!(
            "omnisession: no stored session has the id hash {hash}"
        ));
        return Ok(FOUND);
    }
    let now = admin.now_ms();
    if out.json {
        let records: Vec<Value> = found.iter().map(|e| describe(e, now)).collect();
        out.document(&json!({"records": records}));
        return Ok(OK);
    }
    for entry in &found {
        out.line(&format!("id hash:  {}", entry.fingerprint()));
        out.line(&format!("state:    {}", state(entry, now)));
        if let Some(problem) = entry.problem() {
            out.line(&format!("problem:  {problem}"));
        }
        out.line(&format!("expires:  {}", instant(entry.expires_ms())));
        out.line(&format!("size:     {} bytes", entry.size()));
        if let Some(record) = entry.redacted_text() {
            out.line(&format!("record:   {record}"));
        }
    }
    Ok(OK)
}

fn state(entry: &Entry, now: i64) -> &'static str {
    match (entry.problem(), entry.is_live(now)) {
        (Some(_), _) => "bad",
        (None, true) => "live",
        (None, false) => "expired",
    }
}

fn describe(entry: &Entry, now: i64) -> Value {
    json!({
        "id_hash": entry.fingerprint(),
        "state": state(entry, now),
        "problem": entry.problem(),
        "expires_at": instant_json(entry.expires_ms()),
        "size": entry.size(),
        "record": entry.redacted(),
    })
}
