//! The `omnisession` admin command (docs/cli.md), as a library: [`run`] takes the arguments
//! and returns the exit code, writing to stdout and stderr. The binary, the Node package's
//! `npx omnisession` and the Python package's console script all call it.
//!
//! Every rule is the core's (`omnisession::store::admin`): this crate parses arguments, calls
//! the core and prints. It never prints a session id (ids are shown as their stable
//! fingerprints, `omnisession::id::fingerprint`) nor a password (URLs are redacted by the core's
//! `redact_url`).

mod args;
mod commands;
mod confirm;
mod exit;
mod output;
mod progress;

use args::Cli;
use clap::Parser;
use exit::Failure;
use output::{Out, redact_text};
use std::time::Duration;

pub use exit::{BACKEND, CANCELLED, FOUND, OK, UNAVAILABLE, USAGE};

/// Runs the command line `args` (the program name first, as `std::env::args` gives it) and
/// returns the exit code. Never panics into the caller: a panic is reported as a backend
/// error.
pub fn run(args: impl IntoIterator<Item = String>) -> i32 {
    let args: Vec<String> = args.into_iter().collect();
    std::panic::catch_unwind(move || run_args(args)).unwrap_or_else(|_| {
        Out { json: false }.note("omnisession: error: an internal error stopped the command");
        BACKEND
    })
}

fn run_args(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with code 0; errors to stderr with code 2, with
            // any URL in them redacted (clap quotes the argument it could not place).
            let text = e.render().to_string();
            let out = Out { json: false };
            if e.use_stderr() {
                out.note(redact_text(&text).trim_end());
            } else {
                out.line(text.trim_end());
            }
            return e.exit_code();
        }
    };
    let out = Out {
        json: cli.global.json,
    };
    if cli.command.asks_first() && !cli.global.yes && !confirm::can_ask() {
        return report(out, &confirm::refusal(commands::name(&cli.command)));
    }
    let runtime = match omnisession::runtime::builder().build() {
        Ok(rt) => rt,
        Err(e) => {
            return report(
                out,
                &Failure::Other(BACKEND, format!("cannot start the async runtime: {e}")),
            );
        }
    };
    let done = runtime.block_on(commands::dispatch(&cli, out));
    // Connections and blocking SQLite work are closed by then; do not wait on stragglers.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match done {
        Ok(code) => code,
        Err(failure) => report(out, &failure),
    }
}

/// Tells a failure on stderr (as JSON with `--json`) and returns its exit code.
fn report(out: Out, failure: &Failure) -> i32 {
    let code = failure.code();
    if out.json {
        let value = match failure {
            Failure::Store(e) => serde_json::json!({"error": {
                "code": e.code(), "message": redact_text(e.message()), "details": e.details(),
            }}),
            Failure::Other(_, message) => {
                serde_json::json!({"error": {"code": null, "message": redact_text(message)}})
            }
        };
        out.note(&value.to_string());
        return code;
    }
    let text = match failure {
        Failure::Store(e) => {
            let detail = |name: &str| {
                e.details()
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(|v| format!(" ({name}: {v})"))
                    .unwrap_or_default()
            };
            format!(
                "{}: {}{}{}",
                e.code(),
                e.message(),
                detail("option"),
                detail("url")
            )
        }
        Failure::Other(_, message) => message.clone(),
    };
    out.note(&format!("omnisession: error: {}", redact_text(&text)));
    code
}
