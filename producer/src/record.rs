//! What an application hands to [`Producer::send`](crate::Producer::send)
//! ([`ProducerRecord`]) and what it gets back once the record is delivered
//! ([`RecordMetadata`], through a [`DeliveryFuture`] or a callback).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
pub use ferrokafka_protocol::records::RecordHeader;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// A record to send: serialized key and value, plus where and when.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    /// The topic.
    pub topic: String,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; keyed records go to `murmur2(key) % partitions`.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<RecordHeader>,
    /// The timestamp in milliseconds since the epoch; `None` is "now".
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers yet.
    pub fn new(topic: impl Into<String>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            ..Default::default()
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    #[must_use]
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets an explicit partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        self.headers.push(RecordHeader::new(key, value));
        self
    }
}

/// Where a delivered record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0` (no answer), or when the broker
    /// reported a duplicate without its original offset.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's
    /// LogAppendTime when the topic uses that.
    pub timestamp: i64,
}

/// The result of one record's delivery, as a future.
///
/// Dropping it does not cancel the delivery; the record is sent anyway.
#[derive(Debug)]
#[must_use = "the future reports whether the record was delivered"]
pub struct DeliveryFuture {
    receiver: oneshot::Receiver<Result<RecordMetadata>>,
}

impl DeliveryFuture {
    pub(crate) fn new(receiver: oneshot::Receiver<Result<RecordMetadata>>) -> Self {
        DeliveryFuture { receiver }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(|r| match r {
            Ok(result) => result,
            // The sender side only disappears without answering when the
            // producer was dropped with the record still pending.
            Err(_) => Err(Error::Closed(Some(
                "dropped before the record was delivered".into(),
            ))),
        })
    }
}

/// A callback run once with a record's delivery result.
///
/// It runs on the producer's sender task, like the Java client's callbacks
/// run on its I/O thread: keep it short and never block in it.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata>) + Send + 'static>;

/// How one record's outcome reaches the application. Reported exactly
/// once: if it is dropped unreported (the producer dropped with records
/// pending), the callback still hears about it, with [`Error::Closed`].
pub(crate) struct Completion(Option<CompletionKind>);

enum CompletionKind {
    /// Through a [`DeliveryFuture`].
    Future(oneshot::Sender<Result<RecordMetadata>>),
    /// Through a [`Callback`].
    Callback(Callback),
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Some(CompletionKind::Future(_)) => "Completion::Future",
            Some(CompletionKind::Callback(_)) => "Completion::Callback",
            None => "Completion::Done",
        })
    }
}

impl Completion {
    /// Reports to a [`DeliveryFuture`].
    pub(crate) fn future(sender: oneshot::Sender<Result<RecordMetadata>>) -> Self {
        Completion(Some(CompletionKind::Future(sender)))
    }

    /// Reports to a callback.
    pub(crate) fn callback(callback: Callback) -> Self {
        Completion(Some(CompletionKind::Callback(callback)))
    }

    /// Reports the outcome; a dropped future is not an error.
    pub(crate) fn complete(mut self, result: Result<RecordMetadata>) {
        self.report(result);
    }

    fn report(&mut self, result: Result<RecordMetadata>) {
        match self.0.take() {
            Some(CompletionKind::Future(tx)) => {
                let _ = tx.send(result);
            }
            Some(CompletionKind::Callback(callback)) => callback(result),
            None => {}
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.0.is_some() {
            self.report(Err(Error::Closed(Some(
                "dropped before the record was delivered".into(),
            ))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_completion_dropped_unreported_still_reports_closed_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let completion = Completion::callback(Box::new(move |result| {
            assert!(matches!(result, Err(Error::Closed(_))));
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        drop(completion);
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let seen = calls.clone();
        let completion = Completion::callback(Box::new(move |result| {
            assert!(result.is_ok());
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        completion.complete(Ok(RecordMetadata {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            timestamp: 2,
        }));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_dropped_completion_resolves_its_future_with_closed() {
        let (tx, rx) = oneshot::channel();
        drop(Completion::future(tx));
        let err = DeliveryFuture::new(rx).await.unwrap_err();
        assert!(matches!(err, Error::Closed(_)), "{err}");
    }
}
