//! One connection to Redis, single node, cluster or the master a Sentinel names: multiplexed,
//! reconnecting, with per-op timeouts, one retry for idempotent commands, and errors mapped to
//! our kinds.

use super::client::{CONNECT_TIMEOUT, Tls, client_for, is_unavailable, map_err};
use super::cluster_link::ClusterLink;
use super::sentinel::{Followed, SentinelUrl};
use crate::error::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, RedisError, Script};
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

/// Longest any single Redis call may take before it is `BACKEND_UNAVAILABLE`.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(3);
/// Retries of a cluster call across a redirect, `CLUSTERDOWN` or `TRYAGAIN` (waits of 25 ms
/// growing to 400 ms).
const CLUSTER_RETRIES: u32 = 6;

/// `WAIT` after the writes that must survive a failover: how many replicas must hold a write
/// before it is acknowledged, and how long to wait for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Durability {
    pub(crate) replicas: usize,
    pub(crate) timeout_ms: u64,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) urls: Vec<String>,
    pub(crate) cluster: bool,
    pub(crate) tls: Tls,
}

#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(Arc<ClusterLink>),
    Sentinel(Arc<Followed>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            Conn::Cluster(_) => "Conn::Cluster",
            Conn::Sentinel(_) => "Conn::Sentinel",
        })
    }
}

pub(crate) async fn connect(target: &Target) -> Result<Conn> {
    // Exactly one rustls crypto provider is compiled in; make it the process default.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let urls = &target.urls;
    let connecting = async {
        if let Some(url) = urls.first().filter(|u| SentinelUrl::is_sentinel(u)) {
            let followed = Followed::open(SentinelUrl::parse(url)?, target.tls.clone()).await?;
            Ok(Conn::Sentinel(Arc::new(followed)))
        } else if target.cluster {
            let mut builder = ClusterClient::builder(urls.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(OP_TIMEOUT)
                // redis-rs waits at least 1.28 s before a retry by default, which made the
                // recovery after a promotion (and every call to a live shard behind one to the
                // failed shard) 2.6 s: short waits, more of them, all within `OP_TIMEOUT`.
                .retries(CLUSTER_RETRIES)
                .min_retry_wait(25)
                .max_retry_wait(400);
            if let Some(certificates) = target.tls.certificates() {
                builder = builder.certs(certificates);
            }
            let client = builder.build().map_err(|e| config_error(&e))?;
            let link = ClusterLink::open(client).await.map_err(|e| map_err(&e))?;
            Ok(Conn::Cluster(Arc::new(link)))
        } else {
            let url = urls
                .first()
                .ok_or_else(|| Error::config("url", "a redis url is required"))?;
            let client = client_for(url, &target.tls).map_err(|e| config_error(&e))?;
            // No response timeout of redis-rs's own: `once` bounds every call, a reconnect
            // included, with one timer. A second one per command costs another timer-wheel
            // registration, on the thread that polls the call first (a host's JS thread),
            // under a lock the runtime's timer driver takes too.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(None)
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(20))
                .set_max_delay(Duration::from_millis(200));
            let conn = client
                .get_connection_manager_with_config(config)
                .await
                .map_err(|e| map_err(&e))?;
            Ok(Conn::Single(conn))
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT * 3, connecting)
        .await
        .map_err(|_| Error::unavailable("redis: connecting timed out"))?
}

fn config_error(e: &RedisError) -> Error {
    if is_unavailable(e) {
        map_err(e)
    } else {
        Error::config("url", format!("invalid redis url: {e}"))
    }
}

impl Conn {
    /// Ends what runs beside the calls (the watch on the sentinels).
    pub(crate) fn close(&self) {
        if let Conn::Sentinel(f) = self {
            f.close();
        }
    }

    /// A call timed out: on a cluster, the slot map may be out of date (see `cluster_link.rs`).
    pub(crate) fn stalled(&self) {
        if let Conn::Cluster(link) = self {
            link.stalled();
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    async fn once<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        let call = async {
            match self.clone() {
                Conn::Single(mut c) => cmd.query_async(&mut c).await,
                Conn::Cluster(link) => cmd.query_async(&mut link.connection()).await,
                Conn::Sentinel(f) => {
                    f.run(|mut c| async move { cmd.query_async(&mut c).await })
                        .await
                }
            }
        };
        within_op_timeout(pin!(call), || self.stalled()).await
    }

    /// Runs a command that is safe to repeat: one retry across a dropped connection. Not
    /// after a timeout: the connection is still up but stalled, a second try would wait on
    /// it again and double the time a caller waits for `BACKEND_UNAVAILABLE`.
    pub(crate) async fn read<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T> {
        match self.once(cmd).await {
            Ok(v) => Ok(v),
            Err(e) if is_unavailable(&e) && !e.is_timeout() => {
                self.once(cmd).await.map_err(|e| map_err(&e))
            }
            Err(e) => Err(map_err(&e)),
        }
    }

    /// Runs a script. Writes are not retried: a lost reply may hide an applied write.
    pub(crate) async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.script_bytes(script, keys, &args).await
    }

    /// [`Conn::script`] with arguments as bytes (a slice of a record need not be UTF-8).
    pub(crate) async fn script_bytes<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(*a);
        }
        let call = async {
            match self.clone() {
                Conn::Single(mut c) => inv.invoke_async(&mut c).await,
                Conn::Cluster(link) => inv.invoke_async(&mut link.connection()).await,
                Conn::Sentinel(f) => {
                    f.run(|mut c| async move { inv.invoke_async(&mut c).await })
                        .await
                }
            }
        };
        within_op_timeout(pin!(call), || self.stalled())
            .await
            .map_err(|e| map_err(&e))
    }

    /// [`Conn::script`] for a write that must reach `d.replicas` replicas before it counts:
    /// [`Conn::durable`] with the script's `EVALSHA`.
    pub(crate) async fn script_durable<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
        d: Durability,
    ) -> Result<T> {
        let mut call = redis::cmd("EVALSHA");
        call.arg(script.get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        self.durable(&call, Some(script), d).await
    }

    /// `write`, acknowledged only once `d.replicas` replicas hold it: the write and a `WAIT`
    /// go in one pipeline on one connection (on a cluster, to the master of the write's
    /// slot), so the `WAIT` counts the replicas of that very write. Sent apart, the `WAIT`
    /// could go out on a connection made since, to a replica promoted without the write,
    /// which has written nothing on it and which every replica has caught up with.
    /// `script`: the script an `EVALSHA` runs, loaded and sent again on `NOSCRIPT`.
    pub(crate) async fn durable<T: FromRedisValue>(
        &self,
        write: &Cmd,
        script: Option<&Script>,
        d: Durability,
    ) -> Result<T> {
        let mut pipe = redis::pipe();
        pipe.add_command(write.clone())
            .cmd("WAIT")
            .arg(d.replicas)
            .arg(d.timeout_ms);
        let pipe = &pipe;
        for attempt in 0..2 {
            let load = script.filter(|_| attempt == 0);
            let call = async {
                match self.clone() {
                    Conn::Single(mut c) => pipe_once(pipe, load, &mut c).await,
                    Conn::Cluster(link) => pipe_once(pipe, load, &mut link.connection()).await,
                    Conn::Sentinel(f) => {
                        f.run(|mut c| async move { pipe_once(pipe, load, &mut c).await })
                            .await
                    }
                }
            };
            match within_op_timeout(pin!(call), || self.stalled()).await {
                // Not run (the server had not seen the script): loaded, send both again.
                Err(e) if load.is_some() && e.code() == Some("NOSCRIPT") => {}
                Err(e) => return Err(map_err(&e)),
                Ok((value, acked)) => {
                    check_acked(acked, d)?;
                    return Ok(value);
                }
            }
        }
        Err(Error::backend("redis: the script was not loaded"))
    }

    /// The nodes to SCAN: the one server, or every cluster master (`None` = the single node).
    pub(crate) async fn scan_targets(&self) -> Result<Vec<Option<(String, u16)>>> {
        let Conn::Cluster(_) = self else {
            return Ok(vec![None]);
        };
        let nodes: String = self
            .read(&redis::cmd("CLUSTER").arg("NODES").clone())
            .await?;
        let mut masters: Vec<(String, u16)> = nodes
            .lines()
            .filter(|l| {
                l.split(' ')
                    .nth(2)
                    .is_some_and(|flags| flags.contains("master") && !flags.contains("fail"))
            })
            .filter_map(|l| {
                let addr = l.split(' ').nth(1)?.split('@').next()?;
                let (host, port) = addr.rsplit_once(':')?;
                Some((host.to_owned(), port.parse().ok()?))
            })
            .collect();
        masters.sort();
        Ok(masters.into_iter().map(Some).collect())
    }

    /// One SCAN call on one node.
    pub(crate) async fn scan(
        &self,
        node: Option<&(String, u16)>,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<String>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        match (self, node) {
            (Conn::Cluster(c), Some((host, port))) => {
                let node = SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                };
                routed(c, cmd, node, "SCAN").await
            }
            _ => self.read(&cmd).await,
        }
    }
}

/// `cmd` on one cluster node, within `OP_TIMEOUT`; `what` names it in errors.
async fn routed<T: FromRedisValue>(
    link: &Arc<ClusterLink>,
    cmd: Cmd,
    node: SingleNodeRoutingInfo,
    what: &str,
) -> Result<T> {
    let mut c = link.connection();
    let call = c.route_command(cmd, RoutingInfo::SingleNode(node));
    let value = within_op_timeout(pin!(call), || link.stalled())
        .await
        .map_err(|e| map_err(&e))?;
    redis::from_redis_value(value)
        .map_err(|e| Error::backend(format!("redis: unexpected {what} reply: {e}")))
}

/// `call`, given up after `OP_TIMEOUT` with a timeout error. On a timeout, ours or the
/// client's, `stalled` runs: on a cluster the slot map may be out of date (`cluster_link.rs`).
/// The call comes pinned where it was made: a cluster call's future is too large to move.
async fn within_op_timeout<T>(
    call: Pin<&mut impl Future<Output = Result<T, RedisError>>>,
    stalled: impl FnOnce(),
) -> Result<T, RedisError> {
    let r = match tokio::time::timeout(OP_TIMEOUT, call).await {
        Ok(r) => r,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no reply within {OP_TIMEOUT:?}"),
        ))),
    };
    if matches!(&r, Err(e) if e.is_timeout()) {
        stalled();
    }
    r
}

/// One pipeline of a write and its `WAIT`; on `NOSCRIPT`, loads `script` on the same
/// connection (every master of a cluster) for the next attempt.
async fn pipe_once<T: FromRedisValue, C: redis::aio::ConnectionLike>(
    pipe: &redis::Pipeline,
    script: Option<&Script>,
    c: &mut C,
) -> Result<(T, usize), RedisError> {
    let r = pipe.query_async::<(T, usize)>(c).await;
    if let (Some(script), Err(e)) = (script, &r)
        && e.code() == Some("NOSCRIPT")
    {
        script.load_async(c).await?;
    }
    r
}

/// `BACKEND_UNAVAILABLE` unless `acked` replicas (a `WAIT`'s reply) are enough for `d`.
fn check_acked(acked: usize, d: Durability) -> Result<()> {
    if acked < d.replicas {
        return Err(Error::unavailable(format!(
            "redis: the write is on the master, but {acked} of {} replicas had it after {} ms \
             (wait_replicas): a failover now could lose it",
            d.replicas, d.timeout_ms
        )));
    }
    Ok(())
}
