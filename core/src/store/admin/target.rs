//! Where an admin tool points: a backend URL as operators write it, turned into [`Options`]
//! by [`Options::from_json`], so that the Redis URLs, the cluster seeds and every option are
//! parsed and checked in the one place the bindings use too.
//!
//! URL forms: `sqlite:///abs/path.db` (or `sqlite://relative.db`), `file:///abs/dir` (or
//! `file://relative/dir`), and every Redis form the redis backend accepts (`redis://`,
//! `rediss://`, `redis+unix://`, `redis+sentinel://`); several Redis URLs are the seeds of a
//! Redis Cluster.

use crate::error::{Error, Result};
use crate::options::{Options, redact_url};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Prefix of a SQLite URL; the rest is the file's path.
const SQLITE: &str = "sqlite://";
/// Prefix of a file-backend URL; the rest is the directory's path.
const FILE: &str = "file://";

/// A backend and the part of it an admin operation works on.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// One `sqlite://` or `file://` URL, or one or more Redis URLs (several = a cluster).
    pub urls: Vec<String>,
    /// The site whose sessions per-site operations see (`site_id`; default: the empty site).
    pub site_id: Option<String>,
    /// The Redis key prefix (`key_prefix`; default `session:`).
    pub key_prefix: Option<String>,
    /// One Redis URL that is a seed of a Redis Cluster (`cluster`).
    pub cluster: bool,
    /// Redis TLS: the CA's PEM file (`tls_ca`).
    pub tls_ca: Option<PathBuf>,
    /// Redis mutual TLS: the client certificate's PEM file (`tls_cert`).
    pub tls_cert: Option<PathBuf>,
    /// Redis mutual TLS: its private key's PEM file (`tls_key`).
    pub tls_key: Option<PathBuf>,
    /// What the store holds for each id (`ids_at_rest`: `plain`, `sha256`, `hmac-sha256`).
    pub ids_at_rest: Option<String>,
    /// The `hmac-sha256` server key (`id_hash_key`).
    pub id_hash_key: Option<String>,
}

/// Whether opening may create what the URL names (a migration's target) or must find it (any
/// other admin operation: a mistyped path must not answer "no sessions" from a new, empty file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The SQLite file or the directory must exist.
    MustExist,
    /// Created if missing.
    MayCreate,
}

impl Target {
    /// The store options for this target: no expiry sweep of its own (an admin run is short,
    /// and `cleanup` is asked for explicitly), every other option at its default.
    pub fn options(&self, presence: Presence) -> Result<Options> {
        let mut map = Map::new();
        match self.urls.as_slice() {
            [] => return Err(Error::config("url", "no backend url was given")),
            [one] if one.starts_with(SQLITE) || one.starts_with(FILE) => {
                let (backend, path) = local_path(one)?;
                if presence == Presence::MustExist {
                    check_exists(backend, &path)?;
                }
                map.insert("backend".into(), backend.into());
                map.insert("path".into(), path.display().to_string().into());
            }
            many => {
                if let Some(local) = many
                    .iter()
                    .find(|u| u.starts_with(SQLITE) || u.starts_with(FILE))
                {
                    return Err(Error::config(
                        "url",
                        format!(
                            "{} names a local backend: give it alone (several urls are the \
                             seeds of one Redis Cluster)",
                            redact_url(local)
                        ),
                    ));
                }
                map.insert("backend".into(), "redis".into());
                let urls = many.iter().cloned().map(Value::from).collect::<Vec<_>>();
                map.insert("urls".into(), urls.into());
                if self.cluster {
                    map.insert("cluster".into(), true.into());
                }
                for (name, path) in [
                    ("tls_ca", &self.tls_ca),
                    ("tls_cert", &self.tls_cert),
                    ("tls_key", &self.tls_key),
                ] {
                    if let Some(p) = path {
                        map.insert(name.into(), p.display().to_string().into());
                    }
                }
            }
        }
        if let Some(site) = &self.site_id {
            map.insert("site_id".into(), site.clone().into());
        }
        if let Some(prefix) = &self.key_prefix {
            map.insert("key_prefix".into(), prefix.clone().into());
        }
        if let Some(mode) = &self.ids_at_rest {
            map.insert("ids_at_rest".into(), mode.clone().into());
        }
        if let Some(key) = &self.id_hash_key {
            map.insert("id_hash_key".into(), key.clone().into());
        }
        map.insert("cleanup_interval".into(), 0.into());
        map.insert("allow_anonymous".into(), true.into());
        Options::from_json(&map)
    }
}

/// The backend and path of a `sqlite://` or `file://` URL.
fn local_path(url: &str) -> Result<(&'static str, PathBuf)> {
    let (backend, rest) = match url.strip_prefix(SQLITE) {
        Some(rest) => ("sqlite", rest),
        None => ("file", url.strip_prefix(FILE).unwrap_or_default()),
    };
    if rest.is_empty() {
        return Err(Error::config(
            "url",
            format!(
                "{url:?} names no path: write {backend}:///absolute/path or {backend}://relative/path"
            ),
        ));
    }
    if rest.contains(['?', '#']) {
        return Err(Error::config(
            "url",
            format!(
                "{backend} urls take no query or fragment: {:?}",
                redact_url(url)
            ),
        ));
    }
    Ok((backend, PathBuf::from(rest)))
}

fn check_exists(backend: &str, path: &Path) -> Result<()> {
    let found = match backend {
        "sqlite" => path.is_file(),
        _ => path.is_dir(),
    };
    if found {
        return Ok(());
    }
    let what = if backend == "sqlite" {
        "SQLite database file"
    } else {
        "session directory"
    };
    Err(
        Error::config("url", format!("there is no {what} at {}", path.display()))
            .with("path", path.display().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::options::BackendConfig;

    fn target(urls: &[&str]) -> Target {
        Target {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..Target::default()
        }
    }

    #[test]
    fn urls_choose_the_backend() {
        let o = target(&["sqlite:///tmp/x.db"])
            .options(Presence::MayCreate)
            .unwrap();
        assert!(
            matches!(o.backend, BackendConfig::Sqlite { ref path } if path == Path::new("/tmp/x.db"))
        );
        let o = target(&["file://rel/dir"])
            .options(Presence::MayCreate)
            .unwrap();
        assert!(
            matches!(o.backend, BackendConfig::File { ref path } if path == Path::new("rel/dir"))
        );
        let o = target(&["redis://a:1", "redis://b:2"])
            .options(Presence::MayCreate)
            .unwrap();
        assert!(matches!(
            o.backend,
            BackendConfig::Redis { cluster: true, .. }
        ));
        assert_eq!(o.cleanup_interval_ms, 0);
    }

    #[test]
    fn bad_urls_are_config_errors_that_hide_passwords() {
        for urls in [
            &["http://x"][..],
            &["sqlite://"],
            &["redis://u:hunter2@h:1", "sqlite:///x"],
            &["redis://u:hunter2@h:1", "mysql://u:hunter2@h"],
            &[],
        ] {
            let e = target(urls).options(Presence::MayCreate).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConfigInvalid, "{urls:?}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        let e = target(&["sqlite:///no/such/dir/x.db"])
            .options(Presence::MustExist)
            .unwrap_err();
        assert!(e.message().contains("no SQLite database file"), "{e}");
    }
}
