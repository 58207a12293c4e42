//! The `omnisession` admin command (docs/cli.md) for the npm package's `bin`
//! (`npx omnisession`): the same command as the Rust binary, run by `js/cli.js`.

use napi_derive::napi;

/// Runs the admin command with `argv` (the program name first) and returns its exit code.
/// Blocks the calling thread: `cli.js` is a process of its own, with nothing else to run.
#[allow(clippy::needless_pass_by_value)] // napi passes arguments by value
#[napi]
pub fn cli_run(argv: Vec<String>) -> i32 {
    omnisession_cli::run(argv)
}
