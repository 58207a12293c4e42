//! How an `AsyncStore` operation becomes an awaitable: an asyncio future of the running loop,
//! settled on the loop's thread.
//!
//! - The core future is polled once right away, on the loop's thread: what completes without
//!   waiting (a memory-backend operation, a refused argument) returns a future that is already
//!   done, so `await` returns at once.
//! - Anything else finishes on the runtime and queues its result for its loop. Only the result
//!   that finds the queue empty wakes the loop, which then settles everything queued by then.
//!   The wake is one byte written to a socket the loop watches (`add_reader`): no GIL and no
//!   thread besides the runtime's. A loop without `add_reader` (Windows' proactor) is woken with
//!   `call_soon_threadsafe` instead, which needs the GIL, taken once per drain on the blocking
//!   pool. Taking the GIL from a runtime thread for every result (pyo3-async-runtimes' way)
//!   makes each completion wait for the loop to let go of the GIL, one at a time.
//!
//! A future cancelled in Python is skipped when its result arrives; the operation itself runs
//! to its end, so a cancelled write is either done or not started, never half done.

use crate::convert::Out;
use crate::runtime::{self, Guard};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::future::Future;
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

/// Runs `fut` as an asyncio awaitable of the running loop.
pub fn awaitable<F>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<Out>> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    let first = {
        let _runtime = runtime::handle().enter();
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    };
    let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
    let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    match first {
        Poll::Ready(result) => settle(py, &future, result)?,
        Poll::Pending => {
            let queue = Queue::of(py, &event_loop)?;
            let waiting = future.clone().unbind();
            runtime::handle().spawn(async move {
                let result = fut.await;
                queue.push(waiting, result);
            });
        }
    }
    Ok(future)
}

/// Sets `future`'s outcome, unless it was cancelled meanwhile.
fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, result: PyResult<Out>) -> PyResult<()> {
    if future
        .call_method0(pyo3::intern!(py, "done"))?
        .is_truthy()?
    {
        return Ok(());
    }
    match result.and_then(|value| value.into_pyobject(py).map(Bound::into_any)) {
        Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
        Err(e) => future.call_method1(pyo3::intern!(py, "set_exception"), (e.value(py),))?,
    };
    Ok(())
}

type Waiting = Vec<(Py<PyAny>, PyResult<Out>)>;

/// The results waiting for one event loop.
struct Queue {
    event_loop: Py<PyAny>,
    waiting: Mutex<Waiting>,
    /// The end of the socket the loop watches, once it watches it (module docs).
    wake: OnceLock<UnixStream>,
}

/// Each loop's queue, held by the loop (a weak key: it goes with the loop).
static QUEUES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl Queue {
    fn of(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Queue>> {
        let queues = QUEUES
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(
                    py.import("weakref")?
                        .call_method0("WeakKeyDictionary")?
                        .unbind(),
                )
            })?
            .bind(py);
        let known = queues.call_method1(pyo3::intern!(py, "get"), (event_loop,))?;
        if let Ok(drain) = known.cast::<Drain>() {
            return Ok(Arc::clone(&drain.get().queue));
        }
        let queue = Arc::new(Queue {
            event_loop: event_loop.clone().unbind(),
            waiting: Mutex::new(Vec::new()),
            wake: OnceLock::new(),
        });
        let (wake, woken) = match UnixStream::pair() {
            Ok((w, r)) if w.set_nonblocking(true).is_ok() && r.set_nonblocking(true).is_ok() => {
                (Some(w), Some(r))
            }
            _ => (None, None),
        };
        let fd = woken.as_ref().map(AsRawFd::as_raw_fd);
        let drain = Bound::new(
            py,
            Drain {
                queue: Arc::clone(&queue),
                woken,
            },
        )?;
        if let (Some(fd), Some(wake)) = (fd, wake) {
            // Refused (a loop without readers), the queue keeps `call_soon_threadsafe`.
            if event_loop
                .call_method1(pyo3::intern!(py, "add_reader"), (fd, &drain))
                .is_ok()
            {
                let _ = queue.wake.set(wake);
            }
        }
        queues.set_item(event_loop, drain)?;
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a result; the first one since the last drain schedules the next drain.
    fn push(self: Arc<Self>, future: Py<PyAny>, result: PyResult<Out>) {
        let first = {
            let mut waiting = self.lock();
            waiting.push((future, result));
            waiting.len() == 1
        };
        if !first {
            return;
        }
        if let Some(wake) = self.wake.get() {
            // A full socket already holds a wake the loop has not read: nothing is lost.
            let _ = (&*wake).write(&[1]);
            return;
        }
        // The GIL is taken on the blocking pool (never on an async worker) and only while
        // the interpreter is not exiting; refused, the results are dropped with their loop.
        runtime::handle().spawn_blocking(move || {
            let Some(_guard) = Guard::enter() else {
                return;
            };
            Python::attach(|py| {
                let drain = Drain {
                    queue: Arc::clone(&self),
                    woken: None,
                };
                let scheduled = self.event_loop.bind(py).call_method1(
                    pyo3::intern!(py, "call_soon_threadsafe"),
                    (Bound::new(py, drain).map(Bound::into_any)?,),
                );
                if scheduled.is_err() {
                    // A closed loop: nobody is waiting for these futures any more.
                    drop(std::mem::take(&mut *self.lock()));
                }
                scheduled.map(drop)
            })
            .unwrap_or_else(|e: PyErr| {
                tracing::debug!(target: "omnisession", error = %e, "results dropped: their event loop is gone");
            });
        });
    }
}

/// Settles every result queued for its loop (called on the loop's thread).
#[pyclass(frozen, module = "omnisession._native")]
struct Drain {
    queue: Arc<Queue>,
    /// The end of the wake socket the loop reads, if it has one.
    woken: Option<UnixStream>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        if let Some(woken) = &self.woken {
            // Every wake byte before taking the queue: a result queued after the take wakes
            // the loop again.
            let mut bytes = [0u8; 64];
            while matches!((&*woken).read(&mut bytes), Ok(n) if n > 0) {}
        }
        let waiting = std::mem::take(&mut *self.queue.lock());
        for (future, result) in waiting {
            if let Err(e) = settle(py, future.bind(py), result) {
                e.write_unraisable(py, Some(future.bind(py)));
            }
        }
    }
}
