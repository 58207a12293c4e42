//! The `omnisession` admin command (docs/cli.md) for the Python package's console script:
//! the same command as the Rust binary, run by `omnisession._cli.main`.

use pyo3::prelude::*;

/// Runs the admin command with `argv` (the program name first) and returns its exit code.
/// The GIL is released for the whole run: it may walk a large store.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // pyo3 hands the list over by value
pub(crate) fn _cli_run(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(move || omnisession_cli::run(argv))
}
