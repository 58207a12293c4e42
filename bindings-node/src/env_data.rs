//! What the addon keeps per Node env (the main thread's and each worker's): the classes and
//! factories `index.js` registers, and the env's completion queue.

use crate::convert::SessionArgs;
use crate::error::ErrorArgs;
use crate::settle::Completions;
use napi::Env;
use napi::bindgen_prelude::{Function, FunctionRef, Unknown};

pub struct EnvData {
    /// `SessionError`, the class of every error an operation rejects with.
    pub error_class: Option<FunctionRef<ErrorArgs, Unknown<'static>>>,
    /// `index.js`'s `session()`: builds the JS object of a session.
    pub session_factory: Option<FunctionRef<SessionArgs, Unknown<'static>>>,
    pub completions: Completions,
}

/// This env's data, made on first use.
pub fn get(env: &Env) -> napi::Result<&'static mut EnvData> {
    if env.get_instance_data::<EnvData>()?.is_none() {
        let data = EnvData {
            error_class: None,
            session_factory: None,
            completions: Completions::new(env)?,
        };
        env.set_instance_data(data, (), |_| {})?;
    }
    env.get_instance_data::<EnvData>()?
        .ok_or_else(|| napi::Error::from_reason("the env data is not set"))
}

/// Registers what `index.js` hands over when it loads.
pub fn register(
    env: &Env,
    error_class: &Function<ErrorArgs, Unknown<'static>>,
    session_factory: &Function<SessionArgs, Unknown<'static>>,
) -> napi::Result<()> {
    let data = get(env)?;
    data.error_class = Some(error_class.create_ref()?);
    data.session_factory = Some(session_factory.create_ref()?);
    Ok(())
}

/// The registered session factory (`index.js` registers it when it loads).
pub fn session_factory(env: &Env) -> napi::Result<Function<'_, SessionArgs, Unknown<'_>>> {
    match &get(env)?.session_factory {
        Some(f) => f.borrow_back(env),
        None => Err(napi::Error::from_reason(
            "omnisession: load the package through its entry point (index.js)",
        )),
    }
}
