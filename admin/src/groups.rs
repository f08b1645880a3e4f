//! Consumer group operations: list (with a state filter), describe
//! (members, assignments decoded from the ConsumerProtocol bytes, state,
//! protocol, coordinator), delete, and a group's committed offsets: list,
//! alter and delete.
//!
//! Every group request goes to the group's coordinator through the core
//! ([`Target::GroupCoordinator`]), which finds it again after NOT_COORDINATOR
//! or COORDINATOR_NOT_AVAILABLE and backs off on COORDINATOR_LOAD_IN_PROGRESS.
//! Altering offsets is an OffsetCommit with generation -1 and no member id,
//! which Kafka accepts only for an empty group: as in Java's
//! `AlterConsumerGroupOffsetsHandler`, REBALANCE_IN_PROGRESS is retried until
//! the timeout, and group-level errors (UNKNOWN_MEMBER_ID for a group with
//! live members, INVALID_GROUP_ID...) fail the whole call, while
//! partition-level ones are reported per partition. Deleting offsets
//! (OffsetDelete, KIP-496) fails the call on a group-level error
//! (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP) and reports
//! GROUP_SUBSCRIBED_TO_TOPIC per partition.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use bytes::Bytes;
pub use ferrokafka_client::OffsetAndMetadata;
use ferrokafka_client::Target;
use ferrokafka_protocol::generated::describe_groups_response::DescribedGroup;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use ferrokafka_protocol::generated::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
};
use ferrokafka_protocol::{ErrorCode, consumer_protocol};

use crate::cluster::{AclOperation, Node};
use crate::options::{
    AlterConsumerGroupOffsetsOptions, DeleteConsumerGroupOffsetsOptions,
    DeleteConsumerGroupsOptions, DescribeConsumerGroupsOptions, ListConsumerGroupOffsetsOptions,
    ListConsumerGroupsOptions,
};
use crate::{Admin, AdminError, Deadline, Result};

/// A group's state (Java's `ConsumerGroupState`/`GroupState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// A state this client does not know, or none sent.
    Unknown,
    /// Members are (re)joining.
    PreparingRebalance,
    /// Members joined and wait for their assignment.
    CompletingRebalance,
    /// Members have their assignment.
    Stable,
    /// The group does not exist (any more).
    Dead,
    /// No members (offsets may remain).
    Empty,
    /// A KIP-848 group computing its assignment.
    Assigning,
    /// A KIP-848 group whose members converge on their assignment.
    Reconciling,
}

impl GroupState {
    /// Parses a state name as brokers send it (case-insensitive).
    pub fn parse(name: &str) -> GroupState {
        const ALL: [GroupState; 7] = [
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
            GroupState::Empty,
            GroupState::Assigning,
            GroupState::Reconciling,
        ];
        ALL.into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
            .unwrap_or(GroupState::Unknown)
    }

    /// The name brokers use (`Stable`, `Empty`...).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Unknown => "Unknown",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
            GroupState::Empty => "Empty",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A group as [`Admin::list_consumer_groups`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups; empty for a group
    /// that only has offsets).
    pub protocol_type: String,
    /// The state ([`GroupState::Unknown`] from brokers before ListGroups v4).
    pub state: GroupState,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The static member id, if any.
    pub group_instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// The assigned partitions (topic, partitions sorted), decoded from the
    /// ConsumerProtocol assignment; empty if there is none (the group is not
    /// Stable) or it could not be decoded.
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state ([`GroupState::Dead`] for a group that does not exist, as
    /// Kafka describes it before DescribeGroups v6).
    pub state: GroupState,
    /// The protocol type (`consumer`, or empty).
    pub protocol_type: String,
    /// The protocol (assignor) name, while the group is Stable.
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
    /// The coordinator that answered.
    pub coordinator: Option<Node>,
    /// What this client may do on the group, when asked for
    /// (`include_authorized_operations`) and the broker answered.
    pub authorized_operations: Option<BTreeSet<AclOperation>>,
}

impl GroupDescription {
    /// Whether the group only holds offsets committed without group
    /// membership (an empty protocol type; Java's `isSimpleConsumerGroup`).
    pub fn is_simple_consumer_group(&self) -> bool {
        self.protocol_type.is_empty()
    }
}

/// A committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
    /// The committed leader epoch, or -1.
    pub leader_epoch: i32,
    /// The commit metadata.
    pub metadata: Option<String>,
}

/// Decodes a ConsumerProtocol assignment (an i16 version, then the body;
/// see [`consumer_protocol::decode`]); partitions sorted within each topic.
pub fn decode_assignment(bytes: &Bytes) -> Option<Vec<(String, Vec<i32>)>> {
    let assignment = consumer_protocol::decode::<ConsumerProtocolAssignment>(bytes)
        .ok()?
        .body;
    Some(
        assignment
            .assigned_partitions
            .into_iter()
            .map(|tp| {
                let mut partitions = tp.partitions;
                partitions.sort_unstable();
                (tp.topic, partitions)
            })
            .collect(),
    )
}

/// The codes that send a group request again (to the coordinator found
/// again, or after a backoff); every other code is the item's answer.
fn coordinator_error(code: ErrorCode) -> Option<ErrorCode> {
    Some(code).filter(|c| {
        matches!(
            c,
            ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::CoordinatorLoadInProgress
        )
    })
}

/// Errors that fail a whole OffsetCommit for the group (Java's
/// `AlterConsumerGroupOffsetsHandler.handleGroupError`).
fn is_group_level_commit_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidGroupId
            | ErrorCode::InvalidCommitOffsetSize
            | ErrorCode::GroupAuthorizationFailed
            | ErrorCode::UnknownMemberId
            | ErrorCode::IllegalGeneration
            | ErrorCode::FencedInstanceId
            | ErrorCode::GroupIdNotFound
            | ErrorCode::RebalanceInProgress
    )
}

impl Admin {
    /// Lists the consumer groups of every broker, sorted by id; with
    /// `options.states` only groups in one of those states.
    pub async fn list_consumer_groups(
        &self,
        options: ListConsumerGroupsOptions,
    ) -> Result<Vec<GroupListing>> {
        let deadline = Deadline::after(options.timeout);
        deadline.run(self.client.refresh_metadata()).await?;
        let mut nodes: Vec<i32> = self.client.metadata().brokers.keys().copied().collect();
        nodes.sort_unstable();
        let targets: Vec<Target> = if nodes.is_empty() {
            vec![Target::AnyBroker]
        } else {
            nodes.into_iter().map(Target::Node).collect()
        };
        let mut out: Vec<GroupListing> = Vec::new();
        for target in targets {
            let version = self
                .version_for::<ListGroupsRequest>(&target, &deadline)
                .await?;
            let request = ListGroupsRequest {
                states_filter: if version >= 4 {
                    options
                        .states
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .collect()
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            let response = deadline
                .run(self.client.send_with_retry_checked(
                    &request,
                    &target,
                    deadline.remaining(),
                    |r| Some(r.error_code),
                ))
                .await?;
            for g in response.groups {
                let state = GroupState::parse(&g.group_state);
                let keep = options.states.is_empty() || options.states.contains(&state);
                if keep && !out.iter().any(|o| o.group_id == g.group_id) {
                    out.push(GroupListing {
                        group_id: g.group_id,
                        protocol_type: g.protocol_type,
                        state,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Describes groups, each on its coordinator; one result per group, in
    /// the order given (a group that does not exist is described in state
    /// [`GroupState::Dead`] with no members, as Java does; a group of
    /// another protocol type than `consumer` is an
    /// [`AdminError::InvalidRequest`]).
    pub async fn describe_consumer_groups(
        &self,
        groups: &[&str],
        options: DescribeConsumerGroupsOptions,
    ) -> Result<Vec<(String, Result<GroupDescription>)>> {
        let deadline = Deadline::after(options.timeout);
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let r = self.describe_group(group, options, &deadline).await;
            out.push(((*group).to_string(), r));
        }
        Ok(out)
    }

    async fn describe_group(
        &self,
        group: &str,
        options: DescribeConsumerGroupsOptions,
        deadline: &Deadline,
    ) -> Result<GroupDescription> {
        let request = DescribeGroupsRequest {
            groups: vec![group.to_string()],
            include_authorized_operations: options.include_authorized_operations,
            ..Default::default()
        };
        let target = Target::GroupCoordinator(group.to_string());
        let response = deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &target,
                deadline.remaining(),
                |r| {
                    r.groups
                        .iter()
                        .map(|g| g.error_code)
                        .find_map(coordinator_error)
                },
            ))
            .await?;
        let coordinator = self
            .client
            .resolve(&target)
            .await
            .ok()
            .flatten()
            .and_then(|id| {
                self.client.metadata().brokers.get(&id).map(|b| Node {
                    id,
                    host: b.host.clone(),
                    port: i32::from(b.port),
                    rack: b.rack.clone(),
                })
            });
        let g: DescribedGroup = response
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| AdminError::MissingResult(group.to_string()))?;
        AdminError::check(g.error_code, None)?;
        if !g.protocol_type.is_empty() && g.protocol_type != "consumer" {
            return Err(AdminError::InvalidRequest(format!(
                "group {group} is not a consumer group (protocol type {:?})",
                g.protocol_type
            )));
        }
        Ok(GroupDescription {
            group_id: g.group_id,
            state: GroupState::parse(&g.group_state),
            protocol_type: g.protocol_type,
            protocol: g.protocol_data,
            members: g
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    assignment: decode_assignment(&m.member_assignment).unwrap_or_default(),
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                })
                .collect(),
            coordinator,
            authorized_operations: if options.include_authorized_operations {
                AclOperation::from_bit_field(g.authorized_operations)
            } else {
                None
            },
        })
    }

    /// Deletes groups, each on its coordinator; one result per group, in
    /// the order given (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP while members
    /// are live...).
    pub async fn delete_consumer_groups(
        &self,
        groups: &[&str],
        options: DeleteConsumerGroupsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let request = DeleteGroupsRequest {
                groups_names: vec![(*group).to_string()],
                ..Default::default()
            };
            let r = match deadline
                .run(self.client.send_with_retry_checked(
                    &request,
                    &Target::GroupCoordinator((*group).to_string()),
                    deadline.remaining(),
                    |r| {
                        r.results
                            .iter()
                            .map(|g| g.error_code)
                            .find_map(coordinator_error)
                    },
                ))
                .await
            {
                Err(e) => Err(e),
                Ok(response) => {
                    let mut by_id: HashMap<String, ErrorCode> = response
                        .results
                        .into_iter()
                        .map(|r| (r.group_id, r.error_code))
                        .collect();
                    match by_id.remove(*group) {
                        None => Err(AdminError::MissingResult((*group).to_string())),
                        Some(code) => AdminError::check(code, None),
                    }
                }
            };
            out.push(((*group).to_string(), r));
        }
        Ok(out)
    }

    /// The committed offsets of `group` (of every partition, or of
    /// `options.partitions`), sorted by topic and partition; partitions
    /// without a committed offset are left out.
    pub async fn list_consumer_group_offsets(
        &self,
        group: &str,
        options: ListConsumerGroupOffsetsOptions,
    ) -> Result<Vec<CommittedOffset>> {
        let deadline = Deadline::after(options.timeout);
        let target = Target::GroupCoordinator(group.to_string());
        let version = self
            .version_for::<OffsetFetchRequest>(&target, &deadline)
            .await?;
        // Topics (with their partitions) to ask for; `None` means all.
        let mut wanted: Option<Vec<(String, Vec<i32>)>> = None;
        if let Some(partitions) = &options.partitions {
            let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
            for (topic, partition) in partitions {
                match topics.iter_mut().find(|(t, _)| t == topic) {
                    Some((_, ps)) => ps.push(*partition),
                    None => topics.push((topic.clone(), vec![*partition])),
                }
            }
            wanted = Some(topics);
        }
        let mut request = OffsetFetchRequest {
            require_stable: options.require_stable && version >= 7,
            ..Default::default()
        };
        if version >= 8 {
            request.groups = vec![OffsetFetchRequestGroup {
                group_id: group.to_string(),
                member_id: None,
                member_epoch: -1,
                topics: wanted.map(|ts| {
                    ts.into_iter()
                        .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                            name,
                            partition_indexes,
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }];
        } else {
            request.group_id = group.to_string();
            request.topics = wanted.map(|ts| {
                ts.into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                        name,
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect()
            });
        }
        let response = deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &target,
                deadline.remaining(),
                |r| {
                    if version >= 8 {
                        let group_code = r.groups.iter().map(|g| g.error_code);
                        let partition_codes = r
                            .groups
                            .iter()
                            .flat_map(|g| &g.topics)
                            .flat_map(|t| &t.partitions)
                            .map(|p| p.error_code)
                            .filter(|c| {
                                *c == ErrorCode::UnstableOffsetCommit
                                    || coordinator_error(*c).is_some()
                            });
                        group_code.chain(partition_codes).find(|c| !c.is_ok())
                    } else {
                        let partition_codes = r
                            .topics
                            .iter()
                            .flat_map(|t| &t.partitions)
                            .map(|p| p.error_code)
                            .filter(|c| {
                                *c == ErrorCode::UnstableOffsetCommit
                                    || coordinator_error(*c).is_some()
                            });
                        std::iter::once(r.error_code)
                            .chain(partition_codes)
                            .find(|c| !c.is_ok())
                    }
                },
            ))
            .await?;
        let mut out = Vec::new();
        if version >= 8 {
            for g in response.groups.into_iter().filter(|g| g.group_id == group) {
                for t in g.topics {
                    for p in t.partitions {
                        if p.committed_offset >= 0 {
                            out.push(CommittedOffset {
                                topic: t.name.clone(),
                                partition: p.partition_index,
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: p.metadata,
                            });
                        }
                    }
                }
            }
        } else {
            for t in response.topics {
                for p in t.partitions {
                    if p.committed_offset >= 0 {
                        out.push(CommittedOffset {
                            topic: t.name.clone(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.metadata,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Sets `group`'s committed offsets (`(topic, partition) -> offset` or
    /// [`OffsetAndMetadata`]): an OffsetCommit with generation -1 and no
    /// member, which only an empty group accepts. A group with live members
    /// fails the whole call (UNKNOWN_MEMBER_ID; REBALANCE_IN_PROGRESS if it
    /// is still rebalancing at the timeout); partition-level errors are
    /// reported per partition, in the order given.
    pub async fn alter_consumer_group_offsets<S, V>(
        &self,
        group: &str,
        offsets: impl IntoIterator<Item = ((S, i32), V)>,
        options: AlterConsumerGroupOffsetsOptions,
    ) -> Result<Vec<((String, i32), Result<()>)>>
    where
        S: Into<String>,
        V: Into<OffsetAndMetadata>,
    {
        let deadline = Deadline::after(options.timeout);
        let offsets: Vec<((String, i32), OffsetAndMetadata)> = offsets
            .into_iter()
            .map(|((t, p), v)| ((t.into(), p), v.into()))
            .collect();
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for ((topic, partition), offset) in &offsets {
            let p = OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: offset.offset,
                committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
                committed_metadata: Some(offset.metadata.clone().unwrap_or_default()),
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(OffsetCommitRequestTopic {
                    name: topic.clone(),
                    partitions: vec![p],
                    ..Default::default()
                }),
            }
        }
        let request = OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics,
            ..Default::default()
        };
        let target = Target::GroupCoordinator(group.to_string());
        let mut round = 0u32;
        let response = loop {
            let response = deadline
                .run(self.client.send_with_retry_checked(
                    &request,
                    &target,
                    deadline.remaining(),
                    |r| {
                        r.topics
                            .iter()
                            .flat_map(|t| &t.partitions)
                            .map(|p| p.error_code)
                            .find_map(coordinator_error)
                    },
                ))
                .await?;
            let rebalancing = response
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code == ErrorCode::RebalanceInProgress);
            if rebalancing && !deadline.passed() {
                deadline.backoff(&self.client, round).await;
                round = round.saturating_add(1);
                continue;
            }
            break response;
        };
        let codes: HashMap<(String, i32), ErrorCode> = response
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| ((name.clone(), p.partition_index), p.error_code))
            })
            .collect();
        if let Some(code) = codes
            .values()
            .copied()
            .find(|c| is_group_level_commit_error(*c))
        {
            return Err(AdminError::kafka(code));
        }
        Ok(offsets
            .into_iter()
            .map(|(key, _)| {
                let r = match codes.get(&key) {
                    Some(code) => AdminError::check(*code, None),
                    None => Err(AdminError::MissingResult(format!("{}-{}", key.0, key.1))),
                };
                (key, r)
            })
            .collect())
    }

    /// Deletes `group`'s committed offsets of `partitions` (OffsetDelete,
    /// KIP-496). A group-level error fails the whole call
    /// (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for a non-consumer group with
    /// members...); GROUP_SUBSCRIBED_TO_TOPIC is reported per partition, in
    /// the order given.
    pub async fn delete_consumer_group_offsets(
        &self,
        group: &str,
        partitions: &[(&str, i32)],
        options: DeleteConsumerGroupOffsetsOptions,
    ) -> Result<Vec<((String, i32), Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
        for (topic, partition) in partitions {
            let p = OffsetDeleteRequestPartition {
                partition_index: *partition,
            };
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(OffsetDeleteRequestTopic {
                    name: (*topic).to_string(),
                    partitions: vec![p],
                }),
            }
        }
        let request = OffsetDeleteRequest {
            group_id: group.to_string(),
            topics,
        };
        let response = deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &Target::GroupCoordinator(group.to_string()),
                deadline.remaining(),
                |r| {
                    let partition_codes = r
                        .topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| p.error_code)
                        .filter(|c| coordinator_error(*c).is_some());
                    std::iter::once(r.error_code)
                        .chain(partition_codes)
                        .find(|c| !c.is_ok())
                },
            ))
            .await;
        // A group-level code other than the coordinator's comes back as the
        // core's Kafka error: report it as the group's.
        let response = match response {
            Ok(r) => r,
            Err(AdminError::Client(ferrokafka_client::Error::Kafka { code, message, .. })) => {
                return Err(AdminError::Kafka { code, message });
            }
            Err(e) => return Err(e),
        };
        let codes: HashMap<(String, i32), ErrorCode> = response
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .map(move |p| ((name.clone(), p.partition_index), p.error_code))
            })
            .collect();
        Ok(partitions
            .iter()
            .map(|(topic, partition)| {
                let key = ((*topic).to_string(), *partition);
                let r = match codes.get(&key) {
                    Some(code) => AdminError::check(*code, None),
                    None => Err(AdminError::MissingResult(format!("{topic}-{partition}"))),
                };
                (key, r)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_states_parse_case_insensitively() {
        assert_eq!(GroupState::parse("Stable"), GroupState::Stable);
        assert_eq!(
            GroupState::parse("completingrebalance"),
            GroupState::CompletingRebalance
        );
        assert_eq!(GroupState::parse("EMPTY"), GroupState::Empty);
        assert_eq!(GroupState::parse(""), GroupState::Unknown);
        assert_eq!(GroupState::parse("Sleeping"), GroupState::Unknown);
        assert_eq!(
            GroupState::PreparingRebalance.to_string(),
            "PreparingRebalance"
        );
    }

    #[test]
    fn only_coordinator_errors_resend_a_group_request() {
        assert!(coordinator_error(ErrorCode::NotCoordinator).is_some());
        assert!(coordinator_error(ErrorCode::CoordinatorLoadInProgress).is_some());
        assert!(coordinator_error(ErrorCode::UnknownTopicOrPartition).is_none());
        assert!(coordinator_error(ErrorCode::None).is_none());
        assert!(is_group_level_commit_error(ErrorCode::UnknownMemberId));
        assert!(!is_group_level_commit_error(
            ErrorCode::OffsetMetadataTooLarge
        ));
    }
}
