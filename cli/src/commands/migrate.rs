//! `omnisession migrate FROM_URL TO_URL`: every live session copied as it is (id, version,
//! timestamps, expiry, per-user index). Run again, it copies nothing twice.

use super::{AtRest, open};
use crate::args::Global;
use crate::confirm;
use crate::exit::{FOUND, Failure, OK};
use crate::output::Out;
use crate::progress;
use futures_util::future::join_all;
use omnisession::options::redact_url;
use omnisession::store::admin::{ADMIN_PAGE, Admin, Imported, Presence};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Writes in flight at once: enough to hide a network round trip, few enough for SQLite's
/// one writer.
const IN_FLIGHT: usize = 32;

pub(super) async fn run(
    g: &Global,
    (from, from_ids): (&str, &AtRest),
    (to, to_ids): (&str, &AtRest),
    out: Out,
) -> Result<i32, Failure> {
    if from == to {
        return Err(Failure::usage("FROM_URL and TO_URL are the same backend"));
    }
    let source = open(g, &[from.to_owned()], from_ids, Presence::MustExist).await?;
    let target = match open(g, &[to.to_owned()], to_ids, Presence::MayCreate).await {
        Ok(t) => t,
        Err(e) => {
            let _ = source.close().await;
            return Err(e);
        }
    };
    if let Err(e) = target.can_import_from(source.ids_at_rest()) {
        let _ = (source.close().await, target.close().await);
        return Err(Failure::Store(e));
    }
    let copied = copy(g, &source, &target, from, to).await;
    let closed = (source.close().await, target.close().await);
    let tally = copied?;
    closed.0?;
    closed.1?;
    let bad = tally.get(&Imported::Bad).copied().unwrap_or(0);
    if out.json {
        let mut doc = Map::new();
        for kind in [
            Imported::Created,
            Imported::Replaced,
            Imported::Unchanged,
            Imported::KeptNewer,
            Imported::Ended,
            Imported::Expired,
            Imported::Bad,
        ] {
            doc.insert(
                kind.name().into(),
                tally.get(&kind).copied().unwrap_or(0).into(),
            );
        }
        doc.insert("read".into(), tally.values().sum::<u64>().into());
        out.document(&Value::Object(doc));
    } else {
        let parts: Vec<String> = tally
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        out.line(&format!(
            "read {} record(s): {}",
            tally.values().sum::<u64>(),
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(", ")
            }
        ));
        if bad > 0 {
            out.note(&format!(
                "omnisession: {bad} record(s) of the source are not valid sessions and were not \
                 copied: `omnisession check --url FROM_URL` lists them"
            ));
        }
    }
    Ok(if bad > 0 { FOUND } else { OK })
}

async fn copy(
    g: &Global,
    source: &Admin,
    target: &Admin,
    from: &str,
    to: &str,
) -> Result<BTreeMap<Imported, u64>, Failure> {
    confirm::ask(
        &format!(
            "Copy every live session from {} into {}?",
            redact_url(from),
            redact_url(to)
        ),
        g.yes,
    )?;
    let bar = progress::counter("copying");
    let mut tally = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = source.page(cursor.as_deref(), ADMIN_PAGE).await?;
        for chunk in page.entries.chunks(IN_FLIGHT) {
            let from = source.ids_at_rest();
            for done in join_all(chunk.iter().map(|e| target.import(e, from))).await {
                *tally.entry(done?).or_insert(0u64) += 1;
            }
            bar.inc(chunk.len() as u64);
        }
        cursor = page.cursor;
        if cursor.is_none() {
            bar.finish_and_clear();
            return Ok(tally);
        }
    }
}
