//! The cluster metadata cache: brokers, controller, topics, partitions,
//! leaders and leader epochs, as of one Metadata response.
//!
//! A [`ClusterMetadata`] is immutable; a refresh builds a new one and swaps
//! it in, so readers never see a half-updated view.

use std::collections::HashMap;
use std::time::Instant;

use ferrokafka_protocol::generated::MetadataResponse;
use ferrokafka_protocol::{ErrorCode, Uuid};

/// A broker as the metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// The broker id.
    pub node_id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: u16,
    /// Its rack, if configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, or -1 if there is none.
    pub leader: i32,
    /// The leader epoch, or -1 if the broker does not send one.
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
    /// The partition's error, if any.
    pub error: ErrorCode,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// The topic id (zero if the broker does not send ids).
    pub topic_id: Uuid,
    /// Whether it is an internal topic.
    pub is_internal: bool,
    /// The topic-level error (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE while being created...).
    pub error: ErrorCode,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// A partition's new leader as a broker reported it in an error response
/// (KIP-951: NOT_LEADER_OR_FOLLOWER in Produce v10+ and Fetch v16+ names
/// the current leader), to use before the next metadata refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderHint {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The leader's broker id.
    pub leader_id: i32,
    /// Its leader epoch: a hint is taken only when it is newer than the
    /// cached one.
    pub leader_epoch: i32,
}

/// A snapshot of what the cluster said about itself.
#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    /// The cluster id, if sent.
    pub cluster_id: Option<String>,
    /// The controller's broker id, or -1.
    pub controller_id: i32,
    /// Brokers by id.
    pub brokers: HashMap<i32, BrokerInfo>,
    /// Topics by name.
    pub topics: HashMap<String, TopicInfo>,
    /// When this snapshot was fetched.
    pub fetched_at: Instant,
}

impl Default for ClusterMetadata {
    fn default() -> Self {
        ClusterMetadata {
            cluster_id: None,
            controller_id: -1,
            brokers: HashMap::new(),
            topics: HashMap::new(),
            fetched_at: Instant::now(),
        }
    }
}

impl ClusterMetadata {
    /// A copy with the hinted leaders (and the brokers the hints name)
    /// applied, and the partitions whose leader changed; `None` when no
    /// hint is newer than what this snapshot knows. A hint must name a
    /// leader epoch above the cached one and a broker this snapshot or
    /// `brokers` knows. The copy keeps `fetched_at`, so age-based refreshes
    /// come as before.
    pub fn with_leader_hints(
        &self,
        hints: &[LeaderHint],
        brokers: &[BrokerInfo],
    ) -> Option<(ClusterMetadata, Vec<(String, i32)>)> {
        let mut next = self.clone();
        for broker in brokers {
            next.brokers
                .entry(broker.node_id)
                .or_insert_with(|| broker.clone());
        }
        let mut applied = Vec::new();
        for hint in hints {
            if hint.leader_id < 0 || !next.brokers.contains_key(&hint.leader_id) {
                continue;
            }
            let Some(partition) = next.topics.get_mut(&hint.topic).and_then(|t| {
                t.partitions
                    .iter_mut()
                    .find(|p| p.partition == hint.partition)
            }) else {
                continue;
            };
            if hint.leader_epoch > partition.leader_epoch {
                partition.leader = hint.leader_id;
                partition.leader_epoch = hint.leader_epoch;
                partition.error = ErrorCode::None;
                applied.push((hint.topic.clone(), hint.partition));
            }
        }
        (!applied.is_empty()).then_some((next, applied))
    }

    /// Builds a snapshot from a Metadata response. With `merge_into`, topics
    /// the response does not mention are kept from the previous snapshot
    /// (a refresh of some topics must not forget the others).
    pub fn from_response(
        response: &MetadataResponse,
        merge_into: Option<&ClusterMetadata>,
    ) -> ClusterMetadata {
        let brokers = response
            .brokers
            .iter()
            .map(|b| {
                (
                    b.node_id,
                    BrokerInfo {
                        node_id: b.node_id,
                        host: b.host.clone(),
                        port: u16::try_from(b.port).unwrap_or(0),
                        rack: b.rack.clone(),
                    },
                )
            })
            .collect();
        let mut topics: HashMap<String, TopicInfo> =
            merge_into.map(|m| m.topics.clone()).unwrap_or_default();
        for t in &response.topics {
            let Some(name) = t.name.clone() else { continue };
            let mut partitions: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.clone(),
                    isr: p.isr_nodes.clone(),
                    offline_replicas: p.offline_replicas.clone(),
                    error: p.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            if t.error_code == ErrorCode::UnknownTopicOrPartition {
                topics.remove(&name);
                continue;
            }
            topics.insert(
                name.clone(),
                TopicInfo {
                    name,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                    error: t.error_code,
                    partitions,
                },
            );
        }
        ClusterMetadata {
            cluster_id: response.cluster_id.clone(),
            controller_id: response.controller_id,
            brokers,
            topics,
            fetched_at: Instant::now(),
        }
    }

    /// A topic, if known.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    /// A partition, if known.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionInfo> {
        self.topic(topic)?
            .partitions
            .iter()
            .find(|p| p.partition == partition)
    }

    /// The number of partitions of a topic, if known.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topic(topic).map(|t| t.partitions.len())
    }

    /// The leader of a partition, if known and available.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.partition(topic, partition)
            .map(|p| p.leader)
            .filter(|&leader| leader >= 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> ClusterMetadata {
        let mut metadata = ClusterMetadata::default();
        for node_id in [0, 1] {
            metadata.brokers.insert(
                node_id,
                BrokerInfo {
                    node_id,
                    host: "localhost".into(),
                    port: 9092,
                    rack: None,
                },
            );
        }
        let partition = |partition, leader| PartitionInfo {
            partition,
            leader,
            leader_epoch: 5,
            replicas: vec![0, 1, 2],
            isr: vec![0, 1],
            offline_replicas: vec![],
            error: ErrorCode::None,
        };
        metadata.topics.insert(
            "t".into(),
            TopicInfo {
                name: "t".into(),
                topic_id: Uuid::default(),
                is_internal: false,
                error: ErrorCode::None,
                partitions: vec![partition(0, 0), partition(1, 0)],
            },
        );
        metadata
    }

    fn hint(partition: i32, leader_id: i32, leader_epoch: i32) -> LeaderHint {
        LeaderHint {
            topic: "t".into(),
            partition,
            leader_id,
            leader_epoch,
        }
    }

    #[test]
    fn leader_hints_apply_only_when_newer_and_to_a_known_broker() {
        let metadata = metadata();
        // Same or older epoch, unknown topic or partition, unknown broker:
        // nothing changes.
        let stale = [
            hint(0, 1, 5),
            hint(0, 1, 4),
            hint(7, 1, 9),
            hint(0, 2, 9),
            LeaderHint {
                topic: "other".into(),
                ..hint(0, 1, 9)
            },
        ];
        assert!(metadata.with_leader_hints(&stale, &[]).is_none());
        // A newer epoch moves the leader; the other partition stays.
        let (next, applied) = metadata.with_leader_hints(&[hint(1, 1, 6)], &[]).unwrap();
        assert_eq!(applied, [("t".to_string(), 1)]);
        assert_eq!(next.leader("t", 1), Some(1));
        assert_eq!(next.partition("t", 1).unwrap().leader_epoch, 6);
        assert_eq!(next.leader("t", 0), Some(0));
        assert_eq!(next.fetched_at, metadata.fetched_at);
        // A broker the snapshot did not know is taken from the endpoints.
        let new_broker = BrokerInfo {
            node_id: 2,
            host: "h2".into(),
            port: 9094,
            rack: None,
        };
        let (next, _) = metadata
            .with_leader_hints(&[hint(0, 2, 9)], std::slice::from_ref(&new_broker))
            .unwrap();
        assert_eq!(next.leader("t", 0), Some(2));
        assert_eq!(next.brokers.get(&2), Some(&new_broker));
    }
}
