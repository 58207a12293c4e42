//! Reaching one Redis server: the connect timeout, TLS, a client for a URL, and what a Redis
//! error means in our kinds. Shared by the connection kinds (`conn.rs`, `sentinel.rs`,
//! `cluster_link.rs`), which depend on this and not on each other.

use crate::error::{Error, Result};
use redis::{ClientTlsConfig, RedisError, TlsCertificates};
use std::fmt;
use std::time::Duration;

/// Longest a new connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a `rediss://` connection trusts and shows: a private CA instead of the system's and
/// Mozilla's roots, and a client certificate for servers that check their clients (both PEM).
#[derive(Clone, Default)]
pub(crate) struct Tls {
    pub(crate) ca: Option<Vec<u8>>,
    /// The certificate and its private key.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

// By hand: the private key stays out of `Debug` output.
impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

impl Tls {
    /// What redis-rs is given, if anything differs from its defaults.
    pub(crate) fn certificates(&self) -> Option<TlsCertificates> {
        (self.ca.is_some() || self.client.is_some()).then(|| TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca.clone(),
        })
    }
}

/// Whether a Redis error means "the server is away" rather than "the server said no". A
/// `READONLY` server is a master demoted under us, and a `MOVED` or `ASK` that outlived the
/// cluster client's retries is a slot still moving: either way the data is elsewhere, for now.
pub(crate) fn is_unavailable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || matches!(
            server_code(e).as_deref(),
            Some(
                "CLUSTERDOWN"
                    | "TRYAGAIN"
                    | "LOADING"
                    | "MASTERDOWN"
                    | "READONLY"
                    | "MOVED"
                    | "ASK"
                    // A `WAIT` cut short when its master became a replica (a failover).
                    | "UNBLOCKED"
            )
        )
}

/// The server's error code, also where a pipeline carried it (the first failed command's),
/// which `RedisError::code` gives only for the codes redis-rs knows.
fn server_code(e: &RedisError) -> Option<String> {
    e.code().map(str::to_owned).or_else(|| {
        let items = e.clone().into_server_errors()?;
        items.first().map(|(_, err)| err.code().to_owned())
    })
}

/// Whether Redis refused the URL's credentials, wanted some, or does not let its user run
/// what a store runs (ACL): a setting to fix, not an outage to wait out.
pub(crate) fn is_auth_failure(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

pub(crate) fn map_err(e: &RedisError) -> Error {
    if is_auth_failure(e) {
        Error::config(
            "url",
            format!("redis refused the url's credentials or their permissions: {e}"),
        )
    } else if is_unavailable(e) {
        Error::unavailable(format!("redis: {e}"))
    } else {
        Error::backend(format!("redis: {e}"))
    }
}

/// A client for one server URL, with `tls` for `rediss://`.
pub(crate) fn client_for(url: &str, tls: &Tls) -> Result<redis::Client, RedisError> {
    match tls.certificates() {
        Some(certificates) => redis::Client::build_with_tls(url, certificates),
        None => redis::Client::open(url),
    }
}
