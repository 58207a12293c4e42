//! Core errors as JS `SessionError`s (`err.code`, `err.details`, `instanceof SessionError`),
//! and the one way an operation becomes a Promise: run the core future on the shared runtime,
//! catch a panic (`BACKEND_ERROR`), and settle on the JS thread.

use futures_util::FutureExt as _;
use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, FunctionRef, JsObjectValue, Object, PromiseRaw, ToNapiValue,
    Unknown,
};
use napi::{Env, JsValue as _};
use omnisession::{Error, ErrorKind};
use serde_json::Value;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// `new SessionError(code, message, details)`: the JS class, registered once per Node env
/// (main thread and each worker) by `index.js`.
pub struct ErrorClass(FunctionRef<FnArgs<(String, String, Value)>, Unknown<'static>>);

/// Registers the `SessionError` class of this env.
pub fn register(
    env: &Env,
    class: &Function<FnArgs<(String, String, Value)>, Unknown<'static>>,
) -> napi::Result<()> {
    env.set_instance_data(ErrorClass(class.create_ref()?), (), |_| {})
}

/// The JS error for a core error: a `SessionError` when the class is registered, otherwise a
/// plain `Error` with the same `code` and `details`.
pub fn to_js(env: &Env, e: &Error) -> napi::Error {
    match build(env, e) {
        Ok(value) => napi::Error::from(value),
        Err(fail) => fail,
    }
}

fn build<'e>(env: &'e Env, e: &Error) -> napi::Result<Unknown<'e>> {
    let args = (
        e.code().to_owned(),
        e.to_string(),
        Value::Object(e.details().clone()),
    );
    if let Some(ErrorClass(class)) = env.get_instance_data::<ErrorClass>()? {
        return class.borrow_back(env)?.new_instance(args.into());
    }
    let global = env.get_global()?;
    let ctor: Function<String, Unknown> = global.get_named_property("Error")?;
    let err = ctor.new_instance(args.1)?;
    let mut obj = Object::from_unknown(err)?;
    obj.set_named_property("code", args.0)?;
    obj.set_named_property("details", args.2)?;
    Ok(obj.to_unknown())
}

/// A panic inside the core or the binding: never crosses into Node.
fn panicked(payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(ErrorKind::BackendError, format!("internal panic: {what}")).with("reason", "panic")
}

/// Runs `fut` on the shared runtime and returns a Promise that resolves with `to_js` of its
/// result, or rejects with a `SessionError`.
pub fn promise<'env, T, V, F, C>(
    env: &'env Env,
    fut: F,
    to_js_value: C,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = Result<T, Error>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> napi::Result<V> + 'static,
{
    let guarded = async move {
        Ok(AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(panicked(&*p))))
    };
    env.spawn_future_with_callback(guarded, move |env, result| match result {
        Ok(value) => to_js_value(env, value),
        Err(e) => Err(to_js(env, &e)),
    })
}
