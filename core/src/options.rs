//! Store options, their defaults and their validation (`CONFIG_INVALID`).
//!
//! Bindings hand options over as a JSON object with the snake_case names below and durations
//! in milliseconds ([`Options::from_json`]), so that every option is parsed and checked here.

use crate::at_rest::IdsAtRest;
use crate::backend::Backend;
use crate::clock::{Clock, SystemClock};
use crate::controls::admission::EvictionPolicy;
use crate::controls::expiry::ExpiryRule;
use crate::controls::violation::ViolationSink;
use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Where sessions are stored.
#[derive(Clone)]
pub enum BackendConfig {
    /// In-process memory.
    Memory,
    /// One SQLite file (WAL), shareable by several processes.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// One JSON file per session under a directory.
    File {
        /// The directory.
        path: PathBuf,
    },
    /// Redis: one node, or a Redis Cluster.
    Redis {
        /// `redis://`, `rediss://` or `redis+unix://` URLs (several = cluster seeds).
        urls: Vec<String>,
        /// Whether the URLs are seeds of a Redis Cluster (implied by more than one URL).
        cluster: bool,
        /// A PEM file with the CA that signed the server's certificate (`rediss://` with a
        /// private CA); otherwise the system's and Mozilla's roots are trusted.
        tls_ca: Option<PathBuf>,
        /// A client certificate for servers that check their clients (`rediss://`).
        tls_client: Option<ClientCertificate>,
    },
    /// A backend built outside the core (a host-language custom backend, or Redis).
    Custom(Arc<dyn Backend>),
}

/// A client certificate and its private key, PEM files, for mutual TLS.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    /// The certificate (chain).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

// By hand: a Redis URL may hold a password, and `Debug` output ends up in logs.
impl std::fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            Self::File { path } => f.debug_struct("File").field("path", path).finish(),
            Self::Redis {
                urls,
                cluster,
                tls_ca,
                tls_client,
            } => f
                .debug_struct("Redis")
                .field(
                    "urls",
                    &urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>(),
                )
                .field("cluster", cluster)
                .field("tls_ca", tls_ca)
                .field("tls_client", tls_client)
                .finish(),
            Self::Custom(b) => f.debug_tuple("Custom").field(b).finish(),
        }
    }
}

/// A URL with the password of its user info, and the value of any query parameter named
/// `…password`, replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let redacted: Vec<String> = out[q + 1..]
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.ends_with("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{}?{}", &out[..q], redacted.join("&"));
    }
    out
}

/// Everything `Store::open` takes. `Options::default()` is a memory store with docs/design.md's
/// defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where sessions live.
    pub backend: BackendConfig,
    /// Prefix of every backend key (Redis); default `session:`.
    pub key_prefix: String,
    /// This store's site; sessions of other sites are invisible. Empty = no isolation.
    pub site_id: String,
    /// Largest session JSON in bytes (0 = no limit). Default 1 MiB.
    pub max_session_size: usize,
    /// Most live sessions per user and site (0 = no limit).
    pub max_sessions_per_user: usize,
    /// What happens at the per-user limit.
    pub eviction_policy: EvictionPolicy,
    /// Lifetime of a session created without a ttl, in ms (0 = never). Default 24 h.
    pub default_ttl_ms: u64,
    /// Longest a session may live after its creation, however often it slides, in ms
    /// (0 = no bound).
    pub max_lifetime_ms: u64,
    /// The fraction of a sliding window (idle or rolling) that must have passed before a read
    /// slides the session forward (0 = every read; default 0.5).
    pub refresh_fraction: f64,
    /// Idle timeout in ms (0 = off).
    pub idle_timeout_ms: u64,
    /// Interval of the expiry sweep in ms (0 = off). Default 5 min.
    pub cleanup_interval_ms: u64,
    /// How long a deleted, rotated or evicted id stays unusable, in ms. Default 10 min.
    pub tombstone_ttl_ms: u64,
    /// Whether sessions without a user may be created.
    pub allow_anonymous: bool,
    /// omnistorage-core compatibility (docs/go-interop.md): user and organization ids must be
    /// canonical UUIDs, anonymous sessions are written with the nil UUID, and on Redis Go's
    /// `{prefix}user:{uuid}` index is kept with omnisession's own. Off by default: it refuses
    /// the non-UUID user ids that stores without a Go peer use.
    pub omnistorage_compat: bool,
    /// Redis: how many replicas must hold a write that creates, rotates or ends a session
    /// before it is acknowledged (`WAIT`; 0 = off, the default). Redis replicates
    /// asynchronously: without it, a login or a logout the master acknowledged can be lost in
    /// a failover (docs/redis.md).
    pub wait_replicas: usize,
    /// Redis: how long such a write waits for its replicas, in ms (default 500), before it
    /// fails with `BACKEND_UNAVAILABLE` (it is on the master, not yet safe).
    pub wait_timeout_ms: u64,
    /// What keys, file names and primary keys hold for each session id: the id (default), or
    /// a hash of it, so that a dump of the backend yields no usable token (docs/design.md).
    pub ids_at_rest: IdsAtRest,
    /// Receives violation events.
    pub on_violation: Option<Arc<dyn ViolationSink>>,
    /// Source of "now" (tests use a manual clock).
    pub clock: Arc<dyn Clock>,
}

/// Largest `max_session_size` accepted (64 MiB): a bigger session is a design error.
pub const MAX_SESSION_SIZE_CAP: usize = 64 << 20;

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: BackendConfig::Memory,
            key_prefix: "session:".to_owned(),
            site_id: String::new(),
            max_session_size: 1 << 20,
            max_sessions_per_user: 0,
            eviction_policy: EvictionPolicy::Oldest,
            default_ttl_ms: 24 * 3600 * 1000,
            max_lifetime_ms: 0,
            refresh_fraction: 0.5,
            idle_timeout_ms: 0,
            cleanup_interval_ms: 5 * 60 * 1000,
            tombstone_ttl_ms: 10 * 60 * 1000,
            allow_anonymous: false,
            omnistorage_compat: false,
            wait_replicas: 0,
            wait_timeout_ms: 500,
            ids_at_rest: IdsAtRest::Plain,
            on_violation: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// URL schemes the redis backend accepts.
const REDIS_SCHEMES: [&str; 6] = [
    "redis://",
    "rediss://",
    "redis+unix://",
    "unix://",
    "redis+sentinel://",
    "rediss+sentinel://",
];

/// Longest `wait_timeout` accepted: the wait must end before the 3 s a Redis call may take.
const MAX_WAIT_TIMEOUT_MS: u64 = 2500;

/// Longest duration accepted for any option (100 years): beyond it, arithmetic overflows.
const MAX_DURATION_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// The options that say where sessions live, gathered before they make a [`BackendConfig`].
#[derive(Default)]
struct Place {
    backend: Option<String>,
    path: Option<PathBuf>,
    urls: Vec<String>,
    cluster: bool,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Place {
    /// Takes `key` if it is one of these options.
    fn take(&mut self, key: &str, value: &Value) -> Result<bool> {
        match key {
            "backend" => self.backend = Some(string(key, value)?),
            "path" => self.path = Some(PathBuf::from(string(key, value)?)),
            "url" => self.urls.push(string(key, value)?),
            "urls" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| Error::config(key, "urls must be a list of strings"))?;
                for u in list {
                    self.urls.push(string(key, u)?);
                }
            }
            "cluster" => {
                self.cluster = value
                    .as_bool()
                    .ok_or_else(|| Error::config(key, "cluster must be a boolean"))?;
            }
            "tls_ca" => self.tls_ca = Some(PathBuf::from(string(key, value)?)),
            "tls_cert" => self.tls_cert = Some(PathBuf::from(string(key, value)?)),
            "tls_key" => self.tls_key = Some(PathBuf::from(string(key, value)?)),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn into_backend(self) -> Result<BackendConfig> {
        let name = self.backend.unwrap_or_else(|| "memory".to_owned());
        Ok(match (name.as_str(), self.path) {
            ("redis", None) => {
                if self.urls.is_empty() {
                    return Err(Error::config(
                        "url",
                        "the redis backend needs a url (or urls)",
                    ));
                }
                let tls_client = match (self.tls_cert, self.tls_key) {
                    (Some(cert), Some(key)) => Some(ClientCertificate { cert, key }),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err(Error::config("tls_key", "tls_cert needs its tls_key"));
                    }
                    (None, Some(_)) => {
                        return Err(Error::config("tls_cert", "tls_key needs its tls_cert"));
                    }
                };
                BackendConfig::Redis {
                    cluster: self.cluster || self.urls.len() > 1,
                    urls: self.urls,
                    tls_ca: self.tls_ca,
                    tls_client,
                }
            }
            ("redis", Some(_)) => {
                return Err(Error::config("path", "the redis backend takes no path"));
            }
            ("memory", None) => BackendConfig::Memory,
            ("memory", Some(_)) => {
                return Err(Error::config("path", "the memory backend takes no path"));
            }
            ("sqlite", Some(path)) => BackendConfig::Sqlite { path },
            ("file", Some(path)) => BackendConfig::File { path },
            ("sqlite" | "file", None) => {
                return Err(Error::config(
                    "path",
                    format!("the {name} backend needs a path"),
                ));
            }
            (other, _) => {
                return Err(Error::config(
                    "backend",
                    format!(
                        "backend must be \"memory\", \"sqlite\", \"file\" or \"redis\", not {other:?}"
                    ),
                ));
            }
        })
    }
}

impl Options {
    /// Options from a JSON object (the bindings' common form). Unknown names, wrong types and
    /// out-of-range values are `CONFIG_INVALID` with the option's name in `details.option`.
    pub fn from_json(map: &Map<String, Value>) -> Result<Options> {
        let mut o = Options::default();
        let mut place = Place::default();
        let (mut ids_at_rest, mut id_hash_key) = (None, None);
        for (key, value) in map {
            if place.take(key, value)? {
                continue;
            }
            match key.as_str() {
                "key_prefix" => o.key_prefix = string(key, value)?,
                "site_id" => o.site_id = string(key, value)?,
                "max_session_size" => o.max_session_size = count(key, value)?,
                "max_sessions_per_user" => o.max_sessions_per_user = count(key, value)?,
                "wait_replicas" => o.wait_replicas = count(key, value)?,
                "wait_timeout" => o.wait_timeout_ms = duration(key, value)?,
                "eviction_policy" => o.eviction_policy = string(key, value)?.parse()?,
                "default_ttl" => o.default_ttl_ms = duration(key, value)?,
                "max_lifetime" => o.max_lifetime_ms = duration(key, value)?,
                "refresh_fraction" => {
                    o.refresh_fraction = value.as_f64().ok_or_else(|| {
                        Error::config(key, "refresh_fraction must be a number from 0 to 1")
                    })?;
                }
                "idle_timeout" => o.idle_timeout_ms = duration(key, value)?,
                "cleanup_interval" => o.cleanup_interval_ms = duration(key, value)?,
                "tombstone_ttl" => o.tombstone_ttl_ms = duration(key, value)?,
                "allow_anonymous" => {
                    o.allow_anonymous = value
                        .as_bool()
                        .ok_or_else(|| Error::config(key, "allow_anonymous must be a boolean"))?;
                }
                "ids_at_rest" => ids_at_rest = Some(string(key, value)?),
                "id_hash_key" => id_hash_key = Some(string(key, value)?),
                "omnistorage_compat" => {
                    o.omnistorage_compat = value.as_bool().ok_or_else(|| {
                        Error::config(key, "omnistorage_compat must be a boolean")
                    })?;
                }
                other => return Err(Error::config(other, format!("unknown option {other:?}"))),
            }
        }
        o.backend = place.into_backend()?;
        o.ids_at_rest = IdsAtRest::from_options(ids_at_rest.as_deref(), id_hash_key.as_deref())?;
        o.validate()?;
        Ok(o)
    }

    /// Checks the combination of options.
    pub fn validate(&self) -> Result<()> {
        if self.max_session_size > MAX_SESSION_SIZE_CAP {
            return Err(Error::config(
                "max_session_size",
                format!("max_session_size must be at most {MAX_SESSION_SIZE_CAP} bytes"),
            ));
        }
        for (name, ms) in [
            ("default_ttl", self.default_ttl_ms),
            ("max_lifetime", self.max_lifetime_ms),
            ("idle_timeout", self.idle_timeout_ms),
            ("cleanup_interval", self.cleanup_interval_ms),
            ("tombstone_ttl", self.tombstone_ttl_ms),
        ] {
            if ms > MAX_DURATION_MS {
                return Err(Error::config(
                    name,
                    format!("{name} must be at most 100 years"),
                ));
            }
        }
        if self.max_lifetime_ms > 0 && self.default_ttl_ms > self.max_lifetime_ms {
            return Err(Error::config(
                "max_lifetime",
                "max_lifetime must not be shorter than default_ttl",
            ));
        }
        if !(0.0..=1.0).contains(&self.refresh_fraction) {
            return Err(Error::config(
                "refresh_fraction",
                "refresh_fraction must be a number from 0 to 1",
            ));
        }
        if self.key_prefix.is_empty() {
            return Err(Error::config("key_prefix", "key_prefix must not be empty"));
        }
        if self.site_id.len() > 256 {
            return Err(Error::config(
                "site_id",
                "site_id must be at most 256 bytes",
            ));
        }
        self.validate_redis()?;
        self.ids_at_rest.validate()?;
        if self.omnistorage_compat && self.ids_at_rest.is_hashed() {
            // A Go service looks sessions up by the id itself.
            return Err(Error::config(
                "ids_at_rest",
                "ids hashed at rest cannot be read by omnistorage-core: \
                 omnistorage_compat needs ids_at_rest \"plain\"",
            ));
        }
        if self.omnistorage_compat
            && matches!(
                self.backend,
                BackendConfig::Sqlite { .. } | BackendConfig::File { .. }
            )
        {
            // omnistorage-core's KVS+SQLite keeps records in a `kv (key, value, expires_at)`
            // table; omnisession's SQLite and file layouts are not that, so no Go service can
            // share them and the mode would promise what it cannot keep.
            return Err(Error::config(
                "omnistorage_compat",
                "omnistorage_compat needs the redis backend (or memory, for tests): a Go \
                 service cannot share omnisession's sqlite or file layout",
            ));
        }
        if let BackendConfig::Sqlite { path } | BackendConfig::File { path } = &self.backend
            && path.as_os_str().is_empty()
        {
            return Err(Error::config("path", "path must not be empty"));
        }
        Ok(())
    }

    /// The Redis options: the URLs, and `wait_replicas` (which only Redis has).
    fn validate_redis(&self) -> Result<()> {
        if let BackendConfig::Redis {
            urls,
            cluster,
            tls_client,
            ..
        } = &self.backend
        {
            if tls_client.is_some() && urls.iter().any(|u| !u.starts_with("rediss")) {
                return Err(Error::config(
                    "tls_cert",
                    "a client certificate needs rediss:// (or rediss+sentinel://) urls",
                ));
            }
            if urls.is_empty() {
                return Err(Error::config(
                    "url",
                    "the redis backend needs a url (or urls)",
                ));
            }
            if let Some(bad) = urls
                .iter()
                .find(|u| !REDIS_SCHEMES.iter().any(|s| u.starts_with(s)))
            {
                return Err(Error::config(
                    "url",
                    format!(
                        "a redis url must start with redis://, rediss://, redis+unix:// or \
                         redis+sentinel://, not {:?}",
                        redact_url(bad)
                    ),
                ));
            }
            if (urls.len() > 1 || *cluster) && urls.iter().any(|u| u.contains("+sentinel://")) {
                return Err(Error::config(
                    "url",
                    "a redis+sentinel:// url names every sentinel itself (host,host,…) and is \
                     not a cluster: give it alone",
                ));
            }
        }
        if self.wait_replicas > 0 {
            if !matches!(self.backend, BackendConfig::Redis { .. }) {
                return Err(Error::config(
                    "wait_replicas",
                    "wait_replicas needs the redis backend",
                ));
            }
            if !(1..=MAX_WAIT_TIMEOUT_MS).contains(&self.wait_timeout_ms) {
                return Err(Error::config(
                    "wait_timeout",
                    format!(
                        "wait_timeout must be from 1 to {MAX_WAIT_TIMEOUT_MS} ms (a redis call \
                         times out after 3 s)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The expiry rule these options describe.
    pub fn expiry(&self) -> ExpiryRule {
        ExpiryRule {
            default_ttl_ms: self.default_ttl_ms,
            idle_timeout_ms: self.idle_timeout_ms,
            max_lifetime_ms: self.max_lifetime_ms,
            refresh_fraction: self.refresh_fraction,
        }
    }
}

fn string(key: &str, value: &Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::config(key, format!("{key} must be a string")))
}

fn count(key: &str, value: &Value) -> Result<usize> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::config(key, format!("{key} must be a non-negative integer")))
}

fn duration(key: &str, value: &Value) -> Result<u64> {
    value.as_u64().ok_or_else(|| {
        Error::config(
            key,
            format!("{key} must be a non-negative integer of milliseconds"),
        )
    })
}
