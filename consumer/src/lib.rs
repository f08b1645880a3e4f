//! The ferrokafka poll-based consumer and consumer-group member.
//!
//! [`Consumer::poll`] returns records fetched from the partitions this
//! consumer reads: chosen by [`Consumer::assign`], or handed out by the
//! group after [`Consumer::subscribe`] (classic protocol: JoinGroup,
//! SyncGroup, heartbeats on their own task, range, roundrobin and
//! cooperative-sticky [`Assignor`]s, the last with KIP-429's incremental
//! rebalancing). Positions start from committed offsets or
//! `auto.offset.reset`; commits are automatic (on the interval, before a
//! revoke, on close) or manual ([`Consumer::commit`],
//! [`Consumer::commit_async`], explicit offsets). [`Consumer::stream`] and
//! [`Consumer::into_stream`] (a `futures_core::Stream`) give records one at
//! a time for async code; [`deserializer`] types them.
//!
//! ```no_run
//! # async fn run() -> ferrokafka_consumer::Result<()> {
//! use std::time::Duration;
//! use ferrokafka_consumer::{Consumer, ConsumerConfig};
//!
//! let config = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "orders-service"),
//!     ("auto.offset.reset", "earliest"),
//! ])?;
//! let mut consumer = Consumer::connect(config).await?;
//! consumer.subscribe(["orders"])?;
//! for _ in 0..10 {
//!     for record in consumer.poll(Duration::from_secs(1)).await? {
//!         println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//!     }
//! }
//! consumer.close(Duration::from_secs(5)).await; // commits, leaves the group
//! # Ok(())
//! # }
//! ```
//!
//! # Data flow
//!
//! ```text
//! poll() ◄── buffered records ◄── fetch tasks, one per broker ◄── Fetch ── partition leaders
//!   │
//!   ├─► ConsumerCoordinator: JoinGroup/SyncGroup (on poll's task), OffsetCommit, OffsetFetch
//!   │     └─ heartbeat task: Heartbeat; flags a rebalance or a lost generation for poll
//!   └─► commit_async tasks: OffsetCommit, one at a time in call order
//! ```
//!
//! The [`Consumer`] owns its fetch tasks and `commit_async` tasks (each a
//! `JoinSet`) and its [`ConsumerCoordinator`], which owns the heartbeat
//! task. [`Consumer::close`] commits (with auto-commit), tells the listener
//! and leaves the group within its timeout, then aborts every task and
//! closes the cluster handle if `connect` made it; dropping the consumer
//! aborts the tasks without the commit and the LeaveGroup.
//!
//! Modules: [`config`] (settings), [`fetcher`] (Fetch, ListOffsets),
//! [`subscription`] (assignment and positions), [`coordinator`] (group
//! membership and offsets), [`assignor`], [`consumer`] (the API),
//! [`stream`], [`deserializer`], [`record`], [`error`].
//! Spring-style listener containers over the consumer live in the
//! `ferrokafka-listener` crate, above this one and the producer.

pub mod assignor;
pub mod config;
pub mod consumer;
pub mod coordinator;
pub mod deserializer;
pub mod error;
pub mod fetcher;
pub mod record;
pub mod stream;
pub mod subscription;

pub use assignor::{
    Assignor, CooperativeStickyAssignor, MemberSubscription, RangeAssignor, RoundRobinAssignor,
    StickyAssignor,
};
pub use config::{
    AssignmentStrategy, ConsumerConfig, ConsumerConfigBuilder, IsolationLevel, OffsetReset,
};
pub use consumer::{CommitHandle, Consumer, RebalanceListener};
pub use coordinator::ConsumerCoordinator;
pub use deserializer::{
    BytesDeserializer, Deserializer, JsonDeserializer, StringDeserializer, TypedRecord,
};
pub use error::{Error, Result};
pub use ferrokafka_client::ConsumerGroupMetadata;
pub use fetcher::Fetcher;
pub use record::{
    ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, RecordHeader, TimestampType,
    TopicPartition,
};
pub use stream::{ConsumerStream, RecordStream};
pub use subscription::SubscriptionState;
