//! [`ProducerInterceptor`]: hooks that see every record before it is sent
//! and every record's outcome (the Java client's `ProducerInterceptor`,
//! configured there with `interceptor.classes`; here with
//! [`ProducerBuilder::interceptor`](crate::ProducerBuilder::interceptor)).
//!
//! As in Java, interceptors run in the order they were added, a failing
//! (panicking) interceptor is logged and skipped rather than failing the
//! send, and acknowledgements run on the producer's sender thread, so they
//! must be quick. A producer without interceptors pays nothing for them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::error::Result;
use crate::record::{ProducerRecord, RecordMetadata};

/// Sees (and may change) each record as `send` accepts it, and learns each
/// record's outcome.
pub trait ProducerInterceptor: Send + Sync {
    /// Called by `send` before the record's partition is chosen; what it
    /// returns is sent instead (Java's `onSend`). The default passes the
    /// record on unchanged.
    fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
        record
    }

    /// Called once per record with where it was stored or why it failed
    /// (Java's `onAcknowledgement`), including records `send` refused:
    /// their partition is -1 when none was chosen yet. Runs on the sender
    /// thread for records that reached a batch: keep it short.
    fn on_acknowledgement(&self, topic: &str, partition: i32, result: &Result<RecordMetadata>) {
        let _ = (topic, partition, result);
    }
}

/// The interceptors of one producer, in order.
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<[Arc<dyn ProducerInterceptor>]>);

impl std::fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interceptors({})", self.0.len())
    }
}

impl Interceptors {
    /// The interceptors of a producer, in the order they run.
    pub(crate) fn new(list: Vec<Arc<dyn ProducerInterceptor>>) -> Self {
        Interceptors(list.into())
    }

    /// Whether there are none (then nothing is called, nothing is kept).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs `on_send` of each in turn; one that panics is skipped, and the
    /// next gets the record the previous one returned.
    pub(crate) fn on_send(&self, mut record: ProducerRecord) -> ProducerRecord {
        for interceptor in self.0.iter() {
            let kept = record.clone();
            record = match catch_unwind(AssertUnwindSafe(|| interceptor.on_send(record))) {
                Ok(changed) => changed,
                Err(_) => {
                    tracing::warn!("a producer interceptor panicked in on_send; skipped");
                    kept
                }
            };
        }
        record
    }

    /// Runs `on_acknowledgement` of each; panics are logged and ignored.
    pub(crate) fn on_acknowledgement(
        &self,
        topic: &str,
        partition: i32,
        result: &Result<RecordMetadata>,
    ) {
        for interceptor in self.0.iter() {
            let call =
                AssertUnwindSafe(|| interceptor.on_acknowledgement(topic, partition, result));
            if catch_unwind(call).is_err() {
                tracing::warn!("a producer interceptor panicked in on_acknowledgement; ignored");
            }
        }
    }
}
