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

mod accumulator;
mod clock;
pub mod config;
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
