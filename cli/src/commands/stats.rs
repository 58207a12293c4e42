//! `omnisession stats`: live sessions by site, top users, sessions expiring within the hour,
//! record sizes; every site, one walk.

use super::walk;
use crate::exit::{Failure, OK};
use crate::output::{Out, table};
use omnisession::store::admin::{Admin, StatsBuilder};

pub(super) async fn run(admin: &Admin, top: usize, out: Out) -> Result<i32, Failure> {
    let mut builder = StatsBuilder::new(admin.now_ms());
    walk(admin, "reading", |e| builder.add(e)).await?;
    let stats = builder.finish(top);
    if out.json {
        out.document(&serde_json::to_value(&stats).unwrap_or_default());
        return Ok(OK);
    }
    out.line(&format!(
        "records: {} ({} live, {} expired, {} bad)",
        stats.records, stats.live, stats.expired, stats.bad
    ));
    out.line(&format!(
        "live sessions expiring within the hour: {}",
        stats.expiring_within_hour
    ));
    out.line(&format!("anonymous live sessions: {}", stats.anonymous));
    match stats.sizes {
        Some(s) => out.line(&format!(
            "record sizes (bytes): min {}, median {}, max {}, total {}",
            s.min, s.median, s.max, s.total
        )),
        None => out.line("record sizes: no live sessions"),
    }
    if !stats.live_by_site.is_empty() {
        out.line("");
        let rows: Vec<Vec<String>> = stats
            .live_by_site
            .iter()
            .map(|(site, n)| vec![format!("{site:?}"), n.to_string()])
            .collect();
        out.line(&table(&["SITE", "LIVE"], &rows));
    }
    if !stats.top_users.is_empty() {
        out.line("");
        let rows: Vec<Vec<String>> = stats
            .top_users
            .iter()
            .map(|u| {
                vec![
                    u.user.clone(),
                    format!("{:?}", u.site),
                    u.sessions.to_string(),
                ]
            })
            .collect();
        out.line(&table(&["USER", "SITE", "SESSIONS"], &rows));
    }
    Ok(OK)
}
