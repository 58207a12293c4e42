#![allow(dead_code)] // each test crate uses the part of this module it needs
//! A real Sentinel deployment for the tests: a master, one replica and three sentinels
//! watching them with a quorum of two, each a `redis-server` process stopped by its PID.
//!
//! Needs `redis_server` (support/redis.rs) and `proxy` (support/proxy.rs) declared beside it in
//! the test crate.

use super::proxy::Proxy;
use super::redis_server::{
    RedisServer, free_port, kill_when_this_process_ends, make_certificates, ping, redis_cli,
    wait_for, wait_for_within,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name the sentinels know the master by.
pub const SERVICE: &str = "sessions";
/// How long a master may not answer before a sentinel calls it down. Sentinel's default is
/// 30 s; deployments that want a failover within seconds set 1–5 s, as here.
pub const DOWN_AFTER_MS: u64 = 1000;

/// How long a failover may take, and how long a sentinel waits before it demotes an old
/// master that is still up and calling itself master (Sentinel's default is 180 s).
pub const FAILOVER_TIMEOUT_MS: u64 = 3000;

/// The master, the replica and three sentinels.
pub struct Sentinels {
    /// The data nodes, master first at the start (a failover swaps their roles).
    pub nodes: Vec<RedisServer>,
    /// The proxy in front of each node, if any ([`Sentinels::behind_proxies`]).
    pub proxies: Vec<Proxy>,
    processes: Vec<(Child, Child)>,
    /// The sentinels' ports.
    pub ports: Vec<u16>,
    /// With [`Sentinels::with_tls`]: the sentinels' TLS ports, and the CA of every certificate.
    pub tls_ports: Vec<u16>,
    pub ca: Option<PathBuf>,
    dir: tempfile::TempDir,
    certs: Option<tempfile::TempDir>,
}

impl Sentinels {
    pub fn start() -> Sentinels {
        let master = RedisServer::single(&[]);
        let master_port = port_of(&master);
        let replica = RedisServer::single(&["--replicaof", "127.0.0.1", &master_port.to_string()]);
        Self::monitored(vec![master, replica], Vec::new(), master_port, None)
    }

    /// [`Sentinels::start`] with TLS everywhere: each data node and sentinel also listens for
    /// TLS (a certificate for 127.0.0.1 from one fresh CA), the replica follows the master over
    /// TLS, and the sentinels watch the master's TLS port (so that is the address they name).
    /// Their plain ports stay open for the test's own `redis-cli` calls.
    pub fn with_tls() -> Sentinels {
        let certs = tempfile::tempdir().unwrap();
        make_certificates(certs.path(), false);
        let tls_node = |extra: &[&str]| {
            let tls_port = free_port();
            let mut args = tls_args(certs.path(), tls_port);
            args.extend(extra.iter().map(|s| (*s).to_owned()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (RedisServer::single(&args), tls_port)
        };
        let (master, master_tls) = tls_node(&[]);
        let master_tls = master_tls.to_string();
        let (replica, _) = tls_node(&["--replicaof", "127.0.0.1", &master_tls]);
        let mut s = Self::monitored(
            vec![master, replica],
            Vec::new(),
            master_tls.parse().unwrap(),
            Some(certs.path()),
        );
        s.ca = Some(certs.path().join("ca.crt"));
        s.certs = Some(certs);
        s
    }

    /// [`Sentinels::start`] with each data node behind a [`Proxy`] of its own, through which
    /// everyone reaches it: the sentinels (`sentinel monitor` names the master's proxy), the
    /// other node (`replicaof` a proxy, and each node gives its proxy's port as its own when it
    /// is a replica, `replica-announce-port`, so that the sentinels find it there and name it
    /// there once promoted) and the store (it connects where the sentinels say). Stalling a
    /// node's proxy cuts it off from everyone, in both directions, without closing anything.
    /// The proxies run on the calling Tokio runtime: call it from `block_in_place`.
    pub fn behind_proxies() -> Sentinels {
        let nodes = vec![RedisServer::single(&[]), RedisServer::single(&[])];
        let proxies: Vec<Proxy> = nodes.iter().map(|n| Proxy::start(port_of(n))).collect();
        for (node, proxy) in nodes.iter().zip(&proxies) {
            let (port, announced) = (port_of(node).to_string(), proxy.port.to_string());
            let set = ["config", "set", "replica-announce-port", &announced];
            assert!(redis_cli(&[&["-p", &port][..], &set].concat()).starts_with("OK"));
        }
        let master = proxies[0].port.to_string();
        let replicaof = [
            "-p",
            &port_of(&nodes[1]).to_string(),
            "replicaof",
            "127.0.0.1",
            &master,
        ];
        assert!(redis_cli(&replicaof).starts_with("OK"));
        Self::monitored(nodes, proxies, master.parse().unwrap(), None)
    }

    /// Three sentinels watching `nodes` (a master, on `master_port`, and its replica).
    fn monitored(
        nodes: Vec<RedisServer>,
        proxies: Vec<Proxy>,
        master_port: u16,
        tls: Option<&Path>,
    ) -> Sentinels {
        wait_for("the replica's link to the master", || {
            redis_cli(&["-p", &port_of(&nodes[1]).to_string(), "info", "replication"])
                .contains("master_link_status:up")
        });
        let dir = tempfile::tempdir().unwrap();
        let (mut sentinels, mut ports, mut tls_ports) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..3 {
            let (child, port, tls_port) = spawn(dir.path(), i, master_port, 2, tls);
            sentinels.push(child);
            ports.push(port);
            tls_ports.extend(tls_port);
        }
        for &p in &ports {
            wait_for("sentinel", || ping(p));
        }
        // A failover needs every sentinel to know the replica and the other sentinels, which
        // they learn from each other's hello messages (every 2 s).
        for &p in &ports {
            wait_for("sentinels to discover each other and the replica", || {
                let ask = |what: &str| {
                    redis_cli(&["-p", &p.to_string(), "sentinel", what, SERVICE])
                        .matches("127.0.0.1")
                        .count()
                };
                ask("replicas") >= 1 && ask("sentinels") >= 2
            });
        }
        Sentinels {
            nodes,
            proxies,
            processes: sentinels,
            ports,
            tls_ports,
            ca: None,
            dir,
            certs: None,
        }
    }

    /// One sentinel per port in `masters`, each watching a master there with a quorum of one
    /// and no data nodes of its own (for sentinels that name different masters).
    pub fn watching(masters: &[u16]) -> Sentinels {
        let dir = tempfile::tempdir().unwrap();
        let (mut sentinels, mut ports) = (Vec::new(), Vec::new());
        for (i, &master) in masters.iter().enumerate() {
            let (child, port, _) = spawn(dir.path(), i, master, 1, None);
            sentinels.push(child);
            ports.push(port);
        }
        for &p in &ports {
            wait_for("sentinel", || ping(p));
        }
        Sentinels {
            nodes: Vec::new(),
            proxies: Vec::new(),
            processes: sentinels,
            ports,
            tls_ports: Vec::new(),
            ca: None,
            dir,
            certs: None,
        }
    }

    /// `rediss+sentinel://` naming every sentinel's TLS port ([`Sentinels::with_tls`]).
    pub fn tls_url(&self) -> String {
        let hosts: Vec<String> = self
            .tls_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("rediss+sentinel://{}/{SERVICE}", hosts.join(","))
    }

    /// `redis+sentinel://` naming every sentinel.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+sentinel://{}/{SERVICE}", hosts.join(","))
    }

    /// The port of the master the sentinels name now.
    pub fn master_port(&self) -> u16 {
        let out = redis_cli(&[
            "-p",
            &self.ports[0].to_string(),
            "sentinel",
            "get-master-addr-by-name",
            SERVICE,
        ]);
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .expect("a master port")
    }

    /// Which of `nodes` is on `port`, or behind the proxy on `port`.
    pub fn node_on(&self, port: u16) -> usize {
        (0..self.nodes.len())
            .find(|&i| {
                port_of(&self.nodes[i]) == port
                    || self.proxies.get(i).is_some_and(|p| p.port == port)
            })
            .expect("a node on that port")
    }

    /// Waits until the sentinels name a master other than `old` and that server says it is a
    /// master; returns its port and how long that took.
    pub fn await_promotion(&self, old: u16, within: Duration) -> (u16, Duration) {
        self.promoted(old, within)
            .unwrap_or_else(|| panic!("no promotion within {within:?}"))
    }

    /// [`Sentinels::await_promotion`], `None` once `within` has passed.
    fn promoted(&self, old: u16, within: Duration) -> Option<(u16, Duration)> {
        let started = Instant::now();
        loop {
            let now = self.master_port();
            if now != old && redis_cli(&["-p", &now.to_string(), "role"]).starts_with("master") {
                return Some((now, started.elapsed()));
            }
            if started.elapsed() >= within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server on `port` is a replica in sync with its master.
    pub fn await_replica(port: u16, within: Duration) -> Duration {
        let started = Instant::now();
        wait_for_within("the old master as a replica in sync", within, || {
            let info = redis_cli(&["-p", &port.to_string(), "info", "replication"]);
            info.contains("role:slave") && info.contains("master_link_status:up")
        });
        started.elapsed()
    }

    /// `SENTINEL FAILOVER`: a failover now, without waiting for agreement that the master is
    /// down (the old master is made a replica of the new one), asked again if the sentinel
    /// gives it up (`-failover-abort-slave-timeout` after `failover-timeout`, which a loaded
    /// machine can make the replica miss); returns once the replica is promoted.
    pub fn failover(&self, old: u16) -> (u16, Duration) {
        let started = Instant::now();
        for _ in 0..3 {
            let ask = [
                "-p",
                &self.ports[0].to_string(),
                "sentinel",
                "failover",
                SERVICE,
            ];
            let out = redis_cli(&ask);
            assert!(
                out.starts_with("OK") || out.contains("INPROG"),
                "SENTINEL FAILOVER: {out}"
            );
            let wait = Duration::from_millis(FAILOVER_TIMEOUT_MS * 3);
            if let Some((port, _)) = self.promoted(old, wait) {
                return (port, started.elapsed());
            }
        }
        panic!("no promotion after three SENTINEL FAILOVER");
    }
}

/// A sentinel watching the master on `master_port`, with its own config file in `dir` (a
/// sentinel rewrites it as it learns).
fn spawn(
    dir: &Path,
    i: usize,
    master_port: u16,
    quorum: u8,
    tls: Option<&Path>,
) -> ((Child, Child), u16, Option<u16>) {
    let port = free_port();
    let conf = dir.join(format!("sentinel-{i}.conf"));
    let tls_port = tls.map(|_| free_port());
    let tls_conf: String = match (tls, tls_port) {
        (Some(certs), Some(tls_port)) => {
            let mut lines = String::new();
            for kv in tls_args(certs, tls_port).chunks(2) {
                let _ = writeln!(lines, "{} {}", kv[0].trim_start_matches("--"), kv[1]);
            }
            lines
        }
        _ => String::new(),
    };
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n{tls_conf}\
             sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n\
             sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n\
             sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n\
             sentinel parallel-syncs {SERVICE} 1\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-server")
        .arg(&conf)
        .args(["--sentinel", "--loglevel", "warning"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is needed: `apt-get install -y redis-server`");
    let watcher = kill_when_this_process_ends(child.id());
    ((child, watcher), port, tls_port)
}

/// A server's TLS settings, as `--name value` pairs: a TLS port with the certificates in
/// `certs` (support/redis.rs: `make_certificates`), TLS to its master too, no client
/// certificates asked for.
fn tls_args(certs: &Path, tls_port: u16) -> Vec<String> {
    let file = |name: &str| certs.join(name).display().to_string();
    [
        ("--tls-port", tls_port.to_string()),
        ("--tls-cert-file", file("server.crt")),
        ("--tls-key-file", file("server.key")),
        ("--tls-ca-cert-file", file("ca.crt")),
        ("--tls-replication", "yes".to_owned()),
        ("--tls-auth-clients", "no".to_owned()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v])
    .collect()
}

/// The TCP port of a single-node server.
pub fn port_of(server: &RedisServer) -> u16 {
    server.urls[0].rsplit(':').next().unwrap().parse().unwrap()
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        for (child, watcher) in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
            drop(watcher.stdin.take());
            let _ = watcher.wait();
        }
    }
}
