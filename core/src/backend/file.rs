//! Placeholder until the file backend lands.

use super::Backend;
use crate::error::{Error, Result};
use std::path::Path;
use std::sync::Arc;

/// Opens the file backend at `path`.
#[allow(clippy::unused_async)]
pub async fn open(path: &Path) -> Result<Arc<dyn Backend>> {
    Err(Error::config("backend", format!("file backend not available yet: {}", path.display())))
}
