//! The progress line of long walks (stats, check, migrate, cleanup): drawn on stderr only
//! when stderr is a terminal, so scripts and logs never see it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A spinner counting records (walks whose length is not known ahead); hidden when stderr is
/// not a terminal.
pub fn counter(what: &str) -> ProgressBar {
    drawn(
        what,
        "{spinner} {msg}: {human_pos} records ({per_sec}) {elapsed}",
    )
}

/// A spinner for one long call (cleanup): nothing to count, only time passing.
pub fn waiting(what: &str) -> ProgressBar {
    drawn(what, "{spinner} {msg} {elapsed}")
}

fn drawn(what: &str, template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
