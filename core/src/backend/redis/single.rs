//! Single node: every write of an operation in one atomic script (`COMMIT`), omnistorage-core's
//! per-user index included (`omnistorage_compat`).

use super::{RedisBackend, index_of, member_of, nonce, pxat, scripts};
use crate::backend::{Record, WriteCtx};
use crate::error::{Error, Result};
use crate::session::Session;

impl RedisBackend {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn commit_single(
        &self,
        old: Option<(&Session, &str)>,
        record: &Record,
        idx: Option<&str>,
        token: Option<&(String, String)>,
        evict: &[String],
        ctx: WriteCtx,
    ) -> Result<(String, Vec<String>)> {
        let new_id = &record.session.id;
        let new_idx = idx.map_or_else(|| self.keys.session(new_id), str::to_owned);
        let (old_id, old_wire, old_idx, old_go) = match old {
            Some((s, wire)) => (
                s.id.clone(),
                wire.to_owned(),
                index_of(&self.keys, s),
                self.go_key(s),
            ),
            None => (new_id.clone(), String::new(), None, None),
        };
        let new_go = self.go_key(&record.session);
        let mut keys = vec![
            self.keys.session(new_id),
            self.keys.tombstone(new_id),
            new_idx.clone(),
            self.keys.session(&old_id),
            self.keys.tombstone(&old_id),
            old_idx.clone().unwrap_or_else(|| new_idx.clone()),
        ];
        for e in evict {
            keys.push(self.keys.session(e));
            keys.push(self.keys.tombstone(e));
        }
        // Last: the script finds the Go indexes at #KEYS - 1 and #KEYS (placeholders unused).
        keys.push(new_go.clone().unwrap_or_else(|| new_idx.clone()));
        keys.push(old_go.clone().unwrap_or_else(|| new_idx.clone()));
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let mut args = vec![
            if old.is_some() { "replace" } else { "insert" }.to_owned(),
            old_wire,
            record.wire.clone(),
            pxat(record),
            new_id.clone(),
            old_id,
            if idx.is_some() {
                member_of(record)
            } else {
                String::new()
            },
            token.map(|t| t.0.clone()).unwrap_or_default(),
            nonce(),
            ctx.tombstone_until_ms.to_string(),
            ctx.now_ms.to_string(),
            flag(old_idx.is_some()),
            flag(new_go.is_some()),
            flag(old_go.is_some()),
            token.map(|t| t.1.clone()).unwrap_or_default(),
        ];
        args.extend(evict.iter().cloned());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut reply: Vec<String> = self.conn.script(&scripts::COMMIT, &keys, &args).await?;
        if reply.is_empty() {
            return Err(Error::backend("redis: empty reply from the commit script"));
        }
        let status = reply.remove(0);
        Ok((status, reply))
    }
}
