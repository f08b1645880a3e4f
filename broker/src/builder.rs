//! The entry point: [`Broker::builder`] gathers the settings and
//! [`BrokerBuilder::start`] hands them to the server. It stands above both
//! the settings (`config`) and the server, so that neither imports the other
//! back.

use std::path::PathBuf;

use crate::config::{BrokerConfig, FlushPolicy};
use crate::error::BrokerError;
use crate::server::{self, BrokerHandle};

/// Entry point: `Broker::builder()...start().await`.
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// A builder with the default settings (one node on an ephemeral port,
    /// in memory, automatic topic creation on).
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::new()
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
        server::start(self.config).await
    }
}
