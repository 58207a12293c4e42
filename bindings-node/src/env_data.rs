//! What the addon keeps per Node env (the main thread's and each worker's): what `index.js`
//! registers, the session encoder and the env's completion queue.

use crate::error::ErrorArgs;
use crate::settle::Completions;
use crate::transfer::{Encoder, Host};
use napi::Env;
use napi::bindgen_prelude::{FnArgs, Function, Unknown};

pub struct EnvData {
    /// `SessionError`, the class of every error an operation rejects with.
    pub error_class: Option<napi::bindgen_prelude::FunctionRef<ErrorArgs, Unknown<'static>>>,
    /// `transfer.js`'s decoder of sessions.
    host: Option<Host>,
    encoder: Encoder,
    pub completions: Completions,
}

/// `transfer.js`'s `decode()`.
pub type Decode<'e> = Function<'e, (), Unknown<'static>>;
/// `transfer.js`'s `useLayout(numbers, bytes)`.
pub type UseLayout<'e> =
    Function<'e, FnArgs<(Unknown<'static>, Unknown<'static>)>, Unknown<'static>>;

impl EnvData {
    /// The session encoder and the decoder it writes for (`index.js` registers it).
    pub fn transfer(&mut self) -> napi::Result<(&mut Encoder, &Host)> {
        let host = self.host.as_ref().ok_or_else(|| {
            napi::Error::from_reason(
                "omnisession: load the package through its entry point (index.js)",
            )
        })?;
        Ok((&mut self.encoder, host))
    }
}

/// This env's data, made on first use.
pub fn get(env: &Env) -> napi::Result<&'static mut EnvData> {
    if let Some(data) = env.get_instance_data::<EnvData>()? {
        return Ok(data);
    }
    let data = EnvData {
        error_class: None,
        host: None,
        encoder: Encoder::default(),
        completions: Completions::new(env)?,
    };
    env.set_instance_data(data, (), |_| {})?;
    env.get_instance_data::<EnvData>()?
        .ok_or_else(|| napi::Error::from_reason("the env data is not set"))
}

/// Registers what `index.js` hands over when it loads.
pub fn register(
    env: &Env,
    error_class: &Function<ErrorArgs, Unknown<'static>>,
    decode: &Decode,
    use_layout: &UseLayout,
) -> napi::Result<()> {
    let data = get(env)?;
    data.error_class = Some(error_class.create_ref()?);
    data.host = Some(Host {
        decode: decode.create_ref()?,
        use_layout: use_layout.create_ref()?,
    });
    Ok(())
}
