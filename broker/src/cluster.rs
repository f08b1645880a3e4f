//! The state every node of one broker shares: the nodes and whether they
//! run, the topics with their partitions, leaders and logs, producer ids,
//! the group coordinator, fault injection and the data directory.
//!
//! Locking: the topic table is one mutex held only to look things up or to
//! change the table (create, delete, add partitions, move a leader, alter
//! configs); each partition log has its own lock, so produce and fetch on
//! different partitions do not wait for each other. Appends wake long-poll
//! fetches through one [`Notify`]: a woken fetch re-reads its partitions,
//! so a wake-up for another partition costs a re-check, never a wrong answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrokafka_protocol::{ErrorCode, Uuid};
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::faults::FaultInjector;
use crate::group::{GroupConfig, GroupCoordinator, OffsetStore};
use crate::log::{LogError, PartitionLog};
use crate::producer_ids::ProducerIds;
use crate::storage::{DataDir, FileOffsetStore, PartitionStore, TopicMeta};
use crate::topic_config::{self, LogSettings, TopicConfig};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A node as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeInfo {
    pub(crate) id: i32,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) alive: bool,
}

/// One partition's leadership and log.
#[derive(Debug, Clone)]
pub(crate) struct PartitionEntry {
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) log: Arc<PartitionLog>,
}

/// One topic.
#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) id: Uuid,
    pub(crate) replication_factor: i16,
    pub(crate) config: TopicConfig,
    pub(crate) partitions: Vec<PartitionEntry>,
}

impl Topic {
    /// The replica set reported for a partition led by `leader`: the leader
    /// and the nodes after it. There is no replication; the list exists so
    /// that clients see the replication factor they asked for.
    pub(crate) fn replicas(&self, leader: i32, nodes: i32) -> Vec<i32> {
        let count = i32::from(self.replication_factor).clamp(1, nodes.max(1));
        (0..count)
            .map(|i| (leader + i).rem_euclid(nodes.max(1)))
            .collect()
    }
}

/// What a handler needs to work on one partition it leads.
#[derive(Debug, Clone)]
pub(crate) struct LedPartition {
    pub(crate) log: Arc<PartitionLog>,
    pub(crate) leader_epoch: i32,
    pub(crate) settings: LogSettings,
}

/// A new topic's shape, as CreateTopics or auto-creation asks for it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewTopic {
    pub(crate) name: String,
    /// -1: the default.
    pub(crate) partitions: i32,
    /// -1: the default.
    pub(crate) replication_factor: i16,
    /// Explicit leaders (first replica of each partition), if assigned.
    pub(crate) leaders: Option<Vec<i32>>,
    pub(crate) configs: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Topics {
    by_name: BTreeMap<String, Topic>,
    /// Where the next topic's first partition leader goes, so leadership
    /// spreads across nodes.
    next_leader: i32,
}

/// Shared state of a broker.
pub(crate) struct Cluster {
    pub(crate) config: BrokerConfig,
    nodes: Mutex<Vec<NodeInfo>>,
    topics: Mutex<Topics>,
    /// Woken on every append, for long-poll fetches.
    pub(crate) appended: Notify,
    producer_ids: Mutex<ProducerIds>,
    /// The transaction coordinator (KIP-98).
    pub(crate) txns: crate::txn::TransactionCoordinator,
    pub(crate) faults: FaultInjector,
    /// Created on the first group request: it starts a task on the runtime.
    groups: OnceLock<GroupCoordinator>,
    pub(crate) data_dir: Option<DataDir>,
    offset_store: Option<Arc<FileOffsetStore>>,
    /// Source of topic ids that differ within a process.
    id_counter: AtomicU64,
    /// The node coordinating every group and transactional id: the
    /// configured one until a test moves it ([`Cluster::move_coordinator`]).
    coordinator: AtomicI32,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("cluster_id", &self.config.cluster_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks is consistent between statements; a panic in
    // one request must not stop the broker serving the others.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The most partitions a topic may have. Kafka has no fixed limit, but a
/// request asking for two billion partitions must not make the broker
/// allocate for them; no test or local setup needs more than this.
pub(crate) const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

/// Kafka caps the records one request may create (10000): more partitions
/// than that fail with POLICY_VIOLATION, in its words.
fn too_many_partitions(additional: bool) -> LogError {
    LogError::new(
        ErrorCode::PolicyViolation,
        if additional {
            "Excessively large number of additional partitions per request."
        } else {
            "Excessively large number of partitions per request."
        },
    )
}

/// Whether `name` is a legal topic name (Kafka's `Topic.validate`).
pub(crate) fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("topic name {name:?} is illegal"));
    }
    if name.len() > 249 {
        return Err(format!("topic name {name:?} is longer than 249 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "topic name {name:?} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

impl Cluster {
    /// Builds the shared state and recovers the data directory if any.
    pub(crate) fn new(config: BrokerConfig, nodes: Vec<NodeInfo>) -> Result<Self, BrokerError> {
        let data_dir = match &config.data_dir {
            Some(path) => {
                Some(
                    DataDir::open(path.clone()).map_err(|source| BrokerError::Storage {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let seed =
            u64::try_from(now_ms()).unwrap_or(0) ^ u64::from(std::process::id()).rotate_left(32);
        let cluster = Self {
            nodes: Mutex::new(nodes),
            topics: Mutex::new(Topics::default()),
            appended: Notify::new(),
            producer_ids: Mutex::new(ProducerIds::new(data_dir.as_ref())),
            txns: crate::txn::TransactionCoordinator::default(),
            faults: FaultInjector::new(config.record_requests),
            groups: OnceLock::new(),
            offset_store: data_dir.as_ref().map(|dir| Arc::new(dir.offset_store())),
            data_dir,
            id_counter: AtomicU64::new(seed),
            coordinator: AtomicI32::new(config.group_coordinator_node),
            config,
        };
        cluster.recover()?;
        Ok(cluster)
    }

    fn recover(&self) -> Result<(), BrokerError> {
        let Some(data_dir) = &self.data_dir else {
            return Ok(());
        };
        let storage_error = |source| BrokerError::Storage {
            path: self.config.data_dir.clone().unwrap_or_default(),
            source,
        };
        let metas = data_dir.read_topics().map_err(storage_error)?;
        let node_count = self.config.nodes;
        let mut topics = lock(&self.topics);
        for meta in metas {
            let mut partitions = Vec::new();
            for index in 0..meta.partitions {
                let recovered = PartitionStore::recover(data_dir.partition_dir(&meta.name, index))
                    .map_err(storage_error)?;
                let log = PartitionLog::recovered(
                    recovered.store,
                    recovered.batches,
                    recovered.log_start_offset,
                );
                let leader = meta
                    .leaders
                    .get(index as usize)
                    .copied()
                    .filter(|leader| (0..node_count).contains(leader))
                    .unwrap_or(index.rem_euclid(node_count));
                let leader_epoch = meta
                    .leader_epochs
                    .get(index as usize)
                    .copied()
                    .unwrap_or(0)
                    .max(log.latest_epoch())
                    .max(0);
                partitions.push(PartitionEntry {
                    leader,
                    leader_epoch,
                    log: Arc::new(log),
                });
            }
            tracing::info!(topic = %meta.name, partitions = meta.partitions, "recovered topic");
            topics.by_name.insert(
                meta.name.clone(),
                Topic {
                    name: meta.name,
                    id: Uuid::from_u128(meta.id),
                    replication_factor: meta.replication_factor,
                    config: TopicConfig {
                        overrides: meta.configs,
                    },
                    partitions,
                },
            );
        }
        Ok(())
    }

    fn persist_topic(&self, topic: &Topic) {
        if let Some(data_dir) = &self.data_dir {
            let meta = TopicMeta {
                name: topic.name.clone(),
                id: topic.id.as_u128(),
                partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
                replication_factor: topic.replication_factor,
                leaders: topic.partitions.iter().map(|p| p.leader).collect(),
                leader_epochs: topic.partitions.iter().map(|p| p.leader_epoch).collect(),
                configs: topic.config.overrides.clone(),
            };
            if let Err(error) = data_dir.write_topic(&meta) {
                tracing::error!(topic = %topic.name, %error, "cannot persist topic metadata");
            }
        }
    }

    fn new_topic_id(&self) -> Uuid {
        // splitmix64 over a per-process counter: distinct, never zero, and
        // unlike between runs (clients compare ids to notice re-creation).
        let next = || {
            let mut z = self
                .id_counter
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let id = (u128::from(next()) << 64) | u128::from(next());
        Uuid::from_u128(id.max(1))
    }

    fn new_log(&self, topic: &str, partition: i32) -> Result<PartitionLog, LogError> {
        let store = match &self.data_dir {
            Some(data_dir) => Some(
                PartitionStore::create(data_dir.partition_dir(topic, partition)).map_err(
                    |error| LogError::new(ErrorCode::KafkaStorageError, error.to_string()),
                )?,
            ),
            None => None,
        };
        Ok(PartitionLog::new(store))
    }

    // ---- nodes -------------------------------------------------------------

    /// The running nodes.
    pub(crate) fn alive_nodes(&self) -> Vec<NodeInfo> {
        lock(&self.nodes)
            .iter()
            .filter(|node| node.alive)
            .cloned()
            .collect()
    }

    /// One node.
    pub(crate) fn node(&self, id: i32) -> Option<NodeInfo> {
        lock(&self.nodes).iter().find(|node| node.id == id).cloned()
    }

    /// Marks a node running (with its port) or stopped.
    pub(crate) fn set_node_alive(&self, id: i32, alive: bool, port: Option<u16>) {
        if let Some(node) = lock(&self.nodes).iter_mut().find(|node| node.id == id) {
            node.alive = alive;
            if let Some(port) = port {
                node.port = port;
            }
        }
    }

    fn is_alive(&self, id: i32) -> bool {
        self.node(id).is_some_and(|node| node.alive)
    }

    /// The lowest running node id, reported as the controller.
    pub(crate) fn controller_id(&self) -> i32 {
        self.alive_nodes().first().map_or(-1, |node| node.id)
    }

    // ---- topics ------------------------------------------------------------

    /// A copy of every topic (logs shared), for Metadata and friends.
    pub(crate) fn topics(&self) -> Vec<Topic> {
        lock(&self.topics).by_name.values().cloned().collect()
    }

    /// A copy of one topic.
    pub(crate) fn topic(&self, name: &str) -> Option<Topic> {
        lock(&self.topics).by_name.get(name).cloned()
    }

    /// The topic with id `id`.
    pub(crate) fn topic_by_id(&self, id: Uuid) -> Option<Topic> {
        lock(&self.topics)
            .by_name
            .values()
            .find(|topic| topic.id == id)
            .cloned()
    }

    /// Validates and (unless `validate_only`) creates a topic.
    pub(crate) fn create_topic(
        &self,
        new: NewTopic,
        validate_only: bool,
    ) -> Result<Topic, LogError> {
        validate_topic_name(&new.name)
            .map_err(|message| LogError::new(ErrorCode::InvalidTopicException, message))?;
        let node_count = self.config.nodes;
        let alive = i32::try_from(self.alive_nodes().len()).unwrap_or(i32::MAX);
        let partitions = match (&new.leaders, new.partitions) {
            (Some(leaders), _) => i32::try_from(leaders.len()).unwrap_or(i32::MAX),
            (None, -1) => self.config.default_partitions,
            (None, count) => count,
        };
        if partitions > MAX_PARTITIONS_PER_TOPIC {
            return Err(too_many_partitions(false));
        }
        if partitions < 1 {
            return Err(LogError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "Number of partitions was set to an invalid non-positive value ({partitions})."
                ),
            ));
        }
        let replication_factor = match new.replication_factor {
            -1 => self
                .config
                .default_replication_factor
                .min(i16::try_from(alive).unwrap_or(i16::MAX))
                .max(1),
            factor => factor,
        };
        if replication_factor < 1 {
            return Err(LogError::new(
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if i32::from(replication_factor) > alive {
            return Err(LogError::new(
                ErrorCode::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {alive} broker(s) are registered."
                ),
            ));
        }
        if let Some(leaders) = &new.leaders {
            if let Some(bad) = leaders
                .iter()
                .find(|leader| !(0..node_count).contains(*leader))
            {
                return Err(LogError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes broker {bad}, which does not exist."
                    ),
                ));
            }
        }
        for (key, value) in &new.configs {
            topic_config::validate(key, Some(value))
                .map_err(|message| LogError::new(ErrorCode::InvalidConfig, message))?;
        }
        let mut topics = lock(&self.topics);
        if topics.by_name.contains_key(&new.name) {
            return Err(LogError::new(
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", new.name),
            ));
        }
        let start = topics.next_leader;
        let leaders: Vec<i32> = match &new.leaders {
            Some(leaders) => leaders.clone(),
            None => (0..partitions)
                .map(|p| (start + p).rem_euclid(node_count))
                .collect(),
        };
        let mut entries = Vec::with_capacity(leaders.len());
        if !validate_only {
            for (index, leader) in leaders.iter().enumerate() {
                let log = self.new_log(&new.name, i32::try_from(index).unwrap_or(i32::MAX))?;
                entries.push(PartitionEntry {
                    leader: *leader,
                    leader_epoch: 0,
                    log: Arc::new(log),
                });
            }
        }
        let topic = Topic {
            name: new.name.clone(),
            id: self.new_topic_id(),
            replication_factor,
            config: TopicConfig {
                overrides: new.configs,
            },
            partitions: entries,
        };
        if !validate_only {
            topics.next_leader = (start + 1).rem_euclid(node_count);
            topics.by_name.insert(topic.name.clone(), topic.clone());
            self.persist_topic(&topic);
            tracing::info!(topic = %topic.name, partitions, "created topic");
        }
        Ok(topic)
    }

    /// Creates `name` with the defaults if it does not exist and automatic
    /// creation is on; `Ok(None)` when it is off.
    pub(crate) fn auto_create(&self, name: &str) -> Result<Option<Topic>, LogError> {
        if let Some(topic) = self.topic(name) {
            return Ok(Some(topic));
        }
        if !self.config.auto_create_topics {
            return Ok(None);
        }
        match self.create_topic(
            NewTopic {
                name: name.to_owned(),
                partitions: -1,
                replication_factor: -1,
                ..NewTopic::default()
            },
            false,
        ) {
            Ok(topic) => Ok(Some(topic)),
            // Another connection created it in the meantime.
            Err(error) if error.code == ErrorCode::TopicAlreadyExists => Ok(self.topic(name)),
            Err(error) => Err(error),
        }
    }

    /// Deletes a topic and its files; returns it.
    pub(crate) fn delete_topic(&self, name: &str) -> Option<Topic> {
        let topic = lock(&self.topics).by_name.remove(name)?;
        for partition in &topic.partitions {
            partition.log.delete_files();
        }
        if let Some(data_dir) = &self.data_dir {
            data_dir.delete_topic(name);
        }
        tracing::info!(topic = %name, "deleted topic");
        Some(topic)
    }

    /// Grows a topic to `count` partitions.
    pub(crate) fn add_partitions(
        &self,
        name: &str,
        count: i32,
        leaders: Option<Vec<i32>>,
        validate_only: bool,
    ) -> Result<(), LogError> {
        let mut topics = lock(&self.topics);
        let node_count = self.config.nodes;
        let Some(topic) = topics.by_name.get_mut(name) else {
            return Err(LogError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
        };
        let current = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        if count > MAX_PARTITIONS_PER_TOPIC {
            return Err(too_many_partitions(true));
        }
        if count <= current {
            return Err(LogError::new(
                ErrorCode::InvalidPartitions,
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {count}."
                ),
            ));
        }
        if let Some(leaders) = &leaders {
            if i32::try_from(leaders.len()).ok() != Some(count - current) {
                return Err(LogError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        count - current,
                        leaders.len()
                    ),
                ));
            }
            if let Some(bad) = leaders
                .iter()
                .find(|leader| !(0..node_count).contains(*leader))
            {
                return Err(LogError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "The manual partition assignment includes broker {bad}, which does not exist."
                    ),
                ));
            }
        }
        if validate_only {
            return Ok(());
        }
        for index in current..count {
            let leader = leaders
                .as_ref()
                .and_then(|leaders| leaders.get((index - current) as usize).copied())
                .unwrap_or(index.rem_euclid(node_count));
            let log = self.new_log(name, index)?;
            topic.partitions.push(PartitionEntry {
                leader,
                leader_epoch: 0,
                log: Arc::new(log),
            });
        }
        let snapshot = topic.clone();
        drop(topics);
        self.persist_topic(&snapshot);
        Ok(())
    }

    /// Replaces a topic's config overrides.
    pub(crate) fn set_topic_config(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
    ) -> Result<(), ErrorCode> {
        let mut topics = lock(&self.topics);
        let topic = topics
            .by_name
            .get_mut(name)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        topic.config.overrides = overrides;
        let snapshot = topic.clone();
        drop(topics);
        self.persist_topic(&snapshot);
        Ok(())
    }

    /// Moves a partition's leadership to `node`, bumping its leader epoch.
    pub(crate) fn move_leader(
        &self,
        name: &str,
        partition: i32,
        node: i32,
    ) -> Result<(), BrokerError> {
        if !(0..self.config.nodes).contains(&node) {
            return Err(BrokerError::UnknownNode(node));
        }
        let mut topics = lock(&self.topics);
        let topic = topics
            .by_name
            .get_mut(name)
            .ok_or_else(|| BrokerError::Config(format!("no topic {name}")))?;
        let entry = usize::try_from(partition)
            .ok()
            .and_then(|index| topic.partitions.get_mut(index))
            .ok_or_else(|| BrokerError::Config(format!("no partition {name}-{partition}")))?;
        if entry.leader != node {
            entry.leader = node;
            entry.leader_epoch = entry.leader_epoch.saturating_add(1);
        }
        let snapshot = topic.clone();
        drop(topics);
        self.persist_topic(&snapshot);
        Ok(())
    }

    /// The partition `name`-`partition` if `node` leads it: the check every
    /// partition-scoped request goes through.
    pub(crate) fn led_partition(
        &self,
        name: &str,
        partition: i32,
        node: i32,
    ) -> Result<LedPartition, ErrorCode> {
        let topics = lock(&self.topics);
        let topic = topics
            .by_name
            .get(name)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        Self::led_in(topic, partition, node)
    }

    /// Like [`Cluster::led_partition`], for a topic already looked up.
    pub(crate) fn led_in(
        topic: &Topic,
        partition: i32,
        node: i32,
    ) -> Result<LedPartition, ErrorCode> {
        let entry = usize::try_from(partition)
            .ok()
            .and_then(|index| topic.partitions.get(index))
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if entry.leader != node {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        Ok(LedPartition {
            log: Arc::clone(&entry.log),
            leader_epoch: entry.leader_epoch,
            settings: topic.config.log_settings(),
        })
    }

    /// The current leader and epoch of a partition, for responses that tell
    /// a client where to go (KIP-951).
    pub(crate) fn leader_of(&self, name: &str, partition: i32) -> Option<(i32, i32)> {
        let topics = lock(&self.topics);
        let entry = usize::try_from(partition)
            .ok()
            .and_then(|index| topics.by_name.get(name)?.partitions.get(index))?;
        let leader = if self.is_alive(entry.leader) {
            entry.leader
        } else {
            -1
        };
        Some((leader, entry.leader_epoch))
    }

    /// Whether the partition exists (for OffsetCommit).
    pub(crate) fn partition_exists(&self, name: &str, partition: i32) -> bool {
        let topics = lock(&self.topics);
        topics.by_name.get(name).is_some_and(|topic| {
            usize::try_from(partition).is_ok_and(|index| index < topic.partitions.len())
        })
    }

    // ---- producers and groups ---------------------------------------------

    /// InitProducerId.
    pub(crate) fn init_producer_id(
        &self,
        transactional_id: Option<&str>,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<(i64, i16), ErrorCode> {
        lock(&self.producer_ids).init(
            transactional_id,
            producer_id,
            producer_epoch,
            self.data_dir.as_ref(),
        )
    }

    /// The node that coordinates groups, if it is running.
    pub(crate) fn coordinator_node(&self) -> Option<NodeInfo> {
        self.node(self.coordinator_id()).filter(|node| node.alive)
    }

    /// The id of the node that coordinates groups and transactional ids.
    pub(crate) fn coordinator_id(&self) -> i32 {
        self.coordinator.load(Ordering::Acquire)
    }

    /// Makes `node` the coordinator of every group and transactional id.
    /// Their state is shared by all nodes, so it moves with it, as Kafka's
    /// new coordinator loads it from `__consumer_offsets` and
    /// `__transaction_state`; the old node answers NOT_COORDINATOR.
    pub(crate) fn move_coordinator(&self, node: i32) -> Result<(), BrokerError> {
        if !(0..self.config.nodes).contains(&node) {
            return Err(BrokerError::UnknownNode(node));
        }
        self.coordinator.store(node, Ordering::Release);
        Ok(())
    }

    /// The group coordinator, created on first use.
    pub(crate) fn groups(&self) -> &GroupCoordinator {
        self.groups.get_or_init(|| {
            let offset_store = self
                .offset_store
                .as_ref()
                .map(|store| Arc::clone(store) as Arc<dyn OffsetStore>);
            GroupCoordinator::new(GroupConfig {
                min_session_timeout_ms: self.config.group_min_session_timeout_ms,
                max_session_timeout_ms: self.config.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: self.config.group_initial_rebalance_delay_ms,
                offset_store,
            })
        })
    }

    /// Stops the group coordinator if it was started, and the transaction
    /// coordinator's tick.
    pub(crate) fn shutdown_groups(&self) {
        self.txns.shutdown();
        if let Some(groups) = self.groups.get() {
            groups.shutdown();
        }
    }

    /// Flushes every partition (graceful shutdown).
    pub(crate) fn flush_all(&self) {
        for topic in self.topics() {
            for partition in &topic.partitions {
                if let Err(error) = partition.log.flush() {
                    tracing::error!(topic = %topic.name, %error, "flush failed");
                }
            }
        }
    }
}
