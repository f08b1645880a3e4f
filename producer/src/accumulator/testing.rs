//! What the accumulator's unit tests share: settings, a one-broker
//! cluster's metadata, drain options, and appending a record.

use std::sync::Arc;
use std::time::Duration;

use ferrokafka_client::ClusterMetadata;
use ferrokafka_client::metadata::{BrokerInfo, PartitionInfo, TopicInfo};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::records::RECORD_BATCH_OVERHEAD;
use ferrokafka_protocol::{ErrorCode, Uuid};
use tokio::time::Instant;

use super::append::Appended;
use super::{AccumulatorConfig, DrainOptions, Memory, PartitionEntry, RecordAccumulator};
use crate::delivery::{DeliveryFuture, Reply};

pub(super) fn config() -> AccumulatorConfig {
    AccumulatorConfig {
        batch_size: 1000,
        linger: Duration::from_millis(5),
        delivery_timeout: Duration::from_millis(1000),
        compression: Compression::None,
        buffer_memory: 1 << 20,
        max_request_size: 1 << 20,
        transactional: false,
    }
}

pub(super) fn metadata(partitions: i32) -> ClusterMetadata {
    let mut m = ClusterMetadata::default();
    m.brokers.insert(
        1,
        BrokerInfo {
            node_id: 1,
            host: "h".into(),
            port: 1,
            rack: None,
        },
    );
    m.topics.insert(
        "t".into(),
        TopicInfo {
            name: "t".into(),
            topic_id: Uuid::default(),
            is_internal: false,
            error: ErrorCode::None,
            partitions: (0..partitions)
                .map(|p| PartitionInfo {
                    partition: p,
                    leader: 1,
                    leader_epoch: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    offline_replicas: vec![],
                    error: ErrorCode::None,
                })
                .collect(),
        },
    );
    m
}

pub(super) fn options(now: Instant) -> DrainOptions {
    DrainOptions {
        now,
        flush_all: false,
        may_send: true,
        producer: None,
        max_request_size: 1 << 20,
        transactional: false,
    }
}

pub(super) fn add(acc: &RecordAccumulator, partition: i32, value: &[u8]) -> DeliveryFuture {
    let entry = acc.entry("t", partition);
    // What the producer reserves: an upper bound of the record's bytes.
    let size = RECORD_BATCH_OVERHEAD + 21 + value.len();
    acc.append(
        &entry,
        1000,
        None,
        Some(value),
        &[],
        Reply::Future,
        Memory::Take(size),
    )
    .unwrap()
    .ok()
    .unwrap()
    .future
    .unwrap()
}

/// Appends a 100-byte value taking its memory now; `None` when there
/// was none free.
pub(super) fn take(acc: &RecordAccumulator, entry: &Arc<PartitionEntry>) -> Option<Appended> {
    let size = RECORD_BATCH_OVERHEAD + 21 + 100;
    acc.append(
        entry,
        1000,
        None,
        Some(&[0u8; 100]),
        &[],
        Reply::Future,
        Memory::Take(size),
    )
    .unwrap()
    .ok()
}
