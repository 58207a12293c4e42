//! Redis through Sentinel: the master of a named service, found by asking the sentinels and
//! followed across a failover without a restart.
//!
//! This is the client side of Sentinel as Redis describes it: ask the sentinels for the
//! master's address, connect, and check with `ROLE` that the server is a master (a sentinel
//! may name the old one for a moment after a failover, and a partitioned sentinel may name it
//! for longer). The address is asked again whenever a call finds the connection gone or the
//! server answering `READONLY`, and whenever a sentinel announces a new master
//! (`+switch-master`): an old master that is still up keeps taking writes until Sentinel
//! demotes it, one `failover-timeout` later, and those writes are lost when it is.
//!
//! URL: `redis+sentinel://[user:password@]host[:port][,host[:port]…]/service[/db]`, or
//! `rediss+sentinel://` for TLS to the sentinels and the servers alike. The user info is for
//! the Redis servers; sentinels that want a password of their own get it as the query
//! parameters `sentinel_username` and `sentinel_password`.

use super::client::{CONNECT_TIMEOUT, Tls, client_for};
use crate::error::{Error, Result};
use futures_util::StreamExt as _;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Value};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

/// A sentinel's usual port.
const SENTINEL_PORT: u16 = 26379;
/// How long one sentinel has to answer where the master is. They are asked at once, so this
/// bounds the whole question; it leaves the operation's timeout room for the master itself.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the sentinels are asked whether the master moved, besides listening for their
/// announcements.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A parsed `redis+sentinel://` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SentinelUrl {
    /// `host:port` of every sentinel, in the URL's order.
    sentinels: Vec<String>,
    /// The master's name in the sentinels' configuration.
    service: String,
    tls: bool,
    /// The URL's user info, still percent-encoded: the servers' credentials.
    auth: Option<String>,
    /// `user:password` for the sentinels, percent-encoded as in the query.
    sentinel_auth: Option<String>,
    db: u32,
}

// By hand: the user info and the sentinels' password are secrets.
impl std::fmt::Debug for SentinelUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelUrl")
            .field("sentinels", &self.sentinels)
            .field("service", &self.service)
            .field("tls", &self.tls)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl SentinelUrl {
    /// Whether `url` is a Sentinel URL (of either scheme).
    pub(crate) fn is_sentinel(url: &str) -> bool {
        url.starts_with("redis+sentinel://") || url.starts_with("rediss+sentinel://")
    }

    /// Parses a Sentinel URL; `CONFIG_INVALID` naming `url` and what is wrong, never quoting
    /// the URL (it may hold a password).
    pub(crate) fn parse(url: &str) -> Result<SentinelUrl> {
        let bad = |why: &str| Error::config("url", format!("invalid redis sentinel url: {why}"));
        let (tls, rest) = if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("rediss+sentinel://") {
            (true, rest)
        } else {
            return Err(bad(
                "it must start with redis+sentinel:// or rediss+sentinel://",
            ));
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("the master's name is missing (…/service)"))?;
        let (auth, hosts) = match authority.rsplit_once('@') {
            Some((auth, hosts)) => (Some(auth.to_owned()), hosts),
            None => (None, authority),
        };
        let sentinels = hosts
            .split(',')
            .map(|h| host_port(h).ok_or_else(|| bad("a sentinel is not host[:port]")))
            .collect::<Result<Vec<_>>>()?;
        let mut segments = path.split('/');
        let service = segments.next().unwrap_or_default();
        if service.is_empty() {
            return Err(bad("the master's name is missing (…/service)"));
        }
        let db = match segments.next() {
            None | Some("") => 0,
            Some(db) => db
                .parse()
                .map_err(|_| bad("the database after the master's name must be a number"))?,
        };
        if segments.next().is_some_and(|s| !s.is_empty()) {
            return Err(bad("the path is /service or /service/db"));
        }
        let (mut user, mut password) = (None, None);
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("sentinel_username", v)) => user = Some(v),
                Some(("sentinel_password", v)) => password = Some(v),
                _ => {
                    return Err(bad(
                        "the only query parameters are sentinel_username and sentinel_password",
                    ));
                }
            }
        }
        let sentinel_auth = match (user, password) {
            (None, None) => None,
            (user, password) => Some(format!(
                "{}:{}",
                user.unwrap_or_default(),
                password.unwrap_or_default()
            )),
        };
        Ok(SentinelUrl {
            sentinels,
            service: service.to_owned(),
            tls,
            auth,
            sentinel_auth,
            db,
        })
    }

    fn server_url(&self, address: &str, auth: Option<&str>, db: u32) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = auth.map(|a| format!("{a}@")).unwrap_or_default();
        format!("{scheme}://{auth}{address}/{db}")
    }
}

/// `host[:port]` (an IPv6 host in brackets) as `host:port`, with the sentinel port by default.
fn host_port(s: &str) -> Option<String> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (s.to_owned(), None),
        }
    };
    let port: u16 = match port {
        Some(p) => p.parse().ok().filter(|p| *p > 0)?,
        None => SENTINEL_PORT,
    };
    (!host.is_empty() && !host.contains(['/', '@', '?', '#'])).then(|| format!("{host}:{port}"))
}

/// The connection to the current master, and how many times one has been made.
#[derive(Default)]
struct Current {
    connection: Option<MultiplexedConnection>,
    /// Where `connection` goes (`host:port`).
    address: String,
    generation: u64,
}

impl Current {
    /// Forgets the connection made as `generation` (any, if `None`): the next call finds the
    /// master again. Calls already under way finish on the connection they hold.
    fn forget(current: &Mutex<Current>, generation: Option<u64>) {
        let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
        if generation.is_none_or(|g| g == current.generation) {
            current.connection = None;
        }
    }
}

/// Forgets the connection of `generation` when dropped, unless told otherwise (`None`).
struct Forget<'a> {
    current: &'a Mutex<Current>,
    generation: Option<u64>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(generation) = self.generation {
            Current::forget(self.current, Some(generation));
        }
    }
}

/// The master of one service, followed through its sentinels.
pub(crate) struct Followed {
    url: Arc<SentinelUrl>,
    /// For `rediss+sentinel://`.
    tls: Tls,
    current: Arc<Mutex<Current>>,
    /// One search for the master at a time: the calls that fail together wait for it.
    finding: tokio::sync::Mutex<()>,
    /// Taken by `close` (or dropped with the store), which ends the watch on the sentinels'
    /// announcements.
    watching: Mutex<Option<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for Followed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Followed")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Why a server named as the master was not taken.
enum Refused {
    Redis(RedisError),
    NotMaster,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Redis(e) => e.fmt(f),
            Refused::NotMaster => f.write_str("not a master"),
        }
    }
}

/// One sentinel's view of the master.
struct Named {
    address: String,
    /// The configuration epoch: every failover raises it, so the highest is the newest.
    epoch: u64,
}

impl Followed {
    /// Finds the master now, so that a wrong URL, no sentinel or an unknown name fails at
    /// open, and starts listening for the sentinels' announcements of a new master.
    pub(crate) async fn open(url: SentinelUrl, tls: Tls) -> Result<Followed> {
        let (watching, closed) = oneshot::channel();
        let followed = Followed {
            url: Arc::new(url),
            tls,
            current: Arc::default(),
            finding: tokio::sync::Mutex::new(()),
            watching: Mutex::new(Some(watching)),
        };
        followed
            .connection()
            .await
            .map_err(|e| super::client::map_err(&e))?;
        tokio::spawn(watch_switches(
            Arc::clone(&followed.url),
            followed.tls.clone(),
            Arc::clone(&followed.current),
            closed,
        ));
        Ok(followed)
    }

    /// Stops listening to the sentinels; calls still find the master when they need it.
    pub(crate) fn close(&self) {
        self.watching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Runs `call` on the master's connection; a failure that says the master has gone (the
    /// connection broke, or the server is now a replica) drops that connection, so the next
    /// call asks the sentinels again.
    pub(crate) async fn run<T, F, Fut>(&self, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let (connection, generation) = self.connection().await?;
        // A call cut short (the operation's timeout) is a failure too: the master may be
        // stalled, and only a fresh look finds out.
        let mut unfinished = Forget {
            current: &self.current,
            generation: Some(generation),
        };
        let result = call(connection).await;
        if !matches!(&result, Err(e) if super::client::is_unavailable(e)) {
            unfinished.generation = None;
        }
        result
    }

    /// The master's connection, made (after asking the sentinels) if there is none.
    async fn connection(&self) -> Result<(MultiplexedConnection, u64), RedisError> {
        if let Some(found) = self.held() {
            return Ok(found);
        }
        let _finding = self.finding.lock().await;
        if let Some(found) = self.held() {
            return Ok(found);
        }
        let (address, connection) = self.find().await?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.generation += 1;
        current.connection = Some(connection.clone());
        current.address = address;
        Ok((connection, current.generation))
    }

    fn held(&self) -> Option<(MultiplexedConnection, u64)> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        Some((current.connection.clone()?, current.generation))
    }

    /// Connects to the master of the newest configuration (see [`newest`]) that answers
    /// `ROLE` as a master; returns its address too. A master that refuses the URL's
    /// credentials is that error (`CONFIG_INVALID`, as on a single node).
    async fn find(&self) -> std::result::Result<(String, MultiplexedConnection), RedisError> {
        let votes = newest(&self.url, &self.tls)
            .await
            .map_err(|why| unavailable(&why))?;
        let mut refused = Vec::new();
        for (address, _) in &votes {
            match self.master_at(address).await {
                Ok(connection) => return Ok((address.clone(), connection)),
                Err(Refused::Redis(e)) if super::client::is_auth_failure(&e) => return Err(e),
                Err(e) => refused.push(format!("{address}: {e}")),
            }
        }
        let service = &self.url.service;
        let named: Vec<String> = votes.iter().map(|(a, n)| format!("{a} by {n}")).collect();
        Err(unavailable(&if votes.len() > 1 {
            format!(
                "the sentinels disagree on the master of {service:?} ({}) and none of them is a \
                 reachable master ({})",
                named.join(", "),
                refused.join("; ")
            )
        } else {
            format!(
                "the master of {service:?} is not a reachable master ({})",
                refused.join("; ")
            )
        }))
    }

    /// A connection to `address` if the server there says it is a master.
    async fn master_at(
        &self,
        address: &str,
    ) -> std::result::Result<MultiplexedConnection, Refused> {
        let url = self
            .url
            .server_url(address, self.url.auth.as_deref(), self.url.db);
        let mut c = connect(&url, &self.tls).await.map_err(Refused::Redis)?;
        let role: Vec<Value> = redis::cmd("ROLE")
            .query_async(&mut c)
            .await
            .map_err(Refused::Redis)?;
        match role.first() {
            Some(Value::BulkString(r)) if r == b"master" => Ok(c),
            _ => Err(Refused::NotMaster),
        }
    }
}

/// Asks every sentinel at once where the master is, and gives the addresses of the newest
/// configuration (the highest epoch: right after a failover, a sentinel that has not heard of
/// it yet still names the old master, which answers as a master until Sentinel demotes it),
/// most named first, with how many sentinels named each.
async fn newest(
    url: &Arc<SentinelUrl>,
    tls: &Tls,
) -> std::result::Result<Vec<(String, usize)>, String> {
    let mut asking = tokio::task::JoinSet::new();
    for (i, sentinel) in url.sentinels.iter().enumerate() {
        let (url, tls, sentinel) = (Arc::clone(url), tls.clone(), sentinel.clone());
        asking.spawn(async move { (i, ask(&url, &sentinel, &tls).await) });
    }
    let mut asked: Vec<std::result::Result<Option<Named>, String>> = (0..url.sentinels.len())
        .map(|_| Err("not asked".to_owned()))
        .collect();
    while let Some(Ok((i, answer))) = asking.join_next().await {
        asked[i] = answer;
    }
    let mut failures = Vec::new();
    let mut named = Vec::new();
    for (sentinel, answer) in url.sentinels.iter().zip(asked) {
        match answer {
            Ok(Some(n)) => named.push(n),
            Ok(None) => {}
            Err(e) => failures.push(format!("{sentinel}: {e}")),
        }
    }
    let Some(epoch) = named.iter().map(|n| n.epoch).max() else {
        return Err(if failures.len() == url.sentinels.len() {
            format!("no sentinel answered ({})", failures.join("; "))
        } else {
            format!("no sentinel knows a master named {:?}", url.service)
        });
    };
    let mut votes: Vec<(String, usize)> = Vec::new();
    for n in named.into_iter().filter(|n| n.epoch == epoch) {
        match votes.iter_mut().find(|(a, _)| *a == n.address) {
            Some((_, count)) => *count += 1,
            None => votes.push((n.address, 1)),
        }
    }
    votes.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    Ok(votes)
}

/// One sentinel's view of the master (`SENTINEL MASTER`), or `None` if it knows no such name.
async fn ask(
    url: &SentinelUrl,
    sentinel: &str,
    tls: &Tls,
) -> std::result::Result<Option<Named>, String> {
    let asking = async {
        let mut c = connect(
            &url.server_url(sentinel, url.sentinel_auth.as_deref(), 0),
            tls,
        )
        .await?;
        redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(&url.service)
            .query_async::<Vec<String>>(&mut c)
            .await
    };
    let fields = match tokio::time::timeout(ASK_TIMEOUT, asking).await {
        Ok(Ok(fields)) => fields,
        Ok(Err(e)) if e.to_string().contains("No such master") => return Ok(None),
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no answer in time".to_owned()),
    };
    let field = |name: &str| {
        fields
            .chunks(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair.get(1))
    };
    let (Some(ip), Some(port)) = (field("ip"), field("port")) else {
        return Err("SENTINEL MASTER gave no address".to_owned());
    };
    let address = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    let epoch = field("config-epoch")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    Ok(Some(Named { address, epoch }))
}

/// Listens on one sentinel after another for `+switch-master` of this service, and forgets
/// the master's connection when one comes (or when asking every sentinel, every
/// `CHECK_EVERY`, names another master). Sentinel demotes an old master that is still up
/// only after its `failover-timeout`; until then it accepts writes that its demotion will
/// throw away, so a client must not wait for its connection to fail. Ends when the store
/// drops its `Followed` (`closed`).
async fn watch_switches(
    url: Arc<SentinelUrl>,
    tls: Tls,
    current: Arc<Mutex<Current>>,
    mut closed: oneshot::Receiver<()>,
) {
    for sentinel in url.sentinels.iter().cycle() {
        let listening = async {
            let client = client_for(
                &url.server_url(sentinel, url.sentinel_auth.as_deref(), 0),
                &tls,
            )?;
            let mut pubsub = tokio::time::timeout(ASK_TIMEOUT, client.get_async_pubsub())
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            pubsub.subscribe("+switch-master").await?;
            let mut messages = pubsub.into_on_message();
            let mut check = tokio::time::interval(CHECK_EVERY);
            loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let text: String = message.get_payload().unwrap_or_default();
                        if text.split(' ').next() == Some(url.service.as_str()) {
                            Current::forget(&current, None);
                        }
                    }
                    _ = check.tick() => still_newest(&url, &tls, &current).await,
                }
            }
            Ok::<(), RedisError>(())
        };
        tokio::select! {
            _ = &mut closed => return,
            _ = listening => {}
        }
        // This sentinel went away: a switch may have been missed meanwhile, so the master is
        // asked for again (a `ROLE` check when it has not moved).
        Current::forget(&current, None);
        tokio::select! {
            _ = &mut closed => return,
            () = tokio::time::sleep(ASK_TIMEOUT / 4) => {}
        }
    }
}

/// Forgets the master's connection if the sentinels' newest configuration names another
/// master: an announcement can be missed (the sentinel listened to may be cut off with the
/// master it announces about).
async fn still_newest(url: &Arc<SentinelUrl>, tls: &Tls, current: &Mutex<Current>) {
    let Ok(votes) = newest(url, tls).await else {
        return;
    };
    let mut current = current.lock().unwrap_or_else(PoisonError::into_inner);
    if current.connection.is_some() && votes.first().is_some_and(|(a, _)| *a != current.address) {
        current.connection = None;
    }
}

async fn connect(url: &str, tls: &Tls) -> Result<MultiplexedConnection, RedisError> {
    let client = client_for(url, tls)?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

fn unavailable(why: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        format!("sentinel: {why}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part() {
        let u = SentinelUrl::parse(
            "rediss+sentinel://app:s%40cret@10.0.0.1,10.0.0.2:26380,[::1]:5/sessions/2\
             ?sentinel_username=watch&sentinel_password=pw",
        )
        .unwrap();
        assert_eq!(u.sentinels, ["10.0.0.1:26379", "10.0.0.2:26380", "[::1]:5"]);
        assert_eq!(u.service, "sessions");
        assert!(u.tls);
        assert_eq!(u.auth.as_deref(), Some("app:s%40cret"));
        assert_eq!(u.sentinel_auth.as_deref(), Some("watch:pw"));
        assert_eq!(u.db, 2);
        assert_eq!(
            u.server_url("10.0.0.9:6379", u.auth.as_deref(), u.db),
            "rediss://app:s%40cret@10.0.0.9:6379/2"
        );
        assert!(!format!("{u:?}").contains("cret"));
    }

    #[test]
    fn refuses_malformed_urls_naming_the_option_not_the_password() {
        for url in [
            "redis+sentinel://:hunter2@h1",
            "redis+sentinel://:hunter2@h1/",
            "redis+sentinel://:hunter2@h1:0/m",
            "redis+sentinel://:hunter2@h1:port/m",
            "redis+sentinel://:hunter2@/m",
            "redis+sentinel://:hunter2@h1,/m",
            "redis+sentinel://:hunter2@h1/m/x",
            "redis+sentinel://:hunter2@h1/m/1/2",
            "redis+sentinel://:hunter2@h1/m?password=hunter2",
            "redis://:hunter2@h1/m",
        ] {
            let e = SentinelUrl::parse(url).expect_err(url);
            assert_eq!(e.code(), "CONFIG_INVALID", "{url}");
            assert!(e.to_string().contains("url"), "{url}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{url}: {e}");
        }
    }
}
