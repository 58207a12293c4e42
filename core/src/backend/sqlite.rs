//! Placeholder until the sqlite backend lands.

use super::Backend;
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Opens the sqlite backend at `path`.
#[allow(clippy::unused_async)]
pub async fn open(path: &Path) -> Result<Arc<dyn Backend>> {
    Err(Error::config("backend", format!("sqlite backend not available yet: {}", path.display())))
}
