//! Broker settings and the builder that starts a broker.
//!
//! Defaults follow Kafka's broker defaults where a client can observe them
//! (`num.partitions` 1, `auto.create.topics.enable` true,
//! `socket.request.max.bytes` 100 MiB) and favour tests elsewhere
//! (ephemeral ports, no initial rebalance delay).

use std::path::PathBuf;

use ferrokafka_protocol::frame::DEFAULT_MAX_FRAME_SIZE;

use crate::error::BrokerError;
use crate::server::{Broker, BrokerHandle};

/// When appended batches are forced to disk (only with a data directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// fsync after a produce with `acks=-1` (all): what such a producer was
    /// promised. Other appends reach the OS page cache only.
    #[default]
    OnAcksAll,
    /// fsync after every append, whatever the acks.
    Always,
    /// Never fsync; the OS writes back when it likes.
    Never,
}

/// Everything a broker is started with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Host to bind (Kafka's `listeners` host).
    pub host: String,
    /// Host clients are told to connect to (Kafka's `advertised.listeners`
    /// host); `None` advertises [`BrokerConfig::host`]. Needed when binding
    /// a wildcard address such as `0.0.0.0`.
    pub advertised_host: Option<String>,
    /// Port of the first node; node `i` listens on `port + i`. 0 gives every
    /// node its own ephemeral port, which is what tests want.
    pub port: u16,
    /// How many broker ids (nodes) to run, numbered from 0.
    pub nodes: i32,
    /// Partitions of an auto-created topic or a CreateTopics request with
    /// `num_partitions = -1` (`num.partitions`).
    pub default_partitions: i32,
    /// Replication factor for `replication_factor = -1`
    /// (`default.replication.factor`); capped at the number of nodes.
    pub default_replication_factor: i16,
    /// Whether Metadata and Produce create unknown topics
    /// (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Where to persist logs, offsets and producer ids; `None` keeps
    /// everything in memory.
    pub data_dir: Option<PathBuf>,
    /// When to fsync (with a data directory).
    pub flush: FlushPolicy,
    /// The largest request frame accepted (`socket.request.max.bytes`); a
    /// bigger size prefix closes the connection before anything is allocated.
    pub max_frame_size: usize,
    /// The cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// The node that is every group's coordinator.
    pub group_coordinator_node: i32,
    /// `group.initial.rebalance.delay.ms`; 0 so that tests do not wait.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// Whether to keep every request seen, for [`BrokerHandle::requests_seen`].
    /// Off by default: a long-running broker would grow without bound.
    pub record_requests: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            advertised_host: None,
            port: 0,
            nodes: 1,
            default_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics: true,
            data_dir: None,
            flush: FlushPolicy::default(),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            cluster_id: "ferrokafka-cluster".to_owned(),
            group_coordinator_node: 0,
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            record_requests: false,
        }
    }
}

impl BrokerConfig {
    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), BrokerError> {
        if self.nodes < 1 {
            return Err(BrokerError::Config(format!(
                "nodes must be at least 1, not {}",
                self.nodes
            )));
        }
        if self.default_partitions < 1 {
            return Err(BrokerError::Config(format!(
                "default partitions must be at least 1, not {}",
                self.default_partitions
            )));
        }
        if self.default_replication_factor < 1 {
            return Err(BrokerError::Config(
                "default replication factor must be at least 1".into(),
            ));
        }
        if !(0..self.nodes).contains(&self.group_coordinator_node) {
            return Err(BrokerError::Config(format!(
                "group coordinator node {} is not one of the {} nodes",
                self.group_coordinator_node, self.nodes
            )));
        }
        if self.port != 0 && u32::from(self.port) + self.nodes as u32 - 1 > u32::from(u16::MAX) {
            return Err(BrokerError::Config(format!(
                "port {} plus {} nodes runs past 65535",
                self.port, self.nodes
            )));
        }
        if self.max_frame_size < 8 {
            return Err(BrokerError::Config(
                "max frame size must hold a request header".into(),
            ));
        }
        Ok(())
    }
}

/// Builds and starts a broker; see [`Broker::builder`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct BrokerBuilder {
    config: BrokerConfig,
}

impl BrokerBuilder {
    /// A builder with the defaults of [`BrokerConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder starting from `config`.
    pub fn from_config(config: BrokerConfig) -> Self {
        Self { config }
    }

    /// Host and port of the first node, as `"host:port"`; port 0 means
    /// ephemeral ports.
    pub fn listen(mut self, address: &str) -> Result<Self, BrokerError> {
        let (host, port) = address.rsplit_once(':').ok_or_else(|| {
            BrokerError::Config(format!("listen address {address:?} has no port"))
        })?;
        let port = port.parse::<u16>().map_err(|_| {
            BrokerError::Config(format!("listen address {address:?} has a bad port"))
        })?;
        self.config.host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        self.config.port = port;
        Ok(self)
    }

    /// The host clients are told to connect to, when it differs from the
    /// one bound.
    pub fn advertised_host(mut self, host: impl Into<String>) -> Self {
        self.config.advertised_host = Some(host.into());
        self
    }

    /// Number of broker ids (nodes), numbered from 0.
    pub fn nodes(mut self, nodes: i32) -> Self {
        self.config.nodes = nodes;
        self
    }

    /// Partitions of auto-created topics (`num.partitions`).
    pub fn default_partitions(mut self, partitions: i32) -> Self {
        self.config.default_partitions = partitions;
        self
    }

    /// Whether unknown topics are created on Metadata and Produce.
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.config.auto_create_topics = enabled;
        self
    }

    /// Persist to `dir` (created if missing) and recover from it on start.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = Some(dir.into());
        self
    }

    /// When appends are forced to disk.
    pub fn flush(mut self, policy: FlushPolicy) -> Self {
        self.config.flush = policy;
        self
    }

    /// The largest request frame accepted.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// The node that coordinates every group.
    pub fn group_coordinator_node(mut self, node: i32) -> Self {
        self.config.group_coordinator_node = node;
        self
    }

    /// Keep every request seen for [`BrokerHandle::requests_seen`].
    pub fn record_requests(mut self, enabled: bool) -> Self {
        self.config.record_requests = enabled;
        self
    }

    /// The cluster id reported to clients.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.config.cluster_id = id.into();
        self
    }

    /// The settings as they stand.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Binds every node's listener, recovers the data directory if any, and
    /// starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<BrokerHandle, BrokerError> {
        Broker::start(self.config).await
    }
}
