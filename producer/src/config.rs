//! [`ProducerConfig`]: the producer's settings by the Java client's property
//! names, with Kafka 4.x defaults (idempotence on, `acks=all`, `linger.ms`
//! 5 per KIP-1030).
//!
//! The defaults live in the one [`Default`] impl. Properties are parsed in
//! [`ProducerConfig::set`], which falls back to
//! [`ClientConfig::set`](ferrokafka_client::ClientConfig::set) for the shared
//! ones (`bootstrap.servers`, `request.timeout.ms`, `retry.backoff.ms`...);
//! [`ProducerConfig::from_properties`], the builder and serde all go
//! through it, so an unknown name is always an error naming it.
//!
//! Idempotence follows the Java client (KIP-679): on by default, silently
//! turned off when it was not set explicitly and `acks`,
//! `max.in.flight.requests.per.connection` or `retries` conflict with it, and
//! a configuration error naming both settings when it was set explicitly.

use std::time::Duration;

use ferrokafka_client::ClientConfig;
use ferrokafka_client::config::{normalize_property_name, parse_bool, parse_millis};
use ferrokafka_protocol::compression::Compression;

use crate::error::{Error, Result};

/// How many replicas must have a record before the broker acknowledges it
/// (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: the broker sends no response; records count as delivered
    /// once written to the socket, with offset -1.
    None,
    /// `acks=1`: the leader has written it.
    Leader,
    /// `acks=all` (or `-1`): every in-sync replica has it.
    #[default]
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    fn parse(name: &str, value: &str) -> Result<Acks> {
        match value.trim().to_ascii_lowercase().as_str() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "all" | "-1" => Ok(Acks::All),
            _ => Err(ferrokafka_client::Error::invalid_property(
                name,
                value,
                "expected 0, 1, all or -1",
            )
            .into()),
        }
    }
}

impl std::fmt::Display for Acks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// The most requests in flight per connection that still keep an
/// idempotent producer's order: the broker remembers the last 5 batches of
/// each producer and partition.
pub const MAX_IN_FLIGHT_FOR_IDEMPOTENCE: usize = 5;

/// The producer's configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducerConfig {
    /// Settings shared with every client: `bootstrap.servers`, `client.id`,
    /// `request.timeout.ms` (also the Produce request's broker-side
    /// timeout), `retry.backoff.ms` / `retry.backoff.max.ms`...
    pub client: ClientConfig,
    /// `acks`.
    pub acks: Acks,
    /// `batch.size`: the most bytes (uncompressed) one partition's batch
    /// collects before it is sent.
    pub batch_size: usize,
    /// `linger.ms`: how long a batch waits for more records before it is
    /// sent when not full.
    pub linger: Duration,
    /// `buffer.memory`: the most bytes the batches waiting to be delivered
    /// may hold (as in the Java client, an open batch holds `batch.size`
    /// when that much is free); `send` waits for room up to `max.block.ms`,
    /// and while one waits every batch is sent without lingering.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for metadata or buffer space.
    pub max_block: Duration,
    /// `max.request.size`: the largest Produce request, and so the largest record.
    pub max_request_size: usize,
    /// `compression.type`: the codec applied to each sealed batch.
    pub compression_type: Compression,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight_requests_per_connection: usize,
    /// `retries`: how often a batch is resent after a retriable error
    /// (`delivery.timeout.ms` is the bound that matters in practice).
    pub retries: i32,
    /// `delivery.timeout.ms`: the bound on a record's whole life after
    /// `send` returned.
    pub delivery_timeout: Duration,
    /// `enable.idempotence`: `None` when not set explicitly (then on, unless
    /// other settings conflict with it); see
    /// [`ProducerConfig::idempotence_enabled`].
    pub enable_idempotence: Option<bool>,
    /// `partitioner.ignore.keys`: place keyed records like unkeyed ones.
    pub partitioner_ignore_keys: bool,
    /// `transactional.id`: makes the producer transactional (see
    /// [`Producer::init_transactions`](crate::Producer::init_transactions));
    /// needs idempotence.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the transaction coordinator lets a
    /// transaction stay open before aborting it.
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            client: ClientConfig::default(),
            // Java: "all" since 3.0 (KIP-679).
            acks: Acks::All,
            // Java: 16384.
            batch_size: 16_384,
            // Java: 5 since 4.0 (KIP-1030; was 0).
            linger: Duration::from_millis(5),
            // Java: 33554432 (32 MiB).
            buffer_memory: 32 * 1024 * 1024,
            // Java: 60000.
            max_block: Duration::from_millis(60_000),
            // Java: 1048576.
            max_request_size: 1_048_576,
            // Java: "none".
            compression_type: Compression::None,
            // Java: 5.
            max_in_flight_requests_per_connection: 5,
            // Java: Integer.MAX_VALUE (2147483647).
            retries: i32::MAX,
            // Java: 120000.
            delivery_timeout: Duration::from_millis(120_000),
            // Java: true since 3.0 (KIP-679), unless other settings conflict
            // and it was not set explicitly.
            enable_idempotence: None,
            // Java: false.
            partitioner_ignore_keys: false,
            // Java: null (not transactional).
            transactional_id: None,
            // Java: 60000.
            transaction_timeout: Duration::from_millis(60_000),
        }
    }
}

/// The property names [`ProducerConfig::set`] understands besides the
/// [client ones](ferrokafka_client::config::PROPERTIES).
pub const PROPERTIES: &[&str] = &[
    "acks",
    "batch.size",
    "linger.ms",
    "buffer.memory",
    "max.block.ms",
    "max.request.size",
    "compression.type",
    "max.in.flight.requests.per.connection",
    "retries",
    "delivery.timeout.ms",
    "enable.idempotence",
    "partitioner.ignore.keys",
    "transactional.id",
    "transaction.timeout.ms",
];

fn parse_number<T: std::str::FromStr>(name: &str, value: &str, expected: &str) -> Result<T> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| ferrokafka_client::Error::invalid_property(name, value, expected).into())
}

impl ProducerConfig {
    /// Starts a builder from the defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig::default(),
        }
    }

    /// Sets one property by its Kafka name (producer properties first, then
    /// the shared client ones). Returns `Ok(false)` for a name neither knows.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool> {
        let key = normalize_property_name(name);
        match key.as_str() {
            "acks" => self.acks = Acks::parse(name, value)?,
            "batch.size" => self.batch_size = parse_number(name, value, "expected a byte count")?,
            "linger.ms" => self.linger = parse_millis(name, value)?,
            "buffer.memory" => {
                self.buffer_memory = parse_number(name, value, "expected a byte count")?
            }
            "max.block.ms" => self.max_block = parse_millis(name, value)?,
            "max.request.size" => {
                self.max_request_size = parse_number(name, value, "expected a byte count")?
            }
            "compression.type" => {
                self.compression_type = Compression::from_name(value.trim()).ok_or_else(|| {
                    ferrokafka_client::Error::invalid_property(
                        name,
                        value,
                        "expected none, gzip, snappy, lz4 or zstd",
                    )
                })?
            }
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight_requests_per_connection =
                    parse_number(name, value, "expected a positive count")?
            }
            "retries" => self.retries = parse_number(name, value, "expected a count")?,
            "delivery.timeout.ms" => self.delivery_timeout = parse_millis(name, value)?,
            "enable.idempotence" => self.enable_idempotence = Some(parse_bool(name, value)?),
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = parse_bool(name, value)?,
            "transactional.id" => {
                let id = value.trim();
                self.transactional_id = (!id.is_empty()).then(|| id.to_string());
            }
            "transaction.timeout.ms" => self.transaction_timeout = parse_millis(name, value)?,
            _ => return Ok(self.client.set(name, value)?),
        }
        Ok(true)
    }

    /// Builds a configuration from Kafka properties (`"linger.ms"`,
    /// `"bootstrap.servers"`...); an unknown name or a malformed value is an
    /// error naming it, conflicting settings an error naming both.
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ProducerConfig> {
        let mut config = ProducerConfig::default();
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

    /// Whether the producer runs idempotently: as set explicitly, or else
    /// on unless `acks`, `max.in.flight.requests.per.connection` or
    /// `retries` conflict with it (as the Java client decides).
    pub fn idempotence_enabled(&self) -> bool {
        if self.transactional_id.is_some() && self.enable_idempotence.is_none() {
            return true;
        }
        match self.enable_idempotence {
            Some(explicit) => explicit,
            None => self.idempotence_conflict().is_none(),
        }
    }

    /// The first setting that idempotence cannot work with, as a message
    /// naming it.
    fn idempotence_conflict(&self) -> Option<String> {
        if self.acks != Acks::All {
            return Some(format!(
                "acks={} conflicts with enable.idempotence=true (it needs acks=all)",
                self.acks
            ));
        }
        if self.max_in_flight_requests_per_connection > MAX_IN_FLIGHT_FOR_IDEMPOTENCE {
            return Some(format!(
                "max.in.flight.requests.per.connection={} conflicts with enable.idempotence=true (it needs at most {MAX_IN_FLIGHT_FOR_IDEMPOTENCE})",
                self.max_in_flight_requests_per_connection
            ));
        }
        if self.retries == 0 {
            return Some(
                "retries=0 conflicts with enable.idempotence=true (it needs retries > 0)".into(),
            );
        }
        None
    }

    /// Checks settings that must agree with each other.
    pub fn validate(&self) -> Result<()> {
        self.client.validate()?;
        if self.transactional_id.is_some() {
            if self.enable_idempotence == Some(false) {
                return Err(Error::config(
                    "transactional.id needs enable.idempotence=true (it is set to false)",
                ));
            }
            if let Some(conflict) = self.idempotence_conflict() {
                return Err(Error::config(format!(
                    "transactional.id needs idempotence, but {conflict}"
                )));
            }
            if self.transaction_timeout.is_zero()
                || i32::try_from(self.transaction_timeout.as_millis()).is_err()
            {
                return Err(Error::config(
                    "transaction.timeout.ms must be positive and fit in 32 bits",
                ));
            }
        }
        if self.enable_idempotence == Some(true) {
            if let Some(conflict) = self.idempotence_conflict() {
                return Err(Error::config(conflict));
            }
        }
        if self.max_in_flight_requests_per_connection == 0 {
            return Err(Error::config(
                "max.in.flight.requests.per.connection must be at least 1",
            ));
        }
        if self.retries < 0 {
            return Err(Error::config("retries must not be negative"));
        }
        if self.buffer_memory == 0 {
            return Err(Error::config("buffer.memory must be positive"));
        }
        if self.max_request_size == 0 {
            return Err(Error::config("max.request.size must be positive"));
        }
        let needed = self.linger.saturating_add(self.client.request_timeout);
        if self.delivery_timeout < needed {
            return Err(Error::config(format!(
                "delivery.timeout.ms ({} ms) must be at least linger.ms ({} ms) + request.timeout.ms ({} ms)",
                self.delivery_timeout.as_millis(),
                self.linger.as_millis(),
                self.client.request_timeout.as_millis()
            )));
        }
        // The Produce request carries its timeout as an i32 of milliseconds.
        if i32::try_from(self.client.request_timeout.as_millis()).is_err() {
            return Err(Error::config("request.timeout.ms must fit in 32 bits"));
        }
        Ok(())
    }
}

/// A typed builder over [`ProducerConfig`], validated by
/// [`build`](ProducerConfigBuilder::build).
#[derive(Debug, Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl ProducerConfigBuilder {
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
    /// Replaces every shared client setting at once.
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
    /// `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }
    /// `batch.size`.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.batch_size = bytes;
        self
    }
    /// `linger.ms`.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }
    /// `buffer.memory`.
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.config.buffer_memory = bytes;
        self
    }
    /// `max.block.ms`.
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.config.max_block = max_block;
        self
    }
    /// `max.request.size`.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.max_request_size = bytes;
        self
    }
    /// `compression.type`.
    pub fn compression_type(mut self, compression: Compression) -> Self {
        self.config.compression_type = compression;
        self
    }
    /// `max.in.flight.requests.per.connection`.
    pub fn max_in_flight_requests_per_connection(mut self, count: usize) -> Self {
        self.config.max_in_flight_requests_per_connection = count;
        self
    }
    /// `retries`.
    pub fn retries(mut self, retries: i32) -> Self {
        self.config.retries = retries;
        self
    }
    /// `delivery.timeout.ms`.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.delivery_timeout = timeout;
        self
    }
    /// `enable.idempotence`, set explicitly.
    pub fn enable_idempotence(mut self, enable: bool) -> Self {
        self.config.enable_idempotence = Some(enable);
        self
    }
    /// `transactional.id`.
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.config.transactional_id = Some(id.into());
        self
    }

    /// `transaction.timeout.ms`.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.config.transaction_timeout = timeout;
        self
    }

    /// `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(mut self, ignore: bool) -> Self {
        self.config.partitioner_ignore_keys = ignore;
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
    pub fn build(self) -> Result<ProducerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

impl<'de> serde::Deserialize<'de> for ProducerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let entries = ferrokafka_client::config::deserialize_properties(deserializer)?;
        ProducerConfig::from_properties(entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_kafka_4_java_producer() {
        let c = ProducerConfig::default();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.batch_size, 16_384);
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.buffer_memory, 33_554_432);
        assert_eq!(c.max_block, Duration::from_millis(60_000));
        assert_eq!(c.max_request_size, 1_048_576);
        assert_eq!(c.compression_type, Compression::None);
        assert_eq!(c.max_in_flight_requests_per_connection, 5);
        assert_eq!(c.retries, i32::MAX);
        assert_eq!(c.delivery_timeout, Duration::from_millis(120_000));
        assert_eq!(c.client.request_timeout, Duration::from_millis(30_000));
        assert!(c.idempotence_enabled());
        c.validate().unwrap();
    }

    #[test]
    fn properties_by_kafka_name_including_client_ones() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("acks", "1"),
            ("linger.ms", "20"),
            ("batch.size", "1000"),
            ("compression.type", "lz4"),
            ("max.in.flight.requests.per.connection", "3"),
            ("request.timeout.ms", "1000"),
            ("delivery.timeout.ms", "5000"),
        ])
        .unwrap();
        assert_eq!(c.acks, Acks::Leader);
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.batch_size, 1000);
        assert_eq!(c.compression_type, Compression::Lz4);
        assert_eq!(c.max_in_flight_requests_per_connection, 3);
        assert_eq!(c.client.bootstrap_servers, vec!["h:1"]);
        // Not set explicitly, and acks=1 conflicts: off, as in Java.
        assert!(!c.idempotence_enabled());
    }

    #[test]
    fn unknown_and_malformed_properties_name_the_property() {
        let err = ProducerConfig::from_properties([("linger.mss", "5")]).unwrap_err();
        assert!(err.to_string().contains("linger.mss"), "{err}");
        let err = ProducerConfig::from_properties([("acks", "2")]).unwrap_err();
        assert!(err.to_string().contains("acks"), "{err}");
        let err = ProducerConfig::from_properties([("compression.type", "brotli")]).unwrap_err();
        assert!(err.to_string().contains("compression.type"), "{err}");
        let err = ProducerConfig::from_properties([("batch.size", "-1")]).unwrap_err();
        assert!(err.to_string().contains("batch.size"), "{err}");
    }

    #[test]
    fn explicit_idempotence_conflicts_name_both_settings() {
        let err = ProducerConfig::builder()
            .enable_idempotence(true)
            .acks(Acks::Leader)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acks") && err.contains("enable.idempotence"),
            "{err}"
        );
        let err = ProducerConfig::from_properties([
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "6"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("max.in.flight.requests.per.connection")
                && err.contains("enable.idempotence"),
            "{err}"
        );
        // Implicit: silently off.
        let c = ProducerConfig::builder()
            .max_in_flight_requests_per_connection(10)
            .build()
            .unwrap();
        assert!(!c.idempotence_enabled());
        // Explicitly off with acks=0 is fine.
        let c = ProducerConfig::builder()
            .enable_idempotence(false)
            .acks(Acks::None)
            .build()
            .unwrap();
        assert!(!c.idempotence_enabled());
    }

    #[test]
    fn delivery_timeout_must_cover_linger_and_request_timeout() {
        let err = ProducerConfig::builder()
            .delivery_timeout(Duration::from_millis(1000))
            .request_timeout(Duration::from_millis(1000))
            .linger(Duration::from_millis(5))
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("delivery.timeout.ms")
                && err.contains("linger.ms")
                && err.contains("request.timeout.ms"),
            "{err}"
        );
        ProducerConfig::builder()
            .delivery_timeout(Duration::from_millis(1005))
            .request_timeout(Duration::from_millis(1000))
            .build()
            .unwrap();
    }

    #[test]
    fn spring_style_keys_through_serde() {
        let json = r#"{"bootstrap-servers": ["h1:9092"], "linger-ms": 10, "acks": "all", "enable_idempotence": true, "compression-type": "zstd"}"#;
        let c: ProducerConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.linger, Duration::from_millis(10));
        assert_eq!(c.compression_type, Compression::Zstd);
        assert_eq!(c.enable_idempotence, Some(true));
        let err = serde_json::from_str::<ProducerConfig>(r#"{"lingr.ms": 1}"#).unwrap_err();
        assert!(err.to_string().contains("lingr.ms"), "{err}");
    }

    #[test]
    fn transactional_settings_need_idempotence() {
        let c = ProducerConfig::from_properties([
            ("transactional.id", "orders-tx"),
            ("transaction.timeout.ms", "30000"),
        ])
        .unwrap();
        assert_eq!(c.transactional_id.as_deref(), Some("orders-tx"));
        assert_eq!(c.transaction_timeout, Duration::from_millis(30_000));
        assert!(c.idempotence_enabled());
        for conflict in [
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("retries", "0"),
        ] {
            let err =
                ProducerConfig::from_properties([("transactional.id", "t"), conflict]).unwrap_err();
            assert!(err.to_string().contains("transactional.id"), "{err}");
        }
        let err = ProducerConfig::from_properties([
            ("transactional.id", "t"),
            ("transaction.timeout.ms", "0"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("transaction.timeout.ms"), "{err}");
        // An empty id means "not transactional", as in Java's null.
        let c = ProducerConfig::from_properties([("transactional.id", "")]).unwrap();
        assert_eq!(c.transactional_id, None);
    }
}
