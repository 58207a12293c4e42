//! A custom backend written in JS: the core's [`CustomStorage`] over one async JS dispatcher
//! (`index.js` builds it from the user's `{get, set, delete, ...}` object), so that every
//! control stays in the core's `CustomBackend`.
//!
//! The dispatcher is `(op, args) => Promise<result>`; records cross as the wire JSON text, so
//! a JS storage only keeps strings.

use async_trait::async_trait;
use napi::Status;
use napi::bindgen_prelude::{Function, Promise};
use napi::threadsafe_function::ThreadsafeFunction;
use omnisession::backend::custom::{Capabilities, CustomStorage};
use omnisession::{Error, ErrorKind, Result, Session, id};
use serde_json::{Value, json};
use std::fmt;

type Tsfn = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

/// The JS storage.
pub struct JsStorage {
    dispatch: Tsfn,
    caps: Capabilities,
}

impl fmt::Debug for JsStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsStorage")
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

impl JsStorage {
    /// `dispatch` receives `[op, ...args]`; `methods` names the optional methods present.
    pub fn new(
        dispatch: &Function<Value, Promise<Value>>,
        methods: &[String],
    ) -> napi::Result<Self> {
        let has = |m: &str| methods.iter().any(|x| x == m);
        Ok(Self {
            dispatch: dispatch
                .build_threadsafe_function()
                .weak::<true>()
                .callee_handled::<false>()
                .build()?,
            caps: Capabilities {
                list_by_user_id: has("listByUserId"),
                list: has("list"),
                cleanup: has("cleanup"),
            },
        })
    }

    async fn call(&self, op: &str, args: Value) -> Result<Value> {
        let failed = |reason: &str| {
            Error::new(
                ErrorKind::BackendError,
                format!("the custom backend's {op} failed: {reason}"),
            )
            .with("method", op)
        };
        let promise = self
            .dispatch
            .call_async_catch(json!([op, args]))
            .await
            .map_err(|e| failed(&e.reason))?;
        promise.await.map_err(|e| failed(&e.reason))
    }

    fn decode(op: &str, v: &Value) -> Result<Session> {
        let text = v.as_str().ok_or_else(|| {
            Error::new(
                ErrorKind::BackendError,
                format!("the custom backend's {op} returned a record that is not a string"),
            )
        })?;
        Session::from_wire(text.as_bytes()).map_err(|e| {
            Error::new(
                ErrorKind::BackendError,
                format!("the custom backend's {op} returned an unreadable record: {e}"),
            )
        })
    }

    /// Records of a listing; unreadable ones are skipped (and logged) so that one bad record
    /// cannot block every listing.
    fn decode_all(op: &str, v: &Value) -> Result<Vec<Session>> {
        let items = v.as_array().ok_or_else(|| {
            Error::new(
                ErrorKind::BackendError,
                format!("the custom backend's {op} returned no list of records"),
            )
        })?;
        Ok(items
            .iter()
            .filter_map(|item| match Self::decode(op, item) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(target: "omnisession", error = %e, "unreadable record skipped");
                    None
                }
            })
            .collect())
    }
}

#[async_trait]
impl CustomStorage for JsStorage {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn get(&self, id: &str) -> Result<Option<Session>> {
        let v = self.call("get", json!([id])).await?;
        if v.is_null() {
            return Ok(None);
        }
        Self::decode("get", &v)
            .map(Some)
            .map_err(|e| e.with("session_id_hash", id::hash(id)))
    }

    async fn set(&self, session: &Session, expires_ms: Option<i64>) -> Result<()> {
        let args = json!([
            session.id,
            session.to_wire(),
            session.user_id,
            session.site_id,
            expires_ms
        ]);
        self.call("set", args).await.map(drop)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.call("delete", json!([id])).await.map(drop)
    }

    async fn list_by_user_id(&self, site: &str, user: &str) -> Result<Vec<Session>> {
        let v = self.call("listByUserId", json!([site, user])).await?;
        Self::decode_all("listByUserId", &v)
    }

    async fn list(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Session>, Option<String>)> {
        let v = self.call("list", json!([cursor, limit])).await?;
        let records = Self::decode_all("list", &v["records"])?;
        let next = v["cursor"].as_str().map(str::to_owned);
        Ok((records, next))
    }

    async fn cleanup(&self, now_ms: i64) -> Result<u64> {
        let v = self.call("cleanup", json!([now_ms])).await?;
        v.as_u64().ok_or_else(|| {
            Error::new(
                ErrorKind::BackendError,
                "the custom backend's cleanup must resolve to a non-negative integer",
            )
        })
    }
}
