//! [`TestCluster`]: the cluster a user-facing scenario runs on. A real
//! Apache Kafka when `FERROKAFKA_TEST_BOOTSTRAP` names one (as
//! `cargo xtask kafka start` prints it), the bundled broker in-process on an
//! ephemeral port otherwise, so that the same scenario checks the clients
//! against Kafka and the bundled broker against Kafka's behaviour.
//!
//! Everything here goes through the public client APIs (topics are created
//! with the ferrokafka admin client), so it works on both. Names come from
//! [`unique`]: a cluster reused across runs never shows a scenario the
//! topics or groups of an earlier one.

use std::error::Error;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrokafka_admin::{Admin, CreateTopicsOptions, DescribeTopicsOptions, NewTopic};
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::ClientConfig;
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerConfigBuilder, ConsumerRecord, IsolationLevel, OffsetReset,
    TopicPartition,
};
use ferrokafka_producer::{ProducerConfig, ProducerConfigBuilder};
use ferrokafka_protocol::ErrorCode;

/// The environment variable naming a real cluster's bootstrap servers
/// (`host:port,...`).
pub const BOOTSTRAP_ENV: &str = "FERROKAFKA_TEST_BOOTSTRAP";

/// How long [`TestCluster::read_to_end`] may take.
pub const READ_DEADLINE: Duration = Duration::from_secs(60);

/// How long the harness waits for a topic's leaders (generous: a real
/// cluster on a loaded machine can take seconds).
pub const TOPIC_DEADLINE: Duration = Duration::from_secs(60);

/// The harness's error: whatever a client or the broker reported, as text
/// with its source.
pub type HarnessError = Box<dyn Error + Send + Sync>;

/// Result alias for the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// A cluster to run a scenario on: real Kafka, or the bundled broker.
#[derive(Debug)]
pub struct TestCluster {
    bootstrap: String,
    /// The bundled broker, when no real cluster was given.
    broker: Option<BrokerHandle>,
    admin: Admin,
}

impl TestCluster {
    /// The cluster named by `FERROKAFKA_TEST_BOOTSTRAP` if it is set (and
    /// not empty), else a bundled broker started in this process on port 0.
    /// It names itself on stderr (shown with a failure, or `--nocapture`).
    pub async fn start() -> Result<TestCluster> {
        let cluster = match std::env::var(BOOTSTRAP_ENV) {
            Ok(bootstrap) if !bootstrap.trim().is_empty() => {
                TestCluster::external(bootstrap.trim()).await?
            }
            _ => TestCluster::bundled().await?,
        };
        eprintln!("scenario on {}", cluster.describe());
        Ok(cluster)
    }

    /// A real cluster at `bootstrap` (`host:port,...`).
    pub async fn external(bootstrap: &str) -> Result<TestCluster> {
        let bootstrap = bootstrap.to_owned();
        let admin = Admin::connect(client_config(&bootstrap)?).await?;
        Ok(TestCluster {
            bootstrap,
            broker: None,
            admin,
        })
    }

    /// A bundled one-node broker on an ephemeral port.
    pub async fn bundled() -> Result<TestCluster> {
        let broker = Broker::builder().start().await?;
        let bootstrap = broker.bootstrap_servers();
        let admin = Admin::connect(client_config(&bootstrap)?).await?;
        Ok(TestCluster {
            bootstrap,
            broker: Some(broker),
            admin,
        })
    }

    /// The bootstrap servers, `host:port,...`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Whether this is a real (external) cluster rather than the bundled
    /// broker.
    pub fn is_real(&self) -> bool {
        self.broker.is_none()
    }

    /// What a scenario's output calls this cluster.
    pub fn describe(&self) -> String {
        if self.is_real() {
            format!("real Kafka at {}", self.bootstrap)
        } else {
            format!("bundled broker at {}", self.bootstrap)
        }
    }

    /// The harness's admin client.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// A client config for this cluster with short backoffs and a 30 s
    /// request timeout.
    pub fn client_config(&self) -> Result<ClientConfig> {
        client_config(&self.bootstrap)
    }

    /// A producer config builder for this cluster (short backoffs, a 30 s
    /// request timeout); the scenario adds what it tests.
    pub fn producer_config(&self) -> ProducerConfigBuilder {
        ProducerConfig::builder()
            .bootstrap_servers(self.bootstrap.split(','))
            .request_timeout(Duration::from_secs(30))
            .retry_backoff(Duration::from_millis(20), Duration::from_millis(500))
    }

    /// A consumer config builder for this cluster reading from the earliest
    /// offset (short backoffs, a 30 s request timeout, no auto commit).
    pub fn consumer_config(&self) -> ConsumerConfigBuilder {
        ConsumerConfig::builder()
            .bootstrap_servers(self.bootstrap.split(','))
            .request_timeout(Duration::from_secs(30))
            .retry_backoff(Duration::from_millis(20), Duration::from_millis(500))
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
    }

    /// Creates `name` with `partitions` partitions and the cluster's default
    /// replication factor, through the admin client, and waits until the
    /// metadata shows a leader for every partition.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.create_topic_with(NewTopic::new(name, partitions, -1))
            .await
    }

    /// Creates `topic` (with its configs and replication factor) and waits
    /// until the metadata shows a leader for every partition.
    pub async fn create_topic_with(&self, topic: NewTopic) -> Result<()> {
        let name = topic.name.clone();
        let results = self
            .admin
            .create_topics([topic], CreateTopicsOptions::default())
            .await?;
        for (topic, result) in results {
            if let Err(error) = result {
                return Err(format!("creating {topic}: {error}").into());
            }
        }
        self.wait_for_leaders(&name).await
    }

    /// Waits until the metadata lists `topic` with a leader for each
    /// partition (and the count stops at what it was created with).
    pub async fn wait_for_leaders(&self, topic: &str) -> Result<()> {
        let start = Instant::now();
        loop {
            let described = self
                .admin
                .describe_topics(&[topic], DescribeTopicsOptions::default())
                .await?;
            let ready = described.iter().any(|(_, d)| {
                d.as_ref().is_ok_and(|d| {
                    !d.partitions.is_empty() && d.partitions.iter().all(|p| p.leader.is_some())
                })
            });
            if ready {
                return Ok(());
            }
            let last = described.into_iter().next().map(|(_, d)| d);
            if let Some(Err(e)) = &last
                && e.code() != Some(ErrorCode::UnknownTopicOrPartition)
                && e.code() != Some(ErrorCode::LeaderNotAvailable)
            {
                return Err(format!("describing {topic}: {e}").into());
            }
            if start.elapsed() > TOPIC_DEADLINE {
                return Err(format!(
                    "{topic} has no leader for every partition after {TOPIC_DEADLINE:?}: {last:?}"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads every partition of `topic` (`0..partitions`) from its start to
    /// the end offset it has when the read begins (the last stable offset
    /// under `read_committed`), with a consumer of its own (no group), and
    /// returns the records in the order polled. Fails after
    /// [`READ_DEADLINE`].
    pub async fn read_to_end(
        &self,
        topic: &str,
        partitions: i32,
        isolation: IsolationLevel,
    ) -> Result<Vec<ConsumerRecord>> {
        let config = self.consumer_config().isolation_level(isolation).build()?;
        let mut consumer = Consumer::connect(config).await?;
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        consumer.assign(tps.clone())?;
        let ends = consumer.end_offsets(&tps, Duration::from_secs(30)).await?;
        let start = Instant::now();
        let mut records = Vec::new();
        loop {
            let mut done = true;
            for tp in &tps {
                let end = ends.get(tp).copied().unwrap_or(0);
                if consumer.position(tp).await? < end {
                    done = false;
                }
            }
            if done {
                break;
            }
            if start.elapsed() > READ_DEADLINE {
                let mut positions = Vec::new();
                for tp in &tps {
                    positions.push((tp.partition, consumer.position(tp).await?));
                }
                return Err(format!(
                    "reading {topic} to {ends:?}: still at {positions:?} after {READ_DEADLINE:?} ({} records)",
                    records.len()
                )
                .into());
            }
            records.extend(consumer.poll(Duration::from_millis(500)).await?);
        }
        consumer.close(Duration::from_secs(5)).await;
        Ok(records)
    }

    /// Stops the bundled broker (gracefully); a real cluster stays up, it
    /// belongs to whoever started it.
    pub async fn shutdown(self) {
        self.admin.close();
        if let Some(broker) = self.broker {
            broker.shutdown().await;
        }
    }
}

fn client_config(bootstrap: &str) -> Result<ClientConfig> {
    Ok(ClientConfig::builder()
        .bootstrap_servers(bootstrap.split(','))
        .request_timeout(Duration::from_secs(30))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(500))
        .build()?)
}

/// `name` made unique to this run and call: `name-<run>-<n>`, where `<run>`
/// is this process's start (ms since the epoch, base 36) and id, so a real
/// cluster reused across runs never sees an earlier run's topics or groups.
pub fn unique(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        format!("{}{}", base36(ms), base36(u128::from(std::process::id())))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{run}-{n}")
}

fn base36(mut n: u128) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS.get((n % 36) as usize).copied().unwrap_or(b'0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl TestCluster {
    /// The same as the free function [`unique`].
    pub fn unique(&self, name: &str) -> String {
        unique(name)
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after
/// `deadline` naming `what` it waited for.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if start.elapsed() > deadline {
            return Err(format!("timed out after {deadline:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
