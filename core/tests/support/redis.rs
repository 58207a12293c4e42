#![allow(dead_code)] // each test crate uses the part of this module it needs
//! Real Redis servers for the tests: a single node, a TLS node and a 3-master cluster, each
//! started from the `redis-server` binary in its own temp dir and stopped by its PID on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MISSING: &str = "redis-server and redis-cli are needed: `apt-get install -y redis-server` \
                       (make test installs them)";

/// A running server (or cluster), killed when dropped.
pub struct RedisServer {
    children: Vec<Spawned>,
    /// Seed URLs: one for a node, three for a cluster.
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

pub fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
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
        Spawned { server, watcher }
    }

    /// A single node on a free port. `extra` adds server arguments (e.g. appendonly).
    pub fn single(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let child = Self::spawn(dir.path(), port, &extra);
        wait_for("redis-server", || ping(port));
        RedisServer {
            children: vec![child],
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
            children: vec![child],
            urls: vec![format!("redis+unix://{}", sock.display())],
            ca: None,
            ports: vec![],
            dir,
            extra,
        }
    }

    /// A TLS-only node with a certificate signed by a fresh private CA.
    pub fn tls() -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
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
        ssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        ssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
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
            "no",
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
            children: vec![child],
            urls: vec![format!("rediss://localhost:{port}")],
            ca,
            ports: vec![port],
            dir,
            extra,
        }
    }

    /// Three masters, no replicas, all 16384 slots covered.
    pub fn cluster() -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let mut children = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let extra: Vec<String> = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            children.push(Self::spawn(&node_dir, port, &extra));
            ports.push(port);
        }
        for &p in &ports {
            wait_for("cluster node", || ping(p));
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis_cli(&args);
        for &p in &ports {
            wait_for("cluster_state:ok", || {
                redis_cli(&["-p", &p.to_string(), "cluster", "info"]).contains("cluster_state:ok")
            });
        }
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
            extra: Vec::new(),
        }
    }

    /// Kills the (single) server now, as a crash would.
    pub fn kill(&mut self) {
        for Spawned { server, watcher } in &mut self.children {
            let _ = server.kill();
            let _ = server.wait();
            drop(watcher.stdin.take());
            let _ = watcher.wait();
        }
        self.children.clear();
    }

    /// Starts the (single) server again on the same port, data dir and arguments.
    pub fn restart(&mut self) {
        let port = self.ports[0];
        self.children
            .push(Self::spawn(self.dir.path(), port, &self.extra));
        wait_for("restarted redis-server", || ping(port));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
