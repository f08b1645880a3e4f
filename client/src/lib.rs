//! The cluster core that the ferrokafka producer, consumer and admin client
//! share: configuration, connections, version negotiation, metadata,
//! coordinator lookup, routing and the one retry policy.
//!
//! Where each decision lives:
//! - defaults and property names: [`config`];
//! - timeouts, correlation ids, ApiVersions negotiation: [`connection`];
//! - what to do about an error: [`retry::classify`];
//! - backoff arithmetic: [`backoff`];
//! - which broker a request goes to, metadata refresh and reconnects: [`cluster`];
//! - what the cluster looks like: [`metadata`].

pub mod backoff;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod error;
pub mod group;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod retry;

pub use cluster::{Client, CoordinatorType, Target};
pub use config::ClientConfig;
pub use error::{Error, Result};
pub use group::ConsumerGroupMetadata;
pub use metadata::ClusterMetadata;
pub use partition::{OffsetAndMetadata, TopicPartition};
pub use retry::{RetryAction, classify, classify_code};
