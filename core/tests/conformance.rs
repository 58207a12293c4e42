//! Runs every vector of `tests/conformance/*.json` against every backend.
//! The format is described in `tests/conformance/README.md`.

#[path = "support/map_storage.rs"]
mod map_storage;
#[path = "support/redis.rs"]
mod redis_server;

use omnisession::backend::custom::CustomBackend;
use omnisession::backend::memory::MemoryBackend;
use omnisession::{
    BackendConfig, Error, FnSink, Lifetime, Login, ManualClock, NewSession, Options, Patch,
    Session, SessionUpdate, Store, Timestamp, Violation, id,
};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// 2030-01-01T00:00:00Z: where the manual clock of every case starts.
const START_MS: i64 = 1_893_456_000_000;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    Sqlite,
    File,
    /// A custom backend: a host-style map storage behind the core's adapter.
    Custom,
    Redis,
    RedisCluster,
}

/// The Redis servers of this test process, one of each topology, started on first use.
static SINGLE: std::sync::LazyLock<redis_server::RedisServer> =
    std::sync::LazyLock::new(|| redis_server::RedisServer::single(&[]));
static CLUSTER: std::sync::LazyLock<redis_server::RedisServer> =
    std::sync::LazyLock::new(redis_server::RedisServer::cluster);
static CASE_NUMBER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What the stores of a run hold for each id: the ids, or their hashes (`ids_at_rest`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ids {
    Plain,
    Hashed,
}

/// The server key of the hashed runs.
const ID_HASH_KEY: &str = "conformance-runs-id-hash-key-of-40-bytes";

/// One case's shared backend: every store of the case is opened over it.
struct CaseBackend {
    kind: Kind,
    ids: Ids,
    memory: Arc<MemoryBackend>,
    /// Every case gets a key prefix of its own on the shared Redis servers.
    prefix: String,
    /// The custom backend, built with the options of the case's first store.
    custom: std::sync::OnceLock<Arc<CustomBackend<map_storage::MapStorage>>>,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl CaseBackend {
    fn new(kind: Kind, ids: Ids) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = match kind {
            Kind::Sqlite => dir.path().join("sessions.db"),
            _ => dir.path().join("sessions"),
        };
        let n = CASE_NUMBER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prefix = format!("conf{}-{n}:", std::process::id());
        Self {
            kind,
            ids,
            memory: Arc::new(MemoryBackend::new()),
            prefix,
            custom: std::sync::OnceLock::new(),
            _dir: dir,
            path,
        }
    }

    fn backend(&self) -> BackendConfig {
        match self.kind {
            Kind::Memory => BackendConfig::Custom(self.memory.clone()),
            Kind::Sqlite => BackendConfig::Sqlite {
                path: self.path.clone(),
            },
            Kind::File => BackendConfig::File {
                path: self.path.clone(),
            },
            Kind::Custom => {
                BackendConfig::Custom(self.custom.get().expect("set by options()").clone())
            }
            Kind::Redis => BackendConfig::Redis {
                urls: SINGLE.urls.clone(),
                cluster: false,
                tls_ca: None,
                tls_client: None,
            },
            Kind::RedisCluster => BackendConfig::Redis {
                urls: CLUSTER.urls.clone(),
                cluster: true,
                tls_ca: None,
                tls_client: None,
            },
        }
    }

    fn options(
        &self,
        map: &Map<String, Value>,
        clock: &Arc<ManualClock>,
    ) -> Result<Options, Error> {
        let mut map = map.clone();
        map.entry("cleanup_interval").or_insert(json!(0));
        // Every case again with ids hashed at rest, but for the omnistorage-compatible ones
        // (a Go service reads raw ids: the two modes refuse each other).
        // A case whose order rests on the ids themselves (ties broken by id) keeps them plain.
        if self.ids == Ids::Hashed
            && map.get("omnistorage_compat") != Some(&json!(true))
            && !map.contains_key("ids_at_rest")
        {
            map.insert("ids_at_rest".into(), json!("hmac-sha256"));
            map.insert("id_hash_key".into(), json!(ID_HASH_KEY));
        }
        let mut o = Options::from_json(&map)?;
        if matches!(self.kind, Kind::Custom) {
            let storage = map_storage::MapStorage::full();
            self.custom
                .get_or_init(|| Arc::new(CustomBackend::new(storage, o.expiry())));
        }
        o.backend = self.backend();
        o.clock = clock.clone();
        if matches!(self.kind, Kind::Redis | Kind::RedisCluster) {
            o.key_prefix.clone_from(&self.prefix);
        }
        Ok(o)
    }
}

/// The violations a store reported, in order.
type Seen = Arc<Mutex<Vec<Violation>>>;

struct Case {
    shared: CaseBackend,
    clock: Arc<ManualClock>,
    stores: Vec<(String, Store, Seen)>,
    bound: HashMap<String, String>,
}

impl Case {
    async fn open(kind: Kind, ids: Ids, case: &Value) -> Result<Case, String> {
        let shared = CaseBackend::new(kind, ids);
        let clock = Arc::new(ManualClock::new(START_MS));
        let default_stores = json!({"main": {}});
        let specs = case
            .get("stores")
            .unwrap_or(&default_stores)
            .as_object()
            .ok_or("stores must be an object")?;
        let mut stores = Vec::new();
        for (name, spec) in specs {
            let mut options = shared
                .options(
                    spec.as_object().ok_or("store options must be an object")?,
                    &clock,
                )
                .map_err(|e| format!("store {name}: {e}"))?;
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = seen.clone();
            options.on_violation = Some(Arc::new(FnSink(move |v: &Violation| {
                sink.lock().unwrap().push(v.clone());
            })));
            let store = Store::open(options)
                .await
                .map_err(|e| format!("open {name}: {e}"))?;
            stores.push((name.clone(), store, seen));
        }
        Ok(Case {
            shared,
            clock,
            stores,
            bound: HashMap::new(),
        })
    }

    fn store(&self, step: &Value) -> Result<&(String, Store, Seen), String> {
        match step.get("store").and_then(Value::as_str) {
            None => self.stores.first().ok_or_else(|| "no store".to_owned()),
            Some(name) => self
                .stores
                .iter()
                .find(|s| s.0 == name)
                .ok_or(format!("no store {name}")),
        }
    }

    /// Replaces `"$name"` strings by bound ids and expands `{"$repeat": s, "times": n}`.
    fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => match s.strip_prefix('$').and_then(|n| self.bound.get(n)) {
                Some(id) => Value::String(id.clone()),
                None => v.clone(),
            },
            Value::Array(items) => Value::Array(items.iter().map(|i| self.resolve(i)).collect()),
            Value::Object(m) => {
                if let (Some(Value::String(s)), Some(n)) =
                    (m.get("$repeat"), m.get("times").and_then(Value::as_u64))
                {
                    return Value::String(s.repeat(n as usize));
                }
                Value::Object(
                    m.iter()
                        .map(|(k, v)| (k.clone(), self.resolve(v)))
                        .collect(),
                )
            }
            _ => v.clone(),
        }
    }

    /// With ids hashed at rest, a listing shows each session's id at rest, never its id: the
    /// ids a listing expects become theirs (a raw id listed then fails to compare).
    fn expected_at_rest(&self, op: &str, want: &mut Value, store: &Store) {
        if self.shared.ids == Ids::Plain {
            return;
        }
        let at_rest = |v: &mut Value| {
            if let Some(id) = v.as_str() {
                *v = json!(store.id_at_rest(id));
            }
        };
        match op {
            "list_by_user_id" | "list_all" => {
                if let Some(Value::Array(ids)) = want.get_mut("ids") {
                    ids.iter_mut().for_each(at_rest);
                }
                if let Some(Value::Array(sessions)) = want.get_mut("sessions") {
                    for s in sessions {
                        if let Some(id) = s.get_mut("id") {
                            at_rest(id);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    async fn run_step(&mut self, step: &Value) -> Result<(), String> {
        let op = step["op"].as_str().ok_or("step without op")?;
        let args = self.resolve(step.get("args").unwrap_or(&json!({})));
        let expect = step.get("expect").map(|e| self.resolve(e));
        match op {
            "advance" => {
                self.clock
                    .advance(args["ms"].as_i64().ok_or("advance needs ms")?);
                return Ok(());
            }
            "violations" => {
                let (_, _, seen) = self.store(step)?;
                let got: Vec<Violation> = seen.lock().unwrap().drain(..).collect();
                let (_, store, _) = self.store(step)?;
                // An event names the session by the hash of what the backend holds.
                let hash = |id: &str| id::hash(&store.id_at_rest(id));
                return compare_violations(
                    &got,
                    expect.as_ref().ok_or("violations needs expect")?,
                    &hash,
                );
            }
            "open" => {
                let options = args["options"].as_object().ok_or("open needs options")?;
                let result = match self.shared.options(options, &self.clock) {
                    Ok(o) => match Store::open(o).await {
                        Ok(store) => store.close().await.map(|()| Value::Null),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                return check_outcome(step, result, None);
            }
            _ => {}
        }
        let (_, store, _) = self.store(step)?;
        let store = store.clone();
        let result = call(&store, op, &args).await;
        let mut expect = expect;
        if let Some(want) = &mut expect {
            self.expected_at_rest(op, want, &store);
        }
        if let (Ok(v), Some(name)) = (&result, step.get("bind").and_then(Value::as_str)) {
            let id = v["id"].as_str().ok_or("bind needs a session result")?;
            self.bound.insert(name.to_owned(), id.to_owned());
        }
        check_outcome(step, result, expect.as_ref())
    }
}

fn str_arg(args: &Value, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn str_list(args: &Value, key: &str) -> Vec<String> {
    args.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// A write's new expiry: `ttl_ms`, or `expires_at` (an RFC 3339 instant, `null` = never).
fn lifetime(args: &Value) -> Option<Lifetime> {
    if let Some(ms) = args.get("ttl_ms").and_then(Value::as_u64) {
        return Some(Lifetime::Ttl(ms));
    }
    match args.get("expires_at")? {
        Value::Null => Some(Lifetime::Never),
        v => Some(Lifetime::At(
            Timestamp::parse(v.as_str().expect("expires_at is a string or null"))
                .expect("expires_at is RFC 3339"),
        )),
    }
}

fn obj_arg(args: &Value, key: &str) -> Map<String, Value> {
    args.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The request-cycle operations (`request_cycle.json`) and `touch`, which may set an expiry.
async fn call_cycle(store: &Store, op: &str, args: &Value) -> Result<Value, Error> {
    let id = str_arg(args, "id").unwrap_or_default();
    let user = str_arg(args, "user_id").unwrap_or_default();
    Ok(match op {
        "upsert" => canonical(
            &store
                .upsert(SessionUpdate {
                    id,
                    data: obj_arg(args, "data"),
                    user_id: str_arg(args, "user_id"),
                    expires: lifetime(args),
                    ..Default::default()
                })
                .await?,
        ),
        "login" => canonical(
            &store
                .login(Login {
                    from: str_arg(args, "from"),
                    user_id: user,
                    set: obj_arg(args, "set"),
                    unset: str_list(args, "unset"),
                    expires: lifetime(args),
                    ..Default::default()
                })
                .await?,
        ),
        "get_sliding" => store
            .get_sliding(&id, args["rolling_ms"].as_u64().unwrap_or(0))
            .await?
            .as_ref()
            .map_or(Value::Null, canonical),
        "touch" => canonical(&match lifetime(args) {
            Some(expires) => store.touch_with(&id, expires).await?,
            None => store.touch(&id).await?,
        }),
        _ => unreachable!("not a request-cycle op: {op}"),
    })
}

/// Calls one store operation with vector arguments; the result in canonical JSON.
async fn call(store: &Store, op: &str, args: &Value) -> Result<Value, Error> {
    let id = str_arg(args, "id").unwrap_or_default();
    let user = str_arg(args, "user_id").unwrap_or_default();
    Ok(match op {
        "create" => canonical(
            &store
                .create(NewSession {
                    user_id: str_arg(args, "user_id"),
                    data: obj_arg(args, "data"),
                    expires: lifetime(args),
                    id: str_arg(args, "id"),
                    ip_address: str_arg(args, "ip_address"),
                    user_agent: str_arg(args, "user_agent"),
                    organization_id: str_arg(args, "organization_id"),
                })
                .await?,
        ),
        "get" => store
            .get(&id)
            .await?
            .as_ref()
            .map_or(Value::Null, canonical),
        "update" => canonical(
            &store
                .update(SessionUpdate {
                    id,
                    data: obj_arg(args, "data"),
                    user_id: str_arg(args, "user_id"),
                    organization_id: str_arg(args, "organization_id"),
                    ip_address: str_arg(args, "ip_address"),
                    user_agent: str_arg(args, "user_agent"),
                    version: args.get("version").and_then(Value::as_u64),
                    expires: lifetime(args),
                })
                .await?,
        ),
        "upsert" | "login" | "get_sliding" | "touch" => call_cycle(store, op, args).await?,
        "patch" => {
            let patch = Patch {
                set: obj_arg(args, "set"),
                unset: str_list(args, "unset"),
                version: args.get("version").and_then(Value::as_u64),
                user_id: str_arg(args, "user_id"),
                expires: lifetime(args),
            };
            canonical(&store.patch(&id, patch).await?)
        }
        "rotate" => canonical(&store.rotate(&id).await?),
        "delete" => {
            store.delete(&id).await?;
            Value::Null
        }
        "delete_by_user_id" => json!(store.delete_by_user_id(&user).await?),
        "list_by_user_id" => Value::Array(
            store
                .list_by_user_id(&user)
                .await?
                .iter()
                .map(canonical)
                .collect(),
        ),
        "list" => {
            let limit = args
                .get("limit")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let page = store
                .list(str_arg(args, "cursor").as_deref(), limit)
                .await?;
            json!({"count": page.sessions.len(), "has_more": page.cursor.is_some()})
        }
        "list_all" => {
            let limit = args
                .get("limit")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = store.list(cursor.as_deref(), limit).await?;
                ids.extend(page.sessions.iter().map(|s| json!(s.id)));
                cursor = page.cursor;
                if cursor.is_none() {
                    break;
                }
            }
            Value::Array(ids)
        }
        "count" => json!(store.count().await?),
        "clear" => json!(store.clear().await?),
        "cleanup" => json!(store.cleanup().await?),
        "close" => {
            store.close().await?;
            Value::Null
        }
        other => panic!("unknown op {other}"),
    })
}

/// The canonical form of a session (README "Comparing").
fn canonical(s: &Session) -> Value {
    json!({
        "id": s.id, "user_id": s.user_id, "site_id": s.site_id,
        "organization_id": s.organization_id, "data": s.data,
        "created_at": s.created_at.to_string(), "updated_at": s.updated_at.to_string(),
        "last_accessed_at": s.last_accessed_at.to_string(),
        "expires_at": s.expires_at.map(|t| t.to_string()),
        "ip_address": s.ip_address, "user_agent": s.user_agent, "version": s.version,
    })
}

fn check_outcome(
    step: &Value,
    result: Result<Value, Error>,
    expect: Option<&Value>,
) -> Result<(), String> {
    match (result, step.get("error").and_then(Value::as_str)) {
        (Err(e), Some(code)) if e.code() == code => {
            if e.kind().is_gone() != GONE_CODES.iter().any(|g| g == code) {
                return Err(format!("{code}: is_gone is {}", e.kind().is_gone()));
            }
            let want = step.get("details").cloned().unwrap_or(json!({}));
            subset(&want, &Value::Object(e.details().clone()), "details")
        }
        (Err(e), Some(code)) => Err(format!("expected {code}, got {e}")),
        (Err(e), None) => Err(format!("unexpected error {e} {:?}", e.details())),
        (Ok(v), Some(code)) => Err(format!("expected {code}, got {v}")),
        (Ok(v), None) => match expect {
            None => Ok(()),
            Some(want) => compare_result(step["op"].as_str().unwrap_or(""), want, &v),
        },
    }
}

fn compare_result(op: &str, want: &Value, got: &Value) -> Result<(), String> {
    match op {
        "list_by_user_id" => {
            let got = got.as_array().ok_or("not a list")?;
            if let Some(ids) = want.get("ids") {
                let got_ids: Vec<Value> = got.iter().map(|s| s["id"].clone()).collect();
                if &Value::Array(got_ids.clone()) != ids {
                    return Err(format!("ids: want {ids}, got {}", Value::Array(got_ids)));
                }
            }
            if let Some(Value::Array(sessions)) = want.get("sessions") {
                if sessions.len() != got.len() {
                    return Err(format!(
                        "want {} sessions, got {}",
                        sessions.len(),
                        got.len()
                    ));
                }
                for (w, g) in sessions.iter().zip(got) {
                    session_fields(w, g, "session")?;
                }
            }
            Ok(())
        }
        "list_all" => {
            let got = got.as_array().ok_or("not a list")?;
            let set: HashSet<&Value> = got.iter().collect();
            if set.len() != got.len() {
                return Err(format!("an id appeared twice across pages: {got:?}"));
            }
            let want_ids = want["ids"].as_array().ok_or("list_all expects ids")?;
            let want_set: HashSet<&Value> = want_ids.iter().collect();
            if set == want_set {
                Ok(())
            } else {
                Err(format!("ids: want {want_ids:?}, got {got:?}"))
            }
        }
        "create" | "get" | "update" | "patch" | "touch" | "rotate" => {
            session_fields(want, got, "result")
        }
        _ => subset(want, got, "result"),
    }
}

/// A session expectation: the fields of `want` (a subset of the canonical fields), each
/// compared exactly with the session's (`data` as a whole: no extra keys, integers not floats).
fn session_fields(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let gv = g.get(k).ok_or(format!("{at}.{k} missing in {got}"))?;
                if !exact(wv, gv) {
                    return Err(format!("{at}.{k}: want {wv}, got {gv}"));
                }
            }
            Ok(())
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: want {want}, got {got}")),
    }
}

/// JSON equality where an integer and a float are never equal (`2` is not `2.0`).
fn exact(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.is_f64() && b.is_f64() && a.as_f64() == b.as_f64(),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| exact(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| exact(x, y)))
        }
        _ => want == got,
    }
}

/// `want` must be contained in `got` (objects: every key of `want`; other values: equal).
fn subset(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let gv = g.get(k).ok_or(format!("{at}.{k} missing in {got}"))?;
                subset(wv, gv, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: want {want}, got {got}")),
    }
}

fn compare_violations(
    got: &[Violation],
    want: &Value,
    hash: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let want = want.as_array().ok_or("violations expect must be a list")?;
    let got_json: Vec<Value> = got
        .iter()
        .map(|v| {
            json!({"type": v.kind.as_str(), "session_id_hash": v.session_id_hash, "user_id": v.user_id,
                   "site_id": v.site_id, "size": v.size, "limit": v.limit, "message": v.message})
        })
        .collect();
    if want.len() != got.len() {
        return Err(format!(
            "want {} violations, got {}: {got_json:?}",
            want.len(),
            got.len()
        ));
    }
    for (w, g) in want.iter().zip(&got_json) {
        let mut w = w
            .as_object()
            .ok_or("violation expectation must be an object")?
            .clone();
        if let Some(session) = w.remove("session") {
            let hash = session.as_str().map(hash);
            if g["session_id_hash"] != json!(hash) {
                return Err(format!(
                    "violation session: want hash of {session}, got {g}"
                ));
            }
        }
        subset(&Value::Object(w), g, "violation")?;
    }
    Ok(())
}

/// The codes that say the session has ended (`error_codes.json`): every error met is checked.
static GONE_CODES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/error_codes.json");
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("error_codes.json"))
            .expect("error_codes.json is JSON");
    serde_json::from_value(doc["gone_codes"].clone()).expect("gone_codes is a list of codes")
});

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable dir entry").path())
        // cookies.json and adapters.json are the cookie modules' and the adapters' specs, with
        // runners of their own in tests/node and tests/python.
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !["schema.json", "cookies.json", "adapters.json"]
                    .iter()
                    .any(|name| p.ends_with(name))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors found in {}", dir.display());
    files
}

async fn run_all(kind: Kind, ids: Ids) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("readable vector file");
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for case in doc["cases"].as_array().expect("cases") {
            ran += 1;
            let label = format!("{name} / {}", case["name"].as_str().unwrap_or("?"));
            let mut c = match Case::open(kind, ids, case).await {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            for (i, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
                if let Err(e) = c.run_step(step).await {
                    failures.push(format!("{label}: step {i} ({}): {e}", step["op"]));
                    break;
                }
            }
            for (_, store, _) in &c.stores {
                store.close().await.expect("close");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{kind:?}, ids {ids:?}: {} of {ran} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{kind:?}, ids {ids:?}: {ran} cases passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_memory() {
    run_all(Kind::Memory, Ids::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sqlite() {
    run_all(Kind::Sqlite, Ids::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file() {
    run_all(Kind::File, Ids::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_redis() {
    run_all(Kind::Redis, Ids::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_redis_cluster() {
    run_all(Kind::RedisCluster, Ids::Plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_custom() {
    run_all(Kind::Custom, Ids::Plain).await;
}

// Ids hashed at rest: every vector again on every backend that stores (memory only keeps
// records in the process, with nothing to dump; it runs the mode through the custom backend).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sqlite_ids_hashed_at_rest() {
    run_all(Kind::Sqlite, Ids::Hashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_ids_hashed_at_rest() {
    run_all(Kind::File, Ids::Hashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_redis_ids_hashed_at_rest() {
    run_all(Kind::Redis, Ids::Hashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_redis_cluster_ids_hashed_at_rest() {
    run_all(Kind::RedisCluster, Ids::Hashed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_custom_ids_hashed_at_rest() {
    run_all(Kind::Custom, Ids::Hashed).await;
}
