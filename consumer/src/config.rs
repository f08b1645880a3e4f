//! [`ConsumerConfig`]: the consumer's settings by the Java client's property
//! names, with the Java consumer's defaults (Kafka 4.x: `session.timeout.ms`
//! 45000 per KIP-735).
//!
//! The defaults live in the one [`Default`] impl. Properties are parsed in
//! [`ConsumerConfig::set`], which falls back to
//! [`ClientConfig::set`](ferrokafka_client::ClientConfig::set) for the shared
//! ones; [`ConsumerConfig::from_properties`], the builder and serde all go
//! through it, so an unknown name is always an error naming it.

use std::time::Duration;

use ferrokafka_client::ClientConfig;
use ferrokafka_client::config::{normalize_property_name, parse_bool, parse_millis};

use crate::error::{Error, Result};

/// Where a partition without a committed offset (or with an out-of-range
/// position) starts (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OffsetReset {
    /// The log end: only records produced from now on.
    #[default]
    Latest,
    /// The log start.
    Earliest,
    /// No reset: `poll` returns an error.
    None,
}

/// Which records a fetch may return (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark.
    #[default]
    ReadUncommitted,
    /// Only records up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The value of the Fetch and ListOffsets `isolation_level` field.
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// A partition assignment strategy by its protocol name
/// (`partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStrategy {
    /// `range`: consecutive partitions of each topic per member.
    Range,
    /// `roundrobin`: all partitions dealt out one by one.
    RoundRobin,
    /// `sticky`: Java's eager `StickyAssignor`: balanced, and keeps each
    /// member's previous partitions where balance allows, but every member
    /// gives up all its partitions before each rebalance (eager protocol).
    Sticky,
    /// `cooperative-sticky`: balanced, keeps partitions in place, and
    /// rebalances incrementally (KIP-429): members keep fetching the
    /// partitions they keep during a rebalance.
    CooperativeSticky,
}

impl AssignmentStrategy {
    /// The protocol name, as the Java client writes it.
    pub fn name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
            AssignmentStrategy::Sticky => "sticky",
            AssignmentStrategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// Whether the strategy rebalances incrementally (KIP-429).
    pub fn is_cooperative(self) -> bool {
        self == AssignmentStrategy::CooperativeSticky
    }

    fn parse(name: &str, value: &str) -> Result<AssignmentStrategy> {
        match value.trim() {
            "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => {
                Ok(AssignmentStrategy::Range)
            }
            "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => {
                Ok(AssignmentStrategy::RoundRobin)
            }
            "cooperative-sticky"
            | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
                Ok(AssignmentStrategy::CooperativeSticky)
            }
            "sticky" | "org.apache.kafka.clients.consumer.StickyAssignor" => {
                Ok(AssignmentStrategy::Sticky)
            }
            _ => Err(ferrokafka_client::Error::invalid_property(
                name,
                value,
                "expected range, roundrobin, sticky or cooperative-sticky",
            )
            .into()),
        }
    }
}

/// The consumer's configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// Settings shared with every client: `bootstrap.servers`, `client.id`,
    /// `request.timeout.ms`, `retry.backoff.ms`...
    pub client: ClientConfig,
    /// `group.id`: the consumer group; needed by `subscribe` and commits.
    pub group_id: Option<String>,
    /// `group.instance.id`: a static member id (KIP-345).
    pub group_instance_id: Option<String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`: commit positions on an interval, before a
    /// revoke and on close (only with a `group.id`).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `fetch.min.bytes`: the broker waits for this much data...
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`: ...or this long.
    pub fetch_max_wait: Duration,
    /// `fetch.max.bytes`: the most bytes one fetch response carries.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: the most bytes per partition per fetch.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records`: the most records one `poll` returns.
    pub max_poll_records: usize,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `check.crcs`: verify each fetched batch's CRC.
    pub check_crcs: bool,
    /// `session.timeout.ms`: the coordinator drops a member it has not
    /// heard from for this long.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`: a member that does not poll for this long
    /// leaves the group; also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`, in order of preference.
    pub partition_assignment_strategy: Vec<AssignmentStrategy>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client: ClientConfig::default(),
            // Java: null.
            group_id: None,
            // Java: null (dynamic membership).
            group_instance_id: None,
            // Java: "latest".
            auto_offset_reset: OffsetReset::Latest,
            // Java: true.
            enable_auto_commit: true,
            // Java: 5000.
            auto_commit_interval: Duration::from_millis(5_000),
            // Java: 1.
            fetch_min_bytes: 1,
            // Java: 500.
            fetch_max_wait: Duration::from_millis(500),
            // Java: 52428800 (50 MiB).
            fetch_max_bytes: 52_428_800,
            // Java: 1048576 (1 MiB).
            max_partition_fetch_bytes: 1_048_576,
            // Java: 500.
            max_poll_records: 500,
            // Java: "read_uncommitted".
            isolation_level: IsolationLevel::ReadUncommitted,
            // Java: true.
            check_crcs: true,
            // Java: 45000 since 3.0 (KIP-735; was 10000).
            session_timeout: Duration::from_millis(45_000),
            // Java: 3000.
            heartbeat_interval: Duration::from_millis(3_000),
            // Java: 300000.
            max_poll_interval: Duration::from_millis(300_000),
            // Java: [range, cooperative-sticky] (range is chosen while any
            // member lacks cooperative-sticky; KIP-429's upgrade path).
            partition_assignment_strategy: vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky,
            ],
        }
    }
}

/// The property names [`ConsumerConfig::set`] understands besides the
/// [client ones](ferrokafka_client::config::PROPERTIES).
pub const PROPERTIES: &[&str] = &[
    "group.id",
    "group.instance.id",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "max.poll.records",
    "isolation.level",
    "check.crcs",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
];

fn parse_number<T: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<T> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| ferrokafka_client::Error::invalid_property(name, value, expected).into())
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn millis_i32(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

impl ConsumerConfig {
    /// Starts a builder from the defaults.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: ConsumerConfig::default(),
        }
    }

    /// Sets one property by its Kafka name (consumer properties first, then
    /// the shared client ones). Returns `Ok(false)` for a name neither knows.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool> {
        let key = normalize_property_name(name);
        match key.as_str() {
            "group.id" => self.group_id = non_empty(value),
            "group.instance.id" => self.group_instance_id = non_empty(value),
            "auto.offset.reset" => {
                self.auto_offset_reset = match value.trim().to_ascii_lowercase().as_str() {
                    "latest" => OffsetReset::Latest,
                    "earliest" => OffsetReset::Earliest,
                    "none" => OffsetReset::None,
                    _ => {
                        return Err(ferrokafka_client::Error::invalid_property(
                            name,
                            value,
                            "expected latest, earliest or none",
                        )
                        .into());
                    }
                }
            }
            "enable.auto.commit" => self.enable_auto_commit = parse_bool(name, value)?,
            "auto.commit.interval.ms" => self.auto_commit_interval = parse_millis(name, value)?,
            "fetch.min.bytes" => {
                self.fetch_min_bytes = parse_number(name, value, "expected a byte count")?
            }
            "fetch.max.wait.ms" => self.fetch_max_wait = parse_millis(name, value)?,
            "fetch.max.bytes" => {
                self.fetch_max_bytes = parse_number(name, value, "expected a byte count")?
            }
            "max.partition.fetch.bytes" => {
                self.max_partition_fetch_bytes = parse_number(name, value, "expected a byte count")?
            }
            "max.poll.records" => {
                self.max_poll_records = parse_number(name, value, "expected a positive count")?
            }
            "isolation.level" => {
                self.isolation_level = match value.trim().to_ascii_lowercase().as_str() {
                    "read_uncommitted" => IsolationLevel::ReadUncommitted,
                    "read_committed" => IsolationLevel::ReadCommitted,
                    _ => {
                        return Err(ferrokafka_client::Error::invalid_property(
                            name,
                            value,
                            "expected read_uncommitted or read_committed",
                        )
                        .into());
                    }
                }
            }
            "check.crcs" => self.check_crcs = parse_bool(name, value)?,
            "session.timeout.ms" => self.session_timeout = parse_millis(name, value)?,
            "heartbeat.interval.ms" => self.heartbeat_interval = parse_millis(name, value)?,
            "max.poll.interval.ms" => self.max_poll_interval = parse_millis(name, value)?,
            "partition.assignment.strategy" => {
                let strategies = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| AssignmentStrategy::parse(name, s))
                    .collect::<Result<Vec<_>>>()?;
                if strategies.is_empty() {
                    return Err(ferrokafka_client::Error::invalid_property(
                        name,
                        value,
                        "expected at least one strategy",
                    )
                    .into());
                }
                self.partition_assignment_strategy = strategies;
            }
            _ => return Ok(self.client.set(name, value)?),
        }
        Ok(true)
    }

    /// Builds a configuration from Kafka properties (`"group.id"`,
    /// `"bootstrap.servers"`...); an unknown name or a malformed value is an
    /// error naming it, conflicting settings an error naming both.
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ConsumerConfig> {
        let mut config = ConsumerConfig::default();
        for (name, value) in properties {
            if !config.set(name.as_ref(), value.as_ref())? {
                return Err(
                    ferrokafka_client::Error::UnknownProperty(name.as_ref().to_string()).into(),
                );
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Whether auto-commit is in effect (it needs a group).
    pub fn auto_commit_enabled(&self) -> bool {
        self.enable_auto_commit && self.group_id.is_some()
    }

    /// `session.timeout.ms` as the protocol's i32.
    pub(crate) fn session_timeout_ms(&self) -> i32 {
        millis_i32(self.session_timeout)
    }

    /// `max.poll.interval.ms` as the protocol's i32 (the rebalance timeout).
    pub(crate) fn rebalance_timeout_ms(&self) -> i32 {
        millis_i32(self.max_poll_interval)
    }

    /// `fetch.max.wait.ms` as the protocol's i32.
    pub(crate) fn fetch_max_wait_ms(&self) -> i32 {
        millis_i32(self.fetch_max_wait)
    }

    /// Checks settings that must agree with each other.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        let config = |m: String| Err(Error::Client(ferrokafka_client::Error::Config(m)));
        if self.heartbeat_interval >= self.session_timeout {
            return config(format!(
                "heartbeat.interval.ms ({}) must be lower than session.timeout.ms ({})",
                self.heartbeat_interval.as_millis(),
                self.session_timeout.as_millis()
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return config("heartbeat.interval.ms must be positive".into());
        }
        if self.max_poll_records == 0 {
            return config("max.poll.records must be at least 1".into());
        }
        if self.fetch_max_bytes < 0
            || self.max_partition_fetch_bytes < 0
            || self.fetch_min_bytes < 0
        {
            return config(
                "fetch.min.bytes, fetch.max.bytes and max.partition.fetch.bytes must not be negative"
                    .into(),
            );
        }
        if self.group_instance_id.is_some() && self.group_id.is_none() {
            return config("group.instance.id needs group.id".into());
        }
        if self.partition_assignment_strategy.is_empty() {
            return config("partition.assignment.strategy needs at least one strategy".into());
        }
        if self.auto_commit_interval.is_zero() && self.enable_auto_commit {
            return config(
                "auto.commit.interval.ms must be positive with enable.auto.commit".into(),
            );
        }
        Ok(())
    }
}

/// A builder of [`ConsumerConfig`], validated by [`ConsumerConfigBuilder::build`].
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
}

impl ConsumerConfigBuilder {
    /// `bootstrap.servers`.
    pub fn bootstrap_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.client.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client.client_id = id.into();
        self
    }

    /// Replaces the shared client settings.
    pub fn client_config(mut self, client: ClientConfig) -> Self {
        self.config.client = client;
        self
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.client.request_timeout = timeout;
        self
    }

    /// `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.client.retry_backoff = first;
        self.config.client.retry_backoff_max = max;
        self
    }

    /// `group.id`.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.config.group_id = Some(group.into());
        self
    }

    /// `group.instance.id`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    /// `auto.offset.reset`.
    pub fn auto_offset_reset(mut self, reset: OffsetReset) -> Self {
        self.config.auto_offset_reset = reset;
        self
    }

    /// `enable.auto.commit`.
    pub fn enable_auto_commit(mut self, enable: bool) -> Self {
        self.config.enable_auto_commit = enable;
        self
    }

    /// `auto.commit.interval.ms`.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.config.auto_commit_interval = interval;
        self
    }

    /// `fetch.min.bytes`.
    pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
        self.config.fetch_min_bytes = bytes;
        self
    }

    /// `fetch.max.wait.ms`.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.config.fetch_max_wait = wait;
        self
    }

    /// `fetch.max.bytes`.
    pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
        self.config.fetch_max_bytes = bytes;
        self
    }

    /// `max.partition.fetch.bytes`.
    pub fn max_partition_fetch_bytes(mut self, bytes: i32) -> Self {
        self.config.max_partition_fetch_bytes = bytes;
        self
    }

    /// `max.poll.records`.
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.config.max_poll_records = records;
        self
    }

    /// `isolation.level`.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.config.isolation_level = level;
        self
    }

    /// `check.crcs`.
    pub fn check_crcs(mut self, check: bool) -> Self {
        self.config.check_crcs = check;
        self
    }

    /// `session.timeout.ms`.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.config.session_timeout = timeout;
        self
    }

    /// `heartbeat.interval.ms`.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// `max.poll.interval.ms`.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.config.max_poll_interval = interval;
        self
    }

    /// `partition.assignment.strategy`.
    pub fn partition_assignment_strategy(
        mut self,
        strategies: impl IntoIterator<Item = AssignmentStrategy>,
    ) -> Self {
        self.config.partition_assignment_strategy = strategies.into_iter().collect();
        self
    }

    /// Sets a property by its Kafka name; unknown names are an error.
    pub fn property(mut self, name: &str, value: &str) -> Result<Self> {
        if self.config.set(name, value)? {
            Ok(self)
        } else {
            Err(ferrokafka_client::Error::UnknownProperty(name.to_string()).into())
        }
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<ConsumerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

impl<'de> serde::Deserialize<'de> for ConsumerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let entries = ferrokafka_client::config::deserialize_properties(deserializer)?;
        ConsumerConfig::from_properties(entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn defaults_match_the_java_consumer() {
        let c = ConsumerConfig::default();
        assert_eq!(c.auto_offset_reset, OffsetReset::Latest);
        assert!(c.enable_auto_commit);
        assert_eq!(c.auto_commit_interval, Duration::from_millis(5000));
        assert_eq!(c.fetch_min_bytes, 1);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(500));
        assert_eq!(c.fetch_max_bytes, 52_428_800);
        assert_eq!(c.max_partition_fetch_bytes, 1_048_576);
        assert_eq!(c.max_poll_records, 500);
        assert_eq!(c.session_timeout, Duration::from_millis(45_000));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(3_000));
        assert_eq!(c.max_poll_interval, Duration::from_millis(300_000));
        assert_eq!(
            c.partition_assignment_strategy,
            vec![
                AssignmentStrategy::Range,
                AssignmentStrategy::CooperativeSticky
            ]
        );
        c.validate().unwrap();
    }

    #[test]
    fn properties_by_kafka_name_including_client_ones() {
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "a:1,b:2"),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("max.poll.records", "10"),
            ("isolation.level", "read_committed"),
            ("partition.assignment.strategy", "roundrobin,range"),
            ("group.instance.id", "i-1"),
        ])
        .unwrap();
        assert_eq!(c.client.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.max_poll_records, 10);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(
            c.partition_assignment_strategy,
            vec![AssignmentStrategy::RoundRobin, AssignmentStrategy::Range]
        );
    }

    #[test]
    fn unknown_malformed_and_conflicting_properties_are_named() {
        let err = ConsumerConfig::from_properties([("fetch.min.byte", "1")]).unwrap_err();
        assert!(err.to_string().contains("fetch.min.byte"), "{err}");
        let err = ConsumerConfig::from_properties([("auto.offset.reset", "smallest")]).unwrap_err();
        assert!(err.to_string().contains("auto.offset.reset"), "{err}");
        let err = ConsumerConfig::from_properties([
            ("session.timeout.ms", "1000"),
            ("heartbeat.interval.ms", "3000"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("session.timeout.ms") && text.contains("heartbeat.interval.ms"),
            "{text}"
        );
        let err = ConsumerConfig::builder()
            .group_instance_id("x")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("group.id"), "{err}");
        let err = ConsumerConfig::from_properties([("partition.assignment.strategy", "stiky")])
            .unwrap_err();
        assert!(
            err.to_string().contains("partition.assignment.strategy"),
            "{err}"
        );
    }

    #[test]
    fn eager_sticky_is_selectable_by_either_name() {
        for name in ["sticky", "org.apache.kafka.clients.consumer.StickyAssignor"] {
            let c =
                ConsumerConfig::from_properties([("partition.assignment.strategy", name)]).unwrap();
            assert_eq!(
                c.partition_assignment_strategy,
                vec![AssignmentStrategy::Sticky]
            );
            assert!(!AssignmentStrategy::Sticky.is_cooperative());
            assert_eq!(AssignmentStrategy::Sticky.name(), "sticky");
        }
    }

    #[test]
    fn spring_style_keys_through_serde() {
        let json = r#"{"bootstrap-servers": "h:9092", "group-id": "g", "max-poll-records": 7, "enable-auto-commit": false}"#;
        let c: ConsumerConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.max_poll_records, 7);
        assert!(!c.enable_auto_commit);
        let err = serde_json::from_str::<ConsumerConfig>(r#"{"grup.id": "g"}"#).unwrap_err();
        assert!(err.to_string().contains("grup.id"), "{err}");
    }
}
