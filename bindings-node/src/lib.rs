//! Node.js binding of omnisession: `#[napi]` declarations and thin adapters only.
//!
//! Each method converts its arguments (`convert`), calls the core and maps the error
//! (`error`); every rule lives in the core. `bindings-node/js/index.js` is the public face:
//! it registers `SessionError`, wraps callbacks and custom backends, and re-exports these.

// napi hands out `&Env` and ties the lifetime of every JS value to that borrow: helpers keep
// the same shape.
#![allow(clippy::trivially_copy_pass_by_ref)]

// Sessions read from Redis or SQLite are decoded on the runtime's threads and dropped on the JS
// thread: glibc's malloc takes its slow paths on both sides of every such hand-over (15 % of
// the CPU of a Redis get); mimalloc gives a freed block back to the heap that owns it.
// 20-27 % less CPU per Redis get, 2-3 % per memory get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bound;
mod callbacks;
pub mod cli;
mod convert;
mod custom;
mod env_data;
mod error;
mod options;
mod sealed;
mod settle;
mod transfer;

use convert::Bad;
use napi::bindgen_prelude::{FromNapiValue, Function, JsObjectValue, Object, PromiseRaw, Unknown};
use napi::{Env, JsValue as _, Result};
use napi_derive::napi;
use omnisession::{Error, Lifetime, Login, NewSession, Patch, SessionUpdate, Store, id};
use serde_json::Value;
use std::sync::Arc;

#[napi_derive::module_init]
fn init() {
    // One runtime per process, built by the core's builder; napi owns it from here on (and
    // may replace it when the last env exits, which is why the core prefers the current one).
    match omnisession::runtime::host_builder().build() {
        Ok(rt) => {
            omnisession::runtime::install_handle(rt.handle().clone());
            napi::bindgen_prelude::create_custom_tokio_runtime(rt);
        }
        Err(e) => {
            tracing::error!(target: "omnisession", error = %e, "cannot build the tokio runtime; napi's default is used");
        }
    }
}

/// Registers this env's `SessionError` class and `transfer.js`'s decoder (called once by
/// `index.js`).
#[allow(clippy::needless_pass_by_value)] // napi passes arguments by value
#[napi(
    ts_args_type = "sessionError: new (code: string, message: string, details: Record<string, unknown>) => Error, decode: () => unknown, useLayout: (numbers: ArrayBuffer, bytes: ArrayBuffer) => void"
)]
pub fn register_host(
    env: &Env,
    session_error: Function<error::ErrorArgs, Unknown<'static>>,
    decode: transfer::Decode,
    use_layout: transfer::UseLayout,
) -> Result<()> {
    error::register(env, &session_error)?;
    transfer::register(env, &decode, &use_layout)
}

/// The salted hash that stands for a session id in violation events, logs and error details.
#[allow(clippy::needless_pass_by_value)] // napi passes arguments by value
#[napi]
pub fn hash_session_id(id: String) -> String {
    id::hash(&id)
}

/// How this addon was compiled ([`omnisession::BUILD_PROFILE`]).
#[napi]
pub fn build_profile() -> String {
    omnisession::BUILD_PROFILE.to_owned()
}

/// A new random session id (43 base64url characters, 32 bytes from the OS CSPRNG).
#[napi]
pub fn generate_session_id() -> String {
    id::generate()
}

/// A clock that only moves when told to: for tests (and the conformance vectors).
#[napi]
pub struct ManualClock {
    inner: Arc<omnisession::ManualClock>,
}

fn whole_ms(env: &Env, name: &str, ms: f64) -> Result<i64> {
    if ms.is_finite() && ms.fract() == 0.0 && ms.abs() <= omnisession::json::MAX_SAFE_INTEGER as f64
    {
        Ok(ms as i64)
    } else {
        let e = Bad::shape(
            name,
            format!("{name} must be an integer number of milliseconds"),
        );
        Err(error::to_js(env, &e.into_invalid()))
    }
}

#[napi]
impl ManualClock {
    /// A clock standing at `startMs` (Unix ms; default: now).
    #[napi(constructor)]
    pub fn new(env: &Env, start_ms: Option<f64>) -> Result<Self> {
        let start = match start_ms {
            Some(ms) => whole_ms(env, "startMs", ms)?,
            None => omnisession::Clock::now(&omnisession::SystemClock).unix_ms(),
        };
        Ok(Self {
            inner: Arc::new(omnisession::ManualClock::new(start)),
        })
    }

    /// Moves the clock by `ms` (negative moves it back).
    #[napi]
    pub fn advance(&self, env: &Env, ms: f64) -> Result<()> {
        self.inner.advance(whole_ms(env, "ms", ms)?);
        Ok(())
    }

    /// Sets the clock to `ms` Unix milliseconds.
    #[napi]
    pub fn set(&self, env: &Env, ms: f64) -> Result<()> {
        self.inner.set(whole_ms(env, "ms", ms)?);
        Ok(())
    }

    /// The clock's time in Unix milliseconds.
    #[napi]
    pub fn now(&self) -> f64 {
        omnisession::Clock::now(&*self.inner).unix_ms() as f64
    }
}

/// An in-process memory backend that several stores share (one per site, say); pass it as
/// `backend`. A store opened with `backend: 'memory'` has a memory of its own.
#[napi]
pub struct MemoryBackend {
    inner: Arc<omnisession::backend::memory::MemoryBackend>,
}

#[napi]
impl MemoryBackend {
    /// An empty memory backend.
    #[napi(constructor)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(omnisession::backend::memory::MemoryBackend::new()),
        }
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// The native store; `index.js` exposes it as `Store`.
#[napi]
pub struct NativeStore {
    inner: Store,
}

/// A session id argument.
fn id_arg(v: Unknown) -> std::result::Result<String, Error> {
    convert::string_arg("id", v).map_err(Bad::into_invalid)
}

/// A user id argument (string or safe integer).
fn user_arg(v: Unknown) -> std::result::Result<String, Error> {
    convert::user_id("userId", v).map_err(Bad::into_invalid)
}

fn field<'e>(obj: &Object<'e>, name: &str) -> std::result::Result<Unknown<'e>, Error> {
    obj.get_named_property(name)
        .map_err(|e| convert::napi_failure(&e))
}

/// Session data: a value with no JSON form is the core's `SESSION_NOT_SERIALIZABLE` (and
/// violation); a wrong shape is `SESSION_INVALID`.
fn data_arg(
    env: &Env,
    store: &Store,
    (id, user): (Option<&str>, Option<&str>),
    name: &str,
    v: Unknown,
) -> std::result::Result<serde_json::Map<String, Value>, Error> {
    convert::data(env, v, name).map_err(|e| match e {
        Bad::NotJson(p) => match id {
            Some(id) => store.not_serializable_for(id, user, &p),
            None => store.not_serializable(user, &p),
        },
        other => other.into_invalid(),
    })
}

const CREATE_FIELDS: [&str; 8] = [
    "userId",
    "data",
    "ttlMs",
    "expiresAt",
    "id",
    "ipAddress",
    "userAgent",
    "organizationId",
];

/// The fields `update` reads, then those of a session object it ignores (read-only).
const UPDATE_FIELDS: [&str; 13] = [
    "id",
    "data",
    "userId",
    "organizationId",
    "ipAddress",
    "userAgent",
    "version",
    "ttlMs",
    "expiresAt",
    "siteId",
    "createdAt",
    "updatedAt",
    "lastAccessedAt",
];

const LOGIN_FIELDS: [&str; 9] = [
    "from",
    "userId",
    "set",
    "unset",
    "ttlMs",
    "expiresAt",
    "ipAddress",
    "userAgent",
    "organizationId",
];

/// A write's new expiry from an options object's `ttlMs` or `expiresAt`.
fn lifetime_arg(obj: &Object) -> std::result::Result<Option<Lifetime>, Error> {
    convert::lifetime(field(obj, "ttlMs")?, field(obj, "expiresAt")?).map_err(Bad::into_invalid)
}

/// An `unset` list of keys (absent = none).
fn keys_arg(obj: &Object) -> std::result::Result<Vec<String>, Error> {
    let unset_value = field(obj, "unset")?;
    let mut unset = Vec::new();
    if convert::is_undefined(&unset_value).map_err(|e| convert::napi_failure(&e))? {
        return Ok(unset);
    }
    if !unset_value
        .is_array()
        .map_err(|e| convert::napi_failure(&e))?
    {
        return Err(Bad::shape("unset", "unset must be an array of keys").into_invalid());
    }
    let list = Object::from_unknown(unset_value).map_err(|e| convert::napi_failure(&e))?;
    let len = list
        .get_array_length()
        .map_err(|e| convert::napi_failure(&e))?;
    for i in 0..len {
        let key: Unknown = list.get_element(i).map_err(|e| convert::napi_failure(&e))?;
        unset.push(convert::string_arg("unset", key).map_err(Bad::into_invalid)?);
    }
    Ok(unset)
}

fn login_arg(env: &Env, store: &Store, input: Unknown) -> std::result::Result<Login, Error> {
    let obj = convert::object_arg("input", input, false)
        .map_err(Bad::into_invalid)?
        .ok_or_else(|| Bad::shape("input", "login needs {userId}").into_invalid())?;
    convert::only_keys("login()", &obj, &LOGIN_FIELDS).map_err(Bad::into_invalid)?;
    let user_id = convert::user_id("userId", field(&obj, "userId")?).map_err(Bad::into_invalid)?;
    let text =
        |name: &str| convert::opt_string(name, field(&obj, name)?).map_err(Bad::into_invalid);
    Ok(Login {
        from: text("from")?,
        set: data_arg(
            env,
            store,
            (None, Some(&user_id)),
            "set",
            field(&obj, "set")?,
        )?,
        unset: keys_arg(&obj)?,
        expires: lifetime_arg(&obj)?,
        ip_address: text("ipAddress")?,
        user_agent: text("userAgent")?,
        organization_id: text("organizationId")?,
        user_id,
    })
}

fn new_session(env: &Env, store: &Store, input: Unknown) -> std::result::Result<NewSession, Error> {
    let Some(obj) = convert::object_arg("input", input, true).map_err(Bad::into_invalid)? else {
        return Ok(NewSession::default());
    };
    convert::only_keys("create()", &obj, &CREATE_FIELDS).map_err(Bad::into_invalid)?;
    let user_id =
        convert::opt_user_id("userId", field(&obj, "userId")?).map_err(Bad::into_invalid)?;
    let text =
        |name: &str| convert::opt_string(name, field(&obj, name)?).map_err(Bad::into_invalid);
    let id = text("id")?;
    let data = data_arg(
        env,
        store,
        (id.as_deref(), user_id.as_deref()),
        "data",
        field(&obj, "data")?,
    )?;
    Ok(NewSession {
        data,
        expires: lifetime_arg(&obj)?,
        id,
        ip_address: text("ipAddress")?,
        user_agent: text("userAgent")?,
        organization_id: text("organizationId")?,
        user_id,
    })
}

fn session_update(
    env: &Env,
    store: &Store,
    input: Unknown,
) -> std::result::Result<SessionUpdate, Error> {
    let obj = convert::object_arg("session", input, false)
        .map_err(Bad::into_invalid)?
        .ok_or_else(|| Bad::shape("session", "update needs a session object").into_invalid())?;
    convert::only_keys("update()", &obj, &UPDATE_FIELDS).map_err(Bad::into_invalid)?;
    let id = id_arg(field(&obj, "id")?)?;
    let user_id =
        convert::opt_user_id("userId", field(&obj, "userId")?).map_err(Bad::into_invalid)?;
    let data_value = field(&obj, "data")?;
    if convert::is_undefined(&data_value).map_err(|e| convert::napi_failure(&e))? {
        return Err(
            Bad::shape("data", "update replaces the data: data is required").into_invalid(),
        );
    }
    let data = data_arg(
        env,
        store,
        (Some(&id), user_id.as_deref()),
        "data",
        data_value,
    )?;
    let text =
        |name: &str| convert::opt_string(name, field(&obj, name)?).map_err(Bad::into_invalid);
    Ok(SessionUpdate {
        id,
        data,
        organization_id: text("organizationId")?,
        ip_address: text("ipAddress")?,
        user_agent: text("userAgent")?,
        version: convert::opt_count("version", field(&obj, "version")?)
            .map_err(Bad::into_invalid)?,
        expires: lifetime_arg(&obj)?,
        user_id,
    })
}

fn patch_arg(
    env: &Env,
    store: &Store,
    id: &str,
    input: Unknown,
) -> std::result::Result<Patch, Error> {
    let Some(obj) = convert::object_arg("patch", input, false).map_err(Bad::into_invalid)? else {
        return Ok(Patch::default());
    };
    convert::only_keys(
        "patch()",
        &obj,
        &["set", "unset", "version", "userId", "ttlMs", "expiresAt"],
    )
    .map_err(Bad::into_invalid)?;
    let user_id =
        convert::opt_user_id("userId", field(&obj, "userId")?).map_err(Bad::into_invalid)?;
    Ok(Patch {
        set: data_arg(
            env,
            store,
            (Some(id), user_id.as_deref()),
            "set",
            field(&obj, "set")?,
        )?,
        unset: keys_arg(&obj)?,
        version: convert::opt_count("version", field(&obj, "version")?)
            .map_err(Bad::into_invalid)?,
        expires: lifetime_arg(&obj)?,
        user_id,
    })
}

/// `touch`'s optional `{ttlMs}` / `{expiresAt}`.
fn touch_arg(input: Unknown) -> std::result::Result<Option<Lifetime>, Error> {
    let Some(obj) = convert::object_arg("options", input, true).map_err(Bad::into_invalid)? else {
        return Ok(None);
    };
    convert::only_keys("touch()", &obj, &["ttlMs", "expiresAt"]).map_err(Bad::into_invalid)?;
    lifetime_arg(&obj)
}

fn list_arg(input: Unknown) -> std::result::Result<(Option<String>, Option<usize>), Error> {
    let Some(obj) = convert::object_arg("options", input, true).map_err(Bad::into_invalid)? else {
        return Ok((None, None));
    };
    convert::only_keys("list()", &obj, &["cursor", "limit"]).map_err(Bad::into_invalid)?;
    let cursor =
        convert::opt_string("cursor", field(&obj, "cursor")?).map_err(Bad::into_invalid)?;
    let limit = convert::opt_count("limit", field(&obj, "limit")?).map_err(Bad::into_invalid)?;
    Ok((
        cursor,
        limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    ))
}

#[napi]
impl NativeStore {
    /// Validates the options, opens the backend. `hooks` comes from `index.js`.
    #[napi(
        ts_args_type = "options?: Record<string, unknown>, hooks?: import('./index').NativeHooks",
        ts_return_type = "Promise<NativeStore>"
    )]
    pub fn open<'e>(
        env: &'e Env,
        options: Unknown<'e>,
        hooks: Unknown<'e>,
    ) -> Result<PromiseRaw<'e, NativeStore>> {
        let parsed = options::parse(env, options, hooks);
        settle::promise(
            env,
            async move { Store::open(parsed?).await.map_err(options::rename) },
            |_, inner| Ok(NativeStore { inner }),
        )
    }

    /// Creates a session.
    #[napi(
        ts_args_type = "input?: import('./index').NewSession",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn create<'e>(&self, env: &'e Env, input: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let new = new_session(env, &store, input);
        settle::sessions(env, async move { store.create(new?).await })
    }

    /// The store's `get(id)` (the live session with this id, or null), as a function bound to
    /// it: `bound.rs` says why; `index.js` calls it.
    #[napi(
        ts_return_type = "(id: string) => true | null | Promise<import('./index').Session | null>"
    )]
    pub fn bound_get<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        bound::get(env, self.inner.clone())
    }

    /// Replaces a session's data (whole record); `version`, if given, must match.
    #[napi(
        ts_args_type = "session: import('./index').SessionUpdate",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn update<'e>(&self, env: &'e Env, session: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let update = session_update(env, &store, session);
        settle::sessions(env, async move { store.update(update?).await })
    }

    /// Sets and removes top-level data keys atomically.
    #[napi(
        ts_args_type = "id: string, patch: import('./index').SessionPatch",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn patch<'e>(
        &self,
        env: &'e Env,
        id: Unknown<'e>,
        patch: Unknown<'e>,
    ) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let args = id_arg(id).and_then(|id| Ok((patch_arg(env, &store, &id, patch)?, id)));
        settle::sessions(env, async move {
            let (patch, id) = args?;
            store.patch(&id, patch).await
        })
    }

    /// Marks the session used now (moves the idle expiry); `{ttlMs}` or `{expiresAt}` also
    /// sets a new expiry.
    #[napi(
        ts_args_type = "id: string, options?: import('./index').Expiry",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn touch<'e>(
        &self,
        env: &'e Env,
        id: Unknown<'e>,
        options: Unknown<'e>,
    ) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let args = id_arg(id).and_then(|id| Ok((id, touch_arg(options)?)));
        settle::sessions(env, async move {
            match args? {
                (id, Some(expires)) => store.touch_with(&id, expires).await,
                (id, None) => store.touch(&id).await,
            }
        })
    }

    /// The live session, its rolling window of `rollingMs` moved forward once enough of it
    /// has passed.
    #[napi(
        ts_args_type = "id: string, rollingMs: number",
        ts_return_type = "true | null | Promise<import('./index').Session | null>"
    )]
    pub fn get_sliding<'e>(
        &self,
        env: &'e Env,
        id: Unknown<'e>,
        rolling_ms: Unknown<'e>,
    ) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let args = id_arg(id).and_then(|id| {
            let ms = convert::opt_count("rollingMs", rolling_ms)
                .map_err(Bad::into_invalid)?
                .ok_or_else(|| Bad::shape("rollingMs", "rollingMs is required").into_invalid())?;
            Ok((id, ms))
        });
        settle::sessions(env, async move {
            let (id, ms) = args?;
            Ok(store.get_sliding(&id, ms).await?.map(std::sync::Arc::new))
        })
    }

    /// Signs a user in: a new id, the user attached, the old session ended.
    #[napi(
        ts_args_type = "input: import('./index').LoginInput",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn login<'e>(&self, env: &'e Env, input: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let login = login_arg(env, &store, input);
        settle::sessions(env, async move { store.login(login?).await })
    }

    /// Saves a whole session, creating it when its id is unknown (never an ended id).
    #[napi(
        ts_args_type = "session: import('./index').SessionUpdate",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn upsert<'e>(&self, env: &'e Env, session: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let update = session_update(env, &store, session);
        settle::sessions(env, async move { store.upsert(update?).await })
    }

    /// Gives the session a new id; the old one is gone.
    #[napi(
        ts_args_type = "id: string",
        ts_return_type = "true | null | Promise<import('./index').Session>"
    )]
    pub fn rotate<'e>(&self, env: &'e Env, id: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let id = id_arg(id);
        settle::sessions(env, async move { store.rotate(&id?).await })
    }

    /// Deletes a session (a missing one is not an error).
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<void>")]
    pub fn delete<'e>(&self, env: &'e Env, id: Unknown<'e>) -> Result<PromiseRaw<'e, ()>> {
        let store = self.inner.clone();
        let id = id_arg(id);
        settle::promise(env, async move { store.delete(&id?).await }, |_, ()| Ok(()))
    }

    /// `delete` of a session by the id a listing showed (`idAtRest`): with `idsAtRest`,
    /// listings show hashes, which `delete` would hash again.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<void>")]
    pub fn delete_at_rest<'e>(&self, env: &'e Env, id: Unknown<'e>) -> Result<PromiseRaw<'e, ()>> {
        let store = self.inner.clone();
        let id = id_arg(id);
        settle::promise(
            env,
            async move { store.delete_at_rest(&id?).await },
            |_, ()| Ok(()),
        )
    }

    /// What listings show as the id of the session with this id: the id itself, or with
    /// `idsAtRest` its hash ("this device" on an active-sessions page).
    #[napi]
    #[allow(clippy::needless_pass_by_value)] // napi passes arguments by value
    pub fn id_at_rest(&self, id: String) -> String {
        self.inner.id_at_rest(&id)
    }

    /// Deletes this site's sessions of a user; resolves to how many live ones were removed.
    #[napi(
        ts_args_type = "userId: string | number",
        ts_return_type = "Promise<number>"
    )]
    pub fn delete_by_user_id<'e>(
        &self,
        env: &'e Env,
        user_id: Unknown<'e>,
    ) -> Result<PromiseRaw<'e, f64>> {
        let store = self.inner.clone();
        let user = user_arg(user_id);
        settle::promise(
            env,
            async move { store.delete_by_user_id(&user?).await },
            |_, n| Ok(n as f64),
        )
    }

    /// This site's live sessions of a user, oldest first.
    #[napi(
        ts_args_type = "userId: string | number",
        ts_return_type = "true | null | Promise<import('./index').Session[]>"
    )]
    pub fn list_by_user_id<'e>(&self, env: &'e Env, user_id: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let user = user_arg(user_id);
        settle::sessions(env, async move { store.list_by_user_id(&user?).await })
    }

    /// One page of this site's live sessions.
    #[napi(
        ts_args_type = "options?: import('./index').ListOptions",
        ts_return_type = "true | null | Promise<import('./index').SessionPage>"
    )]
    pub fn list<'e>(&self, env: &'e Env, options: Unknown<'e>) -> Result<Unknown<'e>> {
        let store = self.inner.clone();
        let args = list_arg(options);
        settle::sessions(env, async move {
            let (cursor, limit) = args?;
            store.list(cursor.as_deref(), limit).await
        })
    }

    /// Number of this site's live sessions.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn count<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, f64>> {
        let store = self.inner.clone();
        settle::promise(env, async move { store.count().await }, |_, n| Ok(n as f64))
    }

    /// Removes this site's sessions; resolves to how many live ones there were.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn clear<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, f64>> {
        let store = self.inner.clone();
        settle::promise(env, async move { store.clear().await }, |_, n| Ok(n as f64))
    }

    /// Removes expired sessions now; resolves to how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn cleanup<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, f64>> {
        let store = self.inner.clone();
        settle::promise(env, async move { store.cleanup().await }, |_, n| {
            Ok(n as f64)
        })
    }

    /// Closes the store (idempotent); later operations reject with `STORE_CLOSED`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let store = self.inner.clone();
        settle::promise(env, async move { store.close().await }, |_, ()| Ok(()))
    }
}
