//! What an application hands to [`Producer::send`](crate::Producer::send)
//! ([`ProducerRecord`]) and what it gets back once the record is delivered
//! ([`RecordMetadata`], through a [`DeliveryFuture`] or a callback).
//!
//! Delivery is reported per batch: the futures of one batch's records share
//! one result slot (`BatchDelivery`), filled under one lock and woken once
//! when the batch completes, instead of a channel allocated per record. The
//! topic in each record's metadata is a shared [`TopicName`], so reporting
//! a record copies no string.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
pub use ferrokafka_protocol::records::RecordHeader;

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

/// A topic name shared by every record of a batch: cloning it is a
/// reference-count bump, not a string copy. It derefs to `str` and compares
/// with `str`, `&str` and `String`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// The name as a `str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Arc<str>> for TopicName {
    fn from(name: Arc<str>) -> Self {
        TopicName(name)
    }
}

impl From<&str> for TopicName {
    fn from(name: &str) -> Self {
        TopicName(Arc::from(name))
    }
}

impl From<String> for TopicName {
    fn from(name: String) -> Self {
        TopicName(Arc::from(name))
    }
}

impl From<TopicName> for String {
    fn from(name: TopicName) -> Self {
        name.0.to_string()
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for TopicName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<TopicName> for str {
    fn eq(&self, other: &TopicName) -> bool {
        self == &*other.0
    }
}

impl PartialEq<TopicName> for &str {
    fn eq(&self, other: &TopicName) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<TopicName> for String {
    fn eq(&self, other: &TopicName) -> bool {
        **self == *other.0
    }
}

/// Where a delivered record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic (shared with the other records of its batch).
    pub topic: TopicName,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0` (no answer), or when the broker
    /// reported a duplicate without its original offset.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's
    /// LogAppendTime when the topic uses that.
    pub timestamp: i64,
}

/// The delivery results of one batch's records that were sent with a
/// [`DeliveryFuture`], shared by those futures: one allocation and (mostly)
/// one lock and one round of wake-ups per batch instead of a channel per
/// record. Each record's result sits at its index in the batch.
#[derive(Debug, Default)]
pub(crate) struct BatchDelivery {
    state: Mutex<DeliveryState>,
}

/// What a [`BatchDelivery`] holds.
#[derive(Debug, Default)]
pub(crate) struct DeliveryState {
    /// By record index; `None` until reported (and again once taken).
    results: Vec<Option<Result<RecordMetadata>>>,
    /// Futures waiting, with the index each waits for.
    wakers: Vec<(usize, Waker)>,
}

impl DeliveryState {
    /// Stores one record's result (its waker is woken by the caller).
    pub(crate) fn set(&mut self, index: usize, result: Result<RecordMetadata>) {
        if self.results.len() <= index {
            self.results.resize_with(index.saturating_add(1), || None);
        }
        if let Some(slot) = self.results.get_mut(index) {
            *slot = Some(result);
        }
    }

    /// Takes the wakers of futures whose result is in.
    pub(crate) fn take_ready_wakers(&mut self) -> Vec<Waker> {
        if self.wakers.is_empty() {
            return Vec::new();
        }
        let results = &self.results;
        let mut ready = Vec::new();
        self.wakers.retain(|(index, waker)| {
            let done = results.get(*index).is_some_and(Option::is_some);
            if done {
                ready.push(waker.clone());
            }
            !done
        });
        ready
    }
}

impl BatchDelivery {
    /// An empty slot for about `records` records.
    pub(crate) fn with_capacity(records: usize) -> Arc<Self> {
        Arc::new(BatchDelivery {
            state: Mutex::new(DeliveryState {
                results: Vec::with_capacity(records),
                wakers: Vec::new(),
            }),
        })
    }

    /// Locks the results (a poisoned lock is still usable: every write is
    /// a single assignment).
    pub(crate) fn lock(&self) -> MutexGuard<'_, DeliveryState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores one record's result and wakes its future.
    fn report(&self, index: usize, result: Result<RecordMetadata>) {
        let wakers = {
            let mut state = self.lock();
            state.set(index, result);
            state.take_ready_wakers()
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The result of one record's delivery, as a future.
///
/// Dropping it does not cancel the delivery; the record is sent anyway.
/// The futures of one batch share its results, which stay allocated until
/// the last of them is dropped.
#[derive(Debug)]
#[must_use = "the future reports whether the record was delivered"]
pub struct DeliveryFuture {
    delivery: Arc<BatchDelivery>,
    index: usize,
}

impl DeliveryFuture {
    pub(crate) fn new(delivery: Arc<BatchDelivery>, index: usize) -> Self {
        DeliveryFuture { delivery, index }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        let mut state = self.delivery.lock();
        if let Some(result) = state.results.get_mut(index).and_then(Option::take) {
            return Poll::Ready(result);
        }
        // Its completion always reports (a dropped one reports Closed), so
        // a registered waker is always woken.
        match state.wakers.iter_mut().find(|(i, _)| *i == index) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => state.wakers.push((index, cx.waker().clone())),
        }
        Poll::Pending
    }
}

/// A callback run once with a record's delivery result.
///
/// It runs on the producer's sender task, like the Java client's callbacks
/// run on its I/O thread: keep it short and never block in it.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata>) + Send + 'static>;

/// How `send` wants a record's outcome: a future or a callback.
pub(crate) enum Reply {
    /// Through a [`DeliveryFuture`], made when the record joins a batch.
    Future,
    /// Through a callback (its [`Completion`], which reports `Closed` if
    /// the record never makes it into a batch).
    Callback(Completion),
}

/// How one record's outcome reaches the application. Reported exactly
/// once: if it is dropped unreported (the producer dropped with records
/// pending), the callback or future still hears about it, with
/// [`Error::Closed`].
pub(crate) struct Completion(Option<CompletionKind>);

enum CompletionKind {
    /// Through a [`DeliveryFuture`]: its batch's slot and its index there.
    Future(Arc<BatchDelivery>, usize),
    /// Through a [`Callback`].
    Callback(Callback),
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Some(CompletionKind::Future(..)) => "Completion::Future",
            Some(CompletionKind::Callback(_)) => "Completion::Callback",
            None => "Completion::Done",
        })
    }
}

impl Completion {
    /// Reports to the [`DeliveryFuture`] at `index` of `delivery`.
    pub(crate) fn future(delivery: Arc<BatchDelivery>, index: usize) -> Self {
        Completion(Some(CompletionKind::Future(delivery, index)))
    }

    /// Reports to a callback.
    pub(crate) fn callback(callback: Callback) -> Self {
        Completion(Some(CompletionKind::Callback(callback)))
    }

    /// Whether it still has to report.
    pub(crate) fn is_pending(&self) -> bool {
        self.0.is_some()
    }

    /// The batch slot it reports to, if it reports to a future.
    pub(crate) fn delivery(&self) -> Option<&Arc<BatchDelivery>> {
        match &self.0 {
            Some(CompletionKind::Future(delivery, _)) => Some(delivery),
            _ => None,
        }
    }

    /// If it reports to a future through `delivery`, marks it reported and
    /// returns the index to store the result at (under the caller's lock).
    pub(crate) fn take_index_in(&mut self, delivery: &Arc<BatchDelivery>) -> Option<usize> {
        match &self.0 {
            Some(CompletionKind::Future(d, index)) if Arc::ptr_eq(d, delivery) => {
                let index = *index;
                self.0 = None;
                Some(index)
            }
            _ => None,
        }
    }

    /// Reports the outcome; a dropped future is not an error.
    pub(crate) fn complete(mut self, result: Result<RecordMetadata>) {
        self.report(result);
    }

    fn report(&mut self, result: Result<RecordMetadata>) {
        match self.0.take() {
            Some(CompletionKind::Future(delivery, index)) => delivery.report(index, result),
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
        let delivery = BatchDelivery::with_capacity(1);
        drop(Completion::future(delivery.clone(), 0));
        let err = DeliveryFuture::new(delivery, 0).await.unwrap_err();
        assert!(matches!(err, Error::Closed(_)), "{err}");
    }

    #[tokio::test]
    async fn futures_of_one_batch_get_their_own_results() {
        let delivery = BatchDelivery::with_capacity(2);
        let first = DeliveryFuture::new(delivery.clone(), 0);
        let second = DeliveryFuture::new(delivery.clone(), 1);
        let waiting = tokio::spawn(second);
        tokio::task::yield_now().await;
        let metadata = |offset| RecordMetadata {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: 0,
        };
        Completion::future(delivery.clone(), 1).complete(Ok(metadata(8)));
        Completion::future(delivery, 0).complete(Ok(metadata(7)));
        assert_eq!(waiting.await.unwrap().unwrap().offset, 8);
        assert_eq!(first.await.unwrap().offset, 7);
        assert_eq!(metadata(1).topic, "t");
    }
}
