//! Core → Python: violation callbacks and log records.
//!
//! The core reports from wherever an operation runs (a tokio worker, or a Python thread that
//! released the GIL), often while a backend step is in progress. Nothing there may take the
//! GIL or run Python code, so events are queued to one dispatcher thread per process, which
//! hands them to `omnisession._callbacks` under a runtime [`Guard`]: a sync callback runs on
//! the store's event loop (`call_soon_threadsafe`), an async one is scheduled on it, and with no
//! loop (the blocking `Store`) the callback runs on the dispatcher thread. Exceptions are logged
//! through the `omnisession` logger and never reach the store operation.

use crate::convert::datetime;
use crate::runtime::Guard;
use omnisession::{Violation, ViolationSink};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::fmt::{self, Write as _};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

enum Job {
    Violation(Arc<PySink>, Box<Violation>),
    Log(u8, String),
    Barrier(Sender<()>),
}

/// (pid of the process that started the thread, its queue).
static QUEUE: Mutex<Option<(u32, Sender<Job>)>> = Mutex::new(None);

fn send(job: Job) {
    let pid = std::process::id();
    let mut slot = QUEUE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, tx)) = slot.as_ref()
        && *owner == pid
    {
        let _ = tx.send(job);
        return;
    }
    let (tx, rx) = channel::<Job>();
    let started = std::thread::Builder::new()
        .name("omnisession-callbacks".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                run(job);
            }
        });
    if started.is_ok() {
        let _ = tx.send(job);
        *slot = Some((pid, tx));
    }
}

fn run(job: Job) {
    let job = match job {
        Job::Barrier(done) => {
            let _ = done.send(());
            return;
        }
        other => other,
    };
    let Some(_guard) = Guard::enter() else {
        return;
    };
    Python::attach(|py| {
        let result = match &job {
            Job::Violation(sink, v) => deliver(py, sink, v),
            Job::Log(level, message) => log(py, *level, message),
            Job::Barrier(_) => Ok(()),
        };
        if let Err(e) = result {
            e.print(py);
        }
    });
}

fn helpers(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("omnisession._callbacks")
}

fn deliver(py: Python<'_>, sink: &PySink, v: &Violation) -> PyResult<()> {
    let event = violation_to_py(py, v)?;
    let event_loop = sink.event_loop.as_ref().map(|l| l.bind(py).clone());
    helpers(py)?.call_method1("deliver", (sink.callback.bind(py), event_loop, event))?;
    Ok(())
}

fn log(py: Python<'_>, level: u8, message: &str) -> PyResult<()> {
    helpers(py)?.call_method1("log", (level, message))?;
    Ok(())
}

/// A violation as the dict `on_violation` receives.
pub fn violation_to_py<'py>(py: Python<'py>, v: &Violation) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("type", v.kind.as_str())?;
    d.set_item("session_id_hash", v.session_id_hash.as_deref())?;
    d.set_item("user_id", v.user_id.as_deref())?;
    d.set_item("site_id", &v.site_id)?;
    d.set_item("size", v.size)?;
    d.set_item("limit", v.limit)?;
    d.set_item("message", &v.message)?;
    d.set_item("at", datetime(py, v.at)?)?;
    Ok(d)
}

/// Waits (GIL released) until every event queued so far has been handed to Python.
pub fn flush(py: Python<'_>, timeout: Duration) -> bool {
    let (tx, rx) = channel();
    send(Job::Barrier(tx));
    py.detach(move || rx.recv_timeout(timeout).is_ok())
}

/// A store's `on_violation`: a Python callable and the event loop it belongs to, if any.
pub struct PySink {
    callback: Py<PyAny>,
    event_loop: Option<Py<PyAny>>,
}

impl PySink {
    /// A sink for `callback`, delivering on `event_loop` when given.
    pub fn new(callback: Py<PyAny>, event_loop: Option<Py<PyAny>>) -> Arc<Self> {
        Arc::new(Self {
            callback,
            event_loop,
        })
    }
}

impl fmt::Debug for PySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PySink")
    }
}

/// The core's sink for one store (the `Arc` is shared with the queued events).
#[derive(Debug)]
pub struct Sink(pub Arc<PySink>);

impl ViolationSink for Sink {
    fn report(&self, violation: &Violation) {
        send(Job::Violation(
            Arc::clone(&self.0),
            Box::new(violation.clone()),
        ));
    }
}

/// Forwards the core's `tracing` events (target `omnisession`) to the `omnisession` logger.
pub struct LogLayer;

impl<S: Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !event.metadata().target().starts_with("omnisession") {
            return;
        }
        let level = match *event.metadata().level() {
            Level::ERROR => 40,
            Level::WARN => 30,
            Level::INFO => 20,
            Level::DEBUG => 10,
            Level::TRACE => 5,
        };
        let mut text = Text::default();
        event.record(&mut text);
        let message = if text.fields.is_empty() {
            text.message
        } else {
            format!("{} ({})", text.message, text.fields.trim_start())
        };
        send(Job::Log(level, message));
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.message);
        } else if !value.is_empty() {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

/// Installs [`LogLayer`] as this extension's `tracing` subscriber.
pub fn install_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(LogLayer);
    let _ = tracing::subscriber::set_global_default(subscriber);
}
