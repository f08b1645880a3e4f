//! The configuration every ferrokafka client shares, by the Java client's
//! property names and with its defaults.
//!
//! One [`Default`] impl holds the defaults (each commented with the Java
//! default it copies); [`ClientConfig::set`] is the one place a property name
//! is parsed, used by [`ClientConfig::from_properties`] and by serde, so a
//! Spring-style `application.yml` (`bootstrap-servers: ...`) maps onto the
//! same fields. Unknown or malformed properties are errors that name the
//! property: nothing is silently ignored.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// How host names in `bootstrap.servers` and broker metadata are resolved
/// (`client.dns.lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsLookup {
    /// Try every address a name resolves to, in order (Java's default since 2.6).
    #[default]
    UseAllDnsIps,
    /// Resolve bootstrap names to all their addresses up front (canonical
    /// names are not looked up separately here).
    ResolveCanonicalBootstrapServersOnly,
}

/// Settings shared by producer, consumer and admin client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `bootstrap.servers`: `host:port` pairs to learn the cluster from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`: sent with every request, shown in broker logs and quotas.
    pub client_id: String,
    /// `request.timeout.ms`: how long to wait for any one response.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`: the first connect attempt's limit.
    pub socket_connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`: the limit after repeated failures.
    pub socket_connection_setup_timeout_max: Duration,
    /// `reconnect.backoff.ms`: the first wait before reconnecting to a broker.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`: the cap of the exponential reconnect backoff.
    pub reconnect_backoff_max: Duration,
    /// `retry.backoff.ms`: the first wait before retrying a failed request.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the cap of the exponential retry backoff.
    pub retry_backoff_max: Duration,
    /// `metadata.max.age.ms`: metadata older than this is refreshed even without errors.
    pub metadata_max_age: Duration,
    /// `connections.max.idle.ms`: connections idle this long are closed.
    pub connections_max_idle: Duration,
    /// `client.dns.lookup`.
    pub client_dns_lookup: DnsLookup,
    /// `allow.auto.create.topics`: whether metadata requests may create topics
    /// (only where the broker allows it too).
    pub allow_auto_create_topics: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            // Java: no default (required). localhost:9092 is what every
            // quickstart uses, and the bundled broker's default listener.
            bootstrap_servers: vec!["localhost:9092".to_string()],
            // Java: "" (then a generated "producer-1" / "consumer-group-1").
            client_id: "ferrokafka".to_string(),
            // Java: 30000 (the consumer's is 30000 too; admin's 30000).
            request_timeout: Duration::from_millis(30_000),
            // Java: 10000.
            socket_connection_setup_timeout: Duration::from_millis(10_000),
            // Java: 30000.
            socket_connection_setup_timeout_max: Duration::from_millis(30_000),
            // Java: 50.
            reconnect_backoff: Duration::from_millis(50),
            // Java: 1000.
            reconnect_backoff_max: Duration::from_millis(1_000),
            // Java: 100.
            retry_backoff: Duration::from_millis(100),
            // Java: 1000.
            retry_backoff_max: Duration::from_millis(1_000),
            // Java: 300000.
            metadata_max_age: Duration::from_millis(300_000),
            // Java: 540000 (9 minutes).
            connections_max_idle: Duration::from_millis(540_000),
            // Java: use_all_dns_ips.
            client_dns_lookup: DnsLookup::UseAllDnsIps,
            // Java: true.
            allow_auto_create_topics: true,
        }
    }
}

/// The property names [`ClientConfig::set`] understands.
pub const PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.connection.setup.timeout.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metadata.max.age.ms",
    "connections.max.idle.ms",
    "client.dns.lookup",
    "allow.auto.create.topics",
];

/// `bootstrap-servers` and `bootstrap_servers` (Spring and env styles) are
/// the same property as `bootstrap.servers`.
pub fn normalize_property_name(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', '_'], ".")
}

/// Parses a millisecond duration property.
pub fn parse_millis(name: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            Error::invalid_property(
                name,
                value,
                "expected a non-negative number of milliseconds",
            )
        })
}

/// Parses a boolean property (`true` / `false`).
pub fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Error::invalid_property(
            name,
            value,
            "expected true or false",
        )),
    }
}

impl ClientConfig {
    /// Starts a builder from the defaults.
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder {
            config: ClientConfig::default(),
        }
    }

    /// Sets one property by its Kafka name. Returns `Ok(false)` if the name is
    /// not a client property (so producer or consumer settings can try their
    /// own names first and fall back to this), and an error if the value is
    /// malformed.
    pub fn set(&mut self, name: &str, value: &str) -> Result<bool> {
        let key = normalize_property_name(name);
        match key.as_str() {
            "bootstrap.servers" => {
                let servers: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if servers.is_empty() {
                    return Err(Error::invalid_property(
                        name,
                        value,
                        "expected host:port[,host:port...]",
                    ));
                }
                for server in &servers {
                    split_host_port(server)
                        .map_err(|reason| Error::invalid_property(name, value, &reason))?;
                }
                self.bootstrap_servers = servers;
            }
            "client.id" => self.client_id = value.to_string(),
            "request.timeout.ms" => self.request_timeout = parse_millis(name, value)?,
            "socket.connection.setup.timeout.ms" => {
                self.socket_connection_setup_timeout = parse_millis(name, value)?
            }
            "socket.connection.setup.timeout.max.ms" => {
                self.socket_connection_setup_timeout_max = parse_millis(name, value)?
            }
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_millis(name, value)?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = parse_millis(name, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_millis(name, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_millis(name, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_millis(name, value)?,
            "connections.max.idle.ms" => self.connections_max_idle = parse_millis(name, value)?,
            "client.dns.lookup" => {
                self.client_dns_lookup = match value.trim() {
                    "use_all_dns_ips" => DnsLookup::UseAllDnsIps,
                    "resolve_canonical_bootstrap_servers_only" => {
                        DnsLookup::ResolveCanonicalBootstrapServersOnly
                    }
                    _ => {
                        return Err(Error::invalid_property(
                            name,
                            value,
                            "expected use_all_dns_ips or resolve_canonical_bootstrap_servers_only",
                        ));
                    }
                }
            }
            "allow.auto.create.topics" => self.allow_auto_create_topics = parse_bool(name, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Builds a configuration from Kafka properties; an unknown name is an
    /// error naming it.
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ClientConfig> {
        let mut config = ClientConfig::default();
        for (name, value) in properties {
            if !config.set(name.as_ref(), value.as_ref())? {
                return Err(Error::UnknownProperty(name.as_ref().to_string()));
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks settings that must agree with each other.
    pub fn validate(&self) -> Result<()> {
        if self.bootstrap_servers.is_empty() {
            return Err(Error::Config(
                "bootstrap.servers must name at least one broker".into(),
            ));
        }
        let pairs = [
            (
                "reconnect.backoff.ms",
                self.reconnect_backoff,
                "reconnect.backoff.max.ms",
                self.reconnect_backoff_max,
            ),
            (
                "retry.backoff.ms",
                self.retry_backoff,
                "retry.backoff.max.ms",
                self.retry_backoff_max,
            ),
            (
                "socket.connection.setup.timeout.ms",
                self.socket_connection_setup_timeout,
                "socket.connection.setup.timeout.max.ms",
                self.socket_connection_setup_timeout_max,
            ),
        ];
        for (low_name, low, high_name, high) in pairs {
            if low > high {
                return Err(Error::Config(format!(
                    "{low_name} ({} ms) must not exceed {high_name} ({} ms)",
                    low.as_millis(),
                    high.as_millis()
                )));
            }
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Config("request.timeout.ms must be positive".into()));
        }
        Ok(())
    }
}

/// Splits `host:port` (IPv6 as `[::1]:9092`).
pub fn split_host_port(address: &str) -> std::result::Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} lacks a :port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{address:?} lacks a host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{address:?} has an invalid port"))?;
    Ok((host.to_string(), port))
}

/// A typed builder over [`ClientConfig`], validated by [`build`](ClientConfigBuilder::build).
#[derive(Debug, Clone)]
pub struct ClientConfigBuilder {
    config: ClientConfig,
}

impl ClientConfigBuilder {
    /// `bootstrap.servers`.
    pub fn bootstrap_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self
    }
    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }
    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }
    /// `socket.connection.setup.timeout.ms` and `.max.ms`.
    pub fn socket_connection_setup_timeout(mut self, first: Duration, max: Duration) -> Self {
        self.config.socket_connection_setup_timeout = first;
        self.config.socket_connection_setup_timeout_max = max;
        self
    }
    /// `reconnect.backoff.ms` and `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.reconnect_backoff = first;
        self.config.reconnect_backoff_max = max;
        self
    }
    /// `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.retry_backoff = first;
        self.config.retry_backoff_max = max;
        self
    }
    /// `metadata.max.age.ms`.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.config.metadata_max_age = age;
        self
    }
    /// `connections.max.idle.ms`.
    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.config.connections_max_idle = idle;
        self
    }
    /// `client.dns.lookup`.
    pub fn client_dns_lookup(mut self, lookup: DnsLookup) -> Self {
        self.config.client_dns_lookup = lookup;
        self
    }
    /// `allow.auto.create.topics`.
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.config.allow_auto_create_topics = allow;
        self
    }
    /// Sets a property by its Kafka name; unknown names are an error.
    pub fn property(mut self, name: &str, value: &str) -> Result<Self> {
        if self.config.set(name, value)? {
            Ok(self)
        } else {
            Err(Error::UnknownProperty(name.to_string()))
        }
    }
    /// Validates and returns the configuration.
    pub fn build(self) -> Result<ClientConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

/// A property value as YAML or JSON spell it: a string, a number, a bool, or
/// a list (for `bootstrap.servers`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    /// `true` / `false`.
    Bool(bool),
    /// A number, e.g. `30000`.
    Number(u64),
    /// Text.
    Text(String),
    /// A list, joined with commas.
    List(Vec<String>),
}

impl PropertyValue {
    /// The value as a Kafka property string.
    pub fn to_property_string(&self) -> String {
        match self {
            PropertyValue::Bool(b) => b.to_string(),
            PropertyValue::Number(n) => n.to_string(),
            PropertyValue::Text(s) => s.clone(),
            PropertyValue::List(items) => items.join(","),
        }
    }
}

/// Reads a map of properties (YAML, JSON, ...) as `(name, value)` pairs in a
/// stable order, so that the same input always reports the same first error.
/// Every client's configuration deserializes through this and then its own
/// `from_properties`.
pub fn deserialize_properties<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<(String, String)>, D::Error> {
    use serde::Deserialize as _;
    let map = HashMap::<String, PropertyValue>::deserialize(deserializer)?;
    let mut entries: Vec<(String, String)> = map
        .into_iter()
        .map(|(k, v)| (k, v.to_property_string()))
        .collect();
    entries.sort();
    Ok(entries)
}

impl<'de> serde::Deserialize<'de> for ClientConfig {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        ClientConfig::from_properties(deserialize_properties(deserializer)?)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_java_client() {
        let c = ClientConfig::default();
        assert_eq!(c.request_timeout, Duration::from_millis(30_000));
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max, Duration::from_millis(1_000));
        assert_eq!(c.reconnect_backoff, Duration::from_millis(50));
        assert_eq!(c.metadata_max_age, Duration::from_millis(300_000));
        assert_eq!(c.connections_max_idle, Duration::from_millis(540_000));
        assert!(c.allow_auto_create_topics);
    }

    #[test]
    fn properties_by_kafka_name() {
        let c = ClientConfig::from_properties([
            ("bootstrap.servers", "a:1, b:2"),
            ("client.id", "app"),
            ("request.timeout.ms", "5000"),
            ("allow.auto.create.topics", "false"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.client_id, "app");
        assert_eq!(c.request_timeout, Duration::from_millis(5000));
        assert!(!c.allow_auto_create_topics);
    }

    #[test]
    fn unknown_and_malformed_properties_name_the_property() {
        let err = ClientConfig::from_properties([("linger.mss", "5")]).unwrap_err();
        assert!(err.to_string().contains("linger.mss"), "{err}");
        let err = ClientConfig::from_properties([("request.timeout.ms", "soon")]).unwrap_err();
        assert!(err.to_string().contains("request.timeout.ms"), "{err}");
        let err = ClientConfig::from_properties([("bootstrap.servers", "nohost")]).unwrap_err();
        assert!(err.to_string().contains("bootstrap.servers"), "{err}");
    }

    #[test]
    fn conflicting_settings_name_both() {
        let err = ClientConfig::builder()
            .retry_backoff(Duration::from_millis(500), Duration::from_millis(100))
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("retry.backoff.ms") && err.contains("retry.backoff.max.ms"),
            "{err}"
        );
    }

    #[test]
    fn spring_style_yaml_keys_map_onto_the_same_fields() {
        let json = r#"{"bootstrap-servers": ["h1:9092", "h2:9092"], "client-id": "svc", "request_timeout_ms": 1000}"#;
        let c: ClientConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.bootstrap_servers, vec!["h1:9092", "h2:9092"]);
        assert_eq!(c.client_id, "svc");
        assert_eq!(c.request_timeout, Duration::from_millis(1000));
        assert!(serde_json::from_str::<ClientConfig>(r#"{"bogus": 1}"#).is_err());
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            split_host_port("[::1]:9092").unwrap(),
            ("::1".to_string(), 9092)
        );
        assert!(split_host_port("host:99999").is_err());
        assert!(split_host_port(":1").is_err());
    }
}
