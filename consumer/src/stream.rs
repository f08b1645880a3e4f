//! Records one at a time for async code, over `poll`: [`RecordStream`]
//! borrows the consumer and has an async `next()`; [`ConsumerStream`] owns
//! it and implements [`futures_core::Stream`], for stream combinators.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::consumer::Consumer;
use crate::error::Result;
use crate::record::ConsumerRecord;

/// Records of a [`Consumer`], one at a time.
#[derive(Debug)]
pub struct RecordStream<'a> {
    consumer: &'a mut Consumer,
    pending: VecDeque<ConsumerRecord>,
    poll_timeout: Duration,
}

impl<'a> RecordStream<'a> {
    /// A stream over `consumer`, polling with `poll_timeout` each round
    /// (the group stays alive between rounds as long as `next` is called).
    pub fn new(consumer: &'a mut Consumer, poll_timeout: Duration) -> Self {
        RecordStream {
            consumer,
            pending: VecDeque::new(),
            poll_timeout,
        }
    }

    /// The next record, waiting as long as it takes; `None` once the
    /// consumer is closed, `Some(Err)` for a poll error.
    pub async fn next(&mut self) -> Option<Result<ConsumerRecord>> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Some(Ok(record));
            }
            match self.consumer.poll(self.poll_timeout).await {
                Ok(records) => self.pending.extend(records),
                Err(crate::error::Error::Closed) => return None,
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// The consumer, e.g. to commit between records.
    pub fn consumer(&mut self) -> &mut Consumer {
        self.consumer
    }
}

impl Consumer {
    /// Records one at a time, for async loops.
    pub fn stream(&mut self, poll_timeout: Duration) -> RecordStream<'_> {
        RecordStream::new(self, poll_timeout)
    }
}

type PollFuture = Pin<Box<dyn Future<Output = (Consumer, Result<Vec<ConsumerRecord>>)> + Send>>;

/// A [`futures_core::Stream`] of records that owns its [`Consumer`].
///
/// Each `poll` of the consumer runs inside the stream's own future, which
/// takes the consumer and hands it back with the records, so no task is
/// spawned and dropping the stream drops (and stops) the consumer. Between
/// records, [`ConsumerStream::consumer_mut`] gives the consumer back for
/// commits, seeks or pauses.
pub struct ConsumerStream {
    consumer: Option<Consumer>,
    in_poll: Option<PollFuture>,
    pending: VecDeque<ConsumerRecord>,
    poll_timeout: Duration,
}

impl std::fmt::Debug for ConsumerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerStream")
            .field("pending", &self.pending.len())
            .field("polling", &self.in_poll.is_some())
            .finish()
    }
}

impl ConsumerStream {
    /// A stream owning `consumer`, polling with `poll_timeout` each round.
    pub fn new(consumer: Consumer, poll_timeout: Duration) -> Self {
        ConsumerStream {
            consumer: Some(consumer),
            in_poll: None,
            pending: VecDeque::new(),
            poll_timeout,
        }
    }

    /// The consumer, unless a poll is in flight (never the case right after
    /// the stream yielded an item).
    pub fn consumer_mut(&mut self) -> Option<&mut Consumer> {
        self.consumer.as_mut()
    }

    /// Gives the consumer back (`None` if a poll was in flight; dropping
    /// that poll drops the consumer). Records the stream holds but has not
    /// yielded yet are dropped, and `poll` already advanced the positions
    /// past them: seek back if they matter.
    pub fn into_consumer(self) -> Option<Consumer> {
        self.consumer
    }
}

impl futures_core::Stream for ConsumerStream {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(record) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(record)));
            }
            if this.in_poll.is_none() {
                let Some(mut consumer) = this.consumer.take() else {
                    return Poll::Ready(None);
                };
                let timeout = this.poll_timeout;
                this.in_poll = Some(Box::pin(async move {
                    let result = consumer.poll(timeout).await;
                    (consumer, result)
                }));
            }
            let Some(in_poll) = this.in_poll.as_mut() else {
                return Poll::Ready(None);
            };
            let (consumer, result) = match in_poll.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(done) => done,
            };
            this.in_poll = None;
            this.consumer = Some(consumer);
            match result {
                Ok(records) => this.pending.extend(records),
                Err(crate::error::Error::Closed) => return Poll::Ready(None),
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}

impl Consumer {
    /// Turns the consumer into a [`futures_core::Stream`] of records.
    pub fn into_stream(self, poll_timeout: Duration) -> ConsumerStream {
        ConsumerStream::new(self, poll_timeout)
    }
}
