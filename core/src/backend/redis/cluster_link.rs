//! The connection to a Redis Cluster, made anew when a node stops answering.
//!
//! redis-rs's cluster connection reads the slot map again after a redirect or a broken
//! connection, but not after a timeout: a master that hangs (paused, or cut off by the network)
//! keeps its slots in the client's map after its replica has taken them over, and every call to
//! them times out until the old master answers again. A call that times out here has a new
//! connection made beside the calls, whose slot map comes from the nodes that do answer; at
//! most one at a time, and not more often than every `REBUILD_EVERY`.

use super::client::CONNECT_TIMEOUT;
use redis::RedisError;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shortest time between two new connections.
const REBUILD_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct ClusterLink {
    client: ClusterClient,
    current: Mutex<ClusterConnection>,
    /// When the last new connection was started.
    rebuilt: Mutex<Option<Instant>>,
    rebuilding: AtomicBool,
}

impl ClusterLink {
    pub(crate) async fn open(client: ClusterClient) -> Result<ClusterLink, RedisError> {
        let connection = client.get_async_connection().await?;
        Ok(ClusterLink {
            client,
            current: Mutex::new(connection),
            rebuilt: Mutex::new(None),
            rebuilding: AtomicBool::new(false),
        })
    }

    /// The connection calls go through now.
    pub(crate) fn connection(&self) -> ClusterConnection {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A call timed out: makes a new connection in the background (calls under way finish on
    /// the old one).
    pub(crate) fn stalled(self: &Arc<Self>) {
        {
            let mut rebuilt = self.rebuilt.lock().unwrap_or_else(PoisonError::into_inner);
            if rebuilt.is_some_and(|at| at.elapsed() < REBUILD_EVERY)
                || self.rebuilding.swap(true, Ordering::SeqCst)
            {
                return;
            }
            *rebuilt = Some(Instant::now());
        }
        let link = Arc::clone(self);
        tokio::spawn(async move {
            let made =
                tokio::time::timeout(CONNECT_TIMEOUT * 2, link.client.get_async_connection()).await;
            if let Ok(Ok(connection)) = made {
                *link.current.lock().unwrap_or_else(PoisonError::into_inner) = connection;
            }
            link.rebuilding.store(false, Ordering::SeqCst);
        });
    }
}
