//! The one way an operation becomes a Promise: run the core future, catch a panic
//! (`BACKEND_ERROR`), settle on the JS thread.
//!
//! napi's generic bridge costs more per call than a memory read itself: it makes a threadsafe
//! function and an `Error` (for its stack trace) per Promise, spawns two runtime tasks, and
//! every call crosses to a runtime worker and back even when the answer is ready at once.
//! Here instead:
//! - the future is polled once on the JS thread, inside the runtime's context: whatever
//!   completes without waiting (a memory-backend operation, a refused argument) settles its
//!   Promise before the call returns, with no thread hop;
//! - anything else finishes on the runtime and queues its result for the env's single
//!   threadsafe function, which settles every result queued since its last turn at once.
//!
//! Polling first on another thread is sound for any future: the first poll on the runtime
//! registers the real waker, and a future only ever wakes the waker of its latest poll.
//!
//! `unsafe` is here, in `transfer/mod.rs` and in `bound.rs` only: raw Node-API calls, each on the
//! thread Node-API asks for (said at each block).
#![allow(unsafe_code)]

use crate::error;
use crate::transfer::{self, Sessions};
use futures_util::FutureExt as _;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue, Unknown, spawn, within_runtime_if_available};
use napi::{Env, JsError, JsValue as _, check_status, sys};
use omnisession::Error;
use std::ffi::c_void;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Runs `fut` and returns a Promise that resolves with `to_js_value` of its result, or rejects
/// with a `SessionError`.
pub fn promise<'env, T, V, F, C>(
    env: &'env Env,
    fut: F,
    to_js_value: C,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> napi::Result<V> + Send + 'static,
{
    let promise = match start(env, fut, to_js_value)? {
        First::Ready(result, to_js_value) => settled(env, conclude(env, result, to_js_value))?,
        First::Pending(promise) => promise,
    };
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// Runs `fut`, whose result is made of sessions. Ready at once, it is written for
/// `transfer.js` to decode on the spot and this returns `true` (or `null`: no session), with
/// no Promise made here; otherwise a Promise of the decoded result. A failure is always a
/// rejected Promise.
pub fn sessions<'env, T, F>(env: &'env Env, fut: F) -> napi::Result<Unknown<'env>>
where
    T: Sessions,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    let to_js = |env: &'env Env, v: T| transfer::to_js(env, &v);
    let failure = match start(env, fut, to_js)? {
        First::Ready(Ok(v), _) => match transfer::to_written(env, &v) {
            Ok(written) => return Ok(written),
            Err(e) => e,
        },
        First::Ready(Err(e), _) => error::to_js(env, &e),
        // SAFETY: a Promise just made on the JS thread of `env`.
        First::Pending(promise) => {
            return Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), promise) });
        }
    };
    // SAFETY: on the JS thread of `env`.
    let reason = unsafe { JsError::from(failure).into_value(env.raw()) };
    let promise = settled(env, Err(reason))?;
    // SAFETY: a Promise just made on the JS thread of `env`.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), promise) })
}

/// A Promise settled with `outcome` already.
fn settled(env: &Env, outcome: Outcome) -> napi::Result<sys::napi_value> {
    let (deferred, promise) = new_promise(env)?;
    // SAFETY: on the JS thread of `env`, with the deferred it made.
    unsafe { settle(env.raw(), deferred, outcome) };
    Ok(promise)
}

/// What the first poll of an operation left.
enum First<T, C> {
    /// Its result, and the converter the caller still holds.
    Ready(Result<T, Error>, C),
    /// The Promise the completion queue will settle.
    Pending(sys::napi_value),
}

/// Polls `fut` once on the JS thread; if it must wait, hands it to the runtime with a
/// Promise that `to_js_value` of its result settles.
fn start<'env, T, V, F, C>(env: &'env Env, fut: F, to_js_value: C) -> napi::Result<First<T, C>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> napi::Result<V> + Send + 'static,
{
    let mut guarded = Box::pin(async move {
        AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(error::panicked(&*p)))
    });
    let first = within_runtime_if_available(|| {
        guarded
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    });
    if let Poll::Ready(result) = first {
        return Ok(First::Ready(result, to_js_value));
    }
    let (deferred, promise) = new_promise(env)?;
    let queue = Completions::of(env)?.begin(env)?;
    let deferred = Deferred(deferred);
    spawn(async move {
        let result = guarded.await;
        queue.push(Done {
            deferred,
            settle: Box::new(move |raw| {
                let env = Env::from_raw(raw);
                // SAFETY: the value is turned into a raw handle before `env` goes; the
                // `'env` of the converter's signature is the caller's, not this one.
                let env: &'env Env = unsafe { &*ptr::from_ref(&env) };
                conclude(env, result, to_js_value)
            }),
        });
    });
    Ok(First::Pending(promise))
}

/// A settled outcome: the value to resolve with, or the one to reject with.
type Outcome = Result<sys::napi_value, sys::napi_value>;

fn conclude<'env, T, V: ToNapiValue>(
    env: &'env Env,
    result: Result<T, Error>,
    to_js_value: impl FnOnce(&'env Env, T) -> napi::Result<V>,
) -> Outcome {
    let value = result
        .map_err(|e| error::to_js(env, &e))
        .and_then(|v| to_js_value(env, v))
        // SAFETY: on the JS thread of `env`.
        .and_then(|v| unsafe { V::to_napi_value(env.raw(), v) });
    // SAFETY: on the JS thread of `env`.
    value.map_err(|e| unsafe { JsError::from(e).into_value(env.raw()) })
}

fn new_promise(env: &Env) -> napi::Result<(sys::napi_deferred, sys::napi_value)> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: on the JS thread of `env`; both out-pointers are valid.
    check_status!(unsafe {
        sys::napi_create_promise(env.raw(), &raw mut deferred, &raw mut promise)
    })?;
    Ok((deferred, promise))
}

/// Settles `deferred` (each deferred exactly once). A conversion that left a JS exception
/// pending rejects with that exception instead.
unsafe fn settle(env: sys::napi_env, deferred: sys::napi_deferred, outcome: Outcome) {
    // SAFETY (whole body): the caller is on the JS thread of `env`, which made `deferred`.
    let status = unsafe {
        match outcome {
            Ok(value) => sys::napi_resolve_deferred(env, deferred, value),
            Err(reason) => sys::napi_reject_deferred(env, deferred, reason),
        }
    };
    if status != sys::Status::napi_ok {
        let mut pending = ptr::null_mut();
        unsafe {
            sys::napi_get_and_clear_last_exception(env, &raw mut pending);
            sys::napi_reject_deferred(env, deferred, pending);
        }
    }
}

/// A finished operation waiting for the JS thread.
struct Done {
    deferred: Deferred,
    settle: Box<dyn FnOnce(sys::napi_env) -> Outcome + Send>,
}

/// A deferred handle travels with its result but is only ever used on the JS thread.
struct Deferred(sys::napi_deferred);
// SAFETY: see above: the runtime only carries it.
unsafe impl Send for Deferred {}

struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function is made to be called from any thread.
unsafe impl Send for Tsfn {}

/// What the runtime and the JS thread share.
struct Settlements {
    state: Mutex<State>,
    /// Operations on the runtime. Touched on the JS thread only: while any is out, the
    /// threadsafe function keeps the event loop alive; when none is, it must not.
    in_flight: AtomicUsize,
}

/// The threadsafe function and the results waiting for it.
struct State {
    /// `None` once Node has finalized the threadsafe function (the env is going away).
    tsfn: Option<Tsfn>,
    done: Vec<Done>,
}

impl Settlements {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a result; the first one queued since the last drain wakes the JS thread.
    fn push(&self, done: Done) {
        let mut state = self.lock();
        let Some(tsfn) = state.tsfn.as_ref().map(|t| t.0) else {
            return; // the env is gone: nobody is waiting for this Promise
        };
        state.done.push(done);
        if state.done.len() == 1 {
            // Called under the lock: the finalizer takes it too, so `tsfn` is still alive.
            // SAFETY: a live threadsafe function, called from any thread.
            unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }
}

/// The completion queue of one Node env (the main thread's, or a worker's).
struct Completions {
    shared: Arc<Settlements>,
    tsfn: sys::napi_threadsafe_function,
}

impl Completions {
    /// This env's queue, made on first use.
    fn of(env: &Env) -> napi::Result<&'static Completions> {
        Ok(&*crate::env_data::get_or_init(env, Completions::new)?)
    }

    fn new(env: &Env) -> napi::Result<Self> {
        let shared = Arc::new(Settlements {
            state: Mutex::new(State {
                tsfn: None,
                done: Vec::new(),
            }),
            in_flight: AtomicUsize::new(0),
        });
        let context = Arc::into_raw(Arc::clone(&shared))
            .cast_mut()
            .cast::<c_void>();
        let mut tsfn = ptr::null_mut();
        let made = (|| {
            let name = env.create_string("omnisession")?;
            // SAFETY: on the JS thread; `context` stays valid until `finalize` takes it back.
            check_status!(unsafe {
                sys::napi_create_threadsafe_function(
                    env.raw(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    name.raw(),
                    0,
                    1,
                    context,
                    Some(finalize),
                    context,
                    Some(drain),
                    &raw mut tsfn,
                )
            })?;
            // SAFETY: the threadsafe function just made, on its JS thread.
            check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) })
        })();
        if let Err(e) = made {
            if tsfn.is_null() {
                // SAFETY: the reference `into_raw` made above, never handed to Node.
                drop(unsafe { Arc::from_raw(context.cast::<Settlements>()) });
            }
            return Err(e);
        }
        shared.lock().tsfn = Some(Tsfn(tsfn));
        Ok(Self { shared, tsfn })
    }

    /// One more operation on the runtime: keeps the event loop alive until it is settled.
    fn begin(&self, env: &Env) -> napi::Result<Arc<Settlements>> {
        if self.shared.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            // SAFETY: this env's live threadsafe function, on its JS thread.
            check_status!(unsafe { sys::napi_ref_threadsafe_function(env.raw(), self.tsfn) })?;
        }
        Ok(Arc::clone(&self.shared))
    }
}

/// The threadsafe function's JS-thread turn: settles everything queued.
unsafe extern "C" fn drain(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return; // the env is tearing down
    }
    // SAFETY: `context` is the `Settlements` this function was made with, alive until `finalize`.
    let shared = unsafe { &*context.cast::<Settlements>() };
    let (done, tsfn) = {
        let mut state = shared.lock();
        (
            std::mem::take(&mut state.done),
            state.tsfn.as_ref().map(|t| t.0),
        )
    };
    let settled = done.len();
    for Done {
        deferred,
        settle: outcome,
    } in done
    {
        let mut scope = ptr::null_mut();
        // SAFETY: on the JS thread of `env`; the scope is closed right after.
        unsafe {
            sys::napi_open_handle_scope(env, &raw mut scope);
            settle(env, deferred.0, outcome(env));
            sys::napi_close_handle_scope(env, scope);
        }
    }
    if settled > 0
        && shared.in_flight.fetch_sub(settled, Ordering::Relaxed) == settled
        && let Some(tsfn) = tsfn
    {
        // SAFETY: the live threadsafe function, on its JS thread.
        unsafe { sys::napi_unref_threadsafe_function(env, tsfn) };
    }
}

/// Node finalizes the threadsafe function when the env goes: no result can be queued after.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the reference `Completions::new` gave Node.
    let shared = unsafe { Arc::from_raw(data.cast::<Settlements>()) };
    let orphans = {
        let mut state = shared.lock();
        state.tsfn = None;
        std::mem::take(&mut state.done)
    };
    drop(orphans); // their Promises went with the env
}
