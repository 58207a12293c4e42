//! The command line, as clap parses it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Administer omnisession session stores: SQLite files, session directories, Redis and Redis
/// Cluster.
#[derive(Debug, Parser)]
#[command(
    name = "omnisession",
    version,
    about,
    after_help = "Backends: sqlite:///path/to/file.db, file:///path/to/dir, redis://[user:password@]host:port[/db], \
rediss://…, redis+sentinel://…; several --url are the seeds of one Redis Cluster. \
OMNISESSION_URL is used when no --url is given (several urls separated by spaces).\n\n\
Exit codes: 0 ok; 1 bad records found, nothing matched, or not everything copied; 2 usage or \
configuration error; 3 backend unavailable; 4 backend error; 5 cancelled at the prompt. \
See docs/cli.md."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The backend: sqlite:///file.db, file:///dir or redis://… (repeat for a cluster's seeds).
    #[arg(long = "url", global = true, value_name = "URL")]
    pub(crate) urls: Vec<String>,
    /// The site whose sessions `list` and `revoke --user` see (default: the empty site).
    #[arg(long, global = true, value_name = "SITE")]
    pub(crate) site: Option<String>,
    /// The Redis key prefix (default `session:`).
    #[arg(long, global = true, value_name = "PREFIX")]
    pub(crate) key_prefix: Option<String>,
    /// One Redis url that is a seed of a Redis Cluster.
    #[arg(long, global = true)]
    pub(crate) cluster: bool,
    /// Redis TLS: a PEM file with the CA that signed the server's certificate.
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// Redis mutual TLS: the client certificate (PEM).
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Redis mutual TLS: the client certificate's private key (PEM).
    #[arg(long, global = true, value_name = "PEM")]
    pub(crate) tls_key: Option<PathBuf>,
    /// What the store holds for each session id: plain (default), sha256 or hmac-sha256 (its
    /// key in OMNISESSION_ID_HASH_KEY: a key never goes on a command line).
    #[arg(long, global = true, value_name = "MODE")]
    pub(crate) ids_at_rest: Option<String>,
    /// Machine-readable output: one JSON document on stdout (errors as JSON on stderr).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Do not ask for confirmation (revoke, cleanup, migrate); needed without a terminal.
    #[arg(long, short = 'y', global = true)]
    pub(crate) yes: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// A user's live sessions on one site (ids shown as their fingerprints).
    List {
        /// The user.
        #[arg(long)]
        user: String,
    },
    /// End sessions: every session of a user on one site, or one session by fingerprint.
    Revoke(Revoke),
    /// One stored record, its id replaced by its fingerprint.
    Inspect {
        /// The session's id hash, as `list` shows it.
        // A value may begin with '-': a session id pasted here by mistake does one time in
        // 64, and must reach the check that refuses it without repeating it.
        #[arg(long = "id-hash", value_name = "HASH", allow_hyphen_values = true)]
        id_hash: String,
    },
    /// Live sessions by site, top users, sessions expiring within the hour, record sizes.
    Stats {
        /// How many users to show, most sessions first.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Remove expired sessions now.
    Cleanup,
    /// Read and validate every stored record; report the bad ones (left in place).
    Check,
    /// Copy every live session from one backend to another, as it is. Safe to run again.
    Migrate {
        /// The backend to copy from.
        #[arg(value_name = "FROM_URL")]
        from: String,
        /// The backend to copy into (created if it is a SQLite file or directory that does
        /// not exist).
        #[arg(value_name = "TO_URL")]
        to: String,
        /// What the target holds for each id (default: as --ids-at-rest). From plain to
        /// hashed is how a store starts hashing ids; its key in OMNISESSION_TO_ID_HASH_KEY
        /// (else OMNISESSION_ID_HASH_KEY).
        #[arg(long, value_name = "MODE")]
        to_ids_at_rest: Option<String>,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct Revoke {
    /// Every session of this user on the --site.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// The one session with this id hash (any site), as `list` shows it.
    // A value may begin with '-' (see `Inspect`).
    #[arg(long = "id-hash", value_name = "HASH", allow_hyphen_values = true)]
    pub(crate) id_hash: Option<String>,
}

impl Command {
    /// Whether the command changes the store, and so asks first.
    pub(crate) fn asks_first(&self) -> bool {
        matches!(
            self,
            Command::Revoke(_) | Command::Cleanup | Command::Migrate { .. }
        )
    }
}
