//! Where JS values meet core types: JS → JSON with the core's JSON-only rule (nothing is
//! coerced) and argument shapes. Sessions go back to JS through `transfer/`.

use napi::bindgen_prelude::{
    FromNapiValue, JsObjectValue, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, Object,
    Unknown,
};
use napi::{Env, JsDate, JsString, ValueType};
use omnisession::json::{MAX_DEPTH, MAX_SAFE_INTEGER, NotJson};
use omnisession::{Error, ErrorKind, Lifetime, Timestamp};
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// Why an argument could not be converted.
#[derive(Debug)]
pub enum Bad {
    /// The value has no JSON form (the core reports it: `SESSION_NOT_SERIALIZABLE`).
    NotJson(NotJson),
    /// The argument has the wrong shape (`SESSION_INVALID`, or `CONFIG_INVALID` for options).
    Shape {
        /// The argument or field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// napi itself failed (a throwing getter, an exhausted heap).
    Napi(napi::Error),
}

impl From<napi::Error> for Bad {
    fn from(e: napi::Error) -> Self {
        Bad::Napi(e)
    }
}

impl Bad {
    pub fn shape(field: &str, message: impl Into<String>) -> Self {
        Bad::Shape {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The core error for an argument error outside session data.
    pub fn into_invalid(self) -> Error {
        match self {
            Bad::Shape { field, message } => {
                Error::new(ErrorKind::SessionInvalid, message).with("argument", field)
            }
            Bad::NotJson(p) => Error::new(
                ErrorKind::SessionInvalid,
                format!("not a JSON value at {}: {}", p.path, p.reason),
            )
            .with("path", p.path)
            .with("reason", p.reason),
            Bad::Napi(e) => napi_failure(&e),
        }
    }
}

/// A napi failure while reading arguments: the host broke, not the caller's data.
pub fn napi_failure(e: &napi::Error) -> Error {
    Error::new(
        ErrorKind::BackendError,
        format!("reading a JS value failed: {}", e.reason),
    )
}

/// JS `undefined` (an absent argument or property).
pub fn is_undefined(v: &Unknown) -> napi::Result<bool> {
    Ok(v.get_type()? == ValueType::Undefined)
}

/// A string exactly as JS holds it; a lone surrogate has no UTF-8 form and is refused.
fn js_string(v: Unknown) -> Result<Result<String, &'static str>, Bad> {
    // Read as UTF-8 first (one copy, the common case). V8 writes a lone surrogate as U+FFFD
    // there, so only a string whose UTF-8 holds U+FFFD is read again, as UTF-16, to tell a
    // real U+FFFD from a lone surrogate.
    let utf8 = String::from_unknown(v)?;
    if !utf8.contains('\u{FFFD}') {
        return Ok(Ok(utf8));
    }
    let s = JsString::from_unknown(v)?.into_utf16()?;
    // The buffer ends with napi's NUL terminator.
    let units = s
        .as_slice()
        .split_last()
        .map_or(&[][..], |(_, units)| units);
    Ok(String::from_utf16(units).map_err(|_| "a string with a lone UTF-16 surrogate"))
}

/// A required string argument (an id, a user id given as text).
pub fn string_arg(field: &str, v: Unknown) -> Result<String, Bad> {
    if v.get_type()? != ValueType::String {
        return Err(Bad::shape(
            field,
            format!("{field} must be a string, not {}", describe(&v)?),
        ));
    }
    js_string(v)?.map_err(|reason| Bad::shape(field, format!("{field} is {reason}")))
}

/// An optional string (`undefined` or `null` = absent).
pub fn opt_string(field: &str, v: Unknown) -> Result<Option<String>, Bad> {
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => string_arg(field, v).map(Some),
    }
}

/// A user id: a string, or a safe integer stored as its decimal string (docs/design.md).
pub fn user_id(field: &str, v: Unknown) -> Result<String, Bad> {
    if v.get_type()? == ValueType::Number {
        let n = f64::from_unknown(v)?;
        if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
            return Ok(format!("{}", n as i64));
        }
        return Err(Bad::shape(
            field,
            format!("{field} must be a string or a safe integer, not {n}"),
        ));
    }
    string_arg(field, v)
}

/// An optional user id (`undefined` or `null` = absent).
pub fn opt_user_id(field: &str, v: Unknown) -> Result<Option<String>, Bad> {
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        _ => user_id(field, v).map(Some),
    }
}

/// An optional non-negative safe integer (`undefined` or `null` = absent).
pub fn opt_count(field: &str, v: Unknown) -> Result<Option<u64>, Bad> {
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Number => {
            let n = f64::from_unknown(v)?;
            if n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER as f64 {
                Ok(Some(n as u64))
            } else {
                Err(Bad::shape(
                    field,
                    format!("{field} must be a non-negative integer, not {n}"),
                ))
            }
        }
        _ => Err(Bad::shape(
            field,
            format!(
                "{field} must be a non-negative integer, not {}",
                describe(&v)?
            ),
        )),
    }
}

/// A write's new expiry from `ttlMs` (milliseconds from now; 0 = now) or `expiresAt` (a
/// `Date`; one in the past means expired; `null` = never); neither = unchanged (or the default).
pub fn lifetime(ttl_ms: Unknown, expires_at: Unknown) -> Result<Option<Lifetime>, Bad> {
    let ttl = opt_count("ttlMs", ttl_ms)?;
    let at = match expires_at.get_type()? {
        ValueType::Undefined => None,
        ValueType::Null => Some(Lifetime::Never),
        ValueType::Object if expires_at.is_date()? => {
            let ms = JsDate::from_unknown(expires_at)?.value_of()?;
            if !ms.is_finite() {
                return Err(Bad::shape("expiresAt", "expiresAt is an invalid Date"));
            }
            Some(Lifetime::At(Timestamp::from_unix_ms(ms as i64)))
        }
        _ => {
            return Err(Bad::shape(
                "expiresAt",
                format!(
                    "expiresAt must be a Date or null (never), not {}",
                    describe(&expires_at)?
                ),
            ));
        }
    };
    match (ttl, at) {
        (Some(_), Some(_)) => Err(Bad::shape("expiresAt", "give ttlMs or expiresAt, not both")),
        (Some(ms), None) => Ok(Some(Lifetime::Ttl(ms))),
        (None, at) => Ok(at),
    }
}

/// An argument that must be a plain object (or `undefined`, read as `{}` when `optional`).
pub fn object_arg<'e>(
    field: &str,
    v: Unknown<'e>,
    optional: bool,
) -> Result<Option<Object<'e>>, Bad> {
    match v.get_type()? {
        ValueType::Undefined if optional => Ok(None),
        ValueType::Object if !v.is_array()? => Ok(Some(Object::from_unknown(v)?)),
        _ => Err(Bad::shape(
            field,
            format!("{field} must be an object, not {}", describe(&v)?),
        )),
    }
}

/// The own enumerable string keys of an object, in property order; a symbol key is refused.
pub fn own_keys(obj: &Object) -> Result<Vec<String>, Bad> {
    Ok(own_entries(obj)?.into_iter().map(|(k, _)| k).collect())
}

/// The own enumerable string-keyed properties of an object, in property order (read by key
/// value, so that any key, even one holding a NUL, is read as it is).
pub fn own_entries<'e>(obj: &Object<'e>) -> Result<Vec<(String, Unknown<'e>)>, Bad> {
    let names = obj.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let len = names.get_array_length()?;
    let mut keys = Vec::with_capacity(len as usize);
    for i in 0..len {
        let key: Unknown = names.get_element(i)?;
        if key.get_type()? != ValueType::String {
            return Err(Bad::NotJson(NotJson::at("", "a symbol key")));
        }
        let value: Unknown = obj.get_property(key)?;
        let name = js_string(key)?
            .map_err(|reason| Bad::NotJson(NotJson::at("", format!("a key that is {reason}"))))?;
        keys.push((name, value));
    }
    Ok(keys)
}

/// Checks that every key of `obj` is one of `allowed` (typos such as `ttl` for `ttlMs`).
pub fn only_keys(what: &str, obj: &Object, allowed: &[&str]) -> Result<(), Bad> {
    for key in own_keys(obj)? {
        if !allowed.contains(&key.as_str()) {
            return Err(Bad::shape(
                &key,
                format!(
                    "unknown field {key:?} in {what} (expected one of {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// What a JS value is, for messages (`a Date`, `a function`, `an instance of Foo`).
pub fn describe(v: &Unknown) -> napi::Result<String> {
    Ok(match v.get_type()? {
        ValueType::Undefined => "undefined".into(),
        ValueType::Null => "null".into(),
        ValueType::Boolean => "a boolean".into(),
        ValueType::Number => "a number".into(),
        ValueType::String => "a string".into(),
        ValueType::Symbol => "a symbol".into(),
        ValueType::Function => "a function".into(),
        ValueType::BigInt => "a BigInt".into(),
        ValueType::External => "an external".into(),
        ValueType::Object => {
            if v.is_array()? {
                "an array".into()
            } else if v.is_date()? {
                "a Date".into()
            } else if v.is_dataview()? {
                "a DataView".into()
            } else if v.is_typedarray()? || v.is_buffer()? {
                "a typed array".into()
            } else if v.is_arraybuffer()? {
                "an ArrayBuffer".into()
            } else if v.is_promise()? {
                "a Promise".into()
            } else {
                let obj = Object::from_unknown(*v)?;
                match constructor_name(&obj)? {
                    Some(name) if name == "Object" => "an object".into(),
                    Some(name) => format!("an instance of {name}"),
                    None => "an object".into(),
                }
            }
        }
        ValueType::Unknown => "an unknown value".into(),
    })
}

fn constructor_name(obj: &Object) -> napi::Result<Option<String>> {
    let proto = obj.get_prototype()?;
    if proto.get_type()? != ValueType::Object {
        return Ok(None);
    }
    let proto = Object::from_unknown(proto)?;
    let ctor: Unknown = proto.get_named_property("constructor")?;
    if ctor.get_type()? != ValueType::Function {
        return Ok(Some("an anonymous class".into()));
    }
    let ctor = Object::from_unknown(ctor)?;
    let name: Unknown = ctor.get_named_property("name")?;
    if name.get_type()? != ValueType::String {
        return Ok(Some("an anonymous class".into()));
    }
    Ok(Some(String::from_unknown(name)?))
}

/// Converts session data: a plain object whose every value is plain JSON.
pub fn data(env: &Env, v: Unknown, field: &str) -> Result<Map<String, Value>, Bad> {
    match v.get_type()? {
        ValueType::Undefined => return Ok(Map::new()),
        ValueType::Object if !v.is_array()? => {}
        _ => {
            return Err(Bad::shape(
                field,
                format!("{field} must be an object, not {}", describe(&v)?),
            ));
        }
    }
    let mut walker = Walker {
        env,
        ancestors: Vec::new(),
        path: String::new(),
        object_proto: None,
    };
    match walker.value(v, 1)? {
        Value::Object(map) => Ok(map),
        _ => Err(Bad::shape(field, format!("{field} must be an object"))),
    }
}

/// Converts any JS value with the JSON-only rule (options, patch keys).
pub fn json(env: &Env, v: Unknown) -> Result<Value, Bad> {
    let mut walker = Walker {
        env,
        ancestors: Vec::new(),
        path: String::new(),
        object_proto: None,
    };
    walker.value(v, 1)
}

/// A depth-first walk that keeps the objects on the current path (cycle detection) and the
/// JSON-pointer-like path of the value being read (`/a/0/b`, as the core writes paths).
struct Walker<'a, 'e> {
    env: &'a Env,
    ancestors: Vec<Object<'e>>,
    path: String,
    object_proto: Option<Unknown<'e>>,
}

impl<'e> Walker<'_, 'e> {
    fn refuse(&self, reason: impl Into<String>) -> Bad {
        Bad::NotJson(NotJson::at(&self.path, reason))
    }

    fn value(&mut self, v: Unknown<'e>, depth: usize) -> Result<Value, Bad> {
        match v.get_type()? {
            ValueType::Null => Ok(Value::Null),
            ValueType::Boolean => Ok(Value::Bool(bool::from_unknown(v)?)),
            ValueType::Number => self.number(f64::from_unknown(v)?),
            ValueType::String => match js_string(v)? {
                Ok(s) => Ok(Value::String(s)),
                Err(reason) => Err(self.refuse(reason)),
            },
            ValueType::Object => self.object(v, depth),
            other => {
                let what = match other {
                    ValueType::Undefined => "undefined",
                    ValueType::Symbol => "a symbol",
                    ValueType::Function => "a function",
                    ValueType::BigInt => "a BigInt",
                    _ => "a value with no JSON form",
                };
                Err(self.refuse(what))
            }
        }
    }

    fn number(&self, n: f64) -> Result<Value, Bad> {
        if !n.is_finite() {
            return Err(self.refuse(format!("{n} is not a finite number")));
        }
        // Every JS number is a double; a whole one within ±(2^53−1) is handed over as an
        // integer (options need integers). Which numbers session data may hold is the core's
        // rule (`omnisession::json`), applied to what this returns.
        if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64 {
            return Ok(Value::Number(Number::from(n as i64)));
        }
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| self.refuse("not a finite number"))
    }

    fn is_plain(&mut self, obj: &Object<'e>) -> Result<bool, Bad> {
        let proto = obj.get_prototype()?;
        if proto.get_type()? == ValueType::Null {
            return Ok(true);
        }
        let object_proto = if let Some(p) = self.object_proto {
            p
        } else {
            let global = self.env.get_global()?;
            let ctor = Object::from_unknown(global.get_named_property::<Unknown>("Object")?)?;
            let p: Unknown = ctor.get_named_property("prototype")?;
            self.object_proto = Some(p);
            p
        };
        Ok(self.env.strict_equals(proto, object_proto)?)
    }

    fn is_plain_array(&self, obj: &Object<'e>) -> Result<bool, Bad> {
        let global = self.env.get_global()?;
        let ctor = Object::from_unknown(global.get_named_property::<Unknown>("Array")?)?;
        let p: Unknown = ctor.get_named_property("prototype")?;
        Ok(self.env.strict_equals(obj.get_prototype()?, p)?)
    }

    fn object(&mut self, v: Unknown<'e>, depth: usize) -> Result<Value, Bad> {
        let obj = Object::from_unknown(v)?;
        for a in &self.ancestors {
            if self.env.strict_equals(*a, obj)? {
                return Err(self.refuse("a cycle (the value contains itself)"));
            }
        }
        if depth > MAX_DEPTH {
            return Err(self.refuse(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let is_array = v.is_array()?;
        if is_array && !self.is_plain_array(&obj)? {
            return Err(self.refuse(describe(&v)?));
        }
        if !is_array && !self.is_plain(&obj)? {
            return Err(self.refuse(describe(&v)?));
        }
        self.ancestors.push(obj);
        let out = if is_array {
            self.array(&obj, depth)
        } else {
            self.map(&obj, depth)
        };
        self.ancestors.pop();
        out
    }

    fn array(&mut self, obj: &Object<'e>, depth: usize) -> Result<Value, Bad> {
        let len = obj.get_array_length()?;
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let at = self.path.len();
            let _ = write!(self.path, "/{i}");
            if !obj.has_element(i)? {
                return Err(self.refuse("a hole in a sparse array (undefined)"));
            }
            let item: Unknown = obj.get_element(i)?;
            items.push(self.value(item, depth + 1)?);
            self.path.truncate(at);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, obj: &Object<'e>, depth: usize) -> Result<Value, Bad> {
        let entries = own_entries(obj).map_err(|e| match e {
            Bad::NotJson(p) => self.refuse(p.reason),
            other => other,
        })?;
        let mut map = Map::new();
        for (key, item) in entries {
            let at = self.path.len();
            self.path.push('/');
            self.path.push_str(&key);
            let value = self.value(item, depth + 1)?;
            map.insert(key, value);
            self.path.truncate(at);
        }
        Ok(Value::Object(map))
    }
}
