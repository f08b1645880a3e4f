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
