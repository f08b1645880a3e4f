//! Spring-style listener containers for ferrokafka, in the spirit of Spring
//! Kafka's `ConcurrentMessageListenerContainer`: a [`MessageListener`]
//! registered for a group and its topics, run by `concurrency` consumers of
//! that group, each on its own task owned by the [`ListenerContainer`].
//!
//! This crate sits above the consumer and the producer (which never depend
//! on each other): it polls with `ferrokafka-consumer`, and publishes dead
//! letters with `ferrokafka-producer`.
//!
//! One record's way through a container:
//!
//! ```text
//!  Consumer::poll ──> record ──> MessageListener::on_message
//!                                  │ Ok          │ Err (or panic)
//!                                  │             v
//!                                  │      DefaultErrorHandler
//!                                  │        retryable and attempts left?
//!                                  │          yes: wait the BackOff, call the listener again
//!                                  │          no:  Recoverer (LoggingRecoverer, DeadLetterRecoverer
//!                                  │               ──> <topic>-dlt through the Producer)
//!                                  │                  │ Ok            │ Err
//!                                  v                  v               v
//!                        offset + 1 pending ──> commit per AckMode    seek back: the record is
//!                        (Record: now; Batch, Manual: after the poll; delivered again by the
//!                         on revoke and on stop)                      next poll, never skipped
//! ```
//!
//! The container owns the commits (`enable.auto.commit` is forced off on the
//! consumers it creates): it commits the offset after each processed record
//! ([`AckMode::Record`], the default), after each poll's batch
//! ([`AckMode::Batch`]), or only what the listener acknowledged
//! ([`AckMode::Manual`]). Processed but not yet committed offsets are
//! committed before a rebalance takes their partitions away (through the
//! rebalance listener's `offsets_to_commit_on_revoke`), and on
//! [`ListenerContainer::stop`], which lets the records in flight finish.
//!
//! A failing record goes to the [`DefaultErrorHandler`]: retried in place
//! with a [`BackOff`] (Spring's default: 10 attempts, no delay; or
//! [`FixedBackOff`], or [`ExponentialBackOff::bounded`]), then handed to a
//! [`Recoverer`] ([`LoggingRecoverer`] by default, or
//! [`DeadLetterRecoverer`], which publishes it to `<topic>-dlt`). Records
//! that cannot be deserialized are not retried. If the recoverer fails, the
//! partition is sought back to the record so it is tried again later: a
//! record is never skipped silently.
//!
//! Modules: [`handler`] (the listener trait and its closure adapters),
//! [`error_handler`] (retries, back-off, recoverers), [`dead_letter`] (the
//! dead-letter recoverer), [`container`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokafka_consumer::ConsumerConfig;
//! use ferrokafka_listener::{ListenerContainer, ListenerError, listener_fn};
//!
//! let config = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "orders-service"),
//! ])?;
//! let container = ListenerContainer::builder(config)
//!     .topics(["orders"])
//!     .concurrency(2)
//!     .start(listener_fn(|record| async move {
//!         println!("{}@{}: {:?}", record.topic, record.offset, record.value);
//!         Ok::<(), ListenerError>(())
//!     }))
//!     .await?;
//! // ...
//! container.stop(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

pub mod container;
pub mod dead_letter;
pub mod error_handler;
pub mod handler;

pub use container::{ListenerContainer, ListenerContainerBuilder};
pub use dead_letter::{DeadLetterRecoverer, headers as dlt_headers};
pub use error_handler::{
    BackOff, DefaultErrorHandler, ExponentialBackOff, FixedBackOff, LoggingRecoverer, Recoverer,
};
pub use handler::{
    AckFnListener, Acknowledgment, BoxFuture, FnListener, MessageListener, NonNull, TypedListener,
    json_listener, listener_fn, listener_fn_with_ack, typed_listener,
};

/// What a listener (or recoverer) returns on failure: any error, so that
/// handlers can use `?`.
pub type ListenerError = Box<dyn std::error::Error + Send + Sync>;

/// When the container commits the offsets of processed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AckMode {
    /// After each record is processed (or recovered): Spring's `RECORD`.
    #[default]
    Record,
    /// After all the records of one poll are processed: Spring's `BATCH`.
    Batch,
    /// Only records the listener acknowledged through its
    /// [`Acknowledgment`] (or that were recovered after failing), committed
    /// after each poll's batch: Spring's `MANUAL`. A partition is committed
    /// up to its first unacknowledged record; that record and everything
    /// after it are delivered again to the partition's next owner.
    Manual,
}
