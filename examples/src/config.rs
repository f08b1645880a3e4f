//! Service configuration, the way a Spring Boot `application.yml` configures
//! `spring.kafka.*`: a TOML file (its path from `--config` or the
//! `FERROKAFKA_CONFIG` environment variable) with environment overrides,
//! and Kafka client properties by their own names (`"linger.ms"`) handed to
//! the clients' `from_properties` unchanged, so an unknown or malformed
//! property fails at start with its name.
//!
//! Environment overrides (applied after the file):
//!
//! | variable | setting |
//! |---|---|
//! | `FERROKAFKA_BOOTSTRAP_SERVERS` | `bootstrap_servers` (empty: start an embedded broker) |
//! | `FERROKAFKA_CLIENT_ID` | `client_id` |
//! | `FERROKAFKA_HTTP_ADDR` | `http_addr` |
//! | `FERROKAFKA_WEBHOOK_URL` | `webhook_url` |
//! | `FERROKAFKA_ORDERS_TOPIC` | `orders_topic` |
//! | `FERROKAFKA_KEY_SERIALIZER`, `FERROKAFKA_VALUE_SERIALIZER` | `key_serializer`, `value_serializer` |
//! | `FERROKAFKA_RETRY_INTERVAL_MS`, `FERROKAFKA_RETRY_MAX_RETRIES` | `[retry]` |
//! | `FERROKAFKA_PRODUCER_<NAME>` | `[producer]` property, `_` read as `.` (`FERROKAFKA_PRODUCER_LINGER_MS` is `linger.ms`) |
//! | `FERROKAFKA_CONSUMER_<NAME>` | `[consumer]` property, likewise |

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ferrokafka_client::ClientConfig;
use ferrokafka_consumer::ConsumerConfig;
use ferrokafka_producer::ProducerConfig;
use serde::Deserialize;

use crate::error::{ExampleError, Result};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "FERROKAFKA_CONFIG";

/// The prefix of every override variable.
const ENV_PREFIX: &str = "FERROKAFKA_";

/// The producer properties the services start from (the sample files'
/// values; `[producer]` overrides each): timeouts fit for an HTTP request's
/// life, so that a request to a dead cluster is answered (503) within
/// seconds rather than after the Java defaults' two minutes. A record
/// whose topic's metadata cannot be had fails after `max.block.ms`; one
/// that cannot be delivered after `delivery.timeout.ms`.
pub const DEFAULT_PRODUCER_PROPERTIES: [(&str, &str); 6] = [
    ("acks", "all"),
    ("linger.ms", "5"),
    ("compression.type", "none"),
    ("request.timeout.ms", "3000"),
    ("delivery.timeout.ms", "8000"),
    ("max.block.ms", "5000"),
];

/// The consumer properties the services start from (`[consumer]`
/// overrides each): a listener started after the first records still
/// sees them.
pub const DEFAULT_CONSUMER_PROPERTIES: [(&str, &str); 2] = [
    ("auto.offset.reset", "earliest"),
    ("max.poll.records", "100"),
];

/// How `/send` values are written (`value_serializer`); Spring's
/// `StringSerializer` and `JsonSerializer`. Orders are always JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// UTF-8 text as is.
    #[default]
    String,
    /// A JSON string (`"message 0"` with its quotes).
    Json,
}

/// How record keys are written (`key_serializer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// UTF-8 text (Java's `StringSerializer`: the same partition as a Java
    /// producer picks for the same key).
    #[default]
    String,
}

/// The retry policy of the webhook relay: Spring's `FixedBackOff(interval,
/// maxAttempts)`, `max_retries` retries after the first failure, then the
/// record goes to the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Wait between two attempts, in milliseconds.
    pub interval_ms: u64,
    /// Retries after the first failed attempt.
    pub max_retries: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            interval_ms: 1_000,
            max_retries: 3,
        }
    }
}

impl RetryConfig {
    /// The wait between two attempts.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

/// Topics the services create at start when missing (Spring's `NewTopic`
/// beans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicDefaults {
    /// Partitions of each created topic.
    pub partitions: i32,
    /// Replication factor of each created topic; -1 is the cluster default.
    pub replication_factor: i16,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            partitions: 1,
            replication_factor: -1,
        }
    }
}

/// A property value in the TOML file: text, a number or a boolean, all
/// handed to the client as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl PropertyValue {
    fn into_text(self) -> String {
        match self {
            PropertyValue::Text(s) => s,
            PropertyValue::Integer(i) => i.to_string(),
            PropertyValue::Float(f) => f.to_string(),
            PropertyValue::Bool(b) => b.to_string(),
        }
    }
}

/// The file as written, before its property values become text.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    bootstrap_servers: Option<String>,
    client_id: String,
    http_addr: String,
    key_serializer: KeyFormat,
    value_serializer: ValueFormat,
    orders_topic: String,
    webhook_url: Option<String>,
    retry: RetryConfig,
    topics: TopicDefaults,
    producer: BTreeMap<String, PropertyValue>,
    consumer: BTreeMap<String, PropertyValue>,
}

impl Default for FileConfig {
    fn default() -> Self {
        let defaults = ServiceConfig::default();
        FileConfig {
            bootstrap_servers: defaults.bootstrap_servers,
            client_id: defaults.client_id,
            http_addr: defaults.http_addr,
            key_serializer: defaults.key_serializer,
            value_serializer: defaults.value_serializer,
            orders_topic: defaults.orders_topic,
            webhook_url: defaults.webhook_url,
            retry: defaults.retry,
            topics: defaults.topics,
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
        }
    }
}

/// Everything the producer and consumer services are configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// `bootstrap.servers`; `None` starts an embedded broker.
    pub bootstrap_servers: Option<String>,
    /// `client.id` of every client the service opens.
    pub client_id: String,
    /// Where the producer service's HTTP server listens.
    pub http_addr: String,
    /// How keys are serialized.
    pub key_serializer: KeyFormat,
    /// How `/send` values are serialized.
    pub value_serializer: ValueFormat,
    /// The topic of the JSON orders.
    pub orders_topic: String,
    /// Where the relay listener POSTs each order (consumer service).
    pub webhook_url: Option<String>,
    /// The relay's retries before dead-lettering.
    pub retry: RetryConfig,
    /// Partitions and replication of the topics created at start.
    pub topics: TopicDefaults,
    /// Producer properties by their Kafka names.
    pub producer: BTreeMap<String, String>,
    /// Consumer properties by their Kafka names.
    pub consumer: BTreeMap<String, String>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            bootstrap_servers: None,
            client_id: "ferrokafka-example".to_owned(),
            http_addr: "127.0.0.1:8080".to_owned(),
            key_serializer: KeyFormat::String,
            value_serializer: ValueFormat::String,
            orders_topic: crate::order::ORDERS_TOPIC.to_owned(),
            webhook_url: None,
            retry: RetryConfig::default(),
            topics: TopicDefaults::default(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
        }
    }
}

impl ServiceConfig {
    /// Parses a TOML document; unknown top-level keys are errors.
    pub fn from_toml(text: &str) -> Result<ServiceConfig> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| ExampleError::Config(e.to_string()))?;
        let properties = |table: BTreeMap<String, PropertyValue>| {
            table
                .into_iter()
                .map(|(k, v)| (k, v.into_text()))
                .collect::<BTreeMap<_, _>>()
        };
        Ok(ServiceConfig {
            bootstrap_servers: file.bootstrap_servers.filter(|s| !s.trim().is_empty()),
            client_id: file.client_id,
            http_addr: file.http_addr,
            key_serializer: file.key_serializer,
            value_serializer: file.value_serializer,
            orders_topic: file.orders_topic,
            webhook_url: file.webhook_url.filter(|s| !s.trim().is_empty()),
            retry: file.retry,
            topics: file.topics,
            producer: properties(file.producer),
            consumer: properties(file.consumer),
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<ServiceConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ExampleError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| ExampleError::Config(format!("{}: {e}", path.display())))
    }

    /// What a binary runs with: the file named by `path` (else by
    /// `FERROKAFKA_CONFIG`, else the defaults), then the process
    /// environment's overrides.
    pub fn load(path: Option<&Path>) -> Result<ServiceConfig> {
        let from_env = std::env::var_os(CONFIG_ENV);
        let path = path.or(from_env.as_deref().map(Path::new));
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => ServiceConfig::default(),
        };
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// Applies `FERROKAFKA_*` overrides from `vars` (the process
    /// environment, or a list in tests). Other variables are ignored.
    pub fn apply_env<K, V>(&mut self, vars: impl IntoIterator<Item = (K, V)>) -> Result<()>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            let Some(setting) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let bad = |why: &str| ExampleError::Config(format!("{name}={value:?}: {why}"));
            match setting {
                "BOOTSTRAP_SERVERS" => {
                    let value = value.trim();
                    self.bootstrap_servers = (!value.is_empty()).then(|| value.to_owned());
                }
                "CLIENT_ID" => self.client_id = value.to_owned(),
                "HTTP_ADDR" => self.http_addr = value.to_owned(),
                "WEBHOOK_URL" => {
                    let value = value.trim();
                    self.webhook_url = (!value.is_empty()).then(|| value.to_owned());
                }
                "ORDERS_TOPIC" => self.orders_topic = value.to_owned(),
                "KEY_SERIALIZER" => {
                    self.key_serializer = match value.trim().to_ascii_lowercase().as_str() {
                        "string" => KeyFormat::String,
                        _ => return Err(bad("expected string")),
                    }
                }
                "VALUE_SERIALIZER" => {
                    self.value_serializer = match value.trim().to_ascii_lowercase().as_str() {
                        "string" => ValueFormat::String,
                        "json" => ValueFormat::Json,
                        _ => return Err(bad("expected string or json")),
                    }
                }
                "RETRY_INTERVAL_MS" => {
                    self.retry.interval_ms = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected milliseconds"))?;
                }
                "RETRY_MAX_RETRIES" => {
                    self.retry.max_retries =
                        value.trim().parse().map_err(|_| bad("expected a count"))?;
                }
                other => {
                    if let Some(property) = other.strip_prefix("PRODUCER_") {
                        self.producer
                            .insert(env_property_name(property), value.to_owned());
                    } else if let Some(property) = other.strip_prefix("CONSUMER_") {
                        self.consumer
                            .insert(env_property_name(property), value.to_owned());
                    }
                    // FERROKAFKA_CONFIG and anything unknown: not an override.
                }
            }
        }
        Ok(())
    }

    /// The bootstrap servers, which must be known by now (after an
    /// embedded broker was started if none was configured).
    fn bootstrap(&self) -> Result<&str> {
        self.bootstrap_servers
            .as_deref()
            .ok_or_else(|| ExampleError::Config("no bootstrap servers".into()))
    }

    /// The common client settings (`bootstrap.servers`, `client.id`).
    pub fn client_config(&self) -> Result<ClientConfig> {
        Ok(ClientConfig::from_properties([
            ("bootstrap.servers", self.bootstrap()?),
            ("client.id", self.client_id.as_str()),
        ])?)
    }

    /// The producer settings: [`DEFAULT_PRODUCER_PROPERTIES`], the
    /// `[producer]` properties, then `bootstrap.servers` and `client.id`
    /// from the top level.
    pub fn producer_config(&self) -> Result<ProducerConfig> {
        let properties = DEFAULT_PRODUCER_PROPERTIES
            .into_iter()
            .chain(self.producer.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain([
                ("bootstrap.servers", self.bootstrap()?),
                ("client.id", self.client_id.as_str()),
            ]);
        Ok(ProducerConfig::from_properties(properties)?)
    }

    /// The settings of a consumer in `group`:
    /// [`DEFAULT_CONSUMER_PROPERTIES`], the `[consumer]` properties, then
    /// `bootstrap.servers`, `client.id` and `group.id`.
    pub fn consumer_config(&self, group: &str) -> Result<ConsumerConfig> {
        let properties = DEFAULT_CONSUMER_PROPERTIES
            .into_iter()
            .chain(self.consumer.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain([
                ("bootstrap.servers", self.bootstrap()?),
                ("client.id", self.client_id.as_str()),
                ("group.id", group),
            ]);
        Ok(ConsumerConfig::from_properties(properties)?)
    }
}

/// `LINGER_MS` → `linger.ms`.
fn env_property_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', ".")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn file_then_env() {
        let mut config = ServiceConfig::from_toml(
            r#"
            bootstrap_servers = "a:9092,b:9092"
            client_id = "svc"
            value_serializer = "json"
            [producer]
            "linger.ms" = 20
            acks = "all"
            [retry]
            interval_ms = 10
            "#,
        )
        .unwrap();
        assert_eq!(config.bootstrap_servers.as_deref(), Some("a:9092,b:9092"));
        assert_eq!(config.value_serializer, ValueFormat::Json);
        assert_eq!(config.producer.get("linger.ms").unwrap(), "20");
        assert_eq!(config.retry.interval_ms, 10);
        assert_eq!(config.retry.max_retries, 3);

        config
            .apply_env([
                ("FERROKAFKA_BOOTSTRAP_SERVERS", "c:9092"),
                ("FERROKAFKA_HTTP_ADDR", "0.0.0.0:9000"),
                ("FERROKAFKA_PRODUCER_LINGER_MS", "1"),
                ("FERROKAFKA_CONSUMER_MAX_POLL_RECORDS", "7"),
                ("FERROKAFKA_CONFIG", "ignored.toml"),
                ("PATH", "/bin"),
            ])
            .unwrap();
        assert_eq!(config.bootstrap_servers.as_deref(), Some("c:9092"));
        assert_eq!(config.http_addr, "0.0.0.0:9000");
        assert_eq!(config.producer.get("linger.ms").unwrap(), "1");
        let producer = config.producer_config().unwrap();
        assert_eq!(producer.linger, Duration::from_millis(1));
        assert_eq!(producer.client.client_id, "svc");
        let consumer = config.consumer_config("g").unwrap();
        assert_eq!(consumer.max_poll_records, 7);
        assert_eq!(consumer.group_id.as_deref(), Some("g"));

        config
            .apply_env([("FERROKAFKA_BOOTSTRAP_SERVERS", "")])
            .unwrap();
        assert_eq!(config.bootstrap_servers, None);
    }

    #[test]
    fn mistakes_are_named() {
        let err = ServiceConfig::from_toml("bootstrap = \"x\"").unwrap_err();
        assert!(err.to_string().contains("bootstrap"), "{err}");
        let mut config = ServiceConfig {
            bootstrap_servers: Some("localhost:9092".into()),
            ..Default::default()
        };
        config
            .apply_env([("FERROKAFKA_PRODUCER_LINGER_MSS", "1")])
            .unwrap();
        let err = config.producer_config().unwrap_err();
        assert!(err.to_string().contains("linger"), "{err}");
        let err = config
            .apply_env([("FERROKAFKA_VALUE_SERIALIZER", "avro")])
            .unwrap_err();
        assert!(err.to_string().contains("avro"), "{err}");
    }

    #[test]
    fn defaults_are_the_sample_files_values() {
        let config = ServiceConfig {
            bootstrap_servers: Some("localhost:9092".into()),
            ..Default::default()
        };
        let producer = config.producer_config().unwrap();
        assert_eq!(producer.delivery_timeout, Duration::from_secs(8));
        for file in ["producer-service.toml", "consumer-service.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config")
                .join(file);
            let mut sample = ServiceConfig::from_file(&path).unwrap();
            sample.bootstrap_servers = Some("localhost:9092".into());
            sample.client_id = config.client_id.clone();
            assert_eq!(
                format!("{:?}", sample.producer_config().unwrap()),
                format!("{:?}", config.producer_config().unwrap()),
                "{file}"
            );
            for (name, value) in &sample.producer {
                let default = DEFAULT_PRODUCER_PROPERTIES.iter().find(|(n, _)| n == name);
                assert_eq!(
                    default.map(|(_, v)| *v),
                    Some(value.as_str()),
                    "{file}: {name}"
                );
            }
            for (name, value) in &sample.consumer {
                let default = DEFAULT_CONSUMER_PROPERTIES.iter().find(|(n, _)| n == name);
                assert_eq!(
                    default.map(|(_, v)| *v),
                    Some(value.as_str()),
                    "{file}: {name}"
                );
            }
        }
    }

    #[test]
    fn sample_files_parse() {
        for file in ["producer-service.toml", "consumer-service.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("config")
                .join(file);
            let mut config = ServiceConfig::from_file(&path).unwrap();
            config.bootstrap_servers = Some("localhost:9092".into());
            config.producer_config().unwrap();
            config.consumer_config("g").unwrap();
        }
    }
}
