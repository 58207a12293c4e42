//! omnisession for Python: `AsyncStore` (asyncio, uvloop) and `Store` (blocking, releases the
//! GIL) over the Rust core.
//!
//! Every method is an adapter: convert the arguments, call the core, map the error. Policy
//! lives in the core; this crate holds only the host edge (conversions in [`convert`], errors
//! in [`error`], the runtime in [`runtime`], callbacks and logging in [`callbacks`], the
//! Python custom backend in [`backend`]).

mod backend;
mod callbacks;
mod cli;
mod convert;
mod error;
mod runtime;
mod sealed;
mod settle;

use crate::convert::{Out, data_from_py, datetime, datetime_ms, duration_ms};
use crate::error::IntoPyResult;
use futures_util::FutureExt as _;
use omnisession::backend::custom::CustomBackend;
use omnisession::{
    BackendConfig, Error, ErrorKind, Lifetime, Login, NewSession, Options, Patch, SessionUpdate,
    Store as CoreStore, Timestamp,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3_async_runtimes::TaskLocals;
use serde_json::{Map, Value};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

type CoreResult<T> = Result<T, Error>;

/// Options whose values are durations (`timedelta` or seconds → ms for the core).
const DURATIONS: [&str; 6] = [
    "default_ttl",
    "max_lifetime",
    "idle_timeout",
    "cleanup_interval",
    "tombstone_ttl",
    "wait_timeout",
];

fn invalid(message: impl Into<String>, argument: &str) -> Error {
    Error::new(ErrorKind::SessionInvalid, message).with("argument", argument)
}

fn config(option: &str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigInvalid, message).with("option", option)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// A plain option value (str, number, bool, list of those, path-like) as JSON.
fn option_value(key: &str, obj: &Bound<'_, PyAny>) -> CoreResult<Value> {
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy().unwrap_or(false)));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(obj
            .extract::<i64>()
            .map(Value::from)
            .or_else(|_| obj.extract::<u64>().map(Value::from))
            .unwrap_or(Value::from(u64::MAX)));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract().unwrap_or(f64::NAN);
        return Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| config(key, format!("{key} is not valid Unicode")));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in obj.try_iter().map_err(|_| config(key, "not iterable"))? {
            let item = item.map_err(|_| config(key, format!("{key} could not be read")))?;
            items.push(option_value(key, &item)?);
        }
        return Ok(Value::Array(items));
    }
    if obj.hasattr("__fspath__").unwrap_or(false) {
        let path = obj
            .py()
            .import("os")
            .and_then(|os| os.call_method1("fspath", (obj,)))
            .and_then(|p| p.extract::<String>())
            .map_err(|_| config(key, format!("{key} is not a usable path")))?;
        return Ok(Value::String(path));
    }
    Err(config(key, format!("{key} cannot be a {}", type_name(obj))))
}

/// `Store.open(**options)` → core options. `locals` is the event loop of an `AsyncStore`.
fn options_from_py(
    py: Python<'_>,
    kwargs: Option<&Bound<'_, PyDict>>,
    locals: Option<&TaskLocals>,
) -> CoreResult<Options> {
    let mut map = Map::new();
    let mut on_violation = None;
    let mut clock = None;
    let mut custom = None;
    let mut shared = None;
    for (k, v) in kwargs.into_iter().flat_map(PyDictMethods::iter) {
        let key: String = k
            .extract()
            .map_err(|_| config("?", "option names must be str"))?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "on_violation" => {
                if !v.is_callable() {
                    return Err(config(&key, "on_violation must be callable"));
                }
                on_violation = Some(v.clone().unbind());
            }
            "clock" => {
                let c = v
                    .cast::<ManualClock>()
                    .map_err(|_| config(&key, "clock must be an omnisession.ManualClock"))?;
                clock = Some(Arc::clone(&c.get().inner));
            }
            "backend" if v.is_instance_of::<MemoryBackend>() => {
                shared = Some(Arc::clone(
                    &v.cast::<MemoryBackend>()
                        .map_err(|_| config("backend", "?"))?
                        .get()
                        .inner,
                ));
            }
            "backend" if !v.is_instance_of::<PyString>() => custom = Some(v.clone()),
            name if DURATIONS.contains(&name) => {
                let ms = duration_ms(&v).map_err(|e| config(name, e.to_string()))?;
                match ms {
                    Some(ms) => map.insert(key, ms),
                    None => {
                        return Err(config(
                            name,
                            format!(
                                "{name} must be a timedelta or a number of seconds, not {}",
                                type_name(&v)
                            ),
                        ));
                    }
                };
            }
            _ => {
                let value = option_value(&key, &v)?;
                map.insert(key, value);
            }
        }
    }
    let mut options = Options::from_json(&map)?;
    if let Some(cb) = on_violation {
        let event_loop = locals.map(|l| l.event_loop(py).unbind());
        options.on_violation = Some(Arc::new(callbacks::Sink(callbacks::PySink::new(
            cb, event_loop,
        ))));
    }
    if let Some(clock) = clock {
        options.clock = clock;
    }
    if let Some(memory) = shared {
        options.backend = BackendConfig::Custom(memory);
    }
    if let Some(object) = custom {
        let event_loop = locals.map(|l| l.event_loop(py).unbind());
        let storage = backend::PyStorage::new(&object, event_loop)?;
        options.backend =
            BackendConfig::Custom(Arc::new(CustomBackend::new(storage, options.expiry())));
    }
    Ok(options)
}

fn id_arg(obj: &Bound<'_, PyAny>) -> CoreResult<String> {
    obj.cast::<PyString>()
        .ok()
        .and_then(|s| s.to_cow().ok().map(std::borrow::Cow::into_owned))
        .ok_or_else(|| invalid(format!("id must be a str, not {}", type_name(obj)), "id"))
}

fn opt_str(obj: Option<&Bound<'_, PyAny>>, name: &str) -> CoreResult<Option<String>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => o
            .extract::<String>()
            .map(Some)
            .map_err(|_| invalid(format!("{name} must be a str, not {}", type_name(o)), name)),
    }
}

/// A user id: a str, or an int stored as its decimal string.
fn user_arg(obj: Option<&Bound<'_, PyAny>>) -> CoreResult<Option<String>> {
    match obj {
        Some(o) if o.is_instance_of::<PyInt>() && !o.is_instance_of::<PyBool>() => Ok(Some(
            o.str()
                .map_err(|_| invalid("bad user_id", "user_id"))?
                .to_string(),
        )),
        other => opt_str(other, "user_id"),
    }
}

/// A user id argument that must be given (the per-user operations).
fn required_user(obj: &Bound<'_, PyAny>) -> CoreResult<String> {
    user_arg(Some(obj))?.ok_or_else(|| invalid("user_id is required", "user_id"))
}

fn version_arg(obj: Option<&Bound<'_, PyAny>>) -> CoreResult<Option<u64>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) if o.is_instance_of::<PyBool>() => {
            Err(invalid("version must be an int, not bool", "version"))
        }
        Some(o) => o
            .extract::<u64>()
            .map(Some)
            .map_err(|_| invalid("version must be a non-negative int", "version")),
    }
}

/// A non-negative duration argument (`timedelta` or seconds) in whole milliseconds.
fn ms_arg(obj: Option<&Bound<'_, PyAny>>, name: &str) -> CoreResult<Option<u64>> {
    let Some(o) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let bad = || {
        invalid(
            format!("{name} must be a non-negative timedelta or number of seconds"),
            name,
        )
    };
    match duration_ms(o).map_err(|_| bad())? {
        Some(v) => v.as_u64().map(Some).ok_or_else(bad),
        None => Err(bad()),
    }
}

/// A write's new expiry: `ttl` (from now; 0 = now) or `expires_at` (a `datetime`, one in the
/// past meaning expired, or `"never"`); neither = unchanged (or the default).
fn lifetime_arg(
    ttl: Option<&Bound<'_, PyAny>>,
    expires_at: Option<&Bound<'_, PyAny>>,
) -> CoreResult<Option<Lifetime>> {
    let ttl = ms_arg(ttl, "ttl")?;
    let at = match expires_at.filter(|o| !o.is_none()) {
        None => None,
        Some(o) if o.extract::<String>().is_ok_and(|t| t == "never") => Some(Lifetime::Never),
        Some(o) => match datetime_ms(o) {
            Ok(Some(ms)) => Some(Lifetime::At(Timestamp::from_unix_ms(ms))),
            _ => {
                return Err(invalid(
                    format!(
                        "expires_at must be a datetime or \"never\", not {}",
                        type_name(o)
                    ),
                    "expires_at",
                ));
            }
        },
    };
    match (ttl, at) {
        (Some(_), Some(_)) => Err(invalid("give ttl or expires_at, not both", "expires_at")),
        (Some(ms), None) => Ok(Some(Lifetime::Ttl(ms))),
        (None, at) => Ok(at),
    }
}

/// A collection of str keys (`unset`).
fn keys_arg(unset: Option<&Bound<'_, PyAny>>) -> CoreResult<Vec<String>> {
    let mut keys = Vec::new();
    let Some(u) = unset.filter(|u| !u.is_none()) else {
        return Ok(keys);
    };
    if u.is_instance_of::<PyString>() {
        return Err(invalid(
            "unset must be a collection of str, not a str",
            "unset",
        ));
    }
    let iter = u
        .try_iter()
        .map_err(|_| invalid("unset must be a collection of str", "unset"))?;
    for k in iter {
        let k = k.map_err(|_| invalid("unset could not be read", "unset"))?;
        keys.push(
            k.extract::<String>()
                .map_err(|_| invalid("unset must hold only str keys", "unset"))?,
        );
    }
    Ok(keys)
}

/// The shared body of both classes: the core store and how it converts arguments.
#[derive(Clone)]
struct Core(CoreStore);

impl Core {
    fn data(
        &self,
        obj: Option<&Bound<'_, PyAny>>,
        id: Option<&str>,
        user: Option<&str>,
    ) -> CoreResult<Map<String, Value>> {
        match obj {
            None => Ok(Map::new()),
            Some(o) if o.is_none() => Ok(Map::new()),
            Some(o) => data_from_py(o).map_err(|p| match id {
                Some(id) => self.0.not_serializable_for(id, user, &p),
                None => self.0.not_serializable(user, &p),
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_session(
        &self,
        user_id: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        (ttl, expires_at): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
        id: Option<&Bound<'_, PyAny>>,
        ip_address: Option<&Bound<'_, PyAny>>,
        user_agent: Option<&Bound<'_, PyAny>>,
        organization_id: Option<&Bound<'_, PyAny>>,
    ) -> CoreResult<NewSession> {
        let user_id = user_arg(user_id)?;
        let id = match id {
            Some(o) if !o.is_none() => Some(id_arg(o)?),
            _ => None,
        };
        Ok(NewSession {
            data: self.data(data, id.as_deref(), user_id.as_deref())?,
            expires: lifetime_arg(ttl, expires_at)?,
            id,
            ip_address: opt_str(ip_address, "ip_address")?,
            user_agent: opt_str(user_agent, "user_agent")?,
            organization_id: opt_str(organization_id, "organization_id")?,
            user_id,
        })
    }

    fn update(&self, session: &Bound<'_, PyAny>) -> CoreResult<SessionUpdate> {
        let get = |key: &str| -> CoreResult<Option<Bound<'_, PyAny>>> {
            match session.get_item(key) {
                Ok(v) => Ok(Some(v)),
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(session.py()) => {
                    Ok(None)
                }
                Err(_) => Err(invalid(
                    format!("session must be a mapping, not {}", type_name(session)),
                    "session",
                )),
            }
        };
        let id = get("id")?.ok_or_else(|| invalid("the session has no id", "id"))?;
        let user_id = user_arg(get("user_id")?.as_ref())?;
        let id = id_arg(&id)?;
        Ok(SessionUpdate {
            data: self.data(get("data")?.as_ref(), Some(&id), user_id.as_deref())?,
            id,
            organization_id: opt_str(get("organization_id")?.as_ref(), "organization_id")?,
            ip_address: opt_str(get("ip_address")?.as_ref(), "ip_address")?,
            user_agent: opt_str(get("user_agent")?.as_ref(), "user_agent")?,
            version: version_arg(get("version")?.as_ref())?,
            expires: lifetime_arg(get("ttl")?.as_ref(), get("expires_at")?.as_ref())?,
            user_id,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn login(
        &self,
        user_id: &Bound<'_, PyAny>,
        from_id: Option<&Bound<'_, PyAny>>,
        set: Option<&Bound<'_, PyAny>>,
        unset: Option<&Bound<'_, PyAny>>,
        lifetime: (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
        ip_address: Option<&Bound<'_, PyAny>>,
        user_agent: Option<&Bound<'_, PyAny>>,
        organization_id: Option<&Bound<'_, PyAny>>,
    ) -> CoreResult<Login> {
        let user_id = required_user(user_id)?;
        Ok(Login {
            from: opt_str(from_id, "from_id")?,
            set: self.data(set, None, Some(&user_id))?,
            unset: keys_arg(unset)?,
            expires: lifetime_arg(lifetime.0, lifetime.1)?,
            ip_address: opt_str(ip_address, "ip_address")?,
            user_agent: opt_str(user_agent, "user_agent")?,
            organization_id: opt_str(organization_id, "organization_id")?,
            user_id,
        })
    }

    fn patch(
        &self,
        id: &str,
        (set, unset): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
        version: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        lifetime: (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
    ) -> CoreResult<Patch> {
        let user_id = user_arg(user_id)?;
        Ok(Patch {
            set: self.data(set, Some(id), user_id.as_deref())?,
            unset: keys_arg(unset)?,
            version: version_arg(version)?,
            expires: lifetime_arg(lifetime.0, lifetime.1)?,
            user_id,
        })
    }
}

/// Runs a core future as an asyncio awaitable (`settle`); errors (and panics) arrive through it.
fn run_async<F>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = CoreResult<Out>> + Send + 'static,
{
    settle::awaitable(py, async move {
        AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(runtime::panic_error(p.as_ref())))
            .into_py_result()
    })
}

/// Converts arguments now, runs the op in the awaitable (argument errors included).
fn op_async<'py, A, F, Fut>(
    py: Python<'py>,
    store: &Core,
    args: CoreResult<A>,
    op: F,
) -> PyResult<Bound<'py, PyAny>>
where
    A: Send + 'static,
    F: FnOnce(CoreStore, A) -> Fut + Send + 'static,
    Fut: Future<Output = CoreResult<Out>> + Send + 'static,
{
    let store = store.0.clone();
    run_async(py, async move { op(store, args?).await })
}

fn op_blocking<A, F, Fut>(py: Python<'_>, store: &Core, args: CoreResult<A>, op: F) -> PyResult<Out>
where
    A: Send,
    F: FnOnce(CoreStore, A) -> Fut + Send,
    Fut: Future<Output = CoreResult<Out>> + Send,
{
    let args = args.into_py_result()?;
    let store = store.0.clone();
    runtime::block_on(py, async move { op(store, args).await }).into_py_result()
}

/// Declares the op methods of a store class once for both flavours: `$run` is
/// `op_async` (returns an awaitable) or `op_blocking` (returns the value).
macro_rules! store_ops {
    ($class:ident, $run:ident, $ret:ty, { $($extra:tt)* }) => {
        // One body for both flavours: `'py` is needed where `$ret` borrows it (async).
        #[allow(clippy::elidable_lifetime_names)]
        #[pymethods]
        impl $class {
            $($extra)*

            /// Creates a session (every control applies).
            #[pyo3(signature = (user_id=None, *, data=None, ttl=None, expires_at=None, id=None, ip_address=None, user_agent=None, organization_id=None))]
            #[allow(clippy::too_many_arguments)]
            fn create<'py>(
                &self,
                py: Python<'py>,
                user_id: Option<&Bound<'py, PyAny>>,
                data: Option<&Bound<'py, PyAny>>,
                ttl: Option<&Bound<'py, PyAny>>,
                expires_at: Option<&Bound<'py, PyAny>>,
                id: Option<&Bound<'py, PyAny>>,
                ip_address: Option<&Bound<'py, PyAny>>,
                user_agent: Option<&Bound<'py, PyAny>>,
                organization_id: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = self.core.new_session(
                    user_id, data, (ttl, expires_at), id, ip_address, user_agent, organization_id,
                );
                $run(py, &self.core, args, |s, a| async move {
                    Ok(Out::Session(Box::new(s.create(a).await?)))
                })
            }

            /// The live session with this id, or None.
            fn get<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, id_arg(id), |s, id| async move {
                    Ok(Out::Maybe(s.get_shared(&id).await?))
                })
            }

            /// Replaces a session's data (whole record); `version`, if given, must match.
            fn update<'py>(&self, py: Python<'py>, session: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, self.core.update(session), |s, u| async move {
                    Ok(Out::Session(Box::new(s.update(u).await?)))
                })
            }

            /// Sets and removes top-level data keys atomically; may attach a user and set a
            /// new expiry.
            #[pyo3(signature = (id, set=None, unset=None, *, version=None, user_id=None, ttl=None, expires_at=None))]
            #[allow(clippy::too_many_arguments)]
            fn patch<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                set: Option<&Bound<'py, PyAny>>,
                unset: Option<&Bound<'py, PyAny>>,
                version: Option<&Bound<'py, PyAny>>,
                user_id: Option<&Bound<'py, PyAny>>,
                ttl: Option<&Bound<'py, PyAny>>,
                expires_at: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = id_arg(id).and_then(|id| {
                    let patch =
                        self.core.patch(&id, (set, unset), version, user_id, (ttl, expires_at))?;
                    Ok((id, patch))
                });
                $run(py, &self.core, args, |s, (id, p)| async move {
                    Ok(Out::Session(Box::new(s.patch(&id, p).await?)))
                })
            }

            /// Marks the session used now (idle expiry); with `ttl` or `expires_at`, also sets
            /// a new expiry. Never rewrites data.
            #[pyo3(signature = (id, *, ttl=None, expires_at=None))]
            fn touch<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                ttl: Option<&Bound<'py, PyAny>>,
                expires_at: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = id_arg(id).and_then(|id| Ok((id, lifetime_arg(ttl, expires_at)?)));
                $run(py, &self.core, args, |s, (id, expires)| async move {
                    Ok(Out::Session(Box::new(match expires {
                        Some(e) => s.touch_with(&id, e).await?,
                        None => s.touch(&id).await?,
                    })))
                })
            }

            /// `get` for a rolling session: its expiry moves to `rolling` from now once
            /// enough of that window has passed.
            fn get_sliding<'py>(
                &self,
                py: Python<'py>,
                id: &Bound<'py, PyAny>,
                rolling: &Bound<'py, PyAny>,
            ) -> PyResult<$ret> {
                let args = id_arg(id).and_then(|id| {
                    let ms = ms_arg(Some(rolling), "rolling")?
                        .ok_or_else(|| invalid("rolling is required", "rolling"))?;
                    Ok((id, ms))
                });
                $run(py, &self.core, args, |s, (id, ms)| async move {
                    Ok(Out::Maybe(s.get_sliding(&id, ms).await?.map(Arc::new)))
                })
            }

            /// Signs `user_id` in: a new id, the user attached, the old session (`from_id`)
            /// ended; its data is carried only from an anonymous or the same user's session.
            #[pyo3(signature = (user_id, *, from_id=None, set=None, unset=None, ttl=None, expires_at=None, ip_address=None, user_agent=None, organization_id=None))]
            #[allow(clippy::too_many_arguments)]
            fn login<'py>(
                &self,
                py: Python<'py>,
                user_id: &Bound<'py, PyAny>,
                from_id: Option<&Bound<'py, PyAny>>,
                set: Option<&Bound<'py, PyAny>>,
                unset: Option<&Bound<'py, PyAny>>,
                ttl: Option<&Bound<'py, PyAny>>,
                expires_at: Option<&Bound<'py, PyAny>>,
                ip_address: Option<&Bound<'py, PyAny>>,
                user_agent: Option<&Bound<'py, PyAny>>,
                organization_id: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = self.core.login(
                    user_id,
                    from_id,
                    set,
                    unset,
                    (ttl, expires_at),
                    ip_address,
                    user_agent,
                    organization_id,
                );
                $run(py, &self.core, args, |s, l| async move {
                    Ok(Out::Session(Box::new(s.login(l).await?)))
                })
            }

            /// `update`, creating the session when its id is unknown; an ended id stays
            /// ended (`SessionNotFoundError`).
            fn upsert<'py>(&self, py: Python<'py>, session: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, self.core.update(session), |s, u| async move {
                    Ok(Out::Session(Box::new(s.upsert(u).await?)))
                })
            }

            /// Gives the session a new id; the old one is gone.
            fn rotate<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, id_arg(id), |s, id| async move {
                    Ok(Out::Session(Box::new(s.rotate(&id).await?)))
                })
            }

            /// Deletes a session (missing is fine).
            fn delete<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, id_arg(id), |s, id| async move {
                    s.delete(&id).await?;
                    Ok(Out::Unit)
                })
            }

            /// `delete` of a session by the id a listing showed (`id_at_rest`): with
            /// `ids_at_rest`, listings show hashes, which `delete` would hash again.
            fn delete_at_rest<'py>(&self, py: Python<'py>, id: &Bound<'py, PyAny>) -> PyResult<$ret> {
                $run(py, &self.core, id_arg(id), |s, id| async move {
                    s.delete_at_rest(&id).await?;
                    Ok(Out::Unit)
                })
            }

            /// What listings show as the id of the session with this id: the id itself, or
            /// with `ids_at_rest` its hash ("this device" on an active-sessions page).
            fn id_at_rest(&self, id: &str) -> String {
                self.core.0.id_at_rest(id)
            }

            /// Deletes this site's sessions of a user; returns how many.
            fn delete_by_user_id<'py>(
                &self,
                py: Python<'py>,
                user_id: &Bound<'py, PyAny>,
            ) -> PyResult<$ret> {
                let user = required_user(user_id);
                $run(py, &self.core, user, |s, u| async move {
                    Ok(Out::Count(s.delete_by_user_id(&u).await?))
                })
            }

            /// This site's live sessions of a user, oldest first.
            fn list_by_user_id<'py>(
                &self,
                py: Python<'py>,
                user_id: &Bound<'py, PyAny>,
            ) -> PyResult<$ret> {
                let user = required_user(user_id);
                $run(py, &self.core, user, |s, u| async move {
                    Ok(Out::Sessions(s.list_by_user_id(&u).await?))
                })
            }

            /// One page of this site's live sessions: {"sessions": [...], "cursor": str | None}.
            #[pyo3(signature = (cursor=None, limit=None))]
            fn list<'py>(
                &self,
                py: Python<'py>,
                cursor: Option<&Bound<'py, PyAny>>,
                limit: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<$ret> {
                let args = (|| {
                    let cursor = opt_str(cursor, "cursor")?;
                    let limit = match limit.filter(|l| !l.is_none()) {
                        None => None,
                        Some(l) if l.is_instance_of::<PyBool>() => {
                            return Err(invalid("limit must be an int", "limit"));
                        }
                        Some(l) => Some(l.extract::<usize>().unwrap_or(usize::MAX)),
                    };
                    Ok((cursor, limit))
                })();
                $run(py, &self.core, args, |s, (c, l)| async move {
                    Ok(Out::Page(s.list(c.as_deref(), l).await?))
                })
            }

            /// Number of this site's live sessions.
            fn count<'py>(&self, py: Python<'py>) -> PyResult<$ret> {
                $run(py, &self.core, Ok(()), |s, ()| async move { Ok(Out::Count(s.count().await?)) })
            }

            /// Removes every session of this site; returns how many were live.
            fn clear<'py>(&self, py: Python<'py>) -> PyResult<$ret> {
                $run(py, &self.core, Ok(()), |s, ()| async move { Ok(Out::Count(s.clear().await?)) })
            }

            /// Removes expired sessions now; returns how many.
            fn cleanup<'py>(&self, py: Python<'py>) -> PyResult<$ret> {
                $run(py, &self.core, Ok(()), |s, ()| async move { Ok(Out::Count(s.cleanup().await?)) })
            }

            /// Closes the store (idempotent); later operations raise StoreClosedError.
            fn close<'py>(&self, py: Python<'py>) -> PyResult<$ret> {
                $run(py, &self.core, Ok(()), |s, ()| async move {
                    s.close().await?;
                    Ok(Out::Unit)
                })
            }
        }
    };
}

/// The asyncio store: every operation returns an awaitable.
#[pyclass(frozen, module = "omnisession._native")]
struct AsyncStore {
    core: Core,
}

/// The blocking store (Django, WSGI, scripts): every operation releases the GIL while it runs.
#[pyclass(frozen, module = "omnisession._native")]
struct Store {
    core: Core,
}

store_ops!(AsyncStore, op_async, Bound<'py, PyAny>, {
    /// Opens a store (awaitable). Options as keyword arguments, docs/design.md's names in snake_case.
    #[staticmethod]
    #[pyo3(signature = (**options))]
    fn open<'py>(
        py: Python<'py>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let locals =
            pyo3_async_runtimes::generic::get_current_locals::<runtime::GuardedRuntime>(py)?;
        let options = options_from_py(py, options, Some(&locals));
        let guarded = async move {
            AssertUnwindSafe(async move { CoreStore::open(options?).await })
                .catch_unwind()
                .await
                .unwrap_or_else(|p| Err(runtime::panic_error(p.as_ref())))
                .map(|store| AsyncStore { core: Core(store) })
                .into_py_result()
        };
        pyo3_async_runtimes::generic::future_into_py::<runtime::GuardedRuntime, _, _>(py, guarded)
    }

    fn __aenter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        let py = slf.py();
        let me = slf.unbind();
        pyo3_async_runtimes::generic::future_into_py::<runtime::GuardedRuntime, _, _>(
            py,
            async move { Ok(me) },
        )
    }

    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        op_async(py, &self.core, Ok(()), |s, ()| async move {
            s.close().await?;
            Ok(Out::Unit)
        })
    }

    fn __repr__(&self) -> String {
        describe("AsyncStore", &self.core.0)
    }
});

store_ops!(Store, op_blocking, Out, {
    /// Opens a store (blocking). Options as keyword arguments, docs/design.md's names in snake_case.
    #[staticmethod]
    #[pyo3(signature = (**options))]
    fn open(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Store> {
        let options = options_from_py(py, options, None).into_py_result()?;
        let store = runtime::block_on(py, CoreStore::open(options)).into_py_result()?;
        Ok(Store { core: Core(store) })
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        runtime::block_on(py, self.core.0.close()).into_py_result()
    }

    fn __repr__(&self) -> String {
        describe("Store", &self.core.0)
    }
});

fn describe(class: &str, store: &CoreStore) -> String {
    let backend = match &store.options().backend {
        BackendConfig::Memory => "memory",
        BackendConfig::Sqlite { .. } => "sqlite",
        BackendConfig::File { .. } => "file",
        BackendConfig::Redis { .. } => "redis",
        BackendConfig::Custom(_) => "custom",
    };
    format!(
        "<omnisession.{class} backend={backend} site_id={:?}>",
        store.options().site_id
    )
}

/// A clock that moves only when told to (tests; the conformance vectors' `advance`).
#[pyclass(frozen, module = "omnisession._native")]
struct ManualClock {
    inner: Arc<omnisession::ManualClock>,
}

#[pymethods]
impl ManualClock {
    /// A clock standing at `now` (an aware `datetime`; default: the current time).
    #[new]
    #[pyo3(signature = (now=None))]
    fn new(now: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let ms = match now {
            None => omnisession::Clock::now(&omnisession::SystemClock).unix_ms(),
            Some(n) => datetime_ms(n)?
                .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("now must be a datetime"))?,
        };
        Ok(Self {
            inner: Arc::new(omnisession::ManualClock::new(ms)),
        })
    }

    /// Moves the clock by a `timedelta` or a number of seconds (negative moves it back).
    fn advance(&self, delta: &Bound<'_, PyAny>) -> PyResult<()> {
        let ms = duration_ms(delta)?
            .and_then(|v| v.as_i64())
            .ok_or_else(|| {
                pyo3::exceptions::PyTypeError::new_err("delta must be a timedelta or seconds")
            })?;
        self.inner.advance(ms);
        Ok(())
    }

    /// Sets the clock to `now` (a `datetime`).
    fn set(&self, now: &Bound<'_, PyAny>) -> PyResult<()> {
        let ms = datetime_ms(now)?
            .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("now must be a datetime"))?;
        self.inner.set(ms);
        Ok(())
    }

    /// The clock's time, as an aware `datetime`.
    fn now<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, omnisession::Clock::now(self.inner.as_ref()))
    }
}

/// An in-process memory backend that several stores share (one per site, say); pass it as
/// `backend=`. A store opened with `backend="memory"` has a memory of its own.
#[pyclass(frozen, module = "omnisession._native")]
struct MemoryBackend {
    inner: Arc<omnisession::backend::memory::MemoryBackend>,
}

#[pymethods]
impl MemoryBackend {
    #[new]
    fn new() -> Self {
        Self {
            inner: Arc::new(omnisession::backend::memory::MemoryBackend::new()),
        }
    }
}

/// The salted hash that stands for a session id in violation events, logs and errors.
#[pyfunction]
fn hash_session_id(id: &str) -> String {
    omnisession::id::hash(id)
}

/// atexit: stop taking the GIL from runtime threads and wait for the ones that do.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    runtime::shutdown(py, Duration::from_secs(2));
}

/// os.register_at_fork(after_in_child=...): forget the parent's in-flight work.
#[pyfunction]
fn _after_fork() {
    runtime::after_fork();
}

/// Waits until violation events and log records queued so far were handed to Python.
#[pyfunction]
#[pyo3(signature = (timeout=5.0))]
fn _flush_callbacks(py: Python<'_>, timeout: f64) -> bool {
    callbacks::flush(py, Duration::from_secs_f64(timeout.clamp(0.0, 3600.0)))
}

/// Test hook: a panic inside a core call path, blocking (`asynchronous=False`) or as an
/// awaitable; it must surface as `BackendError`.
#[pyfunction]
#[pyo3(signature = (asynchronous=false))]
fn _panic_for_tests(py: Python<'_>, asynchronous: bool) -> PyResult<Bound<'_, PyAny>> {
    // A future that panics when polled, as a bug deep in a store operation would.
    let boom = || async {
        let value: Option<Out> = std::hint::black_box(None);
        Ok(value.expect("deliberate panic for the tests"))
    };
    if asynchronous {
        run_async(py, boom())
    } else {
        let out = runtime::block_on(py, boom()).into_py_result()?;
        out.into_pyobject(py)
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    callbacks::install_logging();
    m.add_class::<AsyncStore>()?;
    m.add_class::<Store>()?;
    m.add_class::<ManualClock>()?;
    m.add_class::<MemoryBackend>()?;
    m.add_class::<sealed::Sealer>()?;
    m.add_class::<sealed::SeedsOpener>()?;
    m.add_function(wrap_pyfunction!(hash_session_id, m)?)?;
    m.add_function(wrap_pyfunction!(cli::_cli_run, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(_flush_callbacks, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add("_BUILD_PROFILE", omnisession::BUILD_PROFILE)?;
    Ok(())
}
