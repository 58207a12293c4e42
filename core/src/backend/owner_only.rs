//! Files and directories that only their owner may read: session files hold live credentials
//! (a session id is a bearer token), so what the SQLite and file backends create is mode 0600
//! (files) and 0700 (directories) on Unix, whatever the process umask allows.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

/// Creates `dir` and any missing parents, each owner-only.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Options for writing a file that, if created, is owner-only.
pub(crate) fn write_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    options.mode(0o600);
    options
}

/// Creates `path` as an empty owner-only file unless it exists (SQLite then takes an empty
/// file as a new database, and gives its `-wal` and `-shm` files the same mode).
pub(crate) fn ensure_file(path: &Path) -> io::Result<()> {
    match write_options().create_new(true).open(path) {
        Ok(file) => drop::<File>(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(())
}
