//! [`DeadLetterRecoverer`]: publishes records that failed for good to a
//! dead-letter topic (`<topic>-dlt` by default), as Spring Kafka's
//! `DeadLetterPublishingRecoverer` does, with the original key, value and
//! headers plus [`headers`] describing the failure.
//!
//! Partition choice: the original partition when the dead-letter topic has
//! that many partitions (so per-partition order carries over), otherwise the
//! producer's partitioner (the original key is kept, so keyed records hash
//! as usual). The recoverer waits for the delivery, so the container
//! commits the original only once its dead letter is stored; a failed
//! delivery fails the recovery and the record is tried again later.

use ferrokafka_consumer::{ConsumerRecord, TimestampType};
use ferrokafka_producer::{Producer, ProducerRecord, RecordHeader};

use crate::ListenerError;
use crate::error_handler::Recoverer;
use crate::handler::BoxFuture;

/// The failure headers added to a dead letter (Spring's names).
pub mod headers {
    /// The topic the record was read from.
    pub const ORIGINAL_TOPIC: &str = "kafka_dlt-original-topic";
    /// Its partition, as decimal text.
    pub const ORIGINAL_PARTITION: &str = "kafka_dlt-original-partition";
    /// Its offset, as decimal text.
    pub const ORIGINAL_OFFSET: &str = "kafka_dlt-original-offset";
    /// Its timestamp (ms since the epoch), as decimal text.
    pub const ORIGINAL_TIMESTAMP: &str = "kafka_dlt-original-timestamp";
    /// Its timestamp type: `CreateTime` or `LogAppendTime`.
    pub const ORIGINAL_TIMESTAMP_TYPE: &str = "kafka_dlt-original-timestamp-type";
    /// The error's message (its `Display`).
    pub const EXCEPTION_MESSAGE: &str = "kafka_dlt-exception-message";
}

type DestinationFn = dyn Fn(&ConsumerRecord, &ListenerError) -> String + Send + Sync;

/// Where a dead letter goes.
enum Destination {
    /// The original topic plus a suffix.
    Suffix(String),
    /// Computed from the record and its error.
    Custom(Box<DestinationFn>),
}

/// Publishes failed records to a dead-letter topic; see the module docs.
pub struct DeadLetterRecoverer {
    producer: Producer,
    destination: Destination,
}

impl std::fmt::Debug for DeadLetterRecoverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let destination = match &self.destination {
            Destination::Suffix(suffix) => format!("<topic>{suffix}"),
            Destination::Custom(_) => "custom".to_owned(),
        };
        f.debug_struct("DeadLetterRecoverer")
            .field("destination", &destination)
            .finish_non_exhaustive()
    }
}

impl DeadLetterRecoverer {
    /// Publishes with `producer` to `<topic>-dlt`.
    pub fn new(producer: Producer) -> Self {
        DeadLetterRecoverer {
            producer,
            destination: Destination::Suffix("-dlt".to_owned()),
        }
    }

    /// Publishes to `<topic><suffix>` instead (Spring's default is `-dlt`).
    #[must_use]
    pub fn topic_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.destination = Destination::Suffix(suffix.into());
        self
    }

    /// Publishes to the topic `destination` names for each failed record.
    #[must_use]
    pub fn destination(
        mut self,
        destination: impl Fn(&ConsumerRecord, &ListenerError) -> String + Send + Sync + 'static,
    ) -> Self {
        self.destination = Destination::Custom(Box::new(destination));
        self
    }

    /// The dead letter of `record`, without its partition.
    fn dead_letter(&self, record: &ConsumerRecord, error: &ListenerError) -> ProducerRecord {
        let topic = match &self.destination {
            Destination::Suffix(suffix) => format!("{}{suffix}", record.topic),
            Destination::Custom(f) => f(record, error),
        };
        let timestamp_type = match record.timestamp_type {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        };
        let mut out = ProducerRecord::new(topic);
        out.key = record.key.clone();
        out.value = record.value.clone();
        out.headers = record.headers.clone();
        let text = |s: String| Some(bytes::Bytes::from(s));
        out.headers.extend([
            RecordHeader::new(headers::ORIGINAL_TOPIC, text(record.topic.clone())),
            RecordHeader::new(
                headers::ORIGINAL_PARTITION,
                text(record.partition.to_string()),
            ),
            RecordHeader::new(headers::ORIGINAL_OFFSET, text(record.offset.to_string())),
            RecordHeader::new(
                headers::ORIGINAL_TIMESTAMP,
                text(record.timestamp.to_string()),
            ),
            RecordHeader::new(
                headers::ORIGINAL_TIMESTAMP_TYPE,
                text(timestamp_type.to_owned()),
            ),
            RecordHeader::new(headers::EXCEPTION_MESSAGE, text(error.to_string())),
        ]);
        out
    }

    async fn publish(
        &self,
        record: &ConsumerRecord,
        error: &ListenerError,
    ) -> Result<(), ListenerError> {
        let mut dead_letter = self.dead_letter(record, error);
        let partitions = match self
            .producer
            .client()
            .metadata_for(&[dead_letter.topic.as_str()])
            .await
        {
            Ok(metadata) => metadata.partition_count(&dead_letter.topic),
            Err(e) => {
                tracing::debug!(error = %e, topic = %dead_letter.topic, "no metadata for the dead-letter topic; the partitioner chooses");
                None
            }
        };
        if partitions.is_some_and(|n| usize::try_from(record.partition).is_ok_and(|p| p < n)) {
            dead_letter.partition = Some(record.partition);
        }
        let topic = dead_letter.topic.clone();
        let metadata = self.producer.send(dead_letter).await?.await?;
        tracing::info!(
            from = %record.topic_partition(),
            offset = record.offset,
            to = %topic,
            dlt_partition = metadata.partition,
            dlt_offset = metadata.offset,
            %error,
            "record published to the dead-letter topic"
        );
        Ok(())
    }
}

impl Recoverer for DeadLetterRecoverer {
    fn recover<'a>(
        &'a self,
        record: &'a ConsumerRecord,
        error: &'a ListenerError,
    ) -> BoxFuture<'a, Result<(), ListenerError>> {
        Box::pin(self.publish(record, error))
    }
}
