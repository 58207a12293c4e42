//! Asking before a command changes a store: on a terminal the operator answers; without one,
//! only `--yes` lets it go ahead.

use crate::exit::{CANCELLED, Failure};
use std::io::{BufRead, IsTerminal, Write};

/// Whether a prompt can be answered here (stdin is a terminal).
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal()
}

/// The refusal when a command that changes a store runs without a terminal and without
/// `--yes` (checked before anything is opened).
pub fn refusal(command: &str) -> Failure {
    Failure::usage(format!(
        "`{command}` changes the store and there is no terminal to confirm on: run it again \
         with --yes to go ahead"
    ))
}

/// Asks `question`; anything but y/yes is no.
pub fn ask(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::Other(
            CANCELLED,
            "cancelled: nothing was changed".into(),
        ))
    }
}
