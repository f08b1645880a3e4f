//! The ferrokafka batching producer.
//!
//! [`Producer::send`] serializes nothing itself (see [`TypedProducer`] for
//! that), picks the partition ([`partitioner`]: Java's murmur2 for keys,
//! uniform sticky otherwise), and appends the record to its partition's open
//! batch, laid out in the wire format already (the `RecordAccumulator`).
//! The background `Sender` (on a thread of its own, in the caller's tokio
//! runtime context, like the Java client's network thread) seals ready
//! batches (full, older than `linger.ms`, or flushed) and packs those of
//! every partition a broker leads into one Produce request, handed to that
//! broker's sink task, up to `max.in.flight.requests.per.connection` in
//! flight per broker. While requests are in flight, a batch that fills
//! waits for the next response (at most `linger.ms`), so that under load
//! requests carry the ready batches of many partitions. With
//! idempotence (on by default) batches carry the producer id, epoch and
//! per-partition sequence numbers (the `idempotence` module), and retries
//! keep their order. Each record's outcome reaches the caller through a
//! [`DeliveryFuture`] or a callback; `buffer.memory` bounds what waits and
//! `delivery.timeout.ms` how long. [`Producer::builder`] adds what
//! properties cannot say: a custom [`Partitioner`], [`ProducerInterceptor`]s
//! (Java's `interceptor.classes`), a shared cluster client.
//!
//! # Data flow
//!
//! ```text
//! Producer::send                  on the caller's task
//!   │ partitioner: murmur2 (keyed), sticky (unkeyed)
//!   ▼
//! RecordAccumulator               appended to the partition's open batch,
//!   │                             in the wire format
//!   │ drain: ready batches, at most one per partition, grouped by leader
//!   ▼
//! Sender                          on the producer's sender thread
//!   │ one Produce request per broker
//!   ▼
//! sink task (one per broker) ───> broker
//!   │ ProduceResponse, or the error
//!   ▼
//! Sender                          each batch: delivered, retried, split
//!   │                             or failed
//!   ▼
//! DeliveryFuture (one slot per batch), or Callback (run on the sender thread)
//! ```
//!
//! Who owns what: the [`Producer`] handle (clones share it) owns the
//! accumulator, the cluster client (unless given one) and the sender's
//! thread, which runs the `Sender` loop in the caller's tokio runtime and
//! stops on close or drop; the `Sender` owns the sink tasks, one per broker
//! (each with a task per request awaiting its response), and is the only
//! one to decide a batch's fate. `send` waits at most for a topic's
//! metadata or for room in `buffer.memory`, never for a response.

mod accumulator;
mod clock;
pub mod config;
mod delivery;
pub mod error;
mod fxhash;
mod idempotence;
pub mod interceptor;
pub mod metrics;
pub mod partitioner;
mod producer;
pub mod record;
mod sender;
pub mod serializer;
pub mod transaction;

pub use config::{Acks, ProducerConfig, ProducerConfigBuilder};
pub use error::{Error, Result};
pub use ferrokafka_protocol::compression::Compression;
pub use interceptor::ProducerInterceptor;
pub use metrics::ProducerMetrics;
pub use partitioner::{DefaultPartitioner, Partitioner, murmur2, partition_for_key};
pub use producer::{Producer, ProducerBuilder};
pub use record::{
    Callback, DeliveryFuture, ProducerRecord, RecordHeader, RecordMetadata, TopicName,
};
pub use serializer::{
    BytesSerializer, JsonSerializer, Serializer, StringSerializer, TypedProducer,
};
pub use transaction::ConsumerGroupMetadata;
