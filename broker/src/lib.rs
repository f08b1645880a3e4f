//! The bundled Kafka-compatible broker: in memory by default, optionally
//! persistent, one or several broker ids in one process, with fault injection
//! for client tests.
//!
//! Start one with [`Broker::builder`]; the returned [`BrokerHandle`] knows the
//! bootstrap address, stops the broker gracefully with
//! [`BrokerHandle::shutdown`] and stops it when dropped. The
//! `ferrokafka-broker` binary wraps the same builder.
//!
//! ```no_run
//! # async fn example() -> Result<(), ferrokafka_broker::BrokerError> {
//! use ferrokafka_broker::{Broker, FaultAction, FaultRule};
//! use ferrokafka_protocol::{ApiKey, ErrorCode};
//!
//! // Three broker ids on ephemeral ports, leaders spread across them.
//! let broker = Broker::builder().nodes(3).default_partitions(6).start().await?;
//! let bootstrap = broker.bootstrap_servers(); // hand this to a client
//! // The next two produce requests fail as if replicas were missing.
//! broker.inject_fault(
//!     FaultRule::new(ApiKey::Produce, FaultAction::Fail(ErrorCode::NotEnoughReplicas)).times(2),
//! );
//! # let _ = bootstrap;
//! broker.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! What lives where: [`apis`] is the one list of served APIs, from which
//! the table of supported versions and the handlers' dispatch are made;
//! `handlers/` has one module per API key; `connection` reads frames and
//! answers requests in order; `builder` is the entry point that starts the
//! `server` with the plain settings of `config`; `server` runs the listeners
//! and owns every task; `cluster` holds nodes, topics and partition leadership; `log` is a
//! partition's log of record batches with its idempotent-producer state;
//! `topic_config` knows the topic configs and what the log enforces;
//! `producer_ids` hands out producer ids and epochs; `txn` is the
//! transaction coordinator (KIP-98); `storage` is the
//! optional on-disk copy; [`faults`] is the fault-injection API; [`group`] is
//! the classic consumer-group coordinator.
//!
//! What it does not do: replication (replica lists and the ISR are
//! reported, one copy is kept), incremental fetch
//! sessions (declined the way Kafka declines them when its cache is full),
//! log compaction (`cleanup.policy=compact` is stored and requires keys),
//! SASL and TLS, quotas (throttle time is always 0).

mod builder;
mod cluster;
mod config;
mod connection;
mod error;
mod handlers;
mod log;
mod producer_ids;
mod server;
mod storage;
mod topic_config;
mod txn;

pub mod apis;
pub mod faults;
pub mod group;

pub use builder::{Broker, BrokerBuilder};
pub use config::{BrokerConfig, FlushPolicy};
pub use error::BrokerError;
pub use faults::{FaultAction, FaultRule, FiredFault, SeenRequest};
pub use server::BrokerHandle;
