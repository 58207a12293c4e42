//! `Store.open` options: Node's camelCase names (durations in ms with an `Ms` suffix) mapped to
//! the core's canonical names, which `Options::from_json` parses and validates. The binding
//! only adds what has no JSON form: the violation callback, a JS custom backend and a testing
//! clock.

use crate::callbacks::JsViolationSink;
use crate::convert::{self, Bad};
use crate::custom::JsStorage;
use crate::{ManualClock, MemoryBackend};
use napi::bindgen_prelude::{
    ClassInstance, FromNapiValue, Function, JsObjectValue, Promise, Unknown,
};
use napi::{Env, ValueType};
use omnisession::backend::custom::CustomBackend;
use omnisession::{BackendConfig, Error, ErrorKind, Options};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Node name → core name, for every option that is plain JSON.
const NAMES: [(&str, &str); 25] = [
    ("backend", "backend"),
    ("path", "path"),
    ("url", "url"),
    ("urls", "urls"),
    ("cluster", "cluster"),
    ("tlsCa", "tls_ca"),
    ("tlsCert", "tls_cert"),
    ("tlsKey", "tls_key"),
    ("keyPrefix", "key_prefix"),
    ("siteId", "site_id"),
    ("maxSessionSize", "max_session_size"),
    ("maxSessionsPerUser", "max_sessions_per_user"),
    ("evictionPolicy", "eviction_policy"),
    ("defaultTtlMs", "default_ttl"),
    ("maxLifetimeMs", "max_lifetime"),
    ("refreshFraction", "refresh_fraction"),
    ("idleTimeoutMs", "idle_timeout"),
    ("cleanupIntervalMs", "cleanup_interval"),
    ("tombstoneTtlMs", "tombstone_ttl"),
    ("allowAnonymous", "allow_anonymous"),
    ("omnistorageCompat", "omnistorage_compat"),
    ("waitReplicas", "wait_replicas"),
    ("waitTimeoutMs", "wait_timeout"),
    ("idsAtRest", "ids_at_rest"),
    ("idHashKey", "id_hash_key"),
];

/// Options the JS layer turns into `hooks` (validated there) and the testing clock.
const HOST_ONLY: [&str; 3] = ["onViolation", "logger", "clock"];

/// Options that name a place, meaningless with a custom backend.
const PLACES: [&str; 7] = [
    "path", "url", "urls", "cluster", "tlsCa", "tlsCert", "tlsKey",
];

/// `CONFIG_INVALID` naming the option (by its Node name).
pub fn config(option: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, message).with("option", option)
}

/// The Node name of a core option name (for `details.option`).
pub fn node_name(core: &str) -> &str {
    NAMES
        .iter()
        .find(|(_, c)| *c == core)
        .map_or(core, |(node, _)| node)
}

/// A `CONFIG_INVALID` from the core, with `details.option` given as the Node name.
pub fn rename(e: Error) -> Error {
    let Some(option) = e.details().get("option").and_then(Value::as_str) else {
        return e;
    };
    let node = node_name(option).to_owned();
    with_option(&e, &node)
}

/// `e` with `details.option` replaced by `node` (an error's details cannot be edited in place).
pub fn with_option(e: &Error, node: &str) -> Error {
    let mut out = Error::new(e.kind(), e.message());
    for (k, v) in e.details() {
        out = out.with(k, v.clone());
    }
    out.with("option", node)
}

/// A wrong shape of an option: `CONFIG_INVALID` naming it.
pub fn bad_option(option: &str, e: Bad) -> Error {
    match e {
        Bad::Napi(e) => convert::napi_failure(&e),
        Bad::NotJson(p) => config(
            option,
            format!("{option} must be plain JSON: {} at {}", p.reason, p.path),
        ),
        Bad::Shape { message, .. } => config(option, message),
    }
}

/// Reads `options` and `hooks` (`{onViolation?, backend?, backendMethods?}` from `index.js`).
pub fn parse(env: &Env, options: Unknown, hooks: Unknown) -> Result<Options, Error> {
    let options = match options.get_type().map_err(|e| convert::napi_failure(&e))? {
        ValueType::Undefined => None,
        _ => Some(
            convert::object_arg("options", options, false)
                .map_err(|e| bad_option("options", e))?
                .ok_or_else(|| config("options", "options must be an object"))?,
        ),
    };
    let hooks = convert::object_arg("hooks", hooks, true).map_err(|e| bad_option("hooks", e))?;

    let mut canonical = Map::new();
    let mut custom = false;
    let mut clock: Option<Arc<omnisession::ManualClock>> = None;
    let mut shared: Option<Arc<omnisession::backend::memory::MemoryBackend>> = None;
    let mut places = Vec::new();
    if let Some(options) = &options {
        for (key, value) in convert::own_entries(options).map_err(|e| bad_option("options", e))? {
            if convert::is_undefined(&value).map_err(|e| convert::napi_failure(&e))? {
                continue;
            }
            if key == "clock" {
                let instance = ClassInstance::<ManualClock>::from_unknown(value).map_err(|_| {
                    config("clock", "clock must be a ManualClock (from omnisession)")
                })?;
                clock = Some(Arc::clone(&instance.inner));
                continue;
            }
            if HOST_ONLY.contains(&key.as_str()) {
                continue;
            }
            if key == "backend"
                && value.get_type().map_err(|e| convert::napi_failure(&e))? == ValueType::Object
            {
                match ClassInstance::<MemoryBackend>::from_unknown(value) {
                    Ok(memory) => shared = Some(Arc::clone(&memory.inner)),
                    Err(_) => custom = true,
                }
                continue;
            }
            let Some((_, core)) = NAMES.iter().find(|(node, _)| *node == key) else {
                return Err(config(&key, format!("unknown option {key:?}")));
            };
            if PLACES.contains(&key.as_str()) {
                places.push(key.clone());
            }
            let json = convert::json(env, value).map_err(|e| bad_option(&key, e))?;
            canonical.insert((*core).to_owned(), json);
        }
    }
    if (custom || shared.is_some())
        && let Some(place) = places.first()
    {
        return Err(config(place, format!("a backend object takes no {place}")));
    }
    let mut o = Options::from_json(&canonical).map_err(rename)?;
    if let Some(clock) = clock {
        o.clock = clock;
    }
    if let Some(memory) = shared {
        o.backend = BackendConfig::Custom(memory);
    }
    if let Some(hooks) = hooks {
        if let Some(sink) = violation_sink(&hooks)? {
            o.on_violation = Some(sink);
        }
        if custom {
            let dispatch: Function<Value, Promise<Value>> =
                hooks.get_named_property("backend").map_err(|_| {
                    config(
                        "backend",
                        "a custom backend needs the JS adapter of index.js",
                    )
                })?;
            let methods: Vec<String> = hooks
                .get_named_property::<Option<Vec<String>>>("backendMethods")
                .map_err(|e| convert::napi_failure(&e))?
                .unwrap_or_default();
            let storage =
                JsStorage::new(&dispatch, &methods).map_err(|e| convert::napi_failure(&e))?;
            o.backend = BackendConfig::Custom(Arc::new(CustomBackend::new(storage, o.expiry())));
        }
    } else if custom {
        return Err(config(
            "backend",
            "a custom backend needs the JS adapter of index.js",
        ));
    }
    Ok(o)
}

/// The `onViolation` that `index.js` hands over in `hooks` (already wrapped there), as a sink.
pub fn violation_sink(
    hooks: &napi::bindgen_prelude::Object,
) -> std::result::Result<Option<Arc<JsViolationSink>>, Error> {
    let on_violation: Option<Function<Value, ()>> = hooks
        .get_named_property("onViolation")
        .map_err(|_| config("onViolation", "onViolation must be a function"))?;
    on_violation
        .map(|f| {
            JsViolationSink::new(&f)
                .map(Arc::new)
                .map_err(|e| convert::napi_failure(&e))
        })
        .transpose()
}
