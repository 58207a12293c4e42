//! Filesystem primitives: atomic temp+rename writes (and the sweep of the temporary files a
//! crash left), reads and removes where a missing file is an answer, marker files, and
//! directory listings.

use super::layout::Dirs;
use crate::backend::owner_only;
use crate::id;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of temporary files (never a valid id, never ending in `.json`).
const TMP_PREFIX: &str = ".tmp-";

/// Distinguishes the temporary files of one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The file's content, `None` if it does not exist.
pub(super) fn read_opt(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes a file; whether it existed.
pub(super) fn remove_opt(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a directory if it is empty (index directories come and go with their markers).
pub(super) fn remove_dir_if_empty(path: &Path) {
    // Failing (not empty, already gone) is the normal case: nothing to do.
    let _ = fs::remove_dir(path);
}

/// Names of the entries of a directory (none if it does not exist).
pub(super) fn names(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        if let Ok(name) = entry?.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

/// Well-formed ids among the names of a marker directory.
pub(super) fn marker_ids(dir: &Path) -> io::Result<Vec<String>> {
    Ok(names(dir)?
        .into_iter()
        .filter(|n| id::is_well_formed(n))
        .collect())
}

/// Creates an empty marker file (and its directory).
pub(super) fn touch_marker(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        owner_only::create_dir_all(parent)?;
    }
    owner_only::write_options()
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Writes `bytes` to `target` atomically: a temporary file in the same directory, synced,
/// then renamed over the target. The temporary file never outlives a failure.
pub(super) fn write_atomic(dir: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = owner_only::write_options()
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Dirs {
    /// Removes temporary files a crashed writer left. Only called under the directory lock,
    /// so no writer is in the middle of one.
    pub(super) fn sweep_temp(&self) -> io::Result<()> {
        for dir in [&self.sessions, &self.meta, &self.tombstones] {
            for name in names(dir)? {
                if name.starts_with(TMP_PREFIX) {
                    remove_opt(&dir.join(name))?;
                }
            }
        }
        Ok(())
    }
}
