//! The consumer service: listener containers as in the classic Spring Kafka
//! tutorial, each the Rust counterpart of a `@KafkaListener` method.
//!
//! | group | topics | what it does |
//! |---|---|---|
//! | `group_a` | `topic1` | logs each record |
//! | `group_b` | `topic1` | logs each record: a second group gets every record too |
//! | `group_c` | `topic2`, `topic3` | logs each record of both topics |
//! | `group_d` | `topic4` | logs each record |
//! | `market-relay` | `kafka-market` | decodes each JSON [`Order`] and POSTs it to `webhook_url`; retries with a fixed back-off, then dead-letters it to `kafka-market-dlt` |
//!
//! [`start`] creates the missing topics (Spring's `NewTopic` beans), starts
//! every container, and returns a [`ConsumerServiceHandle`] whose
//! [`ConsumedLog`] records what each listener processed (tests wait on
//! it); [`ConsumerServiceHandle::stop`] stops the containers, which finish
//! their records in flight, commit and leave their groups, and then asks
//! the cluster whether they did ([`StopReport`]). While the service runs, a
//! [`ClusterWatch`] logs a WARN when the cluster stops answering and an INFO
//! when it is back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_admin::{
    Admin, DescribeConsumerGroupsOptions, ListConsumerGroupOffsetsOptions, NewTopic,
};
use ferrokafka_client::ClientConfig;
use ferrokafka_consumer::{StringDeserializer, TopicPartition, TypedRecord};
use ferrokafka_listener::{
    AckMode, DeadLetterRecoverer, DefaultErrorHandler, FixedBackOff, ListenerContainer,
    ListenerError, json_listener, typed_listener,
};
use ferrokafka_producer::Producer;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cluster::ensure_topics;
use crate::config::ServiceConfig;
use crate::error::{ExampleError, Result};
use crate::health::{ClusterState, ClusterWatch, PROBE_INTERVAL};
use crate::logfmt::{error_chain, show_text};
use crate::order::Order;

/// The logging listeners: (group, topics).
pub const LISTENERS: [(&str, &[&str]); 4] = [
    ("group_a", &["topic1"]),
    ("group_b", &["topic1"]),
    ("group_c", &["topic2", "topic3"]),
    ("group_d", &["topic4"]),
];

/// The group of the order relay.
pub const RELAY_GROUP: &str = "market-relay";

/// The suffix of dead-letter topics (Spring's default).
pub const DLT_SUFFIX: &str = "-dlt";

/// How long the relay waits for the webhook per attempt.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a poll waits for records; bounds how fast a stop is noticed.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);

/// One record a listener processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// The listener's group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The key, as text.
    pub key: Option<String>,
    /// The value, as text (an order as its JSON).
    pub value: Option<String>,
}

/// What the listeners processed, in order, shared with whoever watches
/// (a test, a health endpoint).
#[derive(Debug, Clone)]
pub struct ConsumedLog {
    entries: Arc<Mutex<Vec<Consumed>>>,
    changed: Arc<watch::Sender<usize>>,
}

impl Default for ConsumedLog {
    fn default() -> Self {
        ConsumedLog {
            entries: Arc::default(),
            changed: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl ConsumedLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Consumed>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends one entry and wakes the waiters.
    pub fn push(&self, entry: Consumed) {
        let len = {
            let mut entries = self.lock();
            entries.push(entry);
            entries.len()
        };
        self.changed.send_replace(len);
    }

    /// Everything so far.
    pub fn snapshot(&self) -> Vec<Consumed> {
        self.lock().clone()
    }

    /// What `group` processed so far.
    pub fn of_group(&self, group: &str) -> Vec<Consumed> {
        self.lock()
            .iter()
            .filter(|c| c.group == group)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the entries, for at most `timeout`;
    /// returns the entries then, or an error saying what was seen.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Consumed]) -> bool,
    ) -> Result<Vec<Consumed>> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.changed.subscribe();
        loop {
            changes.mark_unchanged();
            let entries = self.snapshot();
            if done(&entries) {
                return Ok(entries);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return Err(ExampleError::Timeout(format!(
                    "the listeners' log did not reach the expected state in {:?}; it has {} entries: {entries:?}",
                    timeout,
                    entries.len()
                )));
            }
        }
    }
}

/// A running consumer service.
#[derive(Debug)]
pub struct ConsumerServiceHandle {
    containers: Vec<(String, ListenerContainer)>,
    dead_letters: Producer,
    log: ConsumedLog,
    client_config: ClientConfig,
    cluster: Option<ClusterWatch>,
}

/// What a stop achieved, as the cluster tells it afterwards: whether each
/// group's processed records are committed and whether its members left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReport {
    /// Every group committed what it processed and has no members left.
    Clean {
        /// The groups checked.
        groups: usize,
    },
    /// Some group did not commit or did not leave; each line says which.
    Incomplete(Vec<String>),
    /// The cluster could not be asked (it is unreachable, say).
    Unknown(String),
}

impl StopReport {
    /// Whether everything was committed and every group left.
    pub fn is_clean(&self) -> bool {
        matches!(self, StopReport::Clean { .. })
    }
}

impl std::fmt::Display for StopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReport::Clean { groups } => write!(
                f,
                "offsets committed and groups left ({groups} groups, checked with the cluster)"
            ),
            StopReport::Incomplete(problems) => write!(
                f,
                "NOT everything committed or left: {}; records processed but not committed will be delivered again",
                problems.join("; ")
            ),
            StopReport::Unknown(why) => write!(
                f,
                "could not check the commits and the groups' departure with the cluster ({why}); records processed but not committed will be delivered again"
            ),
        }
    }
}

/// How long the check after a stop may take.
const STOP_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl ConsumerServiceHandle {
    /// What the listeners processed so far.
    pub fn log(&self) -> &ConsumedLog {
        &self.log
    }

    /// The groups of the running containers.
    pub fn groups(&self) -> Vec<String> {
        self.containers.iter().map(|(g, _)| g.clone()).collect()
    }

    /// The partitions the container of `group` owns right now.
    pub fn assignment(&self, group: &str) -> Vec<TopicPartition> {
        self.containers
            .iter()
            .filter(|(g, _)| g == group)
            .flat_map(|(_, c)| c.assignment())
            .collect()
    }

    /// Waits until every container owns at least one partition (its group
    /// finished joining), for at most `timeout`.
    pub async fn wait_assigned(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            let waiting: Vec<&str> = self
                .containers
                .iter()
                .filter(|(_, c)| c.assignment().is_empty())
                .map(|(g, _)| g.as_str())
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ExampleError::Timeout(format!(
                    "groups without partitions after {timeout:?}: {waiting:?}"
                )));
            }
            tick.tick().await;
        }
    }

    /// The cluster watch, if the service has one.
    pub fn cluster(&self) -> Option<&ClusterWatch> {
        self.cluster.as_ref()
    }

    /// Stops every container (each finishes its records in flight, commits
    /// and leaves its group) within `timeout` each, closes the dead-letter
    /// producer, then asks the cluster whether each group committed what
    /// it processed and left, and says so.
    pub async fn stop(self, timeout: Duration) -> StopReport {
        let groups = self.groups();
        let stops = self
            .containers
            .into_iter()
            .map(|(_, container)| async move { container.stop(timeout).await });
        futures_join_all(stops).await;
        self.dead_letters.close(timeout).await;
        drop(self.cluster);
        // What each group processed: the offset after its last record of
        // each partition (recovered records, which are committed too, may
        // take a group further).
        let mut processed: BTreeMap<(String, String, i32), i64> = BTreeMap::new();
        for entry in self.log.snapshot() {
            let next = entry.offset.saturating_add(1);
            let slot = processed
                .entry((entry.group, entry.topic, entry.partition))
                .or_insert(next);
            *slot = (*slot).max(next);
        }
        match tokio::time::timeout(
            STOP_CHECK_TIMEOUT,
            check_stopped(self.client_config, &groups, &processed),
        )
        .await
        {
            Ok(report) => report,
            Err(_) => StopReport::Unknown(format!("no answer within {STOP_CHECK_TIMEOUT:?}")),
        }
    }
}

/// Asks the cluster whether `groups` have no members and committed at
/// least `processed`.
async fn check_stopped(
    config: ClientConfig,
    groups: &[String],
    processed: &BTreeMap<(String, String, i32), i64>,
) -> StopReport {
    let admin = match Admin::connect(config).await {
        Ok(admin) => admin,
        Err(error) => return StopReport::Unknown(error_chain(&error)),
    };
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    let options = DescribeConsumerGroupsOptions::default().timeout(STOP_CHECK_TIMEOUT);
    let described = match admin.describe_consumer_groups(&names, options).await {
        Ok(described) => described,
        Err(error) => {
            admin.close();
            return StopReport::Unknown(error_chain(&error));
        }
    };
    let mut problems = Vec::new();
    for (group, description) in described {
        match description {
            Ok(d) if !d.members.is_empty() => problems.push(format!(
                "{group} still lists {} member(s) (ours did not leave, or another instance runs)",
                d.members.len()
            )),
            Ok(_) => {}
            Err(error) => problems.push(format!("{group}: {}", error_chain(&error))),
        }
        let options = ListConsumerGroupOffsetsOptions {
            timeout: STOP_CHECK_TIMEOUT,
            ..Default::default()
        };
        let committed = match admin.list_consumer_group_offsets(&group, options).await {
            Ok(committed) => committed,
            Err(error) => {
                problems.push(format!(
                    "{group}: committed offsets unknown ({})",
                    error_chain(&error)
                ));
                continue;
            }
        };
        for ((g, topic, partition), next) in processed {
            if *g != group {
                continue;
            }
            let at = committed
                .iter()
                .find(|c| c.topic == *topic && c.partition == *partition)
                .map(|c| c.offset);
            if at.is_none_or(|at| at < *next) {
                problems.push(format!(
                    "{group} processed {topic}-{partition} up to offset {} but committed {}",
                    next - 1,
                    at.map_or("nothing".to_owned(), |o| o.to_string())
                ));
            }
        }
    }
    admin.close();
    if problems.is_empty() {
        StopReport::Clean {
            groups: groups.len(),
        }
    } else {
        StopReport::Incomplete(problems)
    }
}

/// Runs the futures concurrently and waits for all of them.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for future in futures {
        tasks.spawn(future);
    }
    while tasks.join_next().await.is_some() {}
}

/// The topics the service reads or writes.
pub fn topics(config: &ServiceConfig) -> Vec<String> {
    let mut topics: Vec<String> = LISTENERS
        .iter()
        .flat_map(|(_, topics)| topics.iter().map(|t| (*t).to_owned()))
        .collect();
    topics.push(config.orders_topic.clone());
    topics.push(format!("{}{DLT_SUFFIX}", config.orders_topic));
    topics.sort();
    topics.dedup();
    topics
}

/// Creates the missing topics and starts every listener container.
/// `config.bootstrap_servers` must be set.
pub async fn start(config: &ServiceConfig) -> Result<ConsumerServiceHandle> {
    let created = ensure_topics(
        config.client_config()?,
        topics(config)
            .into_iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    config.topics.partitions,
                    config.topics.replication_factor,
                )
            })
            .collect(),
    )
    .await?;
    if !created.is_empty() {
        tracing::info!(topics = ?created, "created topics");
    }

    let log = ConsumedLog::default();
    let dead_letters = Producer::connect(config.producer_config()?).await?;
    let cluster = ClusterWatch::start(config.client_config()?, PROBE_INTERVAL).await?;
    if let ClusterState::Down { error } = cluster.state() {
        tracing::warn!(%error, "the Kafka cluster is unreachable");
    }
    let mut containers = Vec::new();
    let started = start_containers(config, &log, &dead_letters, &mut containers).await;
    let handle = ConsumerServiceHandle {
        containers,
        dead_letters,
        log,
        client_config: config.client_config()?,
        cluster: Some(cluster),
    };
    match started {
        Ok(()) => Ok(handle),
        Err(error) => {
            handle.stop(Duration::from_secs(5)).await;
            Err(error)
        }
    }
}

async fn start_containers(
    config: &ServiceConfig,
    log: &ConsumedLog,
    dead_letters: &Producer,
    containers: &mut Vec<(String, ListenerContainer)>,
) -> Result<()> {
    let listener_error = |e: &dyn std::fmt::Display| ExampleError::Listener(e.to_string());

    for (group, topics) in LISTENERS {
        let log = log.clone();
        let group_name = group.to_owned();
        let listener = typed_listener(
            StringDeserializer,
            StringDeserializer,
            move |record: TypedRecord<Option<String>, Option<String>>| {
                let log = log.clone();
                let group = group_name.clone();
                async move {
                    tracing::info!(
                        %group,
                        topic = %record.topic,
                        partition = record.partition,
                        offset = record.offset,
                        key = %show_text(record.key.as_deref()),
                        value = %show_text(record.value.as_deref()),
                        "consumed"
                    );
                    log.push(Consumed {
                        group,
                        topic: record.topic,
                        partition: record.partition,
                        offset: record.offset,
                        key: record.key,
                        value: record.value,
                    });
                    Ok::<(), ListenerError>(())
                }
            },
        );
        let container = ListenerContainer::builder(config.consumer_config(group)?)
            .topics(topics.iter().copied())
            .concurrency(1)
            .ack_mode(AckMode::Record)
            .poll_timeout(POLL_TIMEOUT)
            .start(listener)
            .await
            .map_err(|e| listener_error(&e))?;
        containers.push((group.to_owned(), container));
    }

    let relay = relay_listener(config, log.clone())?;
    let retries = FixedBackOff::new(
        config.retry.interval(),
        config.retry.max_retries.saturating_add(1),
    );
    let container = ListenerContainer::builder(config.consumer_config(RELAY_GROUP)?)
        .topics([config.orders_topic.clone()])
        .concurrency(1)
        .ack_mode(AckMode::Record)
        .poll_timeout(POLL_TIMEOUT)
        .error_handler(DefaultErrorHandler::new(retries).with_recoverer(
            DeadLetterRecoverer::new(dead_letters.clone()).topic_suffix(DLT_SUFFIX),
        ))
        .start(relay)
        .await
        .map_err(|e| listener_error(&e))?;
    tracing::info!(
        group = RELAY_GROUP,
        topic = %config.orders_topic,
        webhook = config.webhook_url.as_deref().unwrap_or("(none: orders are only logged)"),
        "order relay started"
    );
    containers.push((RELAY_GROUP.to_owned(), container));
    Ok(())
}

/// The relay: each JSON order POSTed to the webhook; a failed POST (no
/// answer, or a status other than 2xx) fails the record, which the error
/// handler retries and then dead-letters.
fn relay_listener(
    config: &ServiceConfig,
    log: ConsumedLog,
) -> Result<impl ferrokafka_listener::MessageListener> {
    let http = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .map_err(|e| ExampleError::Config(format!("HTTP client: {e}")))?;
    let webhook = config.webhook_url.clone();
    Ok(json_listener(
        move |record: TypedRecord<Option<String>, Order>| {
            let http = http.clone();
            let webhook = webhook.clone();
            let log = log.clone();
            async move {
                if let Some(url) = &webhook {
                    // The error with its causes ("connection refused"), in
                    // the log and in the dead letter's exception header.
                    let response = http
                        .post(url)
                        .json(&record.value)
                        .send()
                        .await
                        .map_err(|e| ListenerError::from(error_chain(&e)))?;
                    let status = response.status();
                    if !status.is_success() {
                        tracing::warn!(order = %record.value.id, %status, "webhook refused the order");
                        return Err(ListenerError::from(format!(
                            "webhook {url} answered {status}"
                        )));
                    }
                }
                tracing::info!(
                    group = RELAY_GROUP,
                    order = %record.value.id,
                    key = %show_text(record.key.as_deref()),
                    offset = record.offset,
                    webhook = webhook.as_deref().unwrap_or("(none)"),
                    "order relayed"
                );
                let value = serde_json::to_string(&record.value).ok();
                log.push(Consumed {
                    group: RELAY_GROUP.to_owned(),
                    topic: record.topic,
                    partition: record.partition,
                    offset: record.offset,
                    key: record.key,
                    value,
                });
                Ok::<(), ListenerError>(())
            }
        },
    ))
}

/// Runs the service until `shutdown` completes, then stops it; returns
/// what the stop achieved.
pub async fn run<F>(config: &ServiceConfig, shutdown: F) -> Result<StopReport>
where
    F: std::future::Future<Output = ()>,
{
    let service = start(config).await?;
    shutdown.await;
    Ok(service.stop(Duration::from_secs(30)).await)
}
