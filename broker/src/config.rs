//! Broker settings: plain values, checked by [`BrokerConfig::validate`]. The
//! builder that starts a broker with them is in `builder`.
//!
//! Defaults follow Kafka's broker defaults where a client can observe them
//! (`num.partitions` 1, `auto.create.topics.enable` true,
//! `socket.request.max.bytes` 100 MiB) and favour tests elsewhere
//! (ephemeral ports, no initial rebalance delay).

use std::path::PathBuf;

use ferrokafka_protocol::frame::DEFAULT_MAX_FRAME_SIZE;

use crate::error::BrokerError;

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
    ///
    /// [`BrokerHandle::requests_seen`]: crate::BrokerHandle::requests_seen
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
