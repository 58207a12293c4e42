//! Core errors as JS `SessionError`s (`err.code`, `err.details`, `instanceof SessionError`).

use napi::bindgen_prelude::{
    FnArgs, FromNapiValue, Function, FunctionRef, JsObjectValue, Object, Unknown,
};
use napi::{Env, JsValue as _};
use omnisession::{Error, ErrorKind};
use serde_json::Value;

/// The arguments of `new SessionError(code, message, details)`.
pub type ErrorArgs = FnArgs<(String, String, Value)>;

/// This env's `SessionError` class, once `index.js` has registered it.
struct SessionErrorClass(Option<FunctionRef<ErrorArgs, Unknown<'static>>>);

fn class_slot(env: &Env) -> napi::Result<&'static mut SessionErrorClass> {
    crate::env_data::get_or_init(env, |_| Ok(SessionErrorClass(None)))
}

/// Registers `index.js`'s `SessionError` as the class operations reject with in this env.
pub fn register(env: &Env, class: &Function<ErrorArgs, Unknown<'static>>) -> napi::Result<()> {
    class_slot(env)?.0 = Some(class.create_ref()?);
    Ok(())
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
    let mut obj = if let Some(class) = &class_slot(env)?.0 {
        Object::from_unknown(class.borrow_back(env)?.new_instance(args.into())?)?
    } else {
        let global = env.get_global()?;
        let ctor: Function<String, Unknown> = global.get_named_property("Error")?;
        let mut obj = Object::from_unknown(ctor.new_instance(args.1)?)?;
        obj.set_named_property("code", args.0)?;
        obj.set_named_property("details", args.2)?;
        obj
    };
    // The core's classification, so an adapter asks `err.gone` instead of listing codes.
    obj.set_named_property("gone", e.kind().is_gone())?;
    Ok(obj.to_unknown())
}

/// A panic inside the core or the binding: never crosses into Node.
pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::new(ErrorKind::BackendError, format!("internal panic: {what}")).with("reason", "panic")
}
