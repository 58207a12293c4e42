#![allow(dead_code)] // each test crate uses the part of this module it needs
//! A TCP proxy that can stop forwarding without closing anything, as a stalled network (or a
//! partition that drops every packet) does: connections stay open, bytes wait.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards every connection made to `port` to the upstream port, both on 127.0.0.1.
pub struct Proxy {
    pub port: u16,
    forward: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream`. The forwarding runs on the Tokio
    /// runtime this is called in (which must not be blocked meanwhile); dropping the proxy
    /// closes its connections.
    pub fn start(upstream: u16) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let (forward, gate) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, gate.clone()));
                tokio::spawn(pump(sr, cw, gate.clone()));
            }
        });
        Proxy { port, forward }
    }

    /// Stops (`true`) or resumes forwarding, on every connection, in both directions.
    pub fn stall(&self, stalled: bool) {
        self.forward.send_replace(!stalled);
    }
}

/// Copies one direction; while the gate is shut, bytes wait here (read or not) and nothing
/// is closed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if gate.wait_for(|open| *open).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
