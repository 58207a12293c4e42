//! The controls: policy, not storage. Each file is one rule; `store.rs` applies them in order
//! for every operation over any backend.

pub mod admission;
pub mod expiry;
pub mod violation;
