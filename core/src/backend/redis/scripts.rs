//! The Lua scripts. Each is loaded once and run by SHA (`EVALSHA`, with a transparent
//! `SCRIPT LOAD` after a server restart).
//!
//! Single node: [`COMMIT`] and [`REMOVE`] each touch every key of their operation in one
//! atomic script. Redis Cluster: the same operations run as the single-slot steps below, in
//! the order docs/redis.md gives.

use once_cell::sync::Lazy;
use redis::Script;

/// Prunes expired members of an index and sets the index key's expiry to its latest
/// member's (never shorter than the newest session; no expiry when a member never expires).
const FIX_INDEX: &str = r"
local function fix_index(idx, now)
  local all = redis.call('HGETALL', idx)
  local latest, latest_n, forever, members = nil, -1, false, 0
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    if string.sub(f, 1, 1) ~= '~' then
      local exp = string.match(v, '^%-?%d+ %-?%d+ (%S+)')
      if exp == '-' then
        forever = true
        members = members + 1
      else
        local n = tonumber(exp)
        if n == nil or n < now then
          redis.call('HDEL', idx, f)
        else
          members = members + 1
          if n > latest_n then latest, latest_n = exp, n end
        end
      end
    elseif string.sub(f, 1, 3) == '~e:' then
      members = members + 1
      forever = true
    end
  end
  if members == 0 then
    redis.call('DEL', idx)
  elseif forever then
    redis.call('PERSIST', idx)
  else
    redis.call('PEXPIREAT', idx, latest)
  end
end
";

/// omnistorage-core's per-user index `{prefix}user:{uuid}`: a JSON array of session ids, which
/// its `DeleteByUserID` and `ListByUserID` read (omnistorage_compat only). Written as Go's
/// `encoding/json` reads it (never `{}` for an empty one: an empty index is deleted, as Go does).
/// Its expiry is never brought forward: at least the newest record's plus an hour (what Go
/// sets), none while a member never expires, and left alone when an id leaves.
const GO_INDEX: &str = r"
local function go_read(key)
  local raw = redis.call('GET', key)
  local ids = {}
  if raw then
    local ok, arr = pcall(cjson.decode, raw)
    if ok and type(arr) == 'table' then
      for _, v in ipairs(arr) do
        if type(v) == 'string' then table.insert(ids, v) end
      end
    end
  end
  return ids, raw
end
local function go_store(key, ids)
  if #ids == 0 then
    redis.call('DEL', key)
    return
  end
  local parts = {}
  for i, v in ipairs(ids) do parts[i] = cjson.encode(v) end
  redis.call('SET', key, '[' .. table.concat(parts, ',') .. ']', 'KEEPTTL')
end
local function go_add(key, id, pxat)
  local ids, raw = go_read(key)
  local present = false
  for _, v in ipairs(ids) do
    if v == id then present = true end
  end
  if not present then
    table.insert(ids, id)
    go_store(key, ids)
  end
  if pxat == '' then
    redis.call('PERSIST', key)
  else
    local want = tonumber(pxat) + 3600000
    local cur = redis.call('PEXPIRETIME', key)
    if not raw or (cur >= 0 and cur < want) then redis.call('PEXPIREAT', key, want) end
  end
end
local function go_drop(key, gone)
  local ids, raw = go_read(key)
  if not raw then return end
  local kept, changed = {}, false
  for _, v in ipairs(ids) do
    if gone[v] then changed = true else table.insert(kept, v) end
  end
  if changed then go_store(key, kept) end
end
";

/// Single node: insert, replace, rotate and login in one atomic step.
///
/// KEYS: new session, new tombstone, new index, old session, old tombstone, old index, then
/// (session, tombstone) of each evicted id, then the new and the old Go index. ARGV: mode
/// (`insert`/`replace`), old wire, new wire, new PXAT (`` = none), new id, old id, member
/// (`` = anonymous), `=` + expected `~v` (`` = no admission), new `~v`, tombstone PXAT, now,
/// old-is-indexed (`1`/`0`), new-in-Go-index (`1`/`0`), old-in-Go-index (`1`/`0`), `=` +
/// expected Go index (`` = no check), then the evicted ids. Returns `{status, evicted
/// wires...}`; status is ok, missing, retry (an index changed) or conflict, or
/// `{'changed', current wire}` when the record is no longer the old wire.
const COMMIT_BODY: &str = r"
local now = tonumber(ARGV[11])
local go_new, go_old = KEYS[#KEYS - 1], KEYS[#KEYS]
local replace = ARGV[1] == 'replace'
local moved = (not replace) or ARGV[5] ~= ARGV[6]
if replace then
  local cur = redis.call('GET', KEYS[4])
  if not cur then return {'missing'} end
  if cur ~= ARGV[2] then return {'changed', cur} end
end
if moved then
  local tomb_until = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
  if redis.call('EXISTS', KEYS[1]) == 1 or tomb_until > now then return {'conflict'} end
end
if ARGV[8] ~= '' and '=' .. (redis.call('HGET', KEYS[3], '~v') or '') ~= ARGV[8] then
  return {'retry'}
end
if ARGV[15] ~= '' and '=' .. (redis.call('GET', go_new) or '') ~= ARGV[15] then
  return {'retry'}
end
local out, evicted = {'ok'}, {}
for i = 16, #ARGV do
  local sk, tk = KEYS[7 + 2 * (i - 16)], KEYS[8 + 2 * (i - 16)]
  evicted[ARGV[i]] = true
  local w = redis.call('GET', sk)
  if w then
    redis.call('DEL', sk)
    table.insert(out, w)
  end
  redis.call('SET', tk, ARGV[10], 'PXAT', ARGV[10])
  redis.call('HDEL', KEYS[3], ARGV[i])
end
if ARGV[13] == '1' and #ARGV >= 16 then go_drop(go_new, evicted) end
if replace then
  if moved then
    redis.call('DEL', KEYS[4])
    redis.call('SET', KEYS[5], ARGV[10], 'PXAT', ARGV[10])
    if ARGV[14] == '1' then go_drop(go_old, {[ARGV[6]] = true}) end
  end
  if ARGV[12] == '1' and (moved or KEYS[6] ~= KEYS[3] or ARGV[7] == '') then
    redis.call('HDEL', KEYS[6], ARGV[6])
    redis.call('HSET', KEYS[6], '~v', ARGV[9])
    fix_index(KEYS[6], now)
  end
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
  if moved or ARGV[8] ~= '' or KEYS[6] ~= KEYS[3] then
    redis.call('HSET', KEYS[3], '~v', ARGV[9])
  end
  fix_index(KEYS[3], now)
end
if ARGV[13] == '1' then go_add(go_new, ARGV[5], ARGV[4]) end
return out
";

/// Rewrites a record under the same id and index (`rewrite.rs` says why this way). KEYS:
/// session, index (the session key when none or, on a cluster, refreshed apart). ARGV:
/// length, head and tail of the record the change started from, offset (`` = whole record),
/// the bytes to write there (or the whole new record), PXAT (`` = none), id, member (`` = not
/// indexed), whether the expiry moved (`1`/`0`). Returns `{'ok'}`, `{'missing'}`, `{'changed', current record}` or
/// `{'unindexed'}` (the index lacks the session: nothing written, `COMMIT` rebuilds it).
const REWRITE_BODY: &str = r"
local k = KEYS[1]
local len = redis.call('STRLEN', k)
if len == 0 and redis.call('EXISTS', k) == 0 then return {'missing'} end
local head, tail = ARGV[2], ARGV[3]
if len ~= tonumber(ARGV[1])
  or (#head > 0 and redis.call('GETRANGE', k, 0, #head - 1) ~= head)
  or (#tail > 0 and redis.call('GETRANGE', k, len - #tail, len - 1) ~= tail) then
  return {'changed', redis.call('GET', k)}
end
-- An indexed session its index does not hold (the index was lost): COMMIT rebuilds it.
if ARGV[8] ~= '' and redis.call('HSET', KEYS[2], ARGV[7], ARGV[8]) == 1 then
  redis.call('HDEL', KEYS[2], ARGV[7])
  return {'unindexed'}
end
local moved = ARGV[9] == '1'
if ARGV[4] == '' then
  if ARGV[6] == '' then
    redis.call('SET', k, ARGV[5])
  else
    redis.call('SET', k, ARGV[5], 'PXAT', ARGV[6])
  end
else
  if #ARGV[5] > 0 then redis.call('SETRANGE', k, tonumber(ARGV[4]), ARGV[5]) end
  if moved and ARGV[6] == '' then
    redis.call('PERSIST', k)
  elseif moved then
    redis.call('PEXPIREAT', k, ARGV[6])
  end
end
if ARGV[8] ~= '' and moved then
  if ARGV[6] == '' then
    redis.call('PERSIST', KEYS[2])
  else
    local cur = redis.call('PEXPIRETIME', KEYS[2])
    if cur ~= -1 and cur < tonumber(ARGV[6]) then redis.call('PEXPIREAT', KEYS[2], ARGV[6]) end
  end
end
return {'ok'}
";

/// Single node: removes one session if it still holds the wire that was read.
///
/// KEYS: session, tombstone, index, Go index. ARGV: expected wire, id, tombstone (`1`/`0`),
/// tombstone PXAT, now, indexed (`1`/`0`), new `~v`, in Go index (`1`/`0`). Returns 1
/// removed, 0 missing, -1 changed.
const REMOVE_BODY: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
if ARGV[3] == '1' then redis.call('SET', KEYS[2], ARGV[4], 'PXAT', ARGV[4]) end
if ARGV[6] == '1' then
  redis.call('HDEL', KEYS[3], ARGV[2])
  redis.call('HSET', KEYS[3], '~v', ARGV[7])
  fix_index(KEYS[3], tonumber(ARGV[5]))
end
if ARGV[8] == '1' then go_drop(KEYS[4], {[ARGV[2]] = true}) end
return 1
";

/// Cluster, session slot: compare-and-set. KEYS: session. ARGV: expected wire (`` = must be
/// absent), new wire, PXAT (`` = none). Returns ok, missing, retry or conflict.
const CAS_BODY: &str = r"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 'conflict' end
elseif not cur then
  return 'missing'
elseif cur ~= ARGV[1] then
  return 'retry'
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 'ok'
";

/// Cluster, session slot: the record step of a rotation, both session keys in one slot.
/// KEYS: old session, new session. ARGV: expected old wire, new wire, new PXAT (`` = none).
/// Returns ok, missing (no old record), retry (the old record changed) or conflict (the new
/// id is taken).
const ROTATE_BODY: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 'missing' end
if cur ~= ARGV[1] then return 'retry' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'conflict' end
if ARGV[3] == '' then
  redis.call('SET', KEYS[2], ARGV[2])
else
  redis.call('SET', KEYS[2], ARGV[2], 'PXAT', ARGV[3])
end
redis.call('DEL', KEYS[1])
return 'ok'
";

/// Cluster, index slot: the atomic admission. KEYS: index. ARGV: `=` + expected `~v`
/// (`` = no check), new `~v`, now, id to add, member (`` = add nothing), then ids to mark as being
/// evicted (`~e:<id>`), then `--`, then ids to drop. Returns ok or retry.
const ADMIT_BODY: &str = r"
if ARGV[1] ~= '' and '=' .. (redis.call('HGET', KEYS[1], '~v') or '') ~= ARGV[1] then return 'retry' end
local i, dropping = 6, false
while i <= #ARGV do
  if ARGV[i] == '--' then
    dropping = true
  elseif dropping then
    redis.call('HDEL', KEYS[1], ARGV[i], '~e:' .. ARGV[i])
  else
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HSET', KEYS[1], '~e:' .. ARGV[i], '1')
  end
  i = i + 1
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], ARGV[4], ARGV[5]) end
redis.call('HSET', KEYS[1], '~v', ARGV[2])
fix_index(KEYS[1], tonumber(ARGV[3]))
return 'ok'
";

/// Cluster, index slot: refreshes an existing member (touch, update) without admitting.
/// KEYS: index. ARGV: id, member, now.
const REFRESH_BODY: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  fix_index(KEYS[1], tonumber(ARGV[3]))
end
return 'ok'
";

/// Cluster, Go index slot: adds an id (before its record is written). KEYS: Go index. ARGV:
/// id, the record's PXAT (`` = none).
const GO_ADD_BODY: &str = r"
go_add(KEYS[1], ARGV[1], ARGV[2])
return 'ok'
";

/// Cluster, Go index slot: drops ids (after their records are gone). KEYS: Go index. ARGV: ids.
const GO_DROP_BODY: &str = r"
local gone = {}
for _, id in ipairs(ARGV) do gone[id] = true end
go_drop(KEYS[1], gone)
return 'ok'
";

/// A record and its effective expiry (the key's), in one round trip. KEYS: session.
/// Returns `{wire or false, PEXPIRETIME}` (-1 = no expiry, -2 = no key).
const FETCH_BODY: &str = r"
return {redis.call('GET', KEYS[1]), redis.call('PEXPIRETIME', KEYS[1])}
";

fn with_fix(body: &str) -> Script {
    Script::new(&format!("{FIX_INDEX}\n{GO_INDEX}\n{body}"))
}

pub(crate) static COMMIT: Lazy<Script> = Lazy::new(|| with_fix(COMMIT_BODY));
pub(crate) static REWRITE: Lazy<Script> = Lazy::new(|| Script::new(REWRITE_BODY));
pub(crate) static REMOVE: Lazy<Script> = Lazy::new(|| with_fix(REMOVE_BODY));
pub(crate) static CAS: Lazy<Script> = Lazy::new(|| Script::new(CAS_BODY));
pub(crate) static ROTATE: Lazy<Script> = Lazy::new(|| Script::new(ROTATE_BODY));
pub(crate) static ADMIT: Lazy<Script> = Lazy::new(|| with_fix(ADMIT_BODY));
pub(crate) static FETCH: Lazy<Script> = Lazy::new(|| Script::new(FETCH_BODY));
pub(crate) static GO_ADD: Lazy<Script> = Lazy::new(|| with_fix(GO_ADD_BODY));
pub(crate) static GO_DROP: Lazy<Script> = Lazy::new(|| with_fix(GO_DROP_BODY));
pub(crate) static REFRESH: Lazy<Script> = Lazy::new(|| with_fix(REFRESH_BODY));
