//! Mutual exclusion of the mutating steps: the in-process mutex and the exclusive lock on the
//! `lock` file, held together, and the runners that do blocking work under them or (reads)
//! without them.

use super::layout::Dirs;
use super::{FileBackend, blocking, closed, io_error};
use crate::error::Result;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::OwnedMutexGuard;

/// The in-process mutex and the directory lock, held together; dropping releases both.
pub(super) struct Held(OwnedMutexGuard<Option<File>>);

impl Held {
    /// Takes the directory lock (blocking) under an already held in-process guard.
    pub(super) fn acquire(guard: OwnedMutexGuard<Option<File>>) -> Result<Held> {
        let Some(file) = guard.as_ref() else {
            return Err(closed());
        };
        file.lock()
            .map_err(|e| io_error("cannot lock the session directory", &e))?;
        Ok(Held(guard))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(file) = self.0.as_ref()
            && let Err(e) = file.unlock()
        {
            tracing::warn!(target: "omnisession", error = %e,
                "cannot unlock the session directory");
        }
    }
}

impl FileBackend {
    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            Err(closed())
        } else {
            Ok(())
        }
    }

    /// Runs `f` on the blocking pool without a lock (reads).
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Dirs) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.check_open()?;
        let dirs = Arc::clone(&self.dirs);
        blocking(move || f(&dirs)).await
    }

    /// Runs `f` on the blocking pool under the in-process mutex and the directory lock.
    pub(super) async fn locked<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Dirs) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.check_open()?;
        let guard = Arc::clone(&self.lock).lock_owned().await;
        let dirs = Arc::clone(&self.dirs);
        blocking(move || {
            let _held = Held::acquire(guard)?;
            f(&dirs)
        })
        .await
    }
}
