//! [`ListenerContainer`]: `concurrency` consumers of one group, each on its
//! own task, feeding a [`MessageListener`] and committing per [`AckMode`].
//!
//! Each consumer's task loops: poll, then hand the records to the listener
//! one at a time (so a partition's records are processed in offset order,
//! one at a time), through the [`DefaultErrorHandler`] on failure. A
//! processed record's offset + 1 becomes *pending* for its partition and is
//! committed per the ack mode. Rebalances happen only inside `poll`, i.e.
//! between batches, and the rebalance listener hands the pending offsets of
//! revoked partitions to the consumer (`offsets_to_commit_on_revoke`), which
//! commits them in the old generation before the partitions move: the next
//! owner starts right after the last processed record.
//!
//! A record whose recoverer failed is not skipped: its partition is sought
//! back to it and the rest of that partition's batch is dropped, so the next
//! poll delivers it again.
//!
//! [`ListenerContainer::stop`] lets each task finish the record it is on
//! (pending retries are abandoned: the record is delivered again to the
//! next owner), commits what was processed, and closes the consumer (which
//! leaves the group), all within the timeout; tasks still running at the
//! deadline are aborted. Dropping the container aborts its tasks at once
//! (nothing more is committed; the group notices by session timeout).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, Error, OffsetAndMetadata, RebalanceListener, Result,
    TopicPartition,
};

use crate::error_handler::DefaultErrorHandler;
use crate::handler::{Acknowledgment, MessageListener};
use crate::{AckMode, ListenerError};

/// The pause after a poll error, or after a recoverer failed, before the
/// next poll (so a broken recoverer or cluster does not spin the task).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// How long the consumer's close may take when the task ends without a
/// `stop` (the consumer was closed under it).
const DEFAULT_CLOSE: Duration = Duration::from_secs(5);

/// Builds and starts a [`ListenerContainer`].
#[derive(Debug)]
pub struct ListenerContainerBuilder {
    config: ConsumerConfig,
    topics: Vec<String>,
    concurrency: usize,
    ack_mode: AckMode,
    poll_timeout: Duration,
    error_handler: DefaultErrorHandler,
}

impl ListenerContainerBuilder {
    /// The topics to subscribe to (replacing any given before).
    #[must_use]
    pub fn topics<S: Into<String>>(mut self, topics: impl IntoIterator<Item = S>) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// How many consumers of the group the container runs, each on its own
    /// task (default 1; more than the partitions leaves some idle).
    #[must_use]
    pub fn concurrency(mut self, consumers: usize) -> Self {
        self.concurrency = consumers;
        self
    }

    /// When processed records are committed (default [`AckMode::Record`]).
    #[must_use]
    pub fn ack_mode(mut self, mode: AckMode) -> Self {
        self.ack_mode = mode;
        self
    }

    /// How long one poll waits for records (default 1 s). `stop` may wait
    /// this long for a poll in progress to return.
    #[must_use]
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }

    /// What happens to failing records (default: 10 attempts, no delay,
    /// then logged).
    #[must_use]
    pub fn error_handler(mut self, handler: DefaultErrorHandler) -> Self {
        self.error_handler = handler;
        self
    }

    /// Connects the consumers, subscribes them, and starts their tasks.
    /// The group assigns partitions on their first polls (see
    /// [`ListenerContainer::assignment`]).
    ///
    /// Fails if `group.id` is unset, no topic was given, `concurrency` is
    /// 0, or a consumer cannot be created.
    pub async fn start(self, listener: impl MessageListener) -> Result<ListenerContainer> {
        let Some(group_id) = self.config.group_id.clone() else {
            return Err(Error::NoGroupId("a listener container"));
        };
        if self.topics.is_empty() {
            return Err(config_error(
                "a listener container needs at least one topic",
            ));
        }
        if self.concurrency == 0 {
            return Err(config_error(
                "a listener container's concurrency must be at least 1",
            ));
        }
        let mut config = self.config;
        // The container commits what it processed, never the positions.
        config.enable_auto_commit = false;
        let mut consumers = Vec::with_capacity(self.concurrency);
        for index in 0..self.concurrency {
            let mut config = config.clone();
            if self.concurrency > 1 && !config.client.client_id.is_empty() {
                config.client.client_id = format!("{}-{index}", config.client.client_id);
            }
            let mut consumer = Consumer::connect(config).await?;
            let state = Arc::new(Mutex::new(WorkerState::default()));
            consumer.subscribe_with_listener(
                self.topics.iter().cloned(),
                Box::new(Rebalance {
                    state: state.clone(),
                }),
            )?;
            consumers.push((consumer, state));
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        let listener: Arc<dyn MessageListener> = Arc::new(listener);
        let mut states = Vec::with_capacity(consumers.len());
        let mut tasks = Vec::with_capacity(consumers.len());
        for (index, (consumer, state)) in consumers.into_iter().enumerate() {
            states.push(state.clone());
            let worker = Worker {
                consumer,
                listener: listener.clone(),
                error_handler: self.error_handler.clone(),
                ack_mode: self.ack_mode,
                poll_timeout: self.poll_timeout,
                state,
                stop: stop_rx.clone(),
            };
            let span = tracing::info_span!("listener", group = %group_id, consumer = index);
            tasks.push(tokio::spawn(tracing::Instrument::instrument(
                worker.run(),
                span,
            )));
        }
        tracing::info!(group = %group_id, topics = ?self.topics, consumers = tasks.len(), ack_mode = ?self.ack_mode, "listener container started");
        Ok(ListenerContainer {
            group_id,
            topics: self.topics,
            states,
            tasks: Mutex::new(tasks),
            stop: stop_tx,
        })
    }
}

fn config_error(message: &str) -> Error {
    Error::Client(ferrokafka_client::Error::Config(message.to_owned()))
}

/// Consumers of one group running a [`MessageListener`]; see the module
/// docs. Built with [`ListenerContainer::builder`].
pub struct ListenerContainer {
    group_id: String,
    topics: Vec<String>,
    states: Vec<Arc<Mutex<WorkerState>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    stop: watch::Sender<Option<Instant>>,
}

impl std::fmt::Debug for ListenerContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerContainer")
            .field("group_id", &self.group_id)
            .field("topics", &self.topics)
            .field("assignments", &self.assignments())
            .finish()
    }
}

impl ListenerContainer {
    /// A builder for a container of consumers made from `config` (which
    /// needs `bootstrap.servers` and `group.id`; `enable.auto.commit` is
    /// turned off).
    pub fn builder(config: ConsumerConfig) -> ListenerContainerBuilder {
        ListenerContainerBuilder {
            config,
            topics: Vec::new(),
            concurrency: 1,
            ack_mode: AckMode::default(),
            poll_timeout: Duration::from_secs(1),
            error_handler: DefaultErrorHandler::default(),
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The subscribed topics.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The partitions all its consumers own now, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        let mut all: Vec<TopicPartition> = self.assignments().into_iter().flatten().collect();
        all.sort();
        all
    }

    /// The partitions each consumer owns now, by consumer (sorted).
    pub fn assignments(&self) -> Vec<Vec<TopicPartition>> {
        self.states
            .iter()
            .map(|state| lock(state).assigned.iter().cloned().collect())
            .collect()
    }

    /// Whether any consumer task is still running (tasks end on `stop`,
    /// or on a fatal consumer error, which is logged).
    pub fn is_running(&self) -> bool {
        lock(&self.tasks).iter().any(|task| !task.is_finished())
    }

    /// Stops gracefully within `timeout`: no more polls, the records in
    /// flight finish, processed offsets are committed, the consumers leave
    /// the group. Tasks still running at the deadline are aborted, so this
    /// never waits (much) longer than `timeout`. Calling it again is a no-op.
    pub async fn stop(&self, timeout: Duration) {
        let start = Instant::now();
        let deadline = start + timeout;
        // The tasks get most of the time, so they close before the abort.
        let task_deadline = start + timeout.mul_f64(0.9);
        self.stop.send_replace(Some(task_deadline));
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for mut task in tasks {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "a listener task failed"),
                Err(_) => {
                    tracing::warn!("a listener task did not stop in time; aborting it");
                    task.abort();
                }
            }
        }
        tracing::info!(group = %self.group_id, "listener container stopped");
    }
}

impl Drop for ListenerContainer {
    fn drop(&mut self) {
        self.stop.send_replace(Some(Instant::now()));
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// `error` and its causes (walking `source()`), joined by `": "`; a cause
/// the text so far already quotes is left out.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !message.is_empty() && !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every update is a few map operations).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one consumer's task shares with its rebalance listener and the
/// container.
#[derive(Debug, Default)]
struct WorkerState {
    /// The partitions the consumer owns.
    assigned: BTreeSet<TopicPartition>,
    /// Processed but not yet committed: the next offset to read.
    pending: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// Manual acks: partitions that met an unacknowledged record since
    /// they were assigned; nothing past it is committed.
    blocked: BTreeSet<TopicPartition>,
}

/// Keeps [`WorkerState`] in step with the group and commits pending
/// offsets before partitions move.
struct Rebalance {
    state: Arc<Mutex<WorkerState>>,
}

impl RebalanceListener for Rebalance {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        let mut state = lock(&self.state);
        for tp in partitions {
            state.assigned.remove(tp);
            state.pending.remove(tp);
            state.blocked.remove(tp);
        }
    }

    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        let mut state = lock(&self.state);
        for tp in partitions {
            state.assigned.insert(tp.clone());
            state.pending.remove(tp);
            state.blocked.remove(tp);
        }
    }

    fn offsets_to_commit_on_revoke(
        &mut self,
        partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let state = lock(&self.state);
        partitions
            .iter()
            .filter_map(|tp| state.pending.get(tp).map(|o| (tp.clone(), o.clone())))
            .collect()
    }
}

/// What became of one record.
enum Outcome {
    /// Processed (or recovered); committable unless a manual ack was missing.
    Done {
        /// Whether its offset may be committed.
        committable: bool,
    },
    /// The recoverer failed: deliver it again.
    Redeliver,
    /// The container is stopping: retries were abandoned.
    Interrupted,
}

/// Aborts a spawned listener call if the worker is dropped (aborted) first.
struct AbortOnDrop(JoinHandle<Result<(), ListenerError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One consumer and its loop.
struct Worker {
    consumer: Consumer,
    listener: Arc<dyn MessageListener>,
    error_handler: DefaultErrorHandler,
    ack_mode: AckMode,
    poll_timeout: Duration,
    state: Arc<Mutex<WorkerState>>,
    stop: watch::Receiver<Option<Instant>>,
}

impl Worker {
    fn stopping(&self) -> bool {
        self.stop.borrow().is_some()
    }

    /// Waits `wait`, or less if the container stops; true if it did.
    async fn pause(&mut self, wait: Duration) -> bool {
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = self.stop.wait_for(Option::is_some) => {}
            }
        }
        self.stopping()
    }

    async fn run(mut self) {
        while !self.stopping() {
            match self.consumer.poll(self.poll_timeout).await {
                Ok(records) => self.process(records).await,
                Err(Error::Closed) => break,
                Err(error @ Error::FencedInstanceId(_)) => {
                    tracing::error!(%error, "listener consumer fenced; stopping it");
                    break;
                }
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "poll failed; polling again");
                    if self.pause(RETRY_PAUSE).await {
                        break;
                    }
                }
            }
        }
        self.shutdown().await;
    }

    /// Commits what was processed and closes the consumer (leaving the
    /// group) by the stop deadline.
    async fn shutdown(mut self) {
        let deadline = (*self.stop.borrow()).unwrap_or_else(|| Instant::now() + DEFAULT_CLOSE);
        let pending = lock(&self.state).pending.len();
        if tokio::time::timeout_at(deadline, self.commit_pending())
            .await
            .is_err()
        {
            tracing::warn!(
                partitions = pending,
                "commit on stop timed out; records processed since the last commit will be delivered again"
            );
        } else {
            let left = lock(&self.state).pending.len();
            if left > 0 {
                tracing::warn!(
                    partitions = left,
                    "commit on stop failed; records processed since the last commit will be delivered again"
                );
            } else if pending > 0 {
                tracing::info!(partitions = pending, "processed offsets committed on stop");
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.consumer.close(remaining).await;
        lock(&self.state).assigned.clear();
    }

    /// Hands one poll's records to the listener and commits per ack mode.
    async fn process(&mut self, records: Vec<ConsumerRecord>) {
        let mut redeliver: BTreeSet<TopicPartition> = BTreeSet::new();
        for record in records {
            if self.stopping() {
                break;
            }
            let tp = record.topic_partition();
            if redeliver.contains(&tp) {
                continue;
            }
            let (offset, leader_epoch) = (record.offset, record.leader_epoch);
            match self.handle(record).await {
                Outcome::Done { committable } => {
                    self.mark_processed(tp, offset, leader_epoch, committable);
                    if self.ack_mode == AckMode::Record {
                        self.commit_pending().await;
                    }
                }
                Outcome::Redeliver => {
                    if let Err(error) = self.consumer.seek(&tp, offset) {
                        tracing::warn!(%error, partition = %tp, offset, "seeking back to a failed record failed");
                    }
                    redeliver.insert(tp);
                }
                Outcome::Interrupted => break,
            }
        }
        if self.ack_mode != AckMode::Record {
            self.commit_pending().await;
        }
        if !redeliver.is_empty() {
            self.pause(RETRY_PAUSE).await;
        }
    }

    fn mark_processed(
        &self,
        tp: TopicPartition,
        offset: i64,
        leader_epoch: Option<i32>,
        committable: bool,
    ) {
        let mut state = lock(&self.state);
        if !committable {
            state.blocked.insert(tp);
        } else if !state.blocked.contains(&tp) {
            state.pending.insert(
                tp,
                OffsetAndMetadata {
                    offset: offset.saturating_add(1),
                    leader_epoch,
                    metadata: None,
                },
            );
        }
    }

    /// Commits the pending offsets; on failure they stay pending (tried
    /// again with the next commit, or on revoke; dropped if lost).
    async fn commit_pending(&mut self) {
        let offsets = lock(&self.state).pending.clone();
        if offsets.is_empty() {
            return;
        }
        match self.consumer.commit_offsets(offsets.clone()).await {
            Ok(()) => {
                let mut state = lock(&self.state);
                for (tp, offset) in offsets {
                    if state.pending.get(&tp) == Some(&offset) {
                        state.pending.remove(&tp);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "commit failed; will retry");
            }
        }
    }

    /// Runs the listener on `record`, retrying and recovering per the
    /// error handler.
    async fn handle(&mut self, record: ConsumerRecord) -> Outcome {
        let mut failures: u32 = 0;
        loop {
            let ack = Acknowledgment::new();
            let call = invoke(&*self.listener, record.clone(), ack.clone());
            let error = match call.await {
                Ok(()) => {
                    return Outcome::Done {
                        committable: self.ack_mode != AckMode::Manual || ack.is_acknowledged(),
                    };
                }
                Err(error) => error,
            };
            failures = failures.saturating_add(1);
            if let Some(wait) = self.error_handler.next_delay(&error, failures) {
                tracing::warn!(partition = %record.topic_partition(), offset = record.offset, attempt = failures, retry_in = ?wait, error = %error_chain(&*error), "listener failed; retrying");
                if self.pause(wait).await {
                    return Outcome::Interrupted;
                }
                continue;
            }
            tracing::warn!(partition = %record.topic_partition(), offset = record.offset, attempts = failures, error = %error_chain(&*error), "listener failed; recovering");
            return match self
                .error_handler
                .recoverer()
                .recover(&record, &error)
                .await
            {
                // Recovered records are committed, acknowledged or not
                // (Spring's `ackAfterHandle`).
                Ok(()) => Outcome::Done { committable: true },
                Err(recover_error) => {
                    tracing::warn!(partition = %record.topic_partition(), offset = record.offset, error = %error_chain(&*recover_error), "recoverer failed; the record will be delivered again");
                    Outcome::Redeliver
                }
            };
        }
    }
}

/// One listener call, on its own task so that a panic fails the record
/// rather than the consumer's task. (Not a method: the future must not
/// hold a `&Worker`, which is not `Sync`.)
fn invoke(
    listener: &dyn MessageListener,
    record: ConsumerRecord,
    ack: Acknowledgment,
) -> impl std::future::Future<Output = Result<(), ListenerError>> + Send + 'static {
    let mut call = AbortOnDrop(tokio::spawn(listener.on_message(record, ack)));
    async move {
        match (&mut call.0).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(format!("listener panicked: {error}").into()),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error, bool);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            if self.1 {
                write!(f, "error sending request: {}", self.0)
            } else {
                f.write_str("error sending request")
            }
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chains_name_the_cause_once() {
        let refused =
            || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(
            error_chain(&Outer(refused(), false)),
            "error sending request: connection refused"
        );
        // A message that already quotes its cause does not repeat it.
        assert_eq!(
            error_chain(&Outer(refused(), true)),
            "error sending request: connection refused"
        );
        let boxed: ListenerError = "plain".into();
        assert_eq!(error_chain(&*boxed), "plain");
    }
}
