//! Sessions to JS in one crossing: a result is written into two buffers this env shares with
//! `bindings-node/js/transfer.js`, numbers (`layout`) and the UTF-8 of every string (`bytes`),
//! and JS builds the plain objects from them.
//!
//! Building `data` through Node-API costs a call, a key lookup and a shape change per
//! property, an element store per array item and a call per string: most of a memory `get`.
//! Here a result costs two copies into the buffers, and the objects are made by JS code the
//! JIT compiles; each string is made on its own (flat: none keeps the others alive). This
//! protocol made a memory get of a 1 KiB session 1.6-1.8x faster (bench/README.md). Data
//! keys are sent once per env and then by their index (`names.rs`).
//!
//! Layout, all `f64` (JS reads them from a `Float64Array`):
//! - a result: a header (`ONE` | `MANY` | `PAGE`, then 1 if every string is ASCII: JS then
//!   reads them as Latin-1, a plain copy), then session | n session… | n session… cursor;
//! - a string: its start and end in `bytes`; absent: `-1, -1`;
//! - a session: id, userId, siteId, organizationId, createdAt, updatedAt, lastAccessedAt,
//!   expiresAt (NaN: never), ipAddress, userAgent, version, then its data as a value;
//! - a value: `OBJECT` n (key value)… | `ARRAY` n value… | `STRING` string | `NUMBER` x |
//!   `TRUE` | `FALSE` | `NULL` (numbers are doubles: the core reads none a double cannot hold);
//! - a key: `KEY` index | `NEW_KEY` index string (JS remembers it at that index) |
//!   `TEXT_KEY` string (not interned: too long, or the table is full).
//!
//! Results are only ever written and decoded on the env's JS thread, one at a time: JS
//! decodes a result before the next one is written.
#![allow(unsafe_code)]

mod names;

use names::{Key, Names};
use napi::bindgen_prelude::{FnArgs, Function, FunctionRef, Null, ToNapiValue, Unknown};
use napi::{Env, check_status, sys};
use omnisession::store::SessionPage;
use omnisession::{Session, Timestamp};
use serde_json::{Map, Value};
use std::ptr;
use std::sync::Arc;

const ONE: f64 = 1.0;
const MANY: f64 = 2.0;
const PAGE: f64 = 3.0;

const OBJECT: f64 = 1.0;
const ARRAY: f64 = 2.0;
const STRING: f64 = 3.0;
const NUMBER: f64 = 4.0;
const TRUE: f64 = 5.0;
const FALSE: f64 = 6.0;
const NULL: f64 = 7.0;

const KEY: f64 = 1.0;
const NEW_KEY: f64 = 2.0;
const TEXT_KEY: f64 = 3.0;

/// The shared buffers' first size in bytes; they grow to fit the largest result.
const FIRST_CAPACITY: usize = 32 * 1024;

/// What a store operation resolves to that is made of sessions.
pub trait Sessions: Send + 'static {
    /// Writes the result; `false` for a result that is JS `null` (no such session).
    fn encode(&self, out: &mut Encoder) -> bool;
}

impl Sessions for Session {
    fn encode(&self, out: &mut Encoder) -> bool {
        out.kind(ONE);
        out.session(self);
        true
    }
}

impl Sessions for Option<Arc<Session>> {
    fn encode(&self, out: &mut Encoder) -> bool {
        self.as_deref().is_some_and(|s| s.encode(out))
    }
}

impl Sessions for Vec<Session> {
    fn encode(&self, out: &mut Encoder) -> bool {
        out.kind(MANY);
        out.sessions(self);
        true
    }
}

impl Sessions for SessionPage {
    fn encode(&self, out: &mut Encoder) -> bool {
        out.kind(PAGE);
        out.sessions(&self.sessions);
        out.opt_str(self.cursor.as_deref());
        true
    }
}

/// The per-env encoder: the result being written, what JS keeps, the shared buffers.
#[derive(Default)]
pub struct Encoder {
    layout: Vec<f64>,
    /// Every string of the result, as UTF-8.
    bytes: Vec<u8>,
    names: Names,
    shared: Option<(JsBuffer, JsBuffer)>,
}

/// An ArrayBuffer JS reads results from; Node keeps it alive through `reference`.
struct JsBuffer {
    data: *mut u8,
    len: usize,
    reference: sys::napi_ref,
}

/// `transfer.js`'s two entry points, registered by `index.js`.
struct Host {
    /// `decode()`: builds the result just written.
    pub decode: FunctionRef<(), Unknown<'static>>,
    /// `useLayout(numbers, bytes)`: the buffers later results are written to.
    pub use_layout: FunctionRef<FnArgs<(Unknown<'static>, Unknown<'static>)>, Unknown<'static>>,
}

impl Encoder {
    /// Writes `result` into the shared buffers: `false` for a result that is JS `null`.
    ///
    /// The caller has it decoded before anything else is encoded.
    fn write(&mut self, env: &Env, host: &Host, result: &dyn Sessions) -> napi::Result<bool> {
        self.layout.clear();
        self.bytes.clear();
        self.names.begin();
        // The header: what the result is (set by `encode`), whether its strings are ASCII.
        self.layout.extend([0.0, 0.0]);
        if !result.encode(self) {
            return Ok(false);
        }
        self.layout[1] = f64::from(u8::from(self.bytes.is_ascii()));
        self.publish(env, host)
            .inspect_err(|_| self.forget_new_names())?;
        Ok(true)
    }

    /// Keys new in the last result, when JS never decoded it, are not kept after all.
    pub fn forget_new_names(&mut self) {
        self.names.forget_fresh();
    }

    /// Copies the result into the shared buffers, first making bigger ones if it does not fit.
    fn publish(&mut self, env: &Env, host: &Host) -> napi::Result<()> {
        let numbers = size_of_val(self.layout.as_slice());
        let (layout, bytes) = match self.shared.take() {
            Some((l, b)) if l.len >= numbers && b.len >= self.bytes.len() => (l, b),
            old => {
                let fresh = JsBuffer::pair(env, host, numbers, self.bytes.len());
                match fresh {
                    Ok(fresh) => {
                        if let Some((l, b)) = old {
                            l.release(env);
                            b.release(env);
                        }
                        fresh
                    }
                    Err(e) => {
                        self.shared = old;
                        return Err(e);
                    }
                }
            }
        };
        // SAFETY: each `data` points at `len` bytes of a live ArrayBuffer (held by its
        // `reference`, never detached: only `transfer.js` sees it), large enough for what is
        // copied, and written on its JS thread only.
        unsafe {
            ptr::copy_nonoverlapping(self.layout.as_ptr().cast::<u8>(), layout.data, numbers);
            ptr::copy_nonoverlapping(self.bytes.as_ptr(), bytes.data, self.bytes.len());
        }
        self.shared = Some((layout, bytes));
        Ok(())
    }

    fn kind(&mut self, kind: f64) {
        self.layout[0] = kind;
    }

    fn sessions(&mut self, list: &[Session]) {
        self.layout.push(list.len() as f64);
        for s in list {
            self.session(s);
        }
    }

    fn session(&mut self, s: &Session) {
        let ms = |t: Timestamp| t.unix_ms() as f64;
        prefetch_parts(s);
        self.str(&s.id);
        self.opt_str(s.user_id.as_deref());
        self.str(&s.site_id);
        self.opt_str(s.organization_id.as_deref());
        self.layout.extend([
            ms(s.created_at),
            ms(s.updated_at),
            ms(s.last_accessed_at),
            s.expires_at.map_or(f64::NAN, ms),
        ]);
        self.str(&s.ip_address);
        self.str(&s.user_agent);
        self.layout.push(s.version as f64);
        self.object(&s.data);
    }

    fn str(&mut self, s: &str) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s.as_bytes());
        self.layout.extend([start as f64, self.bytes.len() as f64]);
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.layout.extend([-1.0, -1.0]),
        }
    }

    fn object(&mut self, map: &Map<String, Value>) {
        self.layout.extend([OBJECT, map.len() as f64]);
        for (key, value) in map {
            self.key(key);
            self.value(value);
        }
    }

    fn key(&mut self, key: &str) {
        match self.names.key(key) {
            Key::Known(i) => self.layout.extend([KEY, f64::from(i)]),
            Key::New(i) => {
                self.layout.extend([NEW_KEY, f64::from(i)]);
                self.str(key);
            }
            Key::Text => {
                self.layout.push(TEXT_KEY);
                self.str(key);
            }
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.layout.push(NULL),
            Value::Bool(true) => self.layout.push(TRUE),
            Value::Bool(false) => self.layout.push(FALSE),
            Value::Number(n) => self.layout.extend([NUMBER, n.as_f64().unwrap_or(f64::NAN)]),
            Value::String(s) => {
                self.layout.push(STRING);
                self.str(s);
            }
            Value::Array(items) => {
                self.layout.extend([ARRAY, items.len() as f64]);
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => self.object(map),
        }
    }
}

/// Asks for the session's separately allocated parts at once: read one after the other, each
/// waited for its own cache miss (over 10 000 stored sessions of 1 KiB, a Node memory get is
/// 10-17 % faster with these hints, 25 % when the sessions are read in a scattered order).
fn prefetch_parts(s: &Session) {
    prefetch(s.id.as_ptr());
    if let Some(user) = &s.user_id {
        prefetch(user.as_ptr());
    }
    for (key, value) in &s.data {
        prefetch(key.as_ptr());
        match value {
            Value::String(text) => prefetch(text.as_ptr()),
            Value::Array(items) => prefetch(items.as_ptr().cast()),
            _ => {}
        }
    }
}

fn prefetch(at: *const u8) {
    // SAFETY: a prefetch is a hint: it reads nothing and cannot fault, whatever the address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

impl JsBuffer {
    /// New buffers of at least `numbers` and `bytes` bytes, handed to `transfer.js`.
    fn pair(env: &Env, host: &Host, numbers: usize, bytes: usize) -> napi::Result<(Self, Self)> {
        let grown = |n: usize| n.max(FIRST_CAPACITY).next_power_of_two();
        let (layout, layout_buffer) = Self::new(env, grown(numbers))?;
        let (text, text_buffer) = match Self::new(env, grown(bytes)) {
            Ok(made) => made,
            Err(e) => {
                layout.release(env);
                return Err(e);
            }
        };
        let handed = host
            .use_layout
            .borrow_back(env)
            .and_then(|f| f.call((layout_buffer, text_buffer).into()));
        match handed {
            Ok(_) => Ok((layout, text)),
            Err(e) => {
                layout.release(env);
                text.release(env);
                Err(e)
            }
        }
    }

    fn new(env: &Env, len: usize) -> napi::Result<(Self, Unknown<'static>)> {
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut reference = ptr::null_mut();
        // SAFETY: on the JS thread of `env`; every out-pointer is valid.
        unsafe {
            check_status!(sys::napi_create_arraybuffer(
                env.raw(),
                len,
                &raw mut data,
                &raw mut buffer,
            ))?;
            check_status!(sys::napi_create_reference(
                env.raw(),
                buffer,
                1,
                &raw mut reference
            ))?;
        }
        let shared = Self {
            data: data.cast::<u8>(),
            len,
            reference,
        };
        // SAFETY: `buffer` was just made on this thread and is only used in the caller's scope.
        Ok((shared, unsafe {
            Unknown::from_raw_unchecked(env.raw(), buffer)
        }))
    }

    fn release(self, env: &Env) {
        // SAFETY: the reference `new` made, on its JS thread, deleted once (`self` is consumed).
        unsafe { sys::napi_delete_reference(env.raw(), self.reference) };
    }
}

/// `transfer.js`'s `decode()`.
pub type Decode<'e> = Function<'e, (), Unknown<'static>>;
/// `transfer.js`'s `useLayout(numbers, bytes)`.
pub type UseLayout<'e> =
    Function<'e, FnArgs<(Unknown<'static>, Unknown<'static>)>, Unknown<'static>>;

/// This env's encoder, and the decoder it writes for once `index.js` has registered it.
#[derive(Default)]
struct Transfer {
    encoder: Encoder,
    host: Option<Host>,
}

fn slot(env: &Env) -> napi::Result<&'static mut Transfer> {
    crate::env_data::get_or_init(env, |_| Ok(Transfer::default()))
}

/// Registers `transfer.js`'s entry points as this env's decoder (`index.js` calls it once).
pub fn register(env: &Env, decode: &Decode, use_layout: &UseLayout) -> napi::Result<()> {
    slot(env)?.host = Some(Host {
        decode: decode.create_ref()?,
        use_layout: use_layout.create_ref()?,
    });
    Ok(())
}

/// The encoder and the decoder it writes for.
fn transfer(env: &Env) -> napi::Result<(&'static mut Encoder, &'static Host)> {
    let Transfer { encoder, host } = slot(env)?;
    let host = host.as_ref().ok_or_else(|| {
        napi::Error::from_reason("omnisession: load the package through its entry point (index.js)")
    })?;
    Ok((encoder, host))
}

/// Builds `result` as JS values: writes it and has `decode` build it.
pub fn to_js<'e>(env: &'e Env, result: &dyn Sessions) -> napi::Result<Unknown<'e>> {
    let (encoder, host) = transfer(env)?;
    if !encoder.write(env, host, result)? {
        return js(env, Null);
    }
    let decoded = host.decode.borrow_back(env).and_then(|f| f.call(()));
    if decoded.is_err() {
        encoder.forget_new_names();
    }
    decoded
}

/// Writes `result` for the caller's JS to decode at once: `true`, or `null` for no session.
pub fn to_written<'e>(env: &'e Env, result: &dyn Sessions) -> napi::Result<Unknown<'e>> {
    let (encoder, host) = transfer(env)?;
    if encoder.write(env, host, result)? {
        js(env, true)
    } else {
        js(env, Null)
    }
}

fn js<V: ToNapiValue>(env: &Env, v: V) -> napi::Result<Unknown<'_>> {
    // SAFETY: on the JS thread of `env`; the value is only used in the caller's scope.
    unsafe {
        let raw = V::to_napi_value(env.raw(), v)?;
        Ok(Unknown::from_raw_unchecked(env.raw(), raw))
    }
}
