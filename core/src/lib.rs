//! omnisession: a server-side session store with one core and every control.
//!
//! - [`Store`] is the store contract: create, get, update, patch, touch, rotate, delete, and
//!   the per-user and per-site operations, each with every control applied.
//! - [`controls`] holds the rules: size, site, user and id checks, per-user admission and
//!   eviction, expiry, violations.
//! - [`backend`] is the storage seam, with the memory, SQLite and file backends.
//! - [`Session`] is the record, written in omnistorage-core's wire format.
//! - [`sealed`] holds client-side sessions: the whole session sealed (AES-256-GCM) in the
//!   cookie, with [`Sealer`], and [`SeedsOpener`] to read the seeds' cookie values.
//!
//! The core knows nothing of its hosts: the Node and Python bindings convert arguments, call
//! the core and map [`Error`]s to their native error types.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod at_rest;
pub mod backend;
pub mod clock;
pub mod controls;
pub mod error;
pub mod id;
pub mod json;
pub mod options;
pub mod runtime;
pub mod sealed;
pub mod session;
pub mod store;
pub mod timestamp;

pub use at_rest::IdsAtRest;
pub use clock::{Clock, ManualClock, SystemClock};
pub use controls::admission::EvictionPolicy;
pub use controls::expiry::Lifetime;
pub use controls::violation::{FnSink, Violation, ViolationKind, ViolationSink};
pub use error::{Error, ErrorKind, Result};
pub use options::{BackendConfig, ClientCertificate, Options};
pub use sealed::{Opened, Reason, SealKey, SealedSession, Sealer, SeedsOpened, SeedsOpener};
pub use session::Session;
pub use store::{Login, NewSession, Patch, SessionPage, SessionUpdate, Store};
pub use timestamp::Timestamp;

/// How this build was compiled, `"release"` or `"debug"` (5-30x slower): each binding reports
/// it, and the bench refuses to time a debug build.
pub const BUILD_PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

/// The README's Rust examples, run as doctests so the README cannot drift from the code.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
