//! The one tokio runtime of the process, configured here and nowhere else.
//!
//! A host may hand the core its own runtime's handle ([`install_handle`]; Node's napi owns the
//! runtime it is given). Core code never caches a handle: [`handle`] prefers the runtime it is
//! running on, then the installed handle, then a runtime the core builds on first use.

use once_cell::sync::{Lazy, OnceCell};
use std::future::Future;
use std::sync::RwLock;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

/// The builder every runtime of this process is made from (thread names, drivers).
pub fn builder() -> Builder {
    let mut b = Builder::new_multi_thread();
    b.thread_name("omnisession-rt").enable_all();
    b
}

/// [`builder`] for a binding's runtime: the host's own thread (Node's event loop, Python's)
/// does the other half of every operation, so it is left a core. On 2 cores one worker
/// serves a Node Redis get at 64 in flight 1.3x faster than two that contend with it.
/// `TOKIO_WORKER_THREADS` still decides when set.
pub fn host_builder() -> Builder {
    let mut b = builder();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        b.worker_threads(cores.saturating_sub(1).max(1));
    }
    b
}

static INSTALLED: Lazy<RwLock<Option<Handle>>> = Lazy::new(|| RwLock::new(None));
static OWNED: OnceCell<Runtime> = OnceCell::new();

/// Registers a host-owned runtime's handle (replacing an earlier one).
pub fn install_handle(handle: Handle) {
    *INSTALLED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
}

/// The runtime the core owns, built on first use (hosts that own none use this one).
///
/// # Panics
/// If the operating system refuses the runtime's threads.
pub fn owned() -> &'static Runtime {
    OWNED.get_or_init(|| {
        builder()
            .build()
            .expect("cannot start the omnisession tokio runtime")
    })
}

/// The handle to run core tasks on: the current runtime, else the installed one, else ours.
pub fn handle() -> Handle {
    if let Ok(current) = Handle::try_current() {
        return current;
    }
    if let Some(installed) = INSTALLED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
    {
        return installed;
    }
    owned().handle().clone()
}

/// Spawns a task on [`handle`].
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(future)
}

/// Runs blocking work (SQLite, files) off the async workers.
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    handle().spawn_blocking(f)
}

/// Blocks the calling (non-runtime) thread on a future: the blocking host APIs.
pub fn block_on<F: Future>(future: F) -> F::Output {
    match INSTALLED
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
    {
        Some(h) => h.block_on(future),
        None => owned().block_on(future),
    }
}
