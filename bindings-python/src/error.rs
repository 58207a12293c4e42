//! Core errors → the Python exception classes of `omnisession.exceptions`.
//!
//! Exceptions are built lazily (class + arguments, no GIL needed), so a tokio thread can
//! produce one; the class's `__init__` sets `.code`, `.details` and `__cause__`.

use crate::convert::PyJson;
use omnisession::error::Source;
use omnisession::{Error, ErrorKind};
use pyo3::import_exception;
use pyo3::prelude::*;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

import_exception!(omnisession.exceptions, SessionError);
import_exception!(omnisession.exceptions, SessionInvalidError);
import_exception!(omnisession.exceptions, SessionNotSerializableError);
import_exception!(omnisession.exceptions, SessionSizeExceededError);
import_exception!(omnisession.exceptions, SessionNotFoundError);
import_exception!(omnisession.exceptions, SessionExpiredError);
import_exception!(omnisession.exceptions, SessionLimitExceededError);
import_exception!(omnisession.exceptions, SessionConflictError);
import_exception!(omnisession.exceptions, StoreClosedError);
import_exception!(omnisession.exceptions, BackendUnavailableError);
import_exception!(omnisession.exceptions, BackendError);
import_exception!(omnisession.exceptions, ConfigInvalidError);

/// A Python exception carried through the core as an error's source (a custom backend that
/// raised), so that the exception the caller sees has it as `__cause__`.
pub struct PyCause {
    exception: Py<PyAny>,
    text: String,
}

impl PyCause {
    /// Wraps a Python exception (the GIL is held: its text is taken now).
    pub fn new(py: Python<'_>, err: &PyErr) -> Self {
        let value = err.value(py);
        let text = value
            .str()
            .map_or_else(|_| "<unprintable exception>".to_owned(), |s| s.to_string());
        let name = value
            .get_type()
            .name()
            .map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
        Self {
            exception: value.clone().unbind().into_any(),
            text: format!("{name}: {text}"),
        }
    }
}

impl fmt::Debug for PyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PyCause({})", self.text)
    }
}

impl fmt::Display for PyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for PyCause {}

/// The `__cause__` argument: resolved to the Python exception under the GIL.
struct Cause(Option<Source>);

impl<'py> IntoPyObject<'py> for Cause {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        match self.0.as_deref().and_then(|e| e.downcast_ref::<PyCause>()) {
            Some(c) => Ok(c.exception.bind(py).clone()),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

/// The Python exception for a core error.
pub fn to_py(e: &Error) -> PyErr {
    let args = (
        e.to_string(),
        PyJson(Value::Object(e.details().clone())),
        Cause(e.cause().cloned()),
    );
    match e.kind() {
        ErrorKind::SessionInvalid => SessionInvalidError::new_err(args),
        ErrorKind::SessionNotSerializable => SessionNotSerializableError::new_err(args),
        ErrorKind::SessionSizeExceeded => SessionSizeExceededError::new_err(args),
        ErrorKind::SessionNotFound => SessionNotFoundError::new_err(args),
        ErrorKind::SessionExpired => SessionExpiredError::new_err(args),
        ErrorKind::SessionLimitExceeded => SessionLimitExceededError::new_err(args),
        ErrorKind::SessionConflict => SessionConflictError::new_err(args),
        ErrorKind::StoreClosed => StoreClosedError::new_err(args),
        ErrorKind::BackendUnavailable => BackendUnavailableError::new_err(args),
        ErrorKind::BackendError => BackendError::new_err(args),
        ErrorKind::ConfigInvalid => ConfigInvalidError::new_err(args),
        // A kind newer than this binding: the base class, with the code as given.
        other => SessionError::new_err((args.0, args.1, args.2, other.code())),
    }
}

/// A Python exception raised by host code (a custom backend) as a core error: an
/// `omnisession.SessionError` keeps its code, anything else is `BACKEND_ERROR`; the exception
/// is kept as the cause.
pub fn from_py(py: Python<'_>, err: &PyErr, context: &str) -> Error {
    let value = err.value(py);
    let cause = PyCause::new(py, err);
    let own = value
        .is_instance_of::<SessionError>()
        .then(|| value.getattr("code").ok()?.extract::<String>().ok())
        .flatten()
        .and_then(|code| ErrorKind::from_code(&code));
    let e = match own {
        Some(kind) => Error::new(kind, format!("{context}: {}", cause.text)),
        None => Error::new(
            ErrorKind::BackendError,
            format!("{context} raised {}", cause.text),
        ),
    };
    e.with_source(Arc::new(cause))
}

/// `Result<T, core Error>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error to its Python exception.
    fn into_py_result(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn into_py_result(self) -> PyResult<T> {
        self.map_err(|e| to_py(&e))
    }
}
