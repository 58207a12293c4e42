//! Sealed client-side sessions (`omnisession::sealed`): `Sealer` and `SeedsOpener`, thin
//! adapters. Arguments are converted here, every rule (key ring, format, size limit, expiry,
//! JSON-only data) is the core's, and its errors reach JS through `error::to_js`.
//!
//! Synchronous on purpose: sealing or opening is microseconds of CPU and touches no store.
//! Key bytes are copied out of the caller's buffer once, into the core, and never kept on the
//! JS side: `util.inspect` of either object shows no field.
//!
//! A value that does not open raises the core's violation event (`cookie_malformed`, …) through
//! the same [`JsViolationSink`] a store's `onViolation` uses; `index.js` hands the wrapped
//! callback in as `hooks.onViolation`, exactly as it does for `Store.open`.

use crate::convert::{self, Bad};
use crate::error;
use crate::options::{self, bad_option, config};
use napi::bindgen_prelude::{
    FromNapiValue, Function, JsObjectValue, Null, Object, Uint8ArraySlice, Unknown,
};
use napi::{Env, JsDate, JsValue as _, Result, ValueType};
use napi_derive::napi;
use omnisession::sealed::DEFAULT_MAX_COOKIE_BYTES;
use omnisession::{
    Clock as _, Error, ErrorKind, Opened, Reason, SealKey, SealedSession, SeedsOpened, SystemClock,
    Timestamp,
};
use serde_json::Value;

/// `onViolation` and `logger` are validated and wrapped by `index.js` (they arrive as `hooks`).
const SEALER_FIELDS: [&str; 5] = [
    "keys",
    "cookieName",
    "maxCookieBytes",
    "onViolation",
    "logger",
];
const KEY_FIELDS: [&str; 2] = ["id", "key"];
const SEAL_FIELDS: [&str; 4] = ["userId", "data", "createdAt", "expiresAt"];

/// The core's option names as Node spells them (`details.option`).
fn rename(e: Error) -> Error {
    let node = match e.details().get("option").and_then(Value::as_str) {
        Some("cookie_name") => "cookieName",
        Some("max_cookie_bytes") => "maxCookieBytes",
        _ => return e,
    };
    options::with_option(&e, node)
}

/// The core's field names as Node spells them: in the message, and as `details.argument`
/// (what every other refused argument of the binding names).
fn node_field(e: Error) -> Error {
    let (core, node) = match e.details().get("field").and_then(Value::as_str) {
        Some("created_at") => ("created_at", "createdAt"),
        Some("expires_at") => ("expires_at", "expiresAt"),
        _ => return e,
    };
    Error::new(e.kind(), e.message().replace(core, node)).with("argument", node)
}

/// Key bytes from a `Buffer` or `Uint8Array` (copied; the caller's buffer is not kept).
fn key_bytes(option: &str, v: Unknown) -> std::result::Result<Vec<u8>, Error> {
    let is_bytes = v.get_type().map_err(|e| convert::napi_failure(&e))? == ValueType::Object
        && (v.is_typedarray().map_err(|e| convert::napi_failure(&e))?
            || v.is_buffer().map_err(|e| convert::napi_failure(&e))?);
    let slice = if is_bytes {
        Uint8ArraySlice::from_unknown(v).ok()
    } else {
        None
    };
    if let Some(bytes) = slice {
        return Ok(bytes.to_vec());
    }
    let what = convert::describe(&v).map_err(|e| convert::napi_failure(&e))?;
    Err(config(
        option,
        format!("{option} must be a Buffer or Uint8Array, not {what}"),
    ))
}

fn seal_keys(list: Unknown) -> std::result::Result<Vec<SealKey>, Error> {
    if !(list.get_type().map_err(|e| convert::napi_failure(&e))? == ValueType::Object
        && list.is_array().map_err(|e| convert::napi_failure(&e))?)
    {
        let what = convert::describe(&list).map_err(|e| convert::napi_failure(&e))?;
        return Err(config(
            "keys",
            format!("keys must be an array of {{id, key}}, not {what}"),
        ));
    }
    let list = Object::from_unknown(list).map_err(|e| convert::napi_failure(&e))?;
    let len = list
        .get_array_length()
        .map_err(|e| convert::napi_failure(&e))?;
    let mut keys = Vec::with_capacity(len as usize);
    for i in 0..len {
        let item: Unknown = list.get_element(i).map_err(|e| convert::napi_failure(&e))?;
        let at = |e: Error| e.with("index", i);
        let obj = convert::object_arg("keys", item, false)
            .map_err(|e| at(bad_option("keys", e)))?
            .ok_or_else(|| at(config("keys", "keys must be an array of {id, key}")))?;
        convert::only_keys("a key", &obj, &KEY_FIELDS).map_err(|e| at(bad_option("keys", e)))?;
        let id: Unknown = obj
            .get_named_property("id")
            .map_err(|e| convert::napi_failure(&e))?;
        let id = convert::string_arg("id", id).map_err(|e| {
            at(bad_option(
                "keys",
                match e {
                    Bad::Shape { message, .. } => Bad::shape("keys", format!("key {i}: {message}")),
                    other => other,
                },
            ))
        })?;
        let key: Unknown = obj
            .get_named_property("key")
            .map_err(|e| convert::napi_failure(&e))?;
        let key = key_bytes("keys", key).map_err(at)?;
        keys.push(SealKey::new(id, key));
    }
    Ok(keys)
}

/// An optional `Date` as a timestamp (`undefined` = absent; `null` too when `nullable`).
fn date_arg(
    field: &str,
    v: Unknown,
    nullable: bool,
) -> std::result::Result<Option<Timestamp>, Bad> {
    match v.get_type()? {
        ValueType::Undefined => return Ok(None),
        ValueType::Null if nullable => return Ok(None),
        ValueType::Object if v.is_date()? => {}
        _ => {
            let expected = if nullable { "a Date or null" } else { "a Date" };
            return Err(Bad::shape(
                field,
                format!("{field} must be {expected}, not {}", convert::describe(&v)?),
            ));
        }
    }
    let ms = JsDate::from_unknown(v)?.value_of()?;
    if !ms.is_finite() {
        return Err(Bad::shape(field, format!("{field} is an invalid Date")));
    }
    // Any instant a Date holds fits; the core refuses those its format cannot write.
    Ok(Some(Timestamp::from_unix_ms(ms as i64)))
}

fn now_arg(v: Unknown) -> std::result::Result<Timestamp, Error> {
    Ok(date_arg("now", v, false)
        .map_err(Bad::into_invalid)?
        .unwrap_or_else(|| SystemClock.now()))
}

/// A cookie value argument of `Sealer#open`: any string, read as UTF-8 with a lone surrogate as
/// U+FFFD (which no sealed value holds, so it opens as malformed, through the core and its
/// violation event, like any other bad value).
fn cookie_arg(field: &str, v: Unknown) -> std::result::Result<String, Error> {
    if v.get_type().map_err(|e| convert::napi_failure(&e))? != ValueType::String {
        let what = convert::describe(&v).map_err(|e| convert::napi_failure(&e))?;
        return Err(
            Bad::shape(field, format!("{field} must be a string, not {what}")).into_invalid(),
        );
    }
    String::from_unknown(v).map_err(|e| convert::napi_failure(&e))
}

/// The values argument of `Sealer#open`: one string, or every value of the cookie in a
/// request (an array of strings: none, one, or several = duplicated).
fn values_arg(v: Unknown) -> std::result::Result<Vec<String>, Error> {
    let napi = |e: napi::Error| convert::napi_failure(&e);
    if v.get_type().map_err(napi)? != ValueType::Object || !v.is_array().map_err(napi)? {
        if v.get_type().map_err(napi)? != ValueType::String {
            let what = convert::describe(&v).map_err(napi)?;
            return Err(Bad::shape(
                "value",
                format!("value must be a string or an array of strings, not {what}"),
            )
            .into_invalid());
        }
        return Ok(vec![cookie_arg("value", v)?]);
    }
    let list = Object::from_unknown(v).map_err(napi)?;
    let len = list.get_array_length().map_err(napi)?;
    (0..len)
        .map(|i| cookie_arg(&format!("value[{i}]"), list.get_element(i).map_err(napi)?))
        .collect()
}

/// The cookie value argument of `SeedsOpener#open`: any string (one holding a lone surrogate
/// cannot be a sealed value, so it is opened as the empty string would be: malformed).
fn value_arg(v: Unknown) -> std::result::Result<Option<String>, Error> {
    if v.get_type().map_err(|e| convert::napi_failure(&e))? != ValueType::String {
        let what = convert::describe(&v).map_err(|e| convert::napi_failure(&e))?;
        return Err(
            Bad::shape("value", format!("value must be a string, not {what}")).into_invalid(),
        );
    }
    match convert::string_arg("value", v) {
        Ok(s) => Ok(Some(s)),
        Err(Bad::Napi(e)) => Err(convert::napi_failure(&e)),
        Err(_) => Ok(None),
    }
}

fn session_arg(env: &Env, input: Unknown) -> std::result::Result<SealedSession, Error> {
    let obj = convert::object_arg("session", input, false)
        .map_err(Bad::into_invalid)?
        .ok_or_else(|| Bad::shape("session", "seal needs a session object").into_invalid())?;
    convert::only_keys("seal()", &obj, &SEAL_FIELDS).map_err(Bad::into_invalid)?;
    let field = |name: &str| -> std::result::Result<Unknown, Error> {
        obj.get_named_property(name)
            .map_err(|e| convert::napi_failure(&e))
    };
    let user_id = convert::opt_user_id("userId", field("userId")?).map_err(Bad::into_invalid)?;
    let data = convert::data(env, field("data")?, "data").map_err(|e| match e {
        // The core's SESSION_NOT_SERIALIZABLE, for what has no JSON form in JS (a function,
        // undefined, a cycle) and so never reaches the core's own check.
        Bad::NotJson(p) => Error::new(
            ErrorKind::SessionNotSerializable,
            format!("session data is not JSON: {} at {}", p.reason, p.path),
        )
        .with("path", p.path.as_str())
        .with("reason", p.reason.as_str()),
        other => other.into_invalid(),
    })?;
    let created_at = date_arg("createdAt", field("createdAt")?, false)
        .map_err(Bad::into_invalid)?
        .unwrap_or_else(|| SystemClock.now());
    let expires_at = date_arg("expiresAt", field("expiresAt")?, true).map_err(Bad::into_invalid)?;
    Ok(SealedSession {
        user_id,
        data,
        created_at,
        expires_at,
    })
}

/// A JSON value as JS: through `JSON.parse`, which defines every key as an own property (a
/// `__proto__` key stays data, as the store's sessions keep it).
fn json_to_js<'e>(env: &'e Env, value: &Value) -> Result<Unknown<'e>> {
    let text = serde_json::to_string(value).map_err(|e| napi::Error::from_reason(e.to_string()))?;
    let json: Object = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<String, Unknown> = json.get_named_property("parse")?;
    parse.apply(json, text)
}

fn date(env: &Env, t: Timestamp) -> Result<JsDate<'_>> {
    env.create_date(t.unix_ms() as f64)
}

fn no_session<'e>(env: &'e Env, field: &str, reason: Reason) -> Result<Object<'e>> {
    let mut out = Object::new(env)?;
    out.set_named_property(field, Null)?;
    out.set_named_property("reason", reason.as_str())?;
    Ok(out)
}

/// Seals sessions into cookie values and opens them (`omnisession::Sealer`).
#[napi]
pub struct Sealer {
    inner: omnisession::Sealer,
}

#[napi]
impl Sealer {
    /// A sealer for the cookie `cookieName`: `keys[0]` seals, every key opens. Each key is an
    /// id (1 to 16 of `[A-Za-z0-9_-]`) and 32 bytes. `CONFIG_INVALID` naming the option.
    /// `hooks` comes from `index.js` (`onViolation`, wrapped as a store's is).
    #[napi(
        constructor,
        ts_args_type = "options: import('./index').SealerOptions, hooks?: import('./index').NativeHooks"
    )]
    pub fn new(env: &Env, options: Unknown, hooks: Unknown) -> Result<Self> {
        Self::build(options, hooks).map_err(|e| error::to_js(env, &e))
    }

    fn build(options: Unknown, hooks: Unknown) -> std::result::Result<Self, Error> {
        let obj = convert::object_arg("options", options, false)
            .map_err(|e| bad_option("options", e))?
            .ok_or_else(|| config("options", "new Sealer needs {keys, cookieName}"))?;
        convert::only_keys("Sealer options", &obj, &SEALER_FIELDS).map_err(|e| match e {
            Bad::Shape { field, message } => config(&field, message),
            other => bad_option("options", other),
        })?;
        let field = |name: &str| -> std::result::Result<Unknown, Error> {
            obj.get_named_property(name)
                .map_err(|e| convert::napi_failure(&e))
        };
        let keys = seal_keys(field("keys")?)?;
        let cookie_name = convert::string_arg("cookieName", field("cookieName")?)
            .map_err(|e| bad_option("cookieName", e))?;
        let max = convert::opt_count("maxCookieBytes", field("maxCookieBytes")?)
            .map_err(|e| bad_option("maxCookieBytes", e))?
            .map_or(DEFAULT_MAX_COOKIE_BYTES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        let mut inner = omnisession::Sealer::new(keys, &cookie_name, max).map_err(rename)?;
        let hooks =
            convert::object_arg("hooks", hooks, true).map_err(|e| bad_option("hooks", e))?;
        if let Some(sink) = hooks
            .as_ref()
            .map(options::violation_sink)
            .transpose()?
            .flatten()
        {
            inner = inner.with_violation_sink(sink);
        }
        Ok(Self { inner })
    }

    /// The cookie value for `session`, sealed with the first key and a fresh random nonce.
    /// `SESSION_NOT_SERIALIZABLE`, `SESSION_SIZE_EXCEEDED` or `SESSION_INVALID`.
    #[napi(ts_args_type = "session: import('./index').SealInput")]
    pub fn seal(&self, env: &Env, session: Unknown) -> Result<String> {
        session_arg(env, session)
            .and_then(|s| self.inner.seal(&s).map_err(node_field))
            .map_err(|e| error::to_js(env, &e))
    }

    /// The session in a cookie value, or why there is none; never throws for a string. Given
    /// every value of the cookie in a request (an array), none is `{session: null, reason:
    /// null}` and several are `duplicated`. `now` (default: the current time) decides expiry.
    /// Every value that does not open raises a violation event; one that opened under another
    /// key than the first is `stale: true` (re-seal it to move the client to the current key).
    #[napi(
        ts_args_type = "value: string | readonly string[], now?: Date",
        ts_return_type = "import('./index').SealedRequestOpened"
    )]
    pub fn open<'e>(&self, env: &'e Env, value: Unknown, now: Unknown) -> Result<Object<'e>> {
        let (values, now) = values_arg(value)
            .and_then(|v| Ok((v, now_arg(now)?)))
            .map_err(|e| error::to_js(env, &e))?;
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let Some(opened) = self.inner.open_request(&values, now) else {
            let mut out = Object::new(env)?;
            out.set_named_property("session", Null)?;
            out.set_named_property("reason", Null)?;
            return Ok(out);
        };
        match opened {
            Opened::Session(s) => {
                let mut session = Object::new(env)?;
                match &s.user_id {
                    Some(u) => session.set_named_property("userId", u.as_str())?,
                    None => session.set_named_property("userId", Null)?,
                }
                session.set_named_property("data", json_to_js(env, &Value::Object(s.data))?)?;
                session.set_named_property("createdAt", date(env, s.created_at)?)?;
                match s.expires_at {
                    Some(e) => session.set_named_property("expiresAt", date(env, e)?)?,
                    None => session.set_named_property("expiresAt", Null)?,
                }
                let mut out = Object::new(env)?;
                out.set_named_property("session", session)?;
                if self.inner.is_stale(values[0]) {
                    out.set_named_property("stale", true)?;
                }
                Ok(out)
            }
            Opened::NoSession(reason) => no_session(env, "session", reason),
        }
    }
}

/// Opens cookie values sealed by the seeds' `CookieOverseer` (`omnisession::SeedsOpener`).
#[napi]
pub struct SeedsOpener {
    inner: omnisession::SeedsOpener,
}

#[napi]
impl SeedsOpener {
    /// An opener for the seeds' key: 16, 24 or 32 bytes. `CONFIG_INVALID` naming `key`.
    #[napi(constructor, ts_args_type = "key: Uint8Array")]
    pub fn new(env: &Env, key: Unknown) -> Result<Self> {
        key_bytes("key", key)
            .and_then(|k| omnisession::SeedsOpener::new(&k))
            .map(|inner| Self { inner })
            .map_err(|e| error::to_js(env, &e))
    }

    /// The JSON sealed in a seeds cookie value, or why there is none; never throws for a
    /// string.
    #[napi(
        ts_args_type = "value: string",
        ts_return_type = "import('./index').SeedsOpenedResult"
    )]
    pub fn open<'e>(&self, env: &'e Env, value: Unknown) -> Result<Object<'e>> {
        let Some(value) = value_arg(value).map_err(|e| error::to_js(env, &e))? else {
            return no_session(env, "json", Reason::Malformed);
        };
        match self.inner.open(&value) {
            SeedsOpened::Json(json) => {
                let mut out = Object::new(env)?;
                out.set_named_property("json", json_to_js(env, &json)?)?;
                Ok(out)
            }
            SeedsOpened::NoSession(reason) => no_session(env, "json", reason),
        }
    }
}
