//! Violation events to a JS function, through a weak threadsafe function: the event is queued
//! to the JS thread (store I/O never waits for it) and the registration never keeps the
//! process alive. The JS side (`index.js`) wraps the user's callback so that a throw or a
//! rejected promise is logged and swallowed.

use napi::Status;
use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use omnisession::{Violation, ViolationSink};
use serde_json::{Value, json};
use std::fmt;

type Tsfn = ThreadsafeFunction<Value, (), Value, Status, false, true>;

/// A [`ViolationSink`] that calls a JS function with `{type, sessionIdHash, userId, siteId,
/// size, limit, message, at}` (`at` as RFC 3339 text; `index.js` makes it a `Date`).
pub struct JsViolationSink {
    tsfn: Tsfn,
}

impl JsViolationSink {
    /// Wraps `callback` (called on the JS thread, never awaited).
    pub fn new(callback: &Function<Value, ()>) -> napi::Result<Self> {
        let tsfn = callback
            .build_threadsafe_function()
            .weak::<true>()
            .callee_handled::<false>()
            .build()?;
        Ok(Self { tsfn })
    }
}

impl fmt::Debug for JsViolationSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsViolationSink")
    }
}

/// The event as JS receives it.
pub fn event(v: &Violation) -> Value {
    json!({
        "type": v.kind.as_str(),
        "sessionIdHash": v.session_id_hash,
        "userId": v.user_id,
        "siteId": v.site_id,
        "size": v.size,
        "limit": v.limit,
        "message": v.message,
        "at": v.at.to_string(),
    })
}

impl ViolationSink for JsViolationSink {
    fn report(&self, violation: &Violation) {
        // `Closing` (the env is shutting down) drops the event: nothing is left to tell.
        let status = self
            .tsfn
            .call(event(violation), ThreadsafeFunctionCallMode::NonBlocking);
        if status != Status::Ok {
            tracing::debug!(target: "omnisession", ?status, "violation event dropped");
        }
    }
}
