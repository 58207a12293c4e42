#![allow(dead_code)] // each test crate uses the part of this module it needs
//! Real Redis servers for the tests: a single node, a TLS node, a 3-master cluster and a
//! 3-master cluster with one replica each (for failover and resharding), each started from the
//! `redis-server` binary in its own temp dir and stopped by its PID on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "redis-server and redis-cli are needed: `apt-get install -y redis-server` \
                       (make test installs them)";

/// A running server (or cluster), killed when dropped.
pub struct RedisServer {
    /// One per node, by node index (`None`: killed).
    children: Vec<Option<Spawned>>,
    /// Seed URLs: one for a node, one per node for a cluster.
    pub urls: Vec<String>,
    /// The CA of a TLS server.
    pub ca: Option<PathBuf>,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

pub fn free_port() -> u16 {
    // A port whose cluster-bus twin (port + 10000) is free as well.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = l.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 64];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// Polls `ready` until it holds. 40 s: a killed node's full resync and the cluster's
/// agreement can take over 20 s when every test binary of `make test` shares two cores.
pub fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(40), ready);
}

/// [`wait_for`] with a bound of its own.
pub fn wait_for_within(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect(MISSING);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server process, and the watcher that kills it when the test process ends.
struct Spawned {
    server: Child,
    watcher: Child,
    /// Stopped by SIGSTOP ([`RedisServer::pause_node`]).
    paused: bool,
}

impl Spawned {
    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no save, sockets reset.
    fn stop(mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        drop(self.watcher.stdin.take());
        let _ = self.watcher.wait();
    }
}

/// A `sh` that kills `pid` once this process is gone, however it ends: it waits for the end
/// of a pipe only this process holds open. Servers held in `static`s are never dropped, and
/// without it they would outlive the test binary.
pub fn kill_when_this_process_ends(pid: u32) -> Child {
    Command::new("sh")
        .args([
            "-c",
            "read _; kill -9 \"$1\" 2>/dev/null",
            "sh",
            &pid.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh is needed to watch the test servers")
}

/// A fresh CA (`ca.crt`, `ca.key`) in `d`, a server certificate it signed for localhost and
/// 127.0.0.1 (`server.crt`, `server.key`) and, if `client`, a client certificate
/// (`client.crt`, `client.key`).
pub fn make_certificates(d: &Path, client: bool) {
    let ssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .current_dir(d)
            .args(args)
            .stderr(Stdio::null())
            .status()
            .expect("openssl is needed for the TLS test");
        assert!(ok.success(), "openssl {args:?} failed");
    };
    ssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=omnisession test CA",
    ]);
    // A key and a certificate for `name`, signed by the CA, with the extensions in `ext`
    // (extensions make it X.509 v3, the only version rustls takes).
    let issue = |name: &str, subject: &str, ext: &str| {
        let (key, csr, crt, ext_file) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        std::fs::write(d.join(&ext_file), ext).unwrap();
        ssl(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ]);
        ssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext_file,
        ]);
    };
    issue(
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    if client {
        issue(
            "client",
            "/CN=omnisession test client",
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        );
    }
}

impl RedisServer {
    fn spawn(dir: &Path, port: u16, extra: &[String]) -> Spawned {
        let mut cmd = Command::new("redis-server");
        cmd.current_dir(dir)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--daemonize",
                "no",
            ])
            .args(["--loglevel", "warning", "--dir"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let server = cmd.spawn().expect(MISSING);
        let watcher = kill_when_this_process_ends(server.id());
        Spawned {
            server,
            watcher,
            paused: false,
        }
    }

    /// A single node on a free port. `extra` adds server arguments (e.g. appendonly).
    pub fn single(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let child = Self::spawn(dir.path(), port, &extra);
        wait_for("redis-server", || ping(port));
        RedisServer {
            children: vec![Some(child)],
            urls: vec![format!("redis://127.0.0.1:{port}")],
            ca: None,
            ports: vec![port],
            dir,
            extra,
        }
    }

    /// A single node listening only on a unix socket.
    pub fn unix_socket() -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("redis.sock");
        let extra = vec![
            "--unixsocket".to_owned(),
            sock.display().to_string(),
            "--unixsocketperm".into(),
            "700".into(),
        ];
        let child = Self::spawn(dir.path(), 0, &extra);
        wait_for("redis-server (unix socket)", || sock.exists());
        RedisServer {
            children: vec![Some(child)],
            urls: vec![format!("redis+unix://{}", sock.display())],
            ca: None,
            ports: vec![],
            dir,
            extra,
        }
    }

    /// A TLS-only node with a certificate signed by a fresh private CA.
    pub fn tls() -> RedisServer {
        Self::tls_node(false)
    }

    /// A TLS-only node that refuses clients without a certificate from its CA; with the PEM
    /// files of such a client certificate and its key.
    pub fn mutual_tls() -> (RedisServer, PathBuf, PathBuf) {
        let server = Self::tls_node(true);
        let (cert, key) = (
            server.dir.path().join("client.crt"),
            server.dir.path().join("client.key"),
        );
        (server, cert, key)
    }

    fn tls_node(check_clients: bool) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_certificates(d, check_clients);
        let port = free_port();
        let extra: Vec<String> = [
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            if check_clients { "yes" } else { "no" },
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let child = Self::spawn(d, 0, &extra);
        wait_for("redis-server (TLS)", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let ca = Some(d.join("ca.crt"));
        RedisServer {
            children: vec![Some(child)],
            urls: vec![format!("rediss://localhost:{port}")],
            ca,
            ports: vec![port],
            dir,
            extra,
        }
    }

    /// Three masters, no replicas, all 16384 slots covered.
    pub fn cluster() -> RedisServer {
        let server = Self::start_cluster(3, 0, 2000);
        for &p in &server.ports {
            wait_for("cluster_state:ok", || {
                redis_cli(&["-p", &p.to_string(), "cluster", "info"]).contains("cluster_state:ok")
            });
        }
        server
    }

    /// `masters` masters with `replicas` replicas each, made a cluster by `redis-cli --cluster
    /// create` (not yet waited for).
    fn start_cluster(masters: usize, replicas: usize, node_timeout_ms: u64) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let extra: Vec<String> = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &node_timeout_ms.to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let (mut children, mut ports) = (Vec::new(), Vec::new());
        for _ in 0..masters * (1 + replicas) {
            let port = free_port();
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            children.push(Some(Self::spawn(&node_dir, port, &extra)));
            ports.push(port);
        }
        for &p in &ports {
            wait_for("cluster node", || ping(p));
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let replicas = replicas.to_string();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", &replicas, "--cluster-yes"]);
        redis_cli(&args);
        let urls = ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect();
        RedisServer {
            children,
            urls,
            ca: None,
            ports,
            dir,
            extra,
        }
    }

    /// Kills the (single) server now, as a crash would.
    pub fn kill(&mut self) {
        for child in &mut self.children {
            if let Some(child) = child.take() {
                child.stop();
            }
        }
        self.children.clear();
    }

    /// Starts the (single) server again on the same port, data dir and arguments.
    pub fn restart(&mut self) {
        let port = self.ports[0];
        self.children
            .push(Some(Self::spawn(self.dir.path(), port, &self.extra)));
        wait_for("restarted redis-server", || ping(port));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `cluster-node-timeout` of [`RedisServer::cluster_with_replicas`], in ms. Redis's default is
/// 15 s: a master is only marked failed, and its replica promoted, after that long, which would
/// make every failover test wait 15 s and more. 1 s keeps a failover at about 2 to 3 s (the
/// timeout, the FAIL agreement of a majority of masters, then the replica's election delay of
/// 500 ms plus up to 500 ms of jitter), yet is long enough that a busy 2-core machine
/// does not make a healthy node miss its pings and fail over by itself.
pub const HA_NODE_TIMEOUT_MS: u64 = 1000;

/// A reply of Redis (RESP2), read by [`RedisServer::query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and the like.
    Status(String),
    /// `-ERR ...`, `-MOVED ...`.
    Error(String),
    /// `:n`.
    Int(i64),
    /// `$n`: a string, or `None` for nil.
    Bulk(Option<String>),
    /// `*n`.
    Array(Vec<Reply>),
}

impl Reply {
    /// The text of a status, error or bulk reply ("" for others).
    pub fn text(&self) -> &str {
        match self {
            Reply::Status(s) | Reply::Error(s) | Reply::Bulk(Some(s)) => s,
            _ => "",
        }
    }
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1.min(line.len()));
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, line.to_owned());
    let n = || rest.parse::<i64>().map_err(|_| bad());
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(n()?),
        "$" if n()? < 0 => Reply::Bulk(None),
        "$" => {
            let mut buf = vec![0u8; usize::try_from(n()?).map_err(|_| bad())? + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(buf.len() - 2);
            Reply::Bulk(Some(String::from_utf8_lossy(&buf).into_owned()))
        }
        "*" if n()? < 0 => Reply::Array(Vec::new()),
        "*" => (0..n()?)
            .map(|_| read_reply(r))
            .collect::<std::io::Result<_>>()
            .map(Reply::Array)?,
        _ => return Err(bad()),
    })
}

/// The cluster slot of `key` (CRC16-XMODEM of its hash tag or of the whole key, mod 16384), as
/// Redis computes it: no round trip per key.
pub fn key_slot(key: &str) -> u16 {
    let mut k = key.as_bytes();
    if let Some(open) = k.iter().position(|&b| b == b'{')
        && let Some(len) = k[open + 1..].iter().position(|&b| b == b'}')
        && len > 0
    {
        k = &k[open + 1..open + 1 + len];
    }
    let mut crc: u16 = 0;
    for &b in k {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 {
                crc << 1
            } else {
                (crc << 1) ^ 0x1021
            };
        }
    }
    crc % 16384
}

/// A master in one node's view: its port, slot ranges and number of replicas.
type Shard = (u16, Vec<(u16, u16)>, usize);

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// Its client port.
    pub port: u16,
    /// Whether it is a master (else a replica).
    pub master: bool,
    /// `fail` or `fail?` (PFAIL) in its flags, or `handshake`/`noaddr`.
    pub failed: bool,
    /// Its master's id (replicas).
    pub master_id: Option<String>,
    /// Whether the reporting node's link to it is connected.
    pub connected: bool,
    /// The slot ranges it serves (migrating/importing marks left out).
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    fn parse(line: &str) -> Option<ClusterNode> {
        let f: Vec<&str> = line.split(' ').collect();
        let port = f
            .get(1)?
            .split('@')
            .next()?
            .rsplit_once(':')?
            .1
            .parse()
            .ok()?;
        let flags = *f.get(2)?;
        let slots = f
            .iter()
            .skip(8)
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|n| (n, n)),
            })
            .collect();
        Some(ClusterNode {
            id: (*f.first()?).to_owned(),
            port,
            master: flags.contains("master"),
            failed: flags.contains("fail")
                || flags.contains("handshake")
                || flags.contains("noaddr"),
            master_id: Some(*f.get(3)?).filter(|m| *m != "-").map(str::to_owned),
            connected: *f.get(7)? == "connected",
            slots,
        })
    }

    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

impl RedisServer {
    /// Three masters with one replica each (six nodes), all 16384 slots covered, every
    /// replica in sync. The nodes are indexed 0..6 in `urls` order; which are masters is
    /// asked of the cluster ([`RedisServer::master_of_slot`], [`RedisServer::replica_of`]).
    /// `cluster-node-timeout` is [`HA_NODE_TIMEOUT_MS`]. No persistence: a killed node
    /// restarts empty and full-syncs from its shard's master.
    pub fn cluster_with_replicas() -> RedisServer {
        let server = Self::start_cluster(3, 1, HA_NODE_TIMEOUT_MS);
        server.wait_healthy();
        server
    }

    /// The number of nodes.
    pub fn nodes(&self) -> usize {
        self.ports.len()
    }

    /// The client port of node `node`.
    pub fn port(&self, node: usize) -> u16 {
        self.ports[node]
    }

    /// The index of the node on `port`.
    pub fn node_on(&self, port: u16) -> usize {
        self.ports
            .iter()
            .position(|p| *p == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    /// Whether node `node` is running (not killed).
    pub fn is_up(&self, node: usize) -> bool {
        self.children.get(node).is_some_and(Option::is_some)
    }

    /// The nodes running and not paused: the ones that answer.
    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.ports.len()).filter(|&i| self.children[i].as_ref().is_some_and(|c| !c.paused))
    }

    /// One command to node `node` on a fresh connection, with a 5 s read timeout; `None` if
    /// the node cannot be reached.
    pub fn query(&self, node: usize, args: &[&str]) -> Option<Reply> {
        self.query_all(node, &[args])?.pop()
    }

    /// Commands sent to node `node` on one connection, and their replies.
    pub fn query_all(&self, node: usize, cmds: &[&[&str]]) -> Option<Vec<Reply>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.ports[node])).ok()?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut req = Vec::new();
        for args in cmds {
            req.extend(format!("*{}\r\n", args.len()).bytes());
            for a in *args {
                req.extend(format!("${}\r\n", a.len()).bytes());
                req.extend(a.bytes());
                req.extend(b"\r\n");
            }
        }
        s.write_all(&req).ok()?;
        let mut r = BufReader::new(s);
        cmds.iter().map(|_| read_reply(&mut r).ok()).collect()
    }

    /// [`RedisServer::query`] that must succeed (not an error reply).
    fn must(&self, node: usize, args: &[&str]) -> Reply {
        match self.query(node, args) {
            Some(Reply::Error(e)) => panic!("{args:?} on node {node}: {e}"),
            Some(r) => r,
            None => panic!("{args:?}: node {node} is unreachable"),
        }
    }

    /// `CLUSTER NODES` as node `node` sees it (empty if unreachable).
    pub fn cluster_nodes(&self, node: usize) -> Vec<ClusterNode> {
        self.query(node, &["CLUSTER", "NODES"])
            .map(|r| r.text().lines().filter_map(ClusterNode::parse).collect())
            .unwrap_or_default()
    }

    /// The id of node `node`.
    pub fn node_id(&self, node: usize) -> String {
        self.must(node, &["CLUSTER", "MYID"]).text().to_owned()
    }

    /// `role:master` or `role:slave` of `INFO replication`, `None` if unreachable.
    fn role(&self, node: usize) -> Option<&'static str> {
        let info = self.query(node, &["INFO", "replication"])?;
        let info = info.text();
        if info.contains("role:master") {
            Some("master")
        } else if info.contains("role:slave") {
            Some("slave")
        } else {
            None
        }
    }

    /// Waits until every live node has the same current epoch: the last failover's new
    /// configuration is known everywhere. A manual failover asked before that can be promoted
    /// and then undone (its epoch collides with the previous one's).
    pub fn wait_epochs_agree(&self) {
        let epoch = |i: usize| {
            self.query(i, &["CLUSTER", "INFO"]).and_then(|r| {
                r.text()
                    .lines()
                    .find_map(|l| l.strip_prefix("cluster_current_epoch:"))
                    .map(|e| e.trim().to_owned())
            })
        };
        wait_for("every node at one current epoch", || {
            let epochs: Vec<Option<String>> = self.live().map(epoch).collect();
            epochs.iter().all(|e| e.is_some() && *e == epochs[0])
        });
    }

    fn cluster_ok(&self, node: usize) -> bool {
        self.query(node, &["CLUSTER", "INFO"])
            .is_some_and(|r| r.text().contains("cluster_state:ok"))
    }

    /// The node that serves `slot` in the view of the first live node.
    pub fn master_of_slot(&self, slot: u16) -> usize {
        let asked = self.live().next().expect("no live node");
        let nodes = self.cluster_nodes(asked);
        let master = nodes
            .iter()
            .find(|n| n.master && !n.failed && n.serves(slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}: {nodes:?}"));
        self.node_on(master.port)
    }

    /// The node that serves `key`.
    pub fn master_of_key(&self, key: &str) -> usize {
        self.master_of_slot(key_slot(key))
    }

    /// The (healthy) replica of master `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let id = self.node_id(master);
        let asked = self.live().next().expect("no live node");
        let nodes = self.cluster_nodes(asked);
        let replica = nodes
            .iter()
            .find(|n| !n.master && !n.failed && n.master_id.as_deref() == Some(&id))
            .unwrap_or_else(|| panic!("master {master} has no replica: {nodes:?}"));
        self.node_on(replica.port)
    }

    /// The other masters than `master`.
    pub fn other_masters(&self, master: usize) -> Vec<usize> {
        let asked = self.live().next().expect("no live node");
        let mut out: Vec<usize> = self
            .cluster_nodes(asked)
            .iter()
            .filter(|n| n.master && !n.failed && !n.slots.is_empty())
            .map(|n| self.node_on(n.port))
            .filter(|&n| n != master)
            .collect();
        out.sort_unstable();
        out
    }

    /// Kills node `node` with SIGKILL, as a crash would: no shutdown, nothing saved, and its
    /// replica knows only what was replicated.
    pub fn kill_node(&mut self, node: usize) {
        if let Some(child) = self.children[node].take() {
            child.stop();
        }
    }

    /// Stops node `node` with SIGSTOP: a full partition of it from every peer and client. It
    /// answers nothing and closes nothing; what is sent to it waits in its sockets. It is left
    /// out of the nodes asked about the cluster until [`RedisServer::resume_node`].
    pub fn pause_node(&mut self, node: usize) {
        self.signal(node, "STOP", true);
    }

    /// SIGCONT to node `node` paused by [`RedisServer::pause_node`]: the partition healed. It
    /// resumes with what it was sent meanwhile, and learns from its peers what changed.
    pub fn resume_node(&mut self, node: usize) {
        self.signal(node, "CONT", false);
    }

    fn signal(&mut self, node: usize, signal: &str, paused: bool) {
        let child = self.children[node].as_mut().expect("a running node");
        let pid = child.server.id().to_string();
        let ok = Command::new("sh")
            .args(["-c", "kill -s \"$1\" \"$2\"", "sh", signal, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -s {signal} of node {node}");
        child.paused = paused;
    }

    /// Starts killed node `node` again, on its port, dir (and `nodes.conf`) and arguments.
    /// With no persistence it comes back empty: start it only once its replica has been
    /// promoted, so that it rejoins as a replica and full-syncs (a master restarted empty
    /// before a failover would serve its slots empty).
    pub fn restart_node(&mut self, node: usize) {
        assert!(!self.is_up(node), "node {node} is running");
        let port = self.ports[node];
        let dir = self.dir.path().join(port.to_string());
        self.children[node] = Some(Self::spawn(&dir, port, &self.extra));
        wait_for("restarted cluster node", || ping(port));
    }

    /// `CLUSTER FAILOVER` on replica `replica`: a manual failover, which pauses the master's
    /// clients until the replica has caught up, so that no acknowledged write is lost.
    ///
    /// Redis gives up a manual failover the replica has not finished in 5 s (on a busy
    /// machine, catching up can take longer) and leaves the master in place: it is asked
    /// again, as an operator would, up to 3 times.
    pub fn failover(&self, replica: usize) {
        for _ in 0..3 {
            let r = self.must(replica, &["CLUSTER", "FAILOVER"]);
            assert_eq!(r.text(), "OK", "CLUSTER FAILOVER on node {replica}");
            let asked = Instant::now();
            while asked.elapsed() < Duration::from_secs(6) {
                if self.role(replica) == Some("master") {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let replication = self.query(replica, &["INFO", "replication"]);
        panic!(
            "CLUSTER FAILOVER on node {replica} did not promote it in 3 tries: {:?}",
            replication.as_ref().map(Reply::text)
        );
    }

    /// Waits until `node` is a master serving slots in its own view and in every live node's,
    /// with `cluster_state:ok` on every live node. Returns when `node` first said it was a
    /// master (its promotion).
    pub fn wait_promoted(&self, node: usize) -> Instant {
        self.promotion(node).unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`RedisServer::wait_promoted`], or what each node sees when `node` is not promoted
    /// everywhere within 20 s, or is "a replica again" once it was a master: Redis can undo a
    /// manual failover (seen in back-to-back rounds), handing the slots back to the old master.
    pub fn promotion(&self, node: usize) -> Result<Instant, String> {
        let mut promoted = None;
        let sees_it = |i: usize| {
            self.cluster_nodes(i)
                .iter()
                .any(|n| n.port == self.ports[node] && n.master && !n.failed && !n.slots.is_empty())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let role = self.role(node);
            if promoted.is_none() && role == Some("master") {
                promoted = Some(Instant::now());
            }
            if let Some(at) = promoted
                && self.live().all(|i| self.cluster_ok(i) && sees_it(i))
            {
                return Ok(at);
            }
            let undone = promoted.is_some() && role == Some("slave");
            if undone || Instant::now() > deadline {
                let views: Vec<String> = self
                    .live()
                    .map(|i| format!("node {i}: ok {} sees it {}", self.cluster_ok(i), sees_it(i)))
                    .collect();
                let what = if undone {
                    "promoted, then a replica again"
                } else {
                    "not promoted everywhere in 20 s"
                };
                return Err(format!("node {node} {what} (role {role:?}): {views:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every node runs and agrees on one set of masters, the cluster is ok on
    /// every node, every master has a replica and every replica is in sync.
    ///
    /// 90 s: a test binary may start four clusters of six nodes at once, beside the other
    /// binaries of `make test`, on two cores; 40 s was once not enough.
    pub fn wait_healthy(&self) {
        wait_for_within("a healthy cluster", Duration::from_secs(90), || {
            self.healthy()
        });
    }

    fn healthy(&self) -> bool {
        let mut views = Vec::new();
        for i in 0..self.ports.len() {
            if !self.is_up(i) || !self.cluster_ok(i) {
                return false;
            }
            let Some(info) = self.query(i, &["INFO", "replication"]) else {
                return false;
            };
            let info = info.text();
            if info.contains("role:slave")
                && !(info.contains("master_link_status:up")
                    && info.contains("master_sync_in_progress:0"))
            {
                return false;
            }
            let nodes = self.cluster_nodes(i);
            if nodes.len() != self.ports.len() || nodes.iter().any(|n| n.failed || !n.connected) {
                return false;
            }
            if info.contains("role:master") && !self.replicates(i, &nodes) {
                return false;
            }
            // (port, slot ranges, replicas) of each master.
            let mut shards: Vec<Shard> = nodes
                .iter()
                .filter(|n| n.master)
                .map(|n| {
                    let replicas = nodes
                        .iter()
                        .filter(|r| r.master_id.as_deref() == Some(&n.id))
                        .count();
                    (n.port, n.slots.clone(), replicas)
                })
                .collect();
            shards.sort();
            views.push(shards);
        }
        views.windows(2).all(|w| w[0] == w[1])
            && views[0].len() == self.ports.len() / 2
            && views[0].iter().all(|(_, _, replicas)| *replicas == 1)
    }

    /// Whether master `node`'s writes reach its replica now: a write, then `WAIT` for one
    /// replica's acknowledgement. A replica that reports `master_link_status:up` right after
    /// its first sync may not yet receive the stream (the master starts it on the replica's
    /// first `REPLCONF ACK`, sent once a second): killed then, its master leaves a promoted
    /// replica without any of the shard's data.
    fn replicates(&self, node: usize, view: &[ClusterNode]) -> bool {
        let Some(me) = view.iter().find(|n| n.port == self.ports[node]) else {
            return false;
        };
        let Some(key) = (0..)
            .map(|n| format!("omnisession-test-sync:{n}"))
            .take(100_000)
            .find(|k| me.serves(key_slot(k)))
        else {
            return false;
        };
        let replies = self.query_all(
            node,
            &[&["SET", &key, "1", "PX", "10000"], &["WAIT", "1", "2000"]],
        );
        matches!(replies.as_deref(), Some([_, Reply::Int(1)]))
    }

    /// The keys matching `pattern` on node `node` (a full `SCAN`).
    pub fn keys_on(&self, node: usize, pattern: &str) -> Vec<String> {
        let (mut cursor, mut keys) = ("0".to_owned(), Vec::new());
        loop {
            let r = self.must(node, &["SCAN", &cursor, "MATCH", pattern, "COUNT", "1000"]);
            let Reply::Array(parts) = r else {
                panic!("SCAN reply: {r:?}")
            };
            parts[0].text().clone_into(&mut cursor);
            if let Reply::Array(batch) = &parts[1] {
                keys.extend(batch.iter().map(|k| k.text().to_owned()));
            }
            if cursor == "0" {
                return keys;
            }
        }
    }

    /// Moves `slot` to master `to` while clients keep using it, the way `redis-cli --cluster
    /// reshard` does: `IMPORTING` on the target, `MIGRATING` on the source (from here the
    /// source answers `ASK` for keys it no longer has), `MIGRATE` of its keys `batch` at a
    /// time, then `SETSLOT NODE` on the target, the source and the other masters (from here
    /// `MOVED`). `held` runs once the keys have moved and before the slot changes owner: while
    /// it runs, a command for a key of the slot is answered `ASK` by the source. Returns the
    /// number of keys moved.
    pub fn migrate_slot(&self, slot: u16, to: usize, batch: usize, held: impl FnOnce()) -> usize {
        let from = self.master_of_slot(slot);
        if from == to {
            return 0;
        }
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let s = slot.to_string();
        self.must(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]);
        self.must(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]);
        let (to_port, n) = (self.ports[to].to_string(), batch.to_string());
        let mut moved = 0;
        loop {
            let Reply::Array(keys) = self.must(from, &["CLUSTER", "GETKEYSINSLOT", &s, &n]) else {
                panic!("GETKEYSINSLOT reply")
            };
            if keys.is_empty() {
                break;
            }
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            args.extend(keys.iter().map(Reply::text));
            // NOKEY: the keys expired or were deleted between the two calls.
            match self.must(from, &args) {
                Reply::Status(st) if st == "OK" || st == "NOKEY" => moved += keys.len(),
                other => panic!("MIGRATE of slot {slot}: {other:?}"),
            }
        }
        held();
        self.must(to, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
        self.must(from, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
        for other in self.other_masters(to) {
            if other != from {
                self.must(other, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
            }
        }
        moved
    }
}
