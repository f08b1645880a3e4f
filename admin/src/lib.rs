//! The ferrokafka admin client (issue 7): topics, partitions, configs,
//! consumer groups and the cluster, following Java's `Admin` interface.
//!
//! [`Admin`] wraps a [`ferrokafka_client::Client`] and routes each request
//! through it: controller-bound requests (create and delete topics, create
//! partitions) to the controller, group requests to the group's coordinator
//! (found again on NOT_COORDINATOR), partition requests (list offsets, delete
//! records) to each partition's leader, metadata and topic configs to any
//! broker and broker configs to that broker. Retry decisions go through the
//! core's [`ferrokafka_client::retry::classify`].
//!
//! Every operation takes an options struct whose `Default` mirrors Java's
//! (`timeout` = `default.api.timeout.ms`, 60 s), and the timeout bounds the
//! whole call, retries included. Multi-item calls return one result per item,
//! in the order given, so that one failure does not hide the others.

pub mod cluster;
pub mod configs;
pub mod error;
pub mod groups;
pub mod offsets;
pub mod options;
pub mod topics;

pub use cluster::{AclOperation, ClusterDescription, Node};
pub use configs::{
    AlterConfigOp, ConfigEntry, ConfigResource, ConfigSource, ConfigSynonym, ConfigType,
};
pub use error::{AdminError, Result};
pub use groups::{
    CommittedOffset, GroupDescription, GroupListing, GroupState, MemberDescription,
    OffsetAndMetadata, decode_assignment,
};
pub use offsets::{DeletedRecords, ListedOffset, OffsetSpec, PartitionLag};
pub use options::{
    AlterConfigsOptions, AlterConsumerGroupOffsetsOptions, ConsumerGroupLagOptions,
    CreatePartitionsOptions, CreateTopicsOptions, DeleteConsumerGroupOffsetsOptions,
    DeleteConsumerGroupsOptions, DeleteRecordsOptions, DeleteTopicsOptions, DescribeClusterOptions,
    DescribeConfigsOptions, DescribeConsumerGroupsOptions, DescribeTopicsOptions,
    ListConsumerGroupOffsetsOptions, ListConsumerGroupsOptions, ListOffsetsOptions,
    ListTopicsOptions,
};
pub use topics::{
    CreatedTopic, NewPartitions, NewTopic, PartitionDescription, TopicDescription, TopicListing,
};

use std::future::Future;
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, ClientConfig};

/// The default time an admin operation may take, retries included: Java's
/// `default.api.timeout.ms` (60000).
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(60);

/// The same as [`DEFAULT_API_TIMEOUT`] (the name of the first cut).
pub const DEFAULT_TIMEOUT: Duration = DEFAULT_API_TIMEOUT;

/// The admin client.
#[derive(Clone, Debug)]
pub struct Admin {
    client: Client,
}

impl Admin {
    /// Connects to the cluster named by `config`. Metadata requests made for
    /// the admin client never auto-create topics, whatever the config says.
    pub async fn connect(mut config: ClientConfig) -> Result<Admin> {
        config.allow_auto_create_topics = false;
        let client = Client::connect(config).await?;
        Ok(Admin { client })
    }

    /// Wraps an already connected client.
    pub fn from_client(client: Client) -> Admin {
        Admin { client }
    }

    /// The underlying client core.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Closes the client's connections.
    pub fn close(&self) {
        self.client.close();
    }
}

/// When a call must be done by: the options' timeout, from the call's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
        }
    }

    /// What is left (zero once passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub(crate) fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The error of a call that ran out of time.
    pub(crate) fn error(&self) -> AdminError {
        AdminError::Timeout {
            after: self.timeout,
        }
    }

    /// Runs `future`, failing with [`AdminError::Timeout`] when the deadline
    /// passes first (a single request may otherwise outlive it by up to
    /// `request.timeout.ms`).
    pub(crate) async fn run<T, E>(
        &self,
        future: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T>
    where
        AdminError: From<E>,
    {
        match tokio::time::timeout(self.remaining(), future).await {
            Ok(r) => r.map_err(AdminError::from),
            Err(_) => Err(self.error()),
        }
    }

    /// Waits the retry backoff before another round, never past the deadline.
    pub(crate) async fn backoff(&self, client: &Client, round: u32) {
        let config = client.config();
        let base = config
            .retry_backoff
            .saturating_mul(2u32.saturating_pow(round.min(16)));
        let wait = base.min(config.retry_backoff_max).min(self.remaining());
        tokio::time::sleep(wait).await;
    }
}

/// Clamps a duration to the i32 milliseconds of a request's `timeout_ms`.
pub(crate) fn millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}
