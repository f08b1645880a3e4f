//! Starting and stopping a broker: one listener task per node, each owning
//! the tasks of its connections, all owned by the [`BrokerHandle`].
//!
//! Shutdown is a `watch` signal per node: the accept loop stops accepting,
//! every connection finishes the request it is handling (a long-poll fetch
//! returns at once) and closes, and [`BrokerHandle::shutdown`] waits for
//! all of it, then flushes the logs. Dropping the handle sends the same
//! signals and aborts the tasks without waiting, so drop never blocks.
//! Like mini-redis's server, but with several listeners sharing one cluster.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::cluster::{Cluster, NodeInfo};
use crate::config::BrokerConfig;
use crate::connection::serve_connection;
use crate::error::BrokerError;
use crate::faults::{FaultRule, FiredFault, SeenRequest};

/// How long a graceful shutdown waits for connections to finish their
/// current request before aborting them (a group join can wait a while).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds every node's listener, builds the cluster (recovering the data
/// directory if any) and starts serving on the current tokio runtime.
pub(crate) async fn start(config: BrokerConfig) -> Result<BrokerHandle, BrokerError> {
    config.validate()?;
    let mut listeners = Vec::new();
    for id in 0..config.nodes {
        let port = if config.port == 0 {
            0
        } else {
            config.port.saturating_add(id as u16)
        };
        let address = format!("{}:{}", bracket(&config.host), port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| BrokerError::Bind {
                address: address.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| BrokerError::Bind { address, source })?;
        listeners.push((id, listener, local));
    }
    let nodes = listeners
        .iter()
        .map(|(id, _, local)| NodeInfo {
            id: *id,
            host: config
                .advertised_host
                .clone()
                .unwrap_or_else(|| config.host.clone()),
            port: local.port(),
            alive: true,
        })
        .collect();
    let cluster = Arc::new(Cluster::new(config, nodes)?);
    let runtimes = listeners
        .into_iter()
        .map(|(id, listener, local)| NodeRuntime::spawn(&cluster, id, listener, local))
        .collect();
    Ok(BrokerHandle {
        cluster,
        nodes: Mutex::new(runtimes),
    })
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A running node: its address, its stop signal and its accept task.
#[derive(Debug)]
struct NodeRuntime {
    id: i32,
    address: SocketAddr,
    /// Sending `true` stops the node; `None` once stopped.
    stop: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl NodeRuntime {
    fn spawn(cluster: &Arc<Cluster>, id: i32, listener: TcpListener, address: SocketAddr) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(Arc::clone(cluster), id, listener, stopped));
        tracing::info!(node = id, %address, "broker node listening");
        Self {
            id,
            address,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn signal(&mut self) -> Option<JoinHandle<()>> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        self.task.take()
    }
}

async fn accept_loop(
    cluster: Arc<Cluster>,
    node: i32,
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(node, %peer, "connection accepted");
                    connections.spawn(serve_connection(stream, Arc::clone(&cluster), node, stopped.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly
                    // instead of spinning on the error.
                    tracing::warn!(node, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(node, "connections did not finish in time; aborting them");
        connections.shutdown().await;
    }
}

/// A running broker. Dropping it stops every node (without waiting);
/// [`BrokerHandle::shutdown`] stops them gracefully.
#[derive(Debug)]
pub struct BrokerHandle {
    cluster: Arc<Cluster>,
    nodes: Mutex<Vec<NodeRuntime>>,
}

impl BrokerHandle {
    fn nodes(&self) -> std::sync::MutexGuard<'_, Vec<NodeRuntime>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `host:port` of node 0, for a client's `bootstrap.servers`.
    pub fn bootstrap_address(&self) -> String {
        self.addresses()
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Every node's `host:port`, comma-separated.
    pub fn bootstrap_servers(&self) -> String {
        self.addresses()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of each node, indexed by node id.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.nodes().iter().map(|node| node.address).collect()
    }

    /// The settings the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.cluster.config
    }

    /// Creates a topic with `partitions` partitions and default settings.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), BrokerError> {
        self.cluster
            .create_topic(
                crate::cluster::NewTopic {
                    name: name.to_owned(),
                    partitions,
                    replication_factor: -1,
                    ..Default::default()
                },
                false,
            )
            .map(drop)
            .map_err(|error| BrokerError::Config(error.message))
    }

    /// Deletes a topic and its logs (as DeleteTopics does); `false` if
    /// there was no such topic.
    pub fn delete_topic(&self, name: &str) -> bool {
        self.cluster.delete_topic(name).is_some()
    }

    /// The log start offset and high watermark of `topic`-`partition`.
    pub fn offsets(&self, topic: &str, partition: i32) -> Option<(i64, i64)> {
        let topic = self.cluster.topic(topic)?;
        let entry = topic.partitions.get(usize::try_from(partition).ok()?)?;
        let offsets = entry
            .log
            .offsets(&topic.config.log_settings(), crate::cluster::now_ms());
        Some((offsets.log_start_offset, offsets.high_watermark))
    }

    /// The record batches stored for `topic`-`partition`, exactly as a fetch
    /// returns them, so a client test can check what reached the log.
    pub fn batches(&self, topic: &str, partition: i32) -> Option<Vec<bytes::Bytes>> {
        let topic = self.cluster.topic(topic)?;
        let entry = topic.partitions.get(usize::try_from(partition).ok()?)?;
        Some(entry.log.batches())
    }

    /// The node leading `topic`-`partition` and its leader epoch.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        self.cluster.leader_of(topic, partition)
    }

    /// Moves the leadership of `topic`-`partition` to `node` (bumping the
    /// leader epoch); the old leader answers NOT_LEADER_OR_FOLLOWER from now on.
    pub fn move_leader(&self, topic: &str, partition: i32, node: i32) -> Result<(), BrokerError> {
        self.cluster.move_leader(topic, partition, node)?;
        // Long polls on the old leader should notice at once.
        self.cluster.appended.notify_waiters();
        Ok(())
    }

    /// Moves the coordinator of every group and transactional id to `node`
    /// (a test hook: Kafka moves it when a partition of
    /// `__consumer_offsets` or `__transaction_state` changes leader). The
    /// state moves with it; the old node answers NOT_COORDINATOR and
    /// FindCoordinator names the new one (COORDINATOR_NOT_AVAILABLE while it
    /// is stopped).
    pub fn move_coordinator(&self, node: i32) -> Result<(), BrokerError> {
        self.cluster.move_coordinator(node)
    }

    /// Adds a fault rule; see [`FaultRule`].
    pub fn inject_fault(&self, rule: FaultRule) {
        self.cluster.faults.add(rule);
    }

    /// Removes every pending fault rule.
    pub fn clear_faults(&self) {
        self.cluster.faults.clear();
    }

    /// The fault rules not yet spent, in the order they were added: empty
    /// once every injected fault has fired as many times as it was told to.
    pub fn pending_faults(&self) -> Vec<FaultRule> {
        self.cluster.faults.pending()
    }

    /// Every fault fired so far (since the broker started), in the order they
    /// fired: proof for a test that what it injected really hit requests.
    pub fn faults_fired(&self) -> Vec<FiredFault> {
        self.cluster.faults.fired()
    }

    /// Starts or stops recording requests.
    pub fn record_requests(&self, on: bool) {
        self.cluster.faults.set_recording(on);
    }

    /// Every request received since recording started, in arrival order.
    pub fn requests_seen(&self) -> Vec<SeenRequest> {
        self.cluster.faults.seen()
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests_seen(&self) {
        self.cluster.faults.clear_seen();
    }

    /// Whether requests are being recorded.
    pub fn is_recording(&self) -> bool {
        self.cluster.faults.is_recording()
    }

    /// Stops node `node`: it closes its listener and connections, metadata
    /// leaves it out, and its partitions have no leader until it restarts.
    pub async fn stop_node(&self, node: i32) -> Result<(), BrokerError> {
        let task = {
            let mut nodes = self.nodes();
            let runtime = nodes
                .iter_mut()
                .find(|n| n.id == node)
                .ok_or(BrokerError::UnknownNode(node))?;
            runtime.signal()
        };
        self.cluster.set_node_alive(node, false, None);
        self.cluster.appended.notify_waiters();
        if let Some(task) = task {
            let _ = task.await;
        }
        tracing::info!(node, "node stopped");
        Ok(())
    }

    /// Restarts a stopped node on the address it had.
    pub async fn restart_node(&self, node: i32) -> Result<(), BrokerError> {
        let address = {
            let nodes = self.nodes();
            let runtime = nodes
                .iter()
                .find(|n| n.id == node)
                .ok_or(BrokerError::UnknownNode(node))?;
            if runtime.stop.is_some() {
                return Ok(());
            }
            runtime.address
        };
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| BrokerError::Bind {
                address: address.to_string(),
                source,
            })?;
        let runtime = NodeRuntime::spawn(&self.cluster, node, listener, address);
        {
            let mut nodes = self.nodes();
            if let Some(slot) = nodes.iter_mut().find(|n| n.id == node) {
                *slot = runtime;
            }
        }
        self.cluster
            .set_node_alive(node, true, Some(address.port()));
        Ok(())
    }

    /// Stops every node gracefully: connections finish the request they are
    /// handling, group members waiting in a join or sync are answered, and
    /// the logs are flushed.
    pub async fn shutdown(self) {
        let tasks: Vec<JoinHandle<()>> = self
            .nodes()
            .iter_mut()
            .filter_map(NodeRuntime::signal)
            .collect();
        self.cluster.shutdown_groups();
        for task in tasks {
            let _ = task.await;
        }
        // fsync is blocking I/O: keep it off the runtime's threads.
        let cluster = Arc::clone(&self.cluster);
        if tokio::task::spawn_blocking(move || cluster.flush_all())
            .await
            .is_err()
        {
            tracing::error!("flushing the logs failed");
        }
        tracing::info!("broker stopped");
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        for runtime in self.nodes().iter_mut() {
            if let Some(task) = runtime.signal() {
                task.abort();
            }
        }
        self.cluster.shutdown_groups();
    }
}
