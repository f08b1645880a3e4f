//! Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete, and the
//! offset store (restore at start, store on commit, delete on deletion;
//! Stable groups are restored after their offsets).
//!
//! Follows Kafka's `OffsetMetadataManager` and `ClassicGroup` validation:
//! a commit with generation -1 and no member is a "simple" commit, allowed
//! (and creating the group) only while the group is empty; otherwise the
//! member and generation must be current (FENCED_INSTANCE_ID,
//! UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), and REBALANCE_IN_PROGRESS while
//! the group waits for its assignment. From OffsetCommit v9 a commit to a
//! group that does not exist is GROUP_ID_NOT_FOUND instead of
//! ILLEGAL_GENERATION. Metadata is limited to `offset.metadata.max.bytes`
//! (4096) Java characters; leader epochs are kept from v6 (KIP-320).
//! OffsetFetch never reports a missing group: -1 offsets, as Kafka does.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use ferrokafka_protocol::generated::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use ferrokafka_protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use ferrokafka_protocol::generated::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};
use tokio::time::Instant;

use super::classic::{Group, GroupState, OffsetEntry};
use super::{CommittedOffset, State};

/// Kafka's `offset.metadata.max.bytes` default; Kafka compares it with the
/// Java string length (UTF-16 units), and so do we.
const OFFSET_METADATA_MAX_SIZE: usize = 4096;

/// One partition's fetched offset, before it is shaped for a version.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: ErrorCode,
}

impl Fetched {
    fn none(partition: i32) -> Self {
        Fetched {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error: ErrorCode::None,
        }
    }
}

/// Milliseconds since the Unix epoch, for commit timestamps.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Kafka's `validateOffsetCommit` for a classic group.
fn validate_commit(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), ErrorCode> {
    if generation < 0 && group.is_empty_state() {
        // The admin client or a consumer without group management.
        return Ok(());
    }
    if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
        group.validate_member(member_id, instance_id)?;
        if generation != group.generation {
            return Err(ErrorCode::IllegalGeneration);
        }
    } else if !group.is_empty_state() {
        // A simple commit into a group that has members.
        return Err(ErrorCode::UnknownMemberId);
    }
    if group.state == GroupState::CompletingRebalance {
        // The member has its JoinGroup answer but not yet its assignment.
        return Err(ErrorCode::RebalanceInProgress);
    }
    Ok(())
}

impl State {
    /// See [`super::GroupCoordinator::validate_txn_offset_commit`].
    pub(super) fn validate_txn_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        if self.shutdown {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        let Some(group) = self.groups.get(group_id) else {
            return if generation < 0 {
                Ok(())
            } else {
                Err(ErrorCode::IllegalGeneration)
            };
        };
        if generation < 0 && group.is_empty_state() {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            group.validate_member(member_id, instance_id)?;
            if generation != group.generation {
                return Err(ErrorCode::IllegalGeneration);
            }
        }
        Ok(())
    }

    /// See [`super::GroupCoordinator::apply_txn_offsets`].
    pub(super) fn apply_txn_offsets(&mut self, offsets: Vec<CommittedOffset>, now: Instant) {
        if offsets.is_empty() {
            return;
        }
        let limits = self.limits;
        for committed in &offsets {
            let group = self
                .groups
                .entry(committed.group_id.clone())
                .or_insert_with(|| Group::new(committed.group_id.clone(), now, limits));
            group.offsets.insert(
                (committed.topic.clone(), committed.partition),
                OffsetEntry {
                    offset: committed.offset,
                    leader_epoch: committed.leader_epoch,
                    metadata: committed.metadata.clone().unwrap_or_default(),
                    commit_timestamp_ms: committed.commit_timestamp_ms,
                },
            );
        }
        if let Some(store) = self.store.as_ref() {
            store.store(&offsets);
        }
    }

    /// Rebuilds groups (Empty, offsets only) from the store.
    pub(super) fn restore(&mut self, offsets: Vec<CommittedOffset>, now: Instant) {
        let limits = self.limits;
        for committed in offsets {
            let group = self
                .groups
                .entry(committed.group_id.clone())
                .or_insert_with(|| Group::new(committed.group_id.clone(), now, limits));
            group.offsets.insert(
                (committed.topic, committed.partition),
                OffsetEntry {
                    offset: committed.offset,
                    leader_epoch: committed.leader_epoch,
                    metadata: committed.metadata.unwrap_or_default(),
                    commit_timestamp_ms: committed.commit_timestamp_ms,
                },
            );
        }
    }

    /// Brings back the Stable groups the store kept (after their offsets).
    pub(super) fn restore_groups(&mut self, snapshots: Vec<super::GroupSnapshot>, now: Instant) {
        let limits = self.limits;
        for snapshot in snapshots {
            let group_id = snapshot.group_id.clone();
            let members = snapshot
                .members
                .iter()
                .map(|m| m.member_id.clone())
                .collect();
            self.persisted
                .insert(group_id.clone(), (snapshot.generation, members));
            self.groups
                .entry(group_id.clone())
                .or_insert_with(|| Group::new(group_id, now, limits))
                .restore_members(snapshot, now);
        }
    }

    /// OffsetCommit. `known[t][p]` says whether partition `p` of topic `t`
    /// exists; unknown ones are UNKNOWN_TOPIC_OR_PARTITION whatever the group
    /// says (Kafka checks them before the coordinator sees the request).
    pub(super) fn offset_commit(
        &mut self,
        request: OffsetCommitRequest,
        version: i16,
        known: &[Vec<bool>],
        now: Instant,
    ) -> OffsetCommitResponse {
        let any_known = known.iter().flatten().any(|k| *k);
        let group_error = if !any_known {
            None
        } else {
            self.commit_group_error(&request, version, now).err()
        };
        let timestamp = now_ms();
        let mut stored: Vec<CommittedOffset> = Vec::new();
        let mut group = if group_error.is_none() {
            self.groups.get_mut(&request.group_id)
        } else {
            None
        };
        let mut topics = Vec::with_capacity(request.topics.len());
        for (topic, topic_known) in request
            .topics
            .into_iter()
            .zip(known.iter().map(Some).chain(std::iter::repeat(None)))
        {
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for (index, partition) in topic.partitions.into_iter().enumerate() {
                let exists = topic_known
                    .and_then(|k| k.get(index))
                    .copied()
                    .unwrap_or(false);
                let metadata = partition.committed_metadata.unwrap_or_default();
                let error = if !exists {
                    ErrorCode::UnknownTopicOrPartition
                } else if let Some(error) = group_error {
                    error
                } else if metadata.encode_utf16().count() > OFFSET_METADATA_MAX_SIZE {
                    ErrorCode::OffsetMetadataTooLarge
                } else if let Some(group) = group.as_deref_mut() {
                    let leader_epoch = if version >= 6 {
                        partition.committed_leader_epoch
                    } else {
                        -1
                    };
                    // v1 lets the client set the commit time; -1 means now.
                    let commit_timestamp_ms = if version == 1 && partition.commit_timestamp >= 0 {
                        partition.commit_timestamp
                    } else {
                        timestamp
                    };
                    let entry = OffsetEntry {
                        offset: partition.committed_offset,
                        leader_epoch,
                        metadata: metadata.clone(),
                        commit_timestamp_ms,
                    };
                    group
                        .offsets
                        .insert((topic.name.clone(), partition.partition_index), entry);
                    stored.push(CommittedOffset {
                        group_id: request.group_id.clone(),
                        topic: topic.name.clone(),
                        partition: partition.partition_index,
                        offset: partition.committed_offset,
                        leader_epoch,
                        metadata: Some(metadata),
                        commit_timestamp_ms,
                    });
                    ErrorCode::None
                } else {
                    ErrorCode::CoordinatorNotAvailable
                };
                partitions.push(OffsetCommitResponsePartition {
                    partition_index: partition.partition_index,
                    error_code: error,
                    ..Default::default()
                });
            }
            topics.push(OffsetCommitResponseTopic {
                name: topic.name,
                partitions,
                ..Default::default()
            });
        }
        if let Some(store) = self.store.as_ref().filter(|_| !stored.is_empty()) {
            store.store(&stored);
        }
        OffsetCommitResponse {
            topics,
            ..Default::default()
        }
    }

    /// The group-level verdict on a commit (creating a simple group when
    /// that is what the commit asks for).
    fn commit_group_error(
        &mut self,
        request: &OffsetCommitRequest,
        version: i16,
        now: Instant,
    ) -> Result<(), ErrorCode> {
        if self.shutdown {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        // v0 carries neither generation nor member: the defaults (-1, "")
        // make it a simple commit.
        let generation = request.generation_id_or_member_epoch;
        let instance_id = if version >= 7 {
            request.group_instance_id.as_deref()
        } else {
            None
        };
        let limits = self.limits;
        let group = match self.groups.get_mut(&request.group_id) {
            Some(group) => group,
            None if generation < 0 => self
                .groups
                .entry(request.group_id.clone())
                .or_insert_with(|| Group::new(request.group_id.clone(), now, limits)),
            None if version >= 9 => return Err(ErrorCode::GroupIdNotFound),
            None => return Err(ErrorCode::IllegalGeneration),
        };
        validate_commit(group, &request.member_id, instance_id, generation)?;
        // A commit shows the member is alive (Kafka's Scala coordinator
        // counted it as a heartbeat).
        if !request.member_id.is_empty() {
            group.touch(&request.member_id, now);
        }
        Ok(())
    }

    /// The offsets of one group: the listed partitions, or everything
    /// committed when `topics` is `None`.
    fn fetch_group(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Vec<(String, Vec<Fetched>)> {
        let mut fetched = self.fetch_committed(group_id, topics);
        if require_stable && !self.pending_txn_offsets.is_empty() {
            for (topic, partitions) in &mut fetched {
                for partition in partitions {
                    let key = (group_id.to_owned(), topic.clone(), partition.partition);
                    if self.pending_txn_offsets.contains_key(&key) {
                        *partition = Fetched {
                            error: ErrorCode::UnstableOffsetCommit,
                            ..Fetched::none(partition.partition)
                        };
                    }
                }
            }
        }
        fetched
    }

    fn fetch_committed(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<Fetched>)> {
        let group = self.groups.get(group_id);
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let fetched = partitions
                        .into_iter()
                        .map(|partition| {
                            match group.and_then(|g| g.offsets.get(&(topic.clone(), partition))) {
                                Some(entry) => Fetched {
                                    partition,
                                    offset: entry.offset,
                                    leader_epoch: entry.leader_epoch,
                                    metadata: entry.metadata.clone(),
                                    error: ErrorCode::None,
                                },
                                None => Fetched::none(partition),
                            }
                        })
                        .collect();
                    (topic, fetched)
                })
                .collect(),
            None => {
                let mut all: Vec<(String, Vec<Fetched>)> = Vec::new();
                for ((topic, partition), entry) in
                    group.map(|g| g.offsets.iter()).into_iter().flatten()
                {
                    let fetched = Fetched {
                        partition: *partition,
                        offset: entry.offset,
                        leader_epoch: entry.leader_epoch,
                        metadata: entry.metadata.clone(),
                        error: ErrorCode::None,
                    };
                    match all.last_mut() {
                        Some((last, partitions)) if last == topic => partitions.push(fetched),
                        _ => all.push((topic.clone(), vec![fetched])),
                    }
                }
                all
            }
        }
    }

    /// OffsetFetch: v0-7 one group at the top level, v8+ a list of groups.
    pub(super) fn offset_fetch(
        &self,
        request: OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        if version >= 8 {
            let groups = request
                .groups
                .into_iter()
                .map(|group| {
                    if self.shutdown {
                        return OffsetFetchResponseGroup {
                            group_id: group.group_id,
                            error_code: ErrorCode::CoordinatorNotAvailable,
                            ..Default::default()
                        };
                    }
                    let asked = group.topics.map(|topics| {
                        topics
                            .into_iter()
                            .map(|t| (t.name, t.partition_indexes))
                            .collect()
                    });
                    let topics = self
                        .fetch_group(&group.group_id, asked, request.require_stable)
                        .into_iter()
                        .map(|(name, partitions)| OffsetFetchResponseTopics {
                            name,
                            partitions: partitions
                                .into_iter()
                                .map(|f| OffsetFetchResponsePartitions {
                                    partition_index: f.partition,
                                    committed_offset: f.offset,
                                    committed_leader_epoch: f.leader_epoch,
                                    metadata: Some(f.metadata),
                                    error_code: f.error,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    OffsetFetchResponseGroup {
                        group_id: group.group_id,
                        topics,
                        ..Default::default()
                    }
                })
                .collect();
            return OffsetFetchResponse {
                groups,
                ..Default::default()
            };
        }

        // v0 and v1 cannot return null topics; their "all topics" form is v2+.
        let asked: Option<Vec<(String, Vec<i32>)>> = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect()
        });
        if self.shutdown {
            let error = ErrorCode::CoordinatorNotAvailable;
            if version >= 2 {
                // v2-7 carry a top-level error and no partitions.
                return OffsetFetchResponse {
                    error_code: error,
                    ..Default::default()
                };
            }
            // v0-1 have no top-level error: every partition carries it.
            let topics = asked
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| OffsetFetchResponseTopic {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(|partition| OffsetFetchResponsePartition {
                            partition_index: partition,
                            committed_offset: -1,
                            metadata: Some(String::new()),
                            error_code: error,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            return OffsetFetchResponse {
                topics,
                ..Default::default()
            };
        }
        let topics = self
            .fetch_group(
                &request.group_id,
                asked,
                version >= 7 && request.require_stable,
            )
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|f| OffsetFetchResponsePartition {
                        partition_index: f.partition,
                        committed_offset: f.offset,
                        committed_leader_epoch: if version >= 5 { f.leader_epoch } else { -1 },
                        metadata: Some(f.metadata),
                        error_code: f.error,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        OffsetFetchResponse {
            topics,
            ..Default::default()
        }
    }

    /// OffsetDelete: a group with members may only lose offsets of topics it
    /// is not subscribed to (and only a consumer group can tell).
    pub(super) fn offset_delete(&mut self, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
        let error = |error_code| OffsetDeleteResponse {
            error_code,
            ..Default::default()
        };
        if self.shutdown {
            return error(ErrorCode::CoordinatorNotAvailable);
        }
        if request.group_id.is_empty() {
            return error(ErrorCode::InvalidGroupId);
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return error(ErrorCode::GroupIdNotFound);
        };
        if !group.is_empty_state() && !group.uses_consumer_protocol() {
            return error(ErrorCode::NonEmptyGroup);
        }
        let mut deleted: Vec<(String, i32)> = Vec::new();
        let mut topics = Vec::with_capacity(request.topics.len());
        for topic in request.topics {
            let subscribed = group.is_subscribed_to(&topic.name);
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for partition in topic.partitions {
                let error_code = if subscribed {
                    ErrorCode::GroupSubscribedToTopic
                } else {
                    let key = (topic.name.clone(), partition.partition_index);
                    if group.offsets.remove(&key).is_some() {
                        deleted.push(key);
                    }
                    ErrorCode::None
                };
                partitions.push(OffsetDeleteResponsePartition {
                    partition_index: partition.partition_index,
                    error_code,
                });
            }
            topics.push(OffsetDeleteResponseTopic {
                name: topic.name,
                partitions,
            });
        }
        if let Some(store) = self.store.as_ref().filter(|_| !deleted.is_empty()) {
            store.delete(&request.group_id, Some(&deleted));
        }
        OffsetDeleteResponse {
            topics,
            ..Default::default()
        }
    }
}
