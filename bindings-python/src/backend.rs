//! `backend=` a Python object: the core's `CustomStorage` over its methods.
//!
//! The object stores records (the wire JSON, as every backend does) and never interprets them:
//! - `get(id) -> str | bytes | None`
//! - `set(id, record, *, user_id, site_id, expires_at)` (`expires_at`: aware `datetime` or `None`)
//! - `delete(id)`
//! - optional `list_by_user_id(site_id, user_id) -> iterable of records`
//! - optional `list(cursor, limit) -> (iterable of records, next cursor or None)`
//! - optional `cleanup(now) -> int`
//!
//! Each method may be sync or `async`. Calls run on the runtime's blocking pool under a
//! [`Guard`](crate::runtime::Guard); a coroutine is run on the store's event loop (the loop
//! `AsyncStore.open` ran on, or a private background loop for the blocking `Store`). Every
//! control stays in the core's `CustomBackend`.

use crate::convert::datetime;
use crate::error::from_py;
use crate::runtime::with_gil;
use async_trait::async_trait;
use omnisession::backend::custom::{Capabilities, CustomStorage};
use omnisession::{Error, ErrorKind, Result, Session, Timestamp, id};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use std::fmt;
use std::sync::{Arc, OnceLock};
use tokio::sync::oneshot;

/// A Python object used as a custom backend.
pub struct PyStorage {
    inner: Arc<Inner>,
}

struct Inner {
    object: Py<PyAny>,
    caps: Capabilities,
    /// Where coroutines run: the store's event loop, or the background loop (on first use).
    event_loop: OnceLock<Py<PyAny>>,
}

impl fmt::Debug for PyStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PyStorage({:?})", self.inner.caps)
    }
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::ConfigInvalid, message).with("option", "backend")
}

impl PyStorage {
    /// Checks the object's methods; `event_loop` is where its coroutines run, if given.
    pub fn new(object: &Bound<'_, PyAny>, event_loop: Option<Py<PyAny>>) -> Result<Self> {
        let has = |name: &str| object.getattr(name).is_ok_and(|m| m.is_callable());
        for required in ["get", "set", "delete"] {
            if !has(required) {
                return Err(config(format!(
                    "the custom backend has no `{required}` method (it needs get, set and delete)"
                )));
            }
        }
        let caps = Capabilities {
            list_by_user_id: has("list_by_user_id"),
            list: has("list"),
            cleanup: has("cleanup"),
        };
        let cell = OnceLock::new();
        if let Some(l) = event_loop {
            let _ = cell.set(l);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                object: object.clone().unbind(),
                caps,
                event_loop: cell,
            }),
        })
    }

    /// Calls `method`, awaits it if it returned an awaitable, and converts the result.
    async fn call<A, C, T>(&self, method: &'static str, args: A, convert: C) -> Result<T>
    where
        A: for<'py> FnOnce(
                Python<'py>,
            )
                -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)>
            + Send
            + 'static,
        C: for<'py> FnOnce(&Bound<'py, PyAny>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let context = format!("the custom backend's `{method}`");
        let ctx = context.clone();
        let step = with_gil(&context, move |py| {
            let run = || -> PyResult<Step> {
                let (args, kwargs) = args(py)?;
                let result = inner
                    .object
                    .bind(py)
                    .call_method(method, args, kwargs.as_ref())?;
                if !is_awaitable(&result)? {
                    return Ok(Step::Ready(result.unbind()));
                }
                let event_loop = if let Some(l) = inner.event_loop.get() {
                    l.bind(py).clone()
                } else {
                    let l = py
                        .import("omnisession._callbacks")?
                        .call_method0("background_loop")?;
                    let _ = inner.event_loop.set(l.clone().unbind());
                    l
                };
                Ok(Step::Pending(schedule(&event_loop, &result)?))
            };
            run().map_err(|e| from_py(py, &e, &ctx))
        })
        .await?;
        let value = match step {
            Step::Ready(v) => v,
            Step::Pending(rx) => match rx.await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    let ctx = context.clone();
                    return with_gil(&context, move |py| Err(from_py(py, &e, &ctx))).await;
                }
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::BackendUnavailable,
                        format!("{context} was abandoned: its event loop stopped"),
                    ));
                }
            },
        };
        with_gil(&context, move |py| convert(value.bind(py))).await
    }
}

enum Step {
    Ready(Py<PyAny>),
    Pending(oneshot::Receiver<PyResult<Py<PyAny>>>),
}

/// Runs an awaitable on `event_loop` (`asyncio.run_coroutine_threadsafe`); its outcome is sent
/// from the loop thread. Awaiting the receiver never touches Python, so no runtime worker
/// takes the GIL, even when the loop goes away first (the sender is then dropped).
fn schedule(
    event_loop: &Bound<'_, PyAny>,
    awaitable: &Bound<'_, PyAny>,
) -> PyResult<oneshot::Receiver<PyResult<Py<PyAny>>>> {
    let (tx, rx) = oneshot::channel();
    let future = event_loop
        .py()
        .import("omnisession._callbacks")?
        .call_method1("schedule", (awaitable, event_loop))?;
    future.call_method1(
        "add_done_callback",
        (Done {
            tx: std::sync::Mutex::new(Some(tx)),
        },),
    )?;
    Ok(rx)
}

/// The done-callback of a scheduled coroutine: hands its result to the waiting Rust future.
#[pyclass]
struct Done {
    tx: std::sync::Mutex<Option<oneshot::Sender<PyResult<Py<PyAny>>>>>,
}

#[pymethods]
impl Done {
    fn __call__(&self, future: &Bound<'_, PyAny>) {
        let result = future.call_method0("result").map(Bound::unbind);
        if let Some(tx) = self
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = tx.send(result);
        }
    }
}

fn is_awaitable(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    obj.hasattr("__await__")
}

fn shape(method: &str, expected: &str, got: &Bound<'_, PyAny>) -> Error {
    let ty = got
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    Error::new(
        ErrorKind::BackendError,
        format!("the custom backend's `{method}` returned {ty}, expected {expected}"),
    )
}

/// A record (str or bytes) as a session; an unreadable one is `BACKEND_ERROR`.
fn record(method: &str, obj: &Bound<'_, PyAny>) -> Result<Session> {
    let bytes: Vec<u8> = if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow()
            .map_err(|_| shape(method, "a record str", obj))?
            .as_bytes()
            .to_vec()
    } else if let Ok(b) = obj.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else {
        return Err(shape(method, "a record (str or bytes)", obj));
    };
    Session::from_wire(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::BackendError,
            format!("the custom backend's `{method}` returned an unreadable record: {e}"),
        )
    })
}

/// Records of a listing; unreadable ones are skipped (they must not hide the others).
fn records(method: &str, obj: &Bound<'_, PyAny>) -> Result<Vec<Session>> {
    let iter = obj
        .try_iter()
        .map_err(|_| shape(method, "an iterable of records", obj))?;
    let mut out = Vec::new();
    for item in iter {
        let item = item.map_err(|e| from_py(obj.py(), &e, method))?;
        match record(method, &item) {
            Ok(s) => out.push(s),
            Err(e) => {
                tracing::warn!(target: "omnisession", error = %e, "skipped an unreadable record of a custom backend");
            }
        }
    }
    Ok(out)
}

fn no_kwargs<'py>(
    py: Python<'py>,
    args: impl IntoPyObject<'py, Target = PyTuple, Output = Bound<'py, PyTuple>, Error = PyErr>,
) -> PyResult<(Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>)> {
    Ok((args.into_pyobject(py)?, None))
}

#[async_trait]
impl CustomStorage for PyStorage {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    async fn get(&self, id: &str) -> Result<Option<Session>> {
        let key = id.to_owned();
        let hash = id::hash(id);
        self.call(
            "get",
            move |py| no_kwargs(py, (key,)),
            move |obj| {
                if obj.is_none() {
                    return Ok(None);
                }
                record("get", obj)
                    .map(Some)
                    .map_err(|e| e.with("session_id_hash", hash))
            },
        )
        .await
    }

    async fn set(&self, session: &Session, expires_ms: Option<i64>) -> Result<()> {
        let key = session.id.clone();
        let wire = session.to_wire();
        let user = session.user_id.clone();
        let site = session.site_id.clone();
        self.call(
            "set",
            move |py| {
                let kwargs = PyDict::new(py);
                kwargs.set_item("user_id", user)?;
                kwargs.set_item("site_id", site)?;
                match expires_ms {
                    Some(ms) => {
                        kwargs
                            .set_item("expires_at", datetime(py, Timestamp::from_unix_ms(ms))?)?;
                    }
                    None => kwargs.set_item("expires_at", py.None())?,
                }
                Ok(((key, wire).into_pyobject(py)?, Some(kwargs)))
            },
            |_| Ok(()),
        )
        .await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let key = id.to_owned();
        self.call("delete", move |py| no_kwargs(py, (key,)), |_| Ok(()))
            .await
    }

    async fn list_by_user_id(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let (site, user) = (site.to_owned(), user.to_owned());
        self.call(
            "list_by_user_id",
            move |py| no_kwargs(py, (site, user)),
            |obj| records("list_by_user_id", obj),
        )
        .await
    }

    async fn list(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Session>, Option<String>)> {
        let cursor = cursor.map(str::to_owned);
        self.call(
            "list",
            move |py| no_kwargs(py, (cursor, limit)),
            |obj| {
                let (page, next): (Bound<'_, PyAny>, Option<String>) = obj
                    .extract()
                    .map_err(|_| shape("list", "a (records, cursor) tuple", obj))?;
                Ok((records("list", &page)?, next))
            },
        )
        .await
    }

    async fn cleanup(&self, now_ms: i64) -> Result<u64> {
        self.call(
            "cleanup",
            move |py| no_kwargs(py, (datetime(py, Timestamp::from_unix_ms(now_ms))?,)),
            |obj| {
                if obj.is_none() {
                    return Ok(0);
                }
                obj.extract::<u64>()
                    .map_err(|_| shape("cleanup", "a count (int) or None", obj))
            },
        )
        .await
    }
}
