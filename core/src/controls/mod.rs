//! The controls: policy, not storage. Each file is one rule; `store.rs` applies them in order
//! for every operation over any backend, and backends run [`admission`] inside their atomic
//! steps. Nothing here knows a backend.

pub mod admission;
pub mod device;
pub mod expiry;
pub mod omnistorage;
pub(crate) mod session_id;
pub(crate) mod site;
pub(crate) mod size;
pub mod user;
pub mod violation;

use crate::error::Error;
use violation::Violation;

/// A control's refusal: the error the caller gets and the event the host's callback gets.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: Error,
    pub(crate) violation: Violation,
}
