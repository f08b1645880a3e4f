//! How a record's outcome gets back to the application: a
//! [`DeliveryFuture`] or a [`Callback`], as `send` asked ([`Reply`]).
//!
//! Delivery is reported per batch: the futures of one batch's records share
//! one slot ([`BatchDelivery`]) that the sender writes once with the batch's
//! outcome (base offset, LogAppendTime, or the error), instead of a channel
//! or a result per record; each future computes its own record's metadata
//! from that, its index and its timestamp. The pieces of a split batch
//! report their ranges of records one by one ([`DeliveryPart`]). A callback
//! is called exactly once ([`Completion`]), on the sender's thread. Both
//! report [`Error::Closed`] if the producer drops the record undelivered, so
//! nothing waits forever.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::record::{RecordMetadata, TopicName};

/// How a batch, or one piece of a split batch, ended: its base offset and
/// LogAppendTime (each -1 when unknown), or the error every record of it
/// failed with.
pub(crate) type BatchOutcome = Result<(i64, i64)>;

/// The result of the record at `position` in a batch (or piece) that ended
/// with `outcome`: its offset follows from the base offset, its timestamp
/// is the broker's LogAppendTime when the topic uses that, else its own.
pub(crate) fn record_result(
    topic: &TopicName,
    partition: i32,
    outcome: &BatchOutcome,
    position: usize,
    timestamp: i64,
) -> Result<RecordMetadata> {
    landing(outcome, position, timestamp).map(|(offset, timestamp)| RecordMetadata {
        topic: topic.clone(),
        partition,
        offset,
        timestamp,
    })
}

/// The offset and timestamp of the record at `position` of a batch (or
/// piece) that ended with `outcome`, or the error it failed with.
fn landing(outcome: &BatchOutcome, position: usize, timestamp: i64) -> Result<(i64, i64)> {
    match outcome {
        Ok((base_offset, log_append_time)) => Ok((
            if *base_offset >= 0 {
                base_offset.saturating_add(i64::try_from(position).unwrap_or(i64::MAX))
            } else {
                -1
            },
            if *log_append_time >= 0 {
                *log_append_time
            } else {
                timestamp
            },
        )),
        Err(error) => Err(error.clone()),
    }
}

/// Where the [`DeliveryFuture`]s of one batch's records learn its outcome:
/// one allocation per batch, written once when the batch completes, so
/// reporting costs nothing per record on the sender's side. A future
/// computes its own record's metadata from the batch's outcome, its index
/// and the timestamp it carries.
///
/// A batch that completes whole sets `whole`, which a future reads with one
/// atomic load; the pieces of a split batch complete one by one, each for
/// its range of record indexes, under the lock.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct BatchDelivery {
    /// The batch's topic, shared with every record's metadata.
    topic: TopicName,
    /// The batch's partition.
    partition: i32,
    /// The outcome of every record, once the batch completed unsplit.
    whole: OnceLock<BatchOutcome>,
    /// Outcomes of pieces, and the futures waiting.
    state: Mutex<DeliveryState>,
    /// 128 bytes after the fields (`repr(C)` keeps them last), so that the
    /// next allocation in the heap, often the next batch's slot, whose
    /// reference count the caller bumps for every record, does not share a
    /// cache line (or the pair the CPU fetches together) with this one's
    /// lock and outcome, which the sender writes as this batch completes.
    /// Measured: fewer of the benchmark's slow runs, a small gain in the
    /// median.
    _gap: Gap,
}

/// Unused bytes that keep a [`BatchDelivery`]'s neighbour at a distance.
struct Gap([u64; 16]);

impl std::fmt::Debug for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gap({} bytes)", size_of_val(&self.0))
    }
}

/// What a [`BatchDelivery`] keeps under its lock.
#[derive(Debug, Default)]
struct DeliveryState {
    /// The outcome of each completed piece of a split batch, with the
    /// record indexes it covers.
    pieces: Vec<(Range<usize>, BatchOutcome)>,
    /// Futures waiting, with the index each waits for.
    wakers: Vec<(usize, Waker)>,
}

impl BatchDelivery {
    /// An empty slot for a batch of `topic`-`partition`.
    pub(crate) fn new(topic: TopicName, partition: i32) -> Arc<Self> {
        Arc::new(BatchDelivery {
            topic,
            partition,
            whole: OnceLock::new(),
            state: Mutex::new(DeliveryState::default()),
            _gap: Gap([0; 16]),
        })
    }

    /// The batch's topic.
    pub(crate) fn topic(&self) -> &TopicName {
        &self.topic
    }

    /// Locks the state (a poisoned lock is still usable: every write is a
    /// single push or drain).
    fn lock(&self) -> MutexGuard<'_, DeliveryState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The outcome of the record at `index` and its position in its batch
    /// (or piece), if that is complete.
    fn outcome_of<'a>(
        &'a self,
        state: Option<&'a DeliveryState>,
        index: usize,
    ) -> Option<(&'a BatchOutcome, usize)> {
        match (self.whole.get(), state) {
            (Some(outcome), _) => Some((outcome, index)),
            (None, Some(state)) => state.pieces.iter().find_map(|(range, outcome)| {
                range
                    .contains(&index)
                    .then(|| (outcome, index.saturating_sub(range.start)))
            }),
            (None, None) => None,
        }
    }

    /// Stores the outcome of `range` (`None`: the whole batch) and wakes
    /// the futures it completes.
    fn report(&self, range: Option<Range<usize>>, outcome: BatchOutcome) {
        let wakers: Vec<Waker> = match range {
            None => {
                // Set before the lock is taken: a future that finds it
                // unset under the lock has registered a waker, taken here.
                let _ = self.whole.set(outcome);
                let waiting = std::mem::take(&mut self.lock().wakers);
                waiting.into_iter().map(|(_, waker)| waker).collect()
            }
            Some(range) => {
                let mut state = self.lock();
                let mut ready = Vec::new();
                state.wakers.retain(|(index, waker)| {
                    let done = range.contains(index);
                    if done {
                        ready.push(waker.clone());
                    }
                    !done
                });
                state.pieces.push((range, outcome));
                ready
            }
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// A batch's share of a [`BatchDelivery`]: the whole of it, or the record
/// indexes of one piece after a split. Reported exactly once: dropped
/// unreported (the producer dropped with records pending), it reports
/// [`Error::Closed`], so no future waits forever.
#[derive(Debug)]
pub(crate) struct DeliveryPart {
    delivery: Option<Arc<BatchDelivery>>,
    /// `None` for a batch never split.
    range: Option<Range<usize>>,
}

impl DeliveryPart {
    /// A new batch's slot, for every record it will hold.
    pub(crate) fn whole(delivery: Arc<BatchDelivery>) -> Self {
        DeliveryPart {
            delivery: Some(delivery),
            range: None,
        }
    }

    /// The future of the record at `index` of this (unsplit) batch.
    pub(crate) fn future(&self, index: usize, timestamp: i64) -> Option<DeliveryFuture> {
        self.delivery.as_ref().map(|delivery| DeliveryFuture {
            delivery: Some(delivery.clone()),
            index,
            timestamp,
        })
    }

    /// Splits the part of a batch holding `records` records into the
    /// parts of its pieces, holding `counts` records each, in order.
    pub(crate) fn split(mut self, records: usize, counts: &[usize]) -> Vec<DeliveryPart> {
        let Some(delivery) = self.delivery.take() else {
            return Vec::new();
        };
        let mut start = self.range.as_ref().map_or(0, |r| r.start);
        let end = self.range.as_ref().map_or(records, |r| r.end);
        counts
            .iter()
            .map(|count| {
                let piece_end = start.saturating_add(*count).min(end);
                let part = DeliveryPart {
                    delivery: Some(delivery.clone()),
                    range: Some(start..piece_end),
                };
                start = piece_end;
                part
            })
            .collect()
    }

    /// Reports the outcome of every record of the part.
    pub(crate) fn complete(mut self, outcome: BatchOutcome) {
        if let Some(delivery) = self.delivery.take() {
            delivery.report(self.range.take(), outcome);
        }
    }
}

impl Drop for DeliveryPart {
    fn drop(&mut self) {
        if let Some(delivery) = self.delivery.take() {
            delivery.report(
                self.range.take(),
                Err(Error::Closed(Some(
                    "dropped before the record was delivered".into(),
                ))),
            );
        }
    }
}

/// The result of one record's delivery, as a future.
///
/// Dropping it does not cancel the delivery; the record is sent anyway.
/// The futures of one batch share its [`BatchDelivery`], which stays
/// allocated until the last of them is dropped.
#[derive(Debug)]
#[must_use = "the future reports whether the record was delivered"]
pub struct DeliveryFuture {
    /// The batch's slot; handed on to the record's metadata (as its topic
    /// name) when the future completes.
    delivery: Option<Arc<BatchDelivery>>,
    /// The record's index in its batch.
    index: usize,
    /// The record's CreateTime, for its metadata.
    timestamp: i64,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (index, timestamp) = (self.index, self.timestamp);
        let Some(delivery) = self.delivery.take() else {
            // Polled again after it completed.
            return Poll::Ready(Err(Error::Closed(None)));
        };
        // The common case: the batch completed whole; one atomic load.
        let landed = match delivery.outcome_of(None, index) {
            Some((outcome, position)) => landing(outcome, position, timestamp),
            None => {
                let mut state = delivery.lock();
                match delivery.outcome_of(Some(&state), index) {
                    Some((outcome, position)) => landing(outcome, position, timestamp),
                    None => {
                        // Its part always reports (a dropped one reports
                        // Closed), so a registered waker is always woken.
                        match state.wakers.iter_mut().find(|(i, _)| *i == index) {
                            Some((_, waker)) => waker.clone_from(cx.waker()),
                            None => state.wakers.push((index, cx.waker().clone())),
                        }
                        drop(state);
                        self.delivery = Some(delivery);
                        return Poll::Pending;
                    }
                }
            }
        };
        Poll::Ready(landed.map(|(offset, timestamp)| RecordMetadata {
            partition: delivery.partition,
            topic: TopicName::of_delivery(delivery),
            offset,
            timestamp,
        }))
    }
}

/// A callback run once with a record's delivery result.
///
/// It runs on the producer's sender thread, like the Java client's callbacks
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

/// A record's callback, called exactly once: if it is dropped uncalled
/// (the producer dropped with records pending), the callback still hears
/// about it, with [`Error::Closed`].
pub(crate) struct Completion(Option<Callback>);

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "Completion::Pending",
            None => "Completion::Done",
        })
    }
}

impl Completion {
    /// Reports to a callback.
    pub(crate) fn callback(callback: Callback) -> Self {
        Completion(Some(callback))
    }

    /// Reports the outcome.
    pub(crate) fn complete(mut self, result: Result<RecordMetadata>) {
        if let Some(callback) = self.0.take() {
            callback(result);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            callback(Err(Error::Closed(Some(
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
    async fn a_dropped_part_resolves_its_futures_with_closed() {
        let part = DeliveryPart::whole(BatchDelivery::new("t".into(), 0));
        let future = part.future(0, 5).unwrap();
        drop(part);
        let err = future.await.unwrap_err();
        assert!(matches!(err, Error::Closed(_)), "{err}");
    }

    #[tokio::test]
    async fn futures_of_one_batch_compute_their_own_metadata() {
        let part = DeliveryPart::whole(BatchDelivery::new("t".into(), 3));
        let first = part.future(0, 100).unwrap();
        let second = part.future(1, 200).unwrap();
        let waiting = tokio::spawn(second);
        tokio::task::yield_now().await;
        part.complete(Ok((40, -1)));
        let second = waiting.await.unwrap().unwrap();
        assert_eq!(
            (second.partition, second.offset, second.timestamp),
            (3, 41, 200)
        );
        assert_eq!(second.topic, "t");
        let first = first.await.unwrap();
        assert_eq!((first.offset, first.timestamp), (40, 100));
    }

    #[tokio::test]
    async fn log_append_time_and_unknown_offsets_are_reported_as_such() {
        let part = DeliveryPart::whole(BatchDelivery::new("t".into(), 0));
        let future = part.future(2, 100).unwrap();
        part.complete(Ok((-1, 777)));
        let metadata = future.await.unwrap();
        assert_eq!((metadata.offset, metadata.timestamp), (-1, 777));
    }

    #[tokio::test]
    async fn pieces_of_a_split_batch_report_their_own_ranges() {
        let part = DeliveryPart::whole(BatchDelivery::new("t".into(), 0));
        let futures: Vec<_> = (0..6).map(|i| part.future(i, 0).unwrap()).collect();
        let mut pieces = part.split(6, &[2, 4]).into_iter();
        let (first, second) = (pieces.next().unwrap(), pieces.next().unwrap());
        // The second piece splits again: records 2..4 and 4..6.
        let mut halves = second.split(4, &[2, 2]).into_iter();
        let (middle, last) = (halves.next().unwrap(), halves.next().unwrap());
        let waiting: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        tokio::task::yield_now().await;
        last.complete(Ok((90, -1)));
        first.complete(Ok((10, -1)));
        middle.complete(Err(Error::TransactionAborted));
        let mut results = Vec::new();
        for handle in waiting {
            results.push(handle.await.unwrap().map(|m| m.offset).ok());
        }
        assert_eq!(
            results,
            [Some(10), Some(11), None, None, Some(90), Some(91)]
        );
    }
}
