//! The process's tokio runtime as Python sees it: fork-safe, never holding the GIL on its
//! threads, and drained at interpreter exit.
//!
//! - The runtime is built from the core's builder and its handle installed in the core
//!   (`omnisession::runtime::install_handle`). A child of `os.fork()` has none of the parent's
//!   threads, so when the process id changes a new runtime is built (the parent's is leaked:
//!   dropping it would wait for threads that do not exist), as lancedb does.
//! - Every piece of work that takes the GIL from a runtime thread (delivering a result to an
//!   asyncio future, calling a custom backend or a callback) holds an in-flight [`Guard`].
//!   At exit, `_shutdown` (registered with `atexit`) refuses new guards and waits, with the GIL
//!   released, for the running ones: a thread that re-takes the GIL while CPython finalizes is
//!   killed mid-Rust-frame and crashes the process.

use omnisession::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The runtime of this process: (pid that built it, its handle).
static RUNTIME: Mutex<Option<(u32, Handle)>> = Mutex::new(None);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static CLOSING: AtomicBool = AtomicBool::new(false);

/// The handle of this process's runtime, built on first use and rebuilt after a fork.
pub fn handle() -> Handle {
    let pid = std::process::id();
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, handle)) = slot.as_ref()
        && *owner == pid
    {
        return handle.clone();
    }
    let runtime = omnisession::runtime::host_builder()
        .build()
        .expect("cannot start the omnisession tokio runtime");
    let handle = runtime.handle().clone();
    // Never dropped: the runtime lives as long as the process (and a parent's runtime, left
    // behind in a forked child, must not be shut down there).
    std::mem::forget(runtime);
    omnisession::runtime::install_handle(handle.clone());
    *slot = Some((pid, handle.clone()));
    handle
}

/// Forgets the parent's state in a forked child (`os.register_at_fork(after_in_child=...)`).
pub fn after_fork() {
    IN_FLIGHT.store(0, Ordering::SeqCst);
    CLOSING.store(false, Ordering::SeqCst);
}

/// Permission to take the GIL from a runtime thread; refused once the interpreter exits.
pub struct Guard(());

impl Guard {
    /// A guard, or `None` when the interpreter is shutting down.
    pub fn enter() -> Option<Guard> {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        if CLOSING.load(Ordering::SeqCst) {
            IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Guard(()))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Refuses new guards and waits (GIL released, at most `timeout`) for the running ones.
pub fn shutdown(py: Python<'_>, timeout: Duration) {
    CLOSING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + timeout;
        while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// The error of a panic caught at the binding's edge: it never crosses into Python.
pub fn panic_error(panic: &(dyn std::any::Any + Send)) -> Error {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(
        ErrorKind::BackendError,
        format!("internal error (a Rust panic): {text}"),
    )
}

/// Runs a future to completion on the calling (Python) thread with the GIL released.
///
/// From a thread that is already inside the runtime (a custom backend or a callback calling
/// the blocking API), the future runs on a scoped helper thread instead of panicking.
pub fn block_on<F, T>(py: Python<'_>, future: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>> + Send,
    T: Send,
{
    let handle = handle();
    py.detach(move || {
        let run = move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| handle.block_on(future)))
                .unwrap_or_else(|p| Err(panic_error(p.as_ref())))
        };
        if Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(run)
                    .join()
                    .unwrap_or_else(|p| Err(panic_error(p.as_ref())))
            })
        } else {
            run()
        }
    })
}

/// Runs blocking work that needs the GIL on the runtime's blocking pool, under a [`Guard`].
pub async fn with_gil<F, T>(what: &str, f: F) -> Result<T, Error>
where
    F: for<'py> FnOnce(Python<'py>) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let task = handle().spawn_blocking(move || {
        let Some(_guard) = Guard::enter() else {
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                "the Python interpreter is shutting down",
            ));
        };
        Python::attach(f)
    });
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(panic_error(e.into_panic().as_ref())),
        Err(e) => Err(Error::new(
            ErrorKind::BackendError,
            format!("{what} was cancelled: {e}"),
        )),
    }
}

tokio::task_local! {
    static LOCALS: once_cell::unsync::OnceCell<TaskLocals>;
}

/// pyo3-async-runtimes' runtime seam over our runtime, with guarded result delivery.
pub struct GuardedRuntime;

impl GenericRuntime for GuardedRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        handle().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        handle().spawn_blocking(move || {
            // Refused at exit: `f` (and the Python references it holds) is dropped without
            // the GIL, which pyo3 defers safely.
            if let Some(_guard) = Guard::enter() {
                f();
            }
        })
    }
}

impl ContextExt for GuardedRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = once_cell::unsync::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}
