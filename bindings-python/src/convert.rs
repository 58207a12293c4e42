//! Python values ↔ JSON values, sessions ↔ dicts, datetimes and durations.
//!
//! Session data is classified by exact type: `dict` (str keys), `list`, `str`, `int`, `float`,
//! `bool` and `None` are JSON; everything else (tuple, set, bytes, datetime, Decimal, a
//! subclass, any other object, a cycle, a non-finite float, an int beyond 64 bits) has no JSON
//! form, and the store raises `SESSION_NOT_SERIALIZABLE` through `Store::not_serializable`.
//! The JSON-level rules (safe integer range, depth) are the core's; the depth limit is also
//! applied here, with the core's constant and wording, because Python containers can nest
//! without bound.

use omnisession::json::{MAX_DEPTH, NotJson};
use omnisession::{Session, SessionPage, Timestamp};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;
use std::sync::Arc;

/// A JSON value handed to Python (future results, exception details).
pub struct PyJson(pub Value);

impl<'py> IntoPyObject<'py> for PyJson {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        value_to_py(py, &self.0)
    }
}

/// A JSON value as a Python object (ints stay ints, bools stay bools).
pub fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_py(py, map)?.into_any(),
    })
}

fn map_to_py<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, value_to_py(py, v)?)?;
    }
    Ok(dict)
}

/// Session data from a Python object: a dict of JSON values, or why not.
pub fn data_from_py(obj: &Bound<'_, PyAny>) -> Result<Map<String, Value>, NotJson> {
    let mut path = String::new();
    let mut stack = Vec::new();
    if !obj.is_exact_instance_of::<PyDict>() {
        return Err(not_json(&path, format!("{} is not a dict", type_name(obj))));
    }
    match to_value(obj, 1, &mut path, &mut stack)? {
        Value::Object(map) => Ok(map),
        _ => Err(not_json(&path, "data must be a dict".to_owned())),
    }
}

fn not_json(path: &str, reason: String) -> NotJson {
    NotJson::at(path, reason)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    let ty = obj.get_type();
    let name = ty
        .qualname()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    match ty.module().map(|m| m.to_string()) {
        Ok(module) if module != "builtins" => format!("{module}.{name}"),
        _ => name,
    }
}

fn why_not(obj: &Bound<'_, PyAny>) -> String {
    let name = type_name(obj);
    let hint = match name.as_str() {
        "bytes" | "bytearray" | "memoryview" => " (decode it to a str)",
        "tuple" | "set" | "frozenset" => " (use a list)",
        "datetime.datetime" | "datetime.date" | "datetime.time" | "datetime.timedelta" => {
            " (store an ISO 8601 str or a number)"
        }
        "decimal.Decimal" | "fractions.Fraction" | "complex" => " (use a str, an int or a float)",
        _ if obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyList>() => {
            " (only plain dict and list are stored; convert the subclass)"
        }
        _ if obj.is_instance_of::<PyString>()
            || obj.is_instance_of::<PyInt>()
            || obj.is_instance_of::<PyFloat>() =>
        {
            " (only plain str, int and float are stored; convert the subclass)"
        }
        _ => "",
    };
    format!("{name} is not JSON{hint}")
}

fn to_value(
    obj: &Bound<'_, PyAny>,
    level: usize,
    path: &mut String,
    stack: &mut Vec<usize>,
) -> Result<Value, NotJson> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_exact_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy().unwrap_or(false)));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::Number(i.into())),
            Err(_) => Err(not_json(
                path,
                format!(
                    "integer {} is outside ±(2^53-1)",
                    obj.str().map_or_else(|_| "?".into(), |s| s.to_string())
                ),
            )),
        };
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        let f = obj.extract::<f64>().unwrap_or(f64::NAN);
        return Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| not_json(path, "number is not finite".to_owned()));
    }
    if let Ok(s) = obj.cast_exact::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| not_json(path, "str is not valid Unicode (a lone surrogate)".into()));
    }
    let is_list = obj.is_exact_instance_of::<PyList>();
    let is_dict = obj.is_exact_instance_of::<PyDict>();
    if !is_list && !is_dict {
        return Err(not_json(path, why_not(obj)));
    }
    if level > MAX_DEPTH {
        return Err(not_json(
            path,
            format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }
    let addr = obj.as_ptr() as usize;
    if stack.contains(&addr) {
        return Err(not_json(path, "a cycle: the value contains itself".into()));
    }
    stack.push(addr);
    let value = if let Ok(list) = obj.cast_exact::<PyList>() {
        let mut items = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let len = path.len();
            let _ = write!(path, "/{i}");
            items.push(to_value(&item, level + 1, path, stack)?);
            path.truncate(len);
        }
        Value::Array(items)
    } else {
        let dict = obj
            .cast_exact::<PyDict>()
            .map_err(|_| not_json(path, why_not(obj)))?;
        let mut map = Map::new();
        for (k, v) in dict.iter() {
            let Ok(key) = k.cast_exact::<PyString>() else {
                let shown = k.repr().map_or_else(|_| "?".into(), |r| r.to_string());
                return Err(not_json(
                    path,
                    format!("key {shown} ({}) is not a str", type_name(&k)),
                ));
            };
            let key = key.to_cow().map_err(|_| {
                not_json(path, "a key is not valid Unicode (a lone surrogate)".into())
            })?;
            let len = path.len();
            path.push('/');
            path.push_str(&key);
            let value = to_value(&v, level + 1, path, stack)?;
            path.truncate(len);
            map.insert(key.into_owned(), value);
        }
        Value::Object(map)
    };
    stack.pop();
    Ok(value)
}

static DATETIME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn timedelta_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    TIMEDELTA.import(py, "datetime", "timedelta")
}

fn datetime_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    DATETIME.import(py, "datetime", "datetime")
}

fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || {
            let utc = py.import("datetime")?.getattr("timezone")?.getattr("utc")?;
            let epoch = datetime_type(py)?.call1((1970, 1, 1, 0, 0, 0, 0, utc))?;
            Ok::<_, PyErr>(epoch.unbind())
        })
        .map(|e| e.bind(py))
}

/// A timestamp as a UTC-aware `datetime` (microsecond precision, as `datetime` has).
pub fn datetime(py: Python<'_>, at: Timestamp) -> PyResult<Bound<'_, PyAny>> {
    let micros = at.unix_nanos().div_euclid(1000);
    let micros = i64::try_from(micros).unwrap_or(i64::MAX);
    let delta = timedelta_type(py)?.call1((0, 0, micros))?;
    epoch(py)?.add(delta)
}

/// Unix milliseconds of an aware `datetime` (a naive one is read as UTC).
pub fn datetime_ms(obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    Ok(datetime_micros(obj)?.map(|us| us.div_euclid(1000) as i64))
}

/// Unix microseconds of an aware `datetime` (a naive one is read as UTC): all the precision a
/// `datetime` has. `None` when `obj` is not a `datetime`.
pub fn datetime_micros(obj: &Bound<'_, PyAny>) -> PyResult<Option<i128>> {
    let py = obj.py();
    if !obj.is_instance(datetime_type(py)?)? {
        return Ok(None);
    }
    let obj = if obj.getattr("tzinfo")?.is_none() {
        let utc = py.import("datetime")?.getattr("timezone")?.getattr("utc")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("tzinfo", utc)?;
        obj.call_method("replace", (), Some(&kwargs))?
    } else {
        obj.clone()
    };
    let delta = obj.sub(epoch(py)?)?;
    let days: i128 = delta.getattr("days")?.extract()?;
    let seconds: i128 = delta.getattr("seconds")?.extract()?;
    let micros: i128 = delta.getattr("microseconds")?.extract()?;
    Ok(Some((days * 86_400 + seconds) * 1_000_000 + micros))
}

/// A duration (`timedelta`, or seconds as an int or float) in milliseconds, for the core to
/// check: whole milliseconds as an integer, anything finer as a float (which the core refuses).
/// `None` when `obj` is neither: the caller refuses it with the option's name.
pub fn duration_ms(obj: &Bound<'_, PyAny>) -> PyResult<Option<Value>> {
    let py = obj.py();
    if obj.is_instance_of::<PyBool>() {
        return Ok(None);
    }
    if obj.is_instance(timedelta_type(py)?)? {
        let days: i128 = obj.getattr("days")?.extract()?;
        let seconds: i128 = obj.getattr("seconds")?.extract()?;
        let micros: i128 = obj.getattr("microseconds")?.extract()?;
        let total = (days * 86_400 + seconds) * 1_000_000 + micros;
        if total % 1000 == 0 {
            return Ok(Some(ms_value(total / 1000)));
        }
        return Ok(Some(float_ms(total as f64 / 1000.0)));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Some(match obj.extract::<i128>() {
            Ok(s) => ms_value(s.saturating_mul(1000)),
            Err(_) => Value::from(u64::MAX),
        }));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        if !f.is_finite() {
            return Ok(None);
        }
        let ms = f * 1000.0;
        let whole = ms.round();
        if (ms - whole).abs() < 1e-6 && whole.abs() < 9.0e18 {
            return Ok(Some(ms_value(whole as i128)));
        }
        return Ok(Some(float_ms(ms)));
    }
    Ok(None)
}

fn float_ms(ms: f64) -> Value {
    Number::from_f64(ms).map_or(Value::Null, Value::Number)
}

fn ms_value(ms: i128) -> Value {
    if ms < 0 {
        Value::from(i64::try_from(ms).unwrap_or(i64::MIN))
    } else {
        Value::from(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// A session as a Python dict: wire names, UTC-aware datetimes, `data` always a dict.
pub fn session_to_py<'py>(py: Python<'py>, s: &Session) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", &s.id)?;
    d.set_item("user_id", s.user_id.as_deref())?;
    d.set_item("site_id", &s.site_id)?;
    d.set_item("organization_id", s.organization_id.as_deref())?;
    d.set_item("data", map_to_py(py, &s.data)?)?;
    d.set_item("created_at", datetime(py, s.created_at)?)?;
    d.set_item("updated_at", datetime(py, s.updated_at)?)?;
    d.set_item("last_accessed_at", datetime(py, s.last_accessed_at)?)?;
    match s.expires_at {
        Some(at) => d.set_item("expires_at", datetime(py, at)?)?,
        None => d.set_item("expires_at", py.None())?,
    }
    d.set_item("ip_address", &s.ip_address)?;
    d.set_item("user_agent", &s.user_agent)?;
    d.set_item("version", s.version)?;
    Ok(d)
}

/// What an operation returns to Python.
pub enum Out {
    /// Nothing (`None`).
    Unit,
    /// A count.
    Count(u64),
    /// A session.
    Session(Box<Session>),
    /// A session or `None` (shared with the store: only read here).
    Maybe(Option<Arc<Session>>),
    /// A list of sessions.
    Sessions(Vec<Session>),
    /// `{"sessions": [...], "cursor": str | None}`.
    Page(SessionPage),
}

impl<'py> IntoPyObject<'py> for Out {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(match self {
            Out::Unit | Out::Maybe(None) => py.None().into_bound(py),
            Out::Count(n) => n.into_pyobject(py)?.into_any(),
            Out::Session(s) => session_to_py(py, &s)?.into_any(),
            Out::Maybe(Some(s)) => session_to_py(py, &s)?.into_any(),
            Out::Sessions(list) => sessions_to_py(py, &list)?.into_any(),
            Out::Page(page) => {
                let d = PyDict::new(py);
                d.set_item("sessions", sessions_to_py(py, &page.sessions)?)?;
                d.set_item("cursor", page.cursor)?;
                d.into_any()
            }
        })
    }
}

fn sessions_to_py<'py>(py: Python<'py>, list: &[Session]) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for s in list {
        out.append(session_to_py(py, s)?)?;
    }
    Ok(out)
}
