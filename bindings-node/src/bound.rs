//! `get` as a plain JS function bound to one store: the hot read skips napi-rs's method
//! dispatch.
//!
//! A `#[napi]` method checks the class of `this`, unwraps it and registers the borrow of
//! `&self` on every call; for a memory-backend get that was about a fifth of its cost. This
//! function carries its store as the function's data instead (freed with the function), and
//! reads an id that is short ASCII, as ids are, in one Node-API call. Anything else goes
//! through the same conversion as every other argument. What the call does is the method's:
//! `settle::sessions` of `Store::get_shared`.
#![allow(unsafe_code)]

use crate::{error, id_arg, settle};
use napi::bindgen_prelude::Unknown;
use napi::{Env, JsError, JsValue as _, check_status, sys};
use omnisession::Store;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

/// The longest id read on the fast path, in bytes (ids are 43).
const SHORT_ID: usize = 128;

/// A JS function `get(id)` of `store`, settled as every other operation is (`settle.rs`).
pub fn get(env: &Env, store: Store) -> napi::Result<Unknown<'_>> {
    let data = Box::into_raw(Box::new(store)).cast::<c_void>();
    let mut function = ptr::null_mut();
    // SAFETY: on the JS thread of `env`; `data` stays valid until the function's finalizer
    // takes it back (or right here, if the function could not be made).
    unsafe {
        let made = check_status!(sys::napi_create_function(
            env.raw(),
            c"get".as_ptr(),
            3,
            Some(call_get),
            data,
            &raw mut function,
        ))
        .and_then(|()| {
            check_status!(sys::napi_add_finalizer(
                env.raw(),
                function,
                data,
                Some(drop_store),
                ptr::null_mut(),
                ptr::null_mut(),
            ))
        });
        if let Err(e) = made {
            drop(Box::from_raw(data.cast::<Store>()));
            return Err(e);
        }
        Ok(Unknown::from_raw_unchecked(env.raw(), function))
    }
}

unsafe extern "C" fn drop_store(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: the box `get` made, finalized once, with its function.
    drop(unsafe { Box::from_raw(data.cast::<Store>()) });
}

unsafe extern "C" fn call_get(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut count = 1;
        let mut args = [ptr::null_mut(); 1];
        let mut data = ptr::null_mut();
        // SAFETY: a callback of the function `get` made, on its JS thread: `data` is its store.
        let store = unsafe {
            check_status!(sys::napi_get_cb_info(
                env,
                info,
                &raw mut count,
                args.as_mut_ptr(),
                ptr::null_mut(),
                &raw mut data,
            ))?;
            (*data.cast::<Store>()).clone()
        };
        let env = Env::from_raw(env);
        // Node-API fills a missing argument with `undefined`.
        let id = short_ascii(&env, args[0]).map_or_else(
            // SAFETY: an argument of this call, on its JS thread.
            || id_arg(unsafe { Unknown::from_raw_unchecked(env.raw(), args[0]) }),
            Ok,
        );
        settle::sessions(&env, async move { store.get_shared(&id?).await }).map(|v| v.raw())
    }));
    let failure = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e,
        Err(panic) => error::to_js(&Env::from_raw(env), &error::panicked(&*panic)),
    };
    // SAFETY: on the JS thread of `env`; the exception is pending when the callback returns.
    unsafe { JsError::from(failure).throw_into(env) };
    ptr::null_mut()
}

/// The id argument in one call, when it is a string of ASCII shorter than `SHORT_ID`.
fn short_ascii(env: &Env, value: sys::napi_value) -> Option<String> {
    let mut buf = [0u8; SHORT_ID];
    let mut len = 0;
    // SAFETY: an argument of this call, on its JS thread; the buffer is `SHORT_ID` bytes.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env.raw(),
            value,
            buf.as_mut_ptr().cast(),
            SHORT_ID,
            &raw mut len,
        )
    };
    // A string that filled the buffer may have been cut; non-ASCII takes the full conversion
    // (which tells a lone surrogate from U+FFFD).
    if status != sys::Status::napi_ok || len >= SHORT_ID - 1 {
        return None;
    }
    let id = std::str::from_utf8(&buf[..len])
        .ok()
        .filter(|id| id.is_ascii())?;
    Some(id.to_owned())
}
