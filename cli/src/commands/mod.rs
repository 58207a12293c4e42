//! One file per command; this one dispatches and builds what they share.

mod check;
mod cleanup;
mod inspect;
mod list;
mod migrate;
mod revoke;
mod stats;

use crate::args::{Cli, Command, Global};
use crate::exit::Failure;
use crate::output::Out;
use crate::progress;
use omnisession::id;
use omnisession::options::redact_url;
use omnisession::store::admin::{ADMIN_PAGE, Admin, Entry, Presence, Target};

/// The environment variable read when no `--url` is given.
pub const URL_VARIABLE: &str = "OMNISESSION_URL";
/// The `hmac-sha256` key of `--ids-at-rest` (never a flag: command lines are visible to
/// every user of the machine and kept in shell histories).
pub const KEY_VARIABLE: &str = "OMNISESSION_ID_HASH_KEY";
/// The key of `migrate --to-ids-at-rest hmac-sha256`, when it is not the source's.
pub const TO_KEY_VARIABLE: &str = "OMNISESSION_TO_ID_HASH_KEY";

/// How a store holds ids: a mode, and its key from `variables` (the first set) when the mode
/// takes one.
#[derive(Debug, Clone, Default)]
pub(crate) struct AtRest {
    pub(crate) mode: Option<String>,
    pub(crate) key: Option<String>,
}

impl AtRest {
    pub(crate) fn new(mode: Option<&String>, variables: &[&str]) -> AtRest {
        let key = (mode.map(String::as_str) == Some("hmac-sha256"))
            .then(|| variables.iter().find_map(|v| std::env::var(v).ok()))
            .flatten();
        AtRest {
            mode: mode.cloned(),
            key,
        }
    }
}

pub(crate) fn name(command: &Command) -> &'static str {
    match command {
        Command::List { .. } => "list",
        Command::Revoke(_) => "revoke",
        Command::Inspect { .. } => "inspect",
        Command::Stats { .. } => "stats",
        Command::Cleanup => "cleanup",
        Command::Check => "check",
        Command::Migrate { .. } => "migrate",
    }
}

pub(crate) async fn dispatch(cli: &Cli, out: Out) -> Result<i32, Failure> {
    let g = &cli.global;
    if let Command::Migrate {
        from,
        to,
        to_ids_at_rest,
    } = &cli.command
    {
        if !g.urls.is_empty() {
            return Err(Failure::usage(
                "migrate takes its two backends as FROM_URL TO_URL, not --url",
            ));
        }
        let source = AtRest::new(g.ids_at_rest.as_ref(), &[KEY_VARIABLE]);
        let target = match to_ids_at_rest {
            Some(mode) => AtRest::new(Some(mode), &[TO_KEY_VARIABLE, KEY_VARIABLE]),
            None => source.clone(),
        };
        return migrate::run(g, (from, &source), (to, &target), out).await;
    }
    let at_rest = AtRest::new(g.ids_at_rest.as_ref(), &[KEY_VARIABLE]);
    let admin = open(g, &urls(g)?, &at_rest, Presence::MustExist).await?;
    let done = match &cli.command {
        Command::List { user } => list::run(&admin, g, user, out).await,
        Command::Revoke(r) => revoke::run(&admin, g, r, out).await,
        Command::Inspect { id_hash } => inspect::run(&admin, id_hash, out).await,
        Command::Stats { top } => stats::run(&admin, *top, out).await,
        Command::Cleanup => cleanup::run(&admin, g, out).await,
        Command::Check => check::run(&admin, out).await,
        // Opens its two backends itself (above); never reaches here.
        Command::Migrate { .. } => Err(Failure::usage("migrate takes FROM_URL TO_URL")),
    };
    let closed = admin.close().await;
    let code = done?;
    closed?;
    Ok(code)
}

/// The backend URLs: `--url`, else `OMNISESSION_URL` (space-separated for a cluster).
fn urls(g: &Global) -> Result<Vec<String>, Failure> {
    if !g.urls.is_empty() {
        return Ok(g.urls.clone());
    }
    let from_env: Vec<String> = std::env::var(URL_VARIABLE)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if from_env.is_empty() {
        return Err(Failure::usage(format!(
            "no backend given: pass --url (sqlite:///file.db, file:///dir, redis://host:port) \
             or set {URL_VARIABLE}"
        )));
    }
    Ok(from_env)
}

/// Opens the store at `urls` with the global options, its ids held as `at_rest` says.
async fn open(
    g: &Global,
    urls: &[String],
    at_rest: &AtRest,
    presence: Presence,
) -> Result<Admin, Failure> {
    let target = Target {
        ids_at_rest: at_rest.mode.clone(),
        id_hash_key: at_rest.key.clone(),
        urls: urls.to_vec(),
        site_id: g.site.clone(),
        key_prefix: g.key_prefix.clone(),
        cluster: g.cluster,
        tls_ca: g.tls_ca.clone(),
        tls_cert: g.tls_cert.clone(),
        tls_key: g.tls_key.clone(),
    };
    // The URL (password hidden) beside the core's message: which of two backends failed.
    let shown = urls
        .iter()
        .map(|u| redact_url(u))
        .collect::<Vec<_>>()
        .join(" ");
    Admin::open(&target, presence)
        .await
        .map_err(|e| Failure::Store(e.with("url", shown)))
}

/// Calls `visit` on every stored record, counting them on the progress line.
async fn walk(admin: &Admin, what: &str, mut visit: impl FnMut(&Entry)) -> Result<u64, Failure> {
    let bar = progress::counter(what);
    let mut cursor: Option<String> = None;
    let mut seen = 0u64;
    loop {
        let page = admin.page(cursor.as_deref(), ADMIN_PAGE).await?;
        for entry in &page.entries {
            visit(entry);
        }
        seen += page.entries.len() as u64;
        bar.inc(page.entries.len() as u64);
        cursor = page.cursor;
        if cursor.is_none() {
            bar.finish_and_clear();
            return Ok(seen);
        }
    }
}

/// An `--id-hash` argument, checked for its form. The value is never repeated back: a
/// mistaken one may be a raw session id.
fn fingerprint_arg(value: &str) -> Result<String, Failure> {
    let lower = value.to_ascii_lowercase();
    if id::is_fingerprint(&lower) {
        return Ok(lower);
    }
    let hint = if id::is_well_formed(value) {
        " (it has the form of a session id: never pass ids around; `list` shows each \
         session's id hash)"
    } else {
        ""
    };
    Err(Failure::usage(format!(
        "--id-hash takes an id hash of {} hex characters as `list` shows it; the value given \
         is not one{hint}",
        id::FINGERPRINT_LEN
    )))
}
