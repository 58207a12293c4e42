//! Sealed client-side sessions (`omnisession.Sealer`, `omnisession.SeedsOpener`): thin
//! adapters over `omnisession::sealed`. Arguments are converted here, the core seals and opens,
//! and its errors map to the exception classes as everywhere else ([`crate::error`]).
//!
//! Timestamps cross as UTC-aware `datetime`s (a naive one is read as UTC, as elsewhere in the
//! binding) at microsecond precision, `datetime`'s own. Key bytes are never put in a message or
//! a repr. Sealing and opening are microsecond CPU work on owned data, so the GIL is released
//! around the core call (which costs nothing to arrange) but nothing else is done off-thread.
//!
//! `on_violation` gets the core's events (`cookie_malformed`, ...) through the store's one
//! mechanism ([`crate::callbacks`]): queued to the dispatcher thread, then a sync callback runs on
//! the event loop that was running where `open` was called (as an `AsyncStore`'s runs on its
//! loop), or on the dispatcher thread when none was (as a blocking `Store`'s), and a coroutine is
//! scheduled on that loop. The loop is looked up per call because one sealer serves both: a
//! Starlette app's requests on uvicorn's loop, a Django view on a worker thread.

use crate::callbacks::{PySink, Sink};
use crate::convert::{data_from_py, datetime, datetime_micros, value_to_py};
use crate::error::IntoPyResult;
use crate::{config, invalid, type_name, user_arg};
use omnisession::{
    Clock as _, Error, ErrorKind, Opened, Reason, SealKey, SealedSession, Sealer as CoreSealer,
    SeedsOpened, SeedsOpener as CoreSeedsOpener, SystemClock, Timestamp,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex, PoisonError};

type CoreResult<T> = Result<T, Error>;

/// An instant argument: a `datetime` (naive = UTC) at its full microsecond precision, or
/// `None`; anything else is `SESSION_INVALID` naming the argument.
fn instant_arg(obj: Option<&Bound<'_, PyAny>>, name: &str) -> CoreResult<Option<Timestamp>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let bad = || {
        invalid(
            format!("{name} must be a datetime, not {}", type_name(obj)),
            name,
        )
    };
    let micros = datetime_micros(obj).map_err(|_| bad())?.ok_or_else(bad)?;
    Ok(Some(Timestamp::from_unix_nanos(micros * 1000)))
}

/// Key bytes: `bytes` or `bytearray` (never shown in a message).
fn key_bytes(obj: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    obj.cast::<PyByteArray>()
        .ok()
        .map(PyByteArrayMethods::to_vec)
}

/// `keys=[(key_id, key_bytes), ...]` → core keys; the core checks ids and lengths.
fn keys_arg(keys: &Bound<'_, PyAny>) -> CoreResult<(Vec<SealKey>, Vec<String>)> {
    let shape = "keys must be a sequence of (key_id: str, key: bytes) pairs";
    if keys.is_instance_of::<PyString>() || keys.is_instance_of::<PyBytes>() {
        return Err(config("keys", shape));
    }
    let iter = keys.try_iter().map_err(|_| config("keys", shape))?;
    let (mut ring, mut ids) = (Vec::new(), Vec::new());
    for (i, item) in iter.enumerate() {
        let pair = item
            .ok()
            .and_then(|item| item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>().ok())
            .ok_or_else(|| config("keys", format!("key {i}: {shape}")).with("index", i))?;
        let id = pair
            .0
            .cast::<PyString>()
            .ok()
            .and_then(|s| s.to_cow().ok().map(std::borrow::Cow::into_owned))
            .ok_or_else(|| {
                config("keys", format!("key {i}: the id must be a str")).with("index", i)
            })?;
        let key = key_bytes(&pair.1).ok_or_else(|| {
            config(
                "keys",
                format!("key {i}: the key must be bytes, not {}", type_name(&pair.1)),
            )
            .with("index", i)
        })?;
        ids.push(id.clone());
        ring.push(SealKey::new(id, key));
    }
    Ok((ring, ids))
}

fn now() -> Timestamp {
    SystemClock.now()
}

/// A sealed session as `{"user_id", "data", "created_at", "expires_at"}`.
fn session_to_py(py: Python<'_>, s: SealedSession) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("user_id", s.user_id)?;
    d.set_item("data", value_to_py(py, &Value::Object(s.data))?)?;
    d.set_item("created_at", datetime(py, s.created_at)?)?;
    match s.expires_at {
        Some(at) => d.set_item("expires_at", datetime(py, at)?)?,
        None => d.set_item("expires_at", py.None())?,
    }
    Ok(d)
}

/// `{key: value | None, "reason": None | str}`.
fn outcome<'py>(
    py: Python<'py>,
    key: &str,
    value: Option<Bound<'py, PyAny>>,
    reason: Option<Reason>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(key, value)?;
    d.set_item("reason", reason.map(Reason::as_str))?;
    Ok(d)
}

/// A cookie value argument. A str that is not valid Unicode (a lone surrogate) cannot be a
/// sealed value: it goes to the core with U+FFFD in place of each surrogate (the same length in
/// UTF-8), which refuses it as malformed and reports it, instead of raising here.
fn value_arg(value: &Bound<'_, PyAny>) -> CoreResult<String> {
    let s = value.cast::<PyString>().map_err(|_| {
        invalid(
            format!("value must be a str, not {}", type_name(value)),
            "value",
        )
    })?;
    Ok(s.to_string_lossy().into_owned())
}

/// `Sealer.open`'s value: a str (one cookie value) or a list or tuple of str (every value the
/// request sent under the cookie's name, from zero to several).
fn values_arg(value: &Bound<'_, PyAny>) -> CoreResult<Vec<String>> {
    if value.is_instance_of::<PyString>() {
        return Ok(vec![value_arg(value)?]);
    }
    let bad = || {
        invalid(
            format!(
                "value must be a str or a list of str, not {}",
                type_name(value)
            ),
            "value",
        )
    };
    if !(value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()) {
        return Err(bad());
    }
    value
        .try_iter()
        .map_err(|_| bad())?
        .map(|item| {
            item.map_err(|_| bad())
                .and_then(|item| value_arg(&item).map_err(|_| bad()))
        })
        .collect()
}

/// The running event loop of this thread (`asyncio._get_running_loop()`), if any.
fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    static GET: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let get = GET.get_or_try_init(py, || {
        py.import("asyncio")
            .and_then(|m| m.getattr("_get_running_loop"))
            .map(Bound::unbind)
    })?;
    let found = get.bind(py).call0()?;
    Ok((!found.is_none()).then_some(found))
}

/// `max_cookie_bytes`: a non-negative int (0 is refused by the core, naming the option).
fn max_bytes_arg(m: &Bound<'_, PyAny>) -> CoreResult<usize> {
    if m.is_instance_of::<PyBool>() || !m.is_instance_of::<PyInt>() {
        return Err(config(
            "max_cookie_bytes",
            format!("max_cookie_bytes must be an int, not {}", type_name(m)),
        ));
    }
    m.extract::<usize>().map_err(|_| {
        config(
            "max_cookie_bytes",
            "max_cookie_bytes must be a non-negative int",
        )
    })
}

/// The sealer that reports to `on_violation` from one event loop (or from none).
type Reporting = (Option<Py<PyAny>>, Arc<CoreSealer>);

/// Seals sessions into cookie values and opens them: the first key seals, every key opens.
#[pyclass(frozen, module = "omnisession._native")]
pub struct Sealer {
    /// Reports its events to the log only.
    inner: CoreSealer,
    /// The ring's ids, the sealing key's first (shown by `repr`).
    key_ids: Vec<String>,
    on_violation: Option<Py<PyAny>>,
    /// `inner` with a sink for `on_violation` on the loop last seen by `open` (one per process
    /// under uvicorn; rebuilt, a clone of the key ring, when another loop or none calls).
    reporting: Mutex<Option<Reporting>>,
}

impl Sealer {
    /// The sealer `open` uses here: `inner`, or one that also hands its events to
    /// `on_violation` on the running loop of the caller.
    fn opener(&self, py: Python<'_>) -> PyResult<Option<Arc<CoreSealer>>> {
        let Some(callback) = &self.on_violation else {
            return Ok(None);
        };
        let event_loop = running_loop(py)?;
        let mut cached = self
            .reporting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_loop, sealer)) = cached.as_ref() {
            let same = match (cached_loop, &event_loop) {
                (None, None) => true,
                (Some(a), Some(b)) => a.bind(py).is(b),
                _ => false,
            };
            if same {
                return Ok(Some(Arc::clone(sealer)));
            }
        }
        let event_loop = event_loop.map(Bound::unbind);
        let sink = Sink(PySink::new(
            callback.clone_ref(py),
            event_loop.as_ref().map(|l| l.clone_ref(py)),
        ));
        let sealer = Arc::new(self.inner.clone().with_violation_sink(Arc::new(sink)));
        let previous = cached.replace((event_loop, Arc::clone(&sealer)));
        // The previous loop is released after the lock: its last reference may run Python code.
        drop(cached);
        drop(previous);
        Ok(Some(sealer))
    }
}

#[pymethods]
impl Sealer {
    #[new]
    // `None` is the default (as an option given as None is unset in `Store.open`).
    #[pyo3(
        signature = (keys, cookie_name, max_cookie_bytes=None, on_violation=None),
        text_signature = "(keys, cookie_name, max_cookie_bytes=4096, on_violation=None)"
    )]
    fn new(
        keys: &Bound<'_, PyAny>,
        cookie_name: &Bound<'_, PyAny>,
        max_cookie_bytes: Option<&Bound<'_, PyAny>>,
        on_violation: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let args = (|| {
            let (ring, ids) = keys_arg(keys)?;
            let name: String = cookie_name.extract().map_err(|_| {
                config(
                    "cookie_name",
                    format!("cookie_name must be a str, not {}", type_name(cookie_name)),
                )
            })?;
            let max = match max_cookie_bytes.filter(|m| !m.is_none()) {
                None => Ok(omnisession::sealed::DEFAULT_MAX_COOKIE_BYTES),
                Some(m) => max_bytes_arg(m),
            }?;
            let on_violation = match on_violation.filter(|c| !c.is_none()) {
                None => None,
                Some(c) if c.is_callable() => Some(c.clone().unbind()),
                Some(_) => {
                    return Err(config("on_violation", "on_violation must be callable"));
                }
            };
            Ok((ring, ids, name, max, on_violation))
        })();
        let (ring, key_ids, name, max, on_violation) = args.into_py_result()?;
        let inner = CoreSealer::new(ring, &name, max).into_py_result()?;
        Ok(Self {
            inner,
            key_ids,
            on_violation,
            reporting: Mutex::new(None),
        })
    }

    /// The cookie value for a session (a fresh random nonce each time).
    #[pyo3(signature = (user_id=None, *, data, created_at=None, expires_at=None))]
    fn seal(
        &self,
        py: Python<'_>,
        user_id: Option<&Bound<'_, PyAny>>,
        data: &Bound<'_, PyAny>,
        created_at: Option<&Bound<'_, PyAny>>,
        expires_at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let session = (|| {
            let data = if data.is_none() {
                Map::new()
            } else {
                data_from_py(data).map_err(|p| {
                    // The core's wording for the same refusal in `Sealer::seal`.
                    Error::new(
                        ErrorKind::SessionNotSerializable,
                        format!("session data is not JSON: {} at {}", p.reason, p.path),
                    )
                    .with("path", p.path.as_str())
                    .with("reason", p.reason.as_str())
                })?
            };
            Ok(SealedSession {
                user_id: user_arg(user_id)?,
                data,
                created_at: instant_arg(created_at, "created_at")?.unwrap_or_else(now),
                expires_at: instant_arg(expires_at, "expires_at")?,
            })
        })()
        .into_py_result()?;
        py.detach(|| self.inner.seal(&session)).into_py_result()
    }

    /// `{"session": {...} | None, "reason": None | str}`; never raises for a str or a list of
    /// str. A list holds every value the request sent under the cookie's name: none gives
    /// `{"session": None, "reason": None}` (no cookie, nothing reported), several give
    /// `"duplicated"`. A session that opened under another key than the first also has
    /// `"stale": True` (re-seal it to move the client to the current key), as in Node.
    #[pyo3(signature = (value, now=None))]
    fn open<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        now: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let values = values_arg(value).into_py_result()?;
        let at = instant_arg(now, "now")
            .into_py_result()?
            .unwrap_or_else(self::now);
        let reporting = self.opener(py)?;
        let sealer = reporting.as_deref().unwrap_or(&self.inner);
        let opened = py.detach(|| {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            sealer.open_request(&values, at)
        });
        match opened {
            None => outcome(py, "session", None, None),
            Some(Opened::Session(s)) => {
                let s = session_to_py(py, s)?.into_any();
                let out = outcome(py, "session", Some(s), None)?;
                if self.inner.is_stale(&values[0]) {
                    out.set_item("stale", true)?;
                }
                Ok(out)
            }
            Some(Opened::NoSession(r)) => outcome(py, "session", None, Some(r)),
        }
    }

    /// The cookie name values are bound to.
    #[getter]
    fn cookie_name(&self) -> &str {
        self.inner.cookie_name()
    }

    /// The limit on `name=value`, in bytes.
    #[getter]
    fn max_cookie_bytes(&self) -> usize {
        self.inner.max_cookie_bytes()
    }

    fn __repr__(&self) -> String {
        format!(
            "<omnisession.Sealer key_ids={:?} cookie_name={:?} max_cookie_bytes={}>",
            self.key_ids,
            self.inner.cookie_name(),
            self.inner.max_cookie_bytes()
        )
    }
}

/// Opens values sealed by the seeds' `CookieOverseer` (read only).
#[pyclass(frozen, module = "omnisession._native")]
pub struct SeedsOpener {
    inner: CoreSeedsOpener,
    bits: usize,
}

#[pymethods]
impl SeedsOpener {
    #[new]
    fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = key_bytes(key)
            .ok_or_else(|| config("key", format!("key must be bytes, not {}", type_name(key))))
            .into_py_result()?;
        let inner = CoreSeedsOpener::new(&bytes).into_py_result()?;
        Ok(Self {
            inner,
            bits: bytes.len() * 8,
        })
    }

    /// `{"json": ... | None, "reason": None | str}`; never raises for a str `value`.
    fn open<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let value = value_arg(value).into_py_result()?;
        let opened = py.detach(|| self.inner.open(&value));
        match opened {
            SeedsOpened::Json(json) => {
                let json = value_to_py(py, &json)?;
                outcome(py, "json", Some(json), None)
            }
            SeedsOpened::NoSession(r) => outcome(py, "json", None, Some(r)),
        }
    }

    fn __repr__(&self) -> String {
        format!("<omnisession.SeedsOpener aes_bits={}>", self.bits)
    }
}
