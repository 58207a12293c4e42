//! Exit codes scripts can rely on (docs/cli.md), and how a failure is told.

use omnisession::{Error, ErrorKind};

/// Done.
pub const OK: i32 = 0;
/// `check` found bad records; nothing matched (`revoke`, `inspect`); `migrate` left records
/// behind.
pub const FOUND: i32 = 1;
/// Bad arguments, a bad URL or option, a refused confirmation without a terminal.
pub const USAGE: i32 = 2;
/// The backend cannot be reached (`BACKEND_UNAVAILABLE`).
pub const UNAVAILABLE: i32 = 3;
/// The backend failed or holds something unexpected (`BACKEND_ERROR` and the rest).
pub const BACKEND: i32 = 4;
/// The operator answered no at the prompt.
pub const CANCELLED: i32 = 5;

/// A command's failure: an exit code and what to say.
#[derive(Debug)]
pub enum Failure {
    /// A core error, told with its stable code.
    Store(Error),
    /// Anything else, with its exit code.
    Other(i32, String),
}

impl Failure {
    pub fn code(&self) -> i32 {
        match self {
            Failure::Store(e) => match e.kind() {
                ErrorKind::ConfigInvalid | ErrorKind::SessionInvalid => USAGE,
                ErrorKind::BackendUnavailable => UNAVAILABLE,
                _ => BACKEND,
            },
            Failure::Other(code, _) => *code,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::Other(USAGE, message.into())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Store(e)
    }
}
