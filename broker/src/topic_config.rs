//! Topic configurations: which keys exist, their defaults and types, how a
//! value is validated, and the settings the log enforces.
//!
//! A topic stores only its overrides (what CreateTopics, AlterConfigs and
//! IncrementalAlterConfigs set); DescribeConfigs lists every known key with
//! the override or the default, and the source Kafka would report
//! (DYNAMIC_TOPIC_CONFIG for overrides, DEFAULT_CONFIG otherwise). Enforced:
//! `max.message.bytes`, `message.timestamp.type`, `retention.ms`,
//! `retention.bytes`, `segment.bytes` (with a data directory) and
//! `min.insync.replicas` (acks=-1 against the running replicas),
//! `cleanup.policy=compact` (records must have keys; nothing is compacted)
//! and `message.timestamp.{before,after}.max.ms` (on a batch's first and
//! largest timestamps); the others are stored and described only, because the
//! broker has no compaction, replication or segment-level flushing to apply
//! them to.

use std::collections::BTreeMap;

/// Kafka's config value types (DescribeConfigs `config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// DescribeConfigs `config_source` values.
pub(crate) const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub(crate) const SOURCE_STATIC_BROKER: i8 = 4;
pub(crate) const SOURCE_DEFAULT: i8 = 5;

/// One known topic config key.
pub(crate) struct TopicConfigKey {
    pub(crate) name: &'static str,
    pub(crate) default: &'static str,
    pub(crate) config_type: ConfigType,
    /// The values allowed, for enumerations (list items for lists).
    pub(crate) allowed: &'static [&'static str],
    pub(crate) documentation: &'static str,
}

const fn key(
    name: &'static str,
    default: &'static str,
    config_type: ConfigType,
    documentation: &'static str,
) -> TopicConfigKey {
    TopicConfigKey {
        name,
        default,
        config_type,
        allowed: &[],
        documentation,
    }
}

/// Every topic config the broker knows, with Kafka's defaults.
pub(crate) const TOPIC_CONFIG_KEYS: &[TopicConfigKey] = &[
    TopicConfigKey {
        name: "cleanup.policy",
        default: "delete",
        config_type: ConfigType::List,
        allowed: &["delete", "compact"],
        documentation: "Retention policy: delete old segments, or compact (stored only).",
    },
    TopicConfigKey {
        name: "compression.type",
        default: "producer",
        config_type: ConfigType::String,
        allowed: &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
        documentation: "Final compression; stored only, batches are kept as the producer sent them.",
    },
    key(
        "compression.gzip.level",
        "-1",
        ConfigType::Int,
        "gzip level of the final compression (stored only).",
    ),
    key(
        "compression.lz4.level",
        "9",
        ConfigType::Int,
        "lz4 level of the final compression (stored only).",
    ),
    key(
        "compression.zstd.level",
        "3",
        ConfigType::Int,
        "zstd level of the final compression (stored only).",
    ),
    key(
        "delete.retention.ms",
        "86400000",
        ConfigType::Long,
        "How long delete tombstones are kept.",
    ),
    key(
        "errors.deadletterqueue.group.enable",
        "false",
        ConfigType::Boolean,
        "Whether share groups may send failed records to a dead letter queue (stored only).",
    ),
    key(
        "file.delete.delay.ms",
        "60000",
        ConfigType::Long,
        "Delay before deleting a file.",
    ),
    key(
        "flush.messages",
        "9223372036854775807",
        ConfigType::Long,
        "Messages between forced flushes.",
    ),
    key(
        "flush.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Time between forced flushes.",
    ),
    key(
        "follower.replication.throttled.replicas",
        "",
        ConfigType::List,
        "Replicas whose follower replication is throttled (stored only).",
    ),
    key(
        "index.interval.bytes",
        "4096",
        ConfigType::Int,
        "Bytes between index entries.",
    ),
    key(
        "leader.replication.throttled.replicas",
        "",
        ConfigType::List,
        "Replicas whose leader replication is throttled (stored only).",
    ),
    key(
        "local.retention.bytes",
        "-2",
        ConfigType::Long,
        "Local log size kept with tiered storage (stored only).",
    ),
    key(
        "local.retention.ms",
        "-2",
        ConfigType::Long,
        "Local log age kept with tiered storage (stored only).",
    ),
    key(
        "max.compaction.lag.ms",
        "9223372036854775807",
        ConfigType::Long,
        "Maximum time before compaction.",
    ),
    key(
        "max.decompressed.message.bytes",
        "2147483639",
        ConfigType::Int,
        "Largest decompressed record batch (stored only).",
    ),
    key(
        "max.message.bytes",
        "1048588",
        ConfigType::Int,
        "Largest record batch the topic accepts.",
    ),
    key(
        "message.timestamp.after.max.ms",
        "3600000",
        ConfigType::Long,
        "How far in the future a timestamp may be.",
    ),
    key(
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        ConfigType::Long,
        "How far in the past a timestamp may be.",
    ),
    TopicConfigKey {
        name: "message.timestamp.type",
        default: "CreateTime",
        config_type: ConfigType::String,
        allowed: &["CreateTime", "LogAppendTime"],
        documentation: "Whether records keep the producer's timestamp or get the append time.",
    },
    key(
        "min.cleanable.dirty.ratio",
        "0.5",
        ConfigType::Double,
        "Dirty ratio that triggers compaction.",
    ),
    key(
        "min.compaction.lag.ms",
        "0",
        ConfigType::Long,
        "Minimum time before compaction.",
    ),
    key(
        "min.insync.replicas",
        "1",
        ConfigType::Int,
        "Replicas that must acknowledge acks=all.",
    ),
    key(
        "preallocate",
        "false",
        ConfigType::Boolean,
        "Preallocate segment files.",
    ),
    key(
        "remote.copy.lag.bytes",
        "-1",
        ConfigType::Long,
        "Tiered storage copy lag in bytes (stored only).",
    ),
    key(
        "remote.copy.lag.ms",
        "0",
        ConfigType::Long,
        "Tiered storage copy lag in time (stored only).",
    ),
    key(
        "remote.log.copy.disable",
        "false",
        ConfigType::Boolean,
        "Stops copying to tiered storage (stored only).",
    ),
    key(
        "remote.log.delete.on.disable",
        "false",
        ConfigType::Boolean,
        "Deletes tiered data when tiered storage is disabled (stored only).",
    ),
    key(
        "remote.storage.enable",
        "false",
        ConfigType::Boolean,
        "Tiered storage (stored only).",
    ),
    key(
        "retention.bytes",
        "-1",
        ConfigType::Long,
        "Largest log size before old batches are deleted.",
    ),
    key(
        "retention.ms",
        "604800000",
        ConfigType::Long,
        "Age after which batches are deleted.",
    ),
    key(
        "segment.bytes",
        "1073741824",
        ConfigType::Int,
        "Size of a log segment file.",
    ),
    key(
        "segment.index.bytes",
        "10485760",
        ConfigType::Int,
        "Size of an offset index file.",
    ),
    key(
        "segment.jitter.ms",
        "0",
        ConfigType::Long,
        "Random jitter subtracted from segment.ms (stored only).",
    ),
    key(
        "segment.ms",
        "604800000",
        ConfigType::Long,
        "Time after which a segment is rolled.",
    ),
    key(
        "unclean.leader.election.enable",
        "false",
        ConfigType::Boolean,
        "Whether out-of-sync replicas may become leader.",
    ),
];

/// The known key called `name`.
pub(crate) fn lookup_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIG_KEYS.iter().find(|key| key.name == name)
}

/// Checks `value` for the key `name`; the error is the message for INVALID_CONFIG.
pub(crate) fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    let Some(key) = lookup_key(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let Some(value) = value else {
        return Err(format!("Null value not supported for topic config {name}"));
    };
    let ok = match key.config_type {
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Int => value.trim().parse::<i32>().is_ok(),
        ConfigType::Long => value.trim().parse::<i64>().is_ok(),
        ConfigType::Double => value.trim().parse::<f64>().is_ok(),
        ConfigType::String => key.allowed.is_empty() || key.allowed.contains(&value),
        ConfigType::List => value
            .split(',')
            .map(str::trim)
            .all(|item| key.allowed.is_empty() || key.allowed.contains(&item)),
    };
    if !ok {
        return Err(format!("Invalid value {value} for configuration {name}"));
    }
    if name == "max.message.bytes" && value.trim().parse::<i32>().is_ok_and(|bytes| bytes < 0) {
        return Err(format!(
            "Invalid value {value} for configuration {name}: must be at least 0"
        ));
    }
    Ok(())
}

/// A topic's config overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicConfig {
    pub(crate) overrides: BTreeMap<String, String>,
}

/// The settings a partition log enforces, read from a topic's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogSettings {
    pub(crate) max_message_bytes: usize,
    pub(crate) log_append_time: bool,
    /// `None` keeps batches forever (`retention.ms = -1`).
    pub(crate) retention_ms: Option<i64>,
    /// `None` for no size limit (`retention.bytes = -1`).
    pub(crate) retention_bytes: Option<u64>,
    pub(crate) segment_bytes: u64,
    /// `min.insync.replicas`: acks=-1 needs this many running replicas.
    pub(crate) min_insync_replicas: i64,
    /// `cleanup.policy` includes `compact`: records need keys.
    pub(crate) compacted: bool,
    /// `message.timestamp.after.max.ms`.
    pub(crate) timestamp_after_max_ms: i64,
    /// `message.timestamp.before.max.ms`.
    pub(crate) timestamp_before_max_ms: i64,
}

impl TopicConfig {
    /// The value of `name`: the override, else the default.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.overrides
            .get(name)
            .map(String::as_str)
            .or_else(|| lookup_key(name).map(|key| key.default))
    }

    fn number(&self, name: &str) -> Option<i64> {
        self.value(name)
            .and_then(|value| value.trim().parse::<i64>().ok())
    }

    /// The settings the log enforces.
    pub(crate) fn log_settings(&self) -> LogSettings {
        LogSettings {
            max_message_bytes: self
                .number("max.message.bytes")
                .and_then(|bytes| usize::try_from(bytes).ok())
                .unwrap_or(1_048_588),
            log_append_time: self.value("message.timestamp.type") == Some("LogAppendTime"),
            retention_ms: self.number("retention.ms").filter(|ms| *ms >= 0),
            retention_bytes: self
                .number("retention.bytes")
                .and_then(|bytes| u64::try_from(bytes).ok()),
            segment_bytes: self
                .number("segment.bytes")
                .and_then(|bytes| u64::try_from(bytes).ok())
                .filter(|bytes| *bytes > 0)
                .unwrap_or(1 << 30),
            min_insync_replicas: self.number("min.insync.replicas").unwrap_or(1),
            compacted: self
                .value("cleanup.policy")
                .is_some_and(|policy| policy.split(',').any(|item| item.trim() == "compact")),
            timestamp_after_max_ms: self
                .number("message.timestamp.after.max.ms")
                .unwrap_or(i64::MAX),
            timestamp_before_max_ms: self
                .number("message.timestamp.before.max.ms")
                .unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_types_and_enumerations() {
        assert!(validate("retention.ms", Some("1000")).is_ok());
        assert!(validate("retention.ms", Some("soon")).is_err());
        assert!(validate("cleanup.policy", Some("compact,delete")).is_ok());
        assert!(validate("cleanup.policy", Some("shred")).is_err());
        assert!(validate("message.timestamp.type", Some("LogAppendTime")).is_ok());
        assert!(validate("no.such.key", Some("1")).is_err());
        assert!(validate("max.message.bytes", Some("-5")).is_err());
    }

    #[test]
    fn settings_come_from_overrides_or_defaults() {
        let mut config = TopicConfig::default();
        assert_eq!(config.log_settings().max_message_bytes, 1_048_588);
        assert_eq!(config.log_settings().retention_ms, Some(604_800_000));
        config.overrides.insert("retention.ms".into(), "-1".into());
        config
            .overrides
            .insert("message.timestamp.type".into(), "LogAppendTime".into());
        let settings = config.log_settings();
        assert_eq!(settings.retention_ms, None);
        assert!(settings.log_append_time);
    }
}
