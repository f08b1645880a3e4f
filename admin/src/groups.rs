//! Consumer group operations: list, describe (assignments decoded from the
//! ConsumerProtocol bytes), delete and list committed offsets; and cluster
//! description.

use std::collections::HashMap;

use bytes::{Buf, Bytes};
use ferrokafka_client::Target;
use ferrokafka_protocol::generated::offset_fetch_request::OffsetFetchRequestGroup;
use ferrokafka_protocol::generated::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeClusterRequest, DescribeGroupsRequest,
    ListGroupsRequest, OffsetFetchRequest,
};
use ferrokafka_protocol::{Decode, ErrorCode};

use crate::{Admin, AdminError, DEFAULT_TIMEOUT, Result};

/// A group as [`Admin::list_consumer_groups`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// The state (`Stable`, `Empty`...), empty if the broker does not say.
    pub state: String,
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
    /// The assigned partitions (topic, partitions), decoded from the
    /// ConsumerProtocol assignment; empty if it could not be decoded.
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state.
    pub state: String,
    /// The protocol type.
    pub protocol_type: String,
    /// The protocol (assignor) name.
    pub protocol: String,
    /// The members.
    pub members: Vec<MemberDescription>,
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

/// A broker as [`Admin::describe_cluster`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The broker id.
    pub id: i32,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: i32,
    /// Its rack.
    pub rack: Option<String>,
}

/// The cluster's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's broker id, if known.
    pub controller: Option<i32>,
    /// The brokers, sorted by id.
    pub brokers: Vec<Node>,
}

/// Decodes a ConsumerProtocol assignment (an i16 version, then the body).
pub fn decode_assignment(bytes: &Bytes) -> Option<Vec<(String, Vec<i32>)>> {
    let mut buf = bytes.clone();
    let version = buf.try_get_i16().ok()?;
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, version).ok()?;
    Some(
        assignment
            .assigned_partitions
            .into_iter()
            .map(|tp| (tp.topic, tp.partitions))
            .collect(),
    )
}

impl Admin {
    /// Lists consumer groups on every broker; with a non-empty
    /// `states`, only groups in one of those states (case-insensitive).
    pub async fn list_consumer_groups(&self, states: &[&str]) -> Result<Vec<GroupListing>> {
        self.client.refresh_metadata().await?;
        let mut nodes: Vec<i32> = self.client.metadata().brokers.keys().copied().collect();
        nodes.sort_unstable();
        let targets: Vec<Target> = if nodes.is_empty() {
            vec![Target::AnyBroker]
        } else {
            nodes.into_iter().map(Target::Node).collect()
        };
        let mut out: Vec<GroupListing> = Vec::new();
        for target in targets {
            let response = self
                .client
                .send_with_retry_checked(
                    &ListGroupsRequest::default(),
                    &target,
                    DEFAULT_TIMEOUT,
                    |r| Some(r.error_code),
                )
                .await?;
            for g in response.groups {
                let keep = states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&g.group_state));
                if keep && !out.iter().any(|o| o.group_id == g.group_id) {
                    out.push(GroupListing {
                        group_id: g.group_id,
                        protocol_type: g.protocol_type,
                        state: g.group_state,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Describes groups; one result per group, in the order given
    /// (a group that does not exist is described in state `Dead`).
    pub async fn describe_consumer_groups(
        &self,
        groups: &[&str],
    ) -> Result<Vec<(String, Result<GroupDescription>)>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let request = DescribeGroupsRequest {
                groups: vec![(*group).to_string()],
                ..Default::default()
            };
            let r = match self
                .client
                .send_with_retry_checked(
                    &request,
                    &Target::GroupCoordinator((*group).to_string()),
                    DEFAULT_TIMEOUT,
                    |r| {
                        r.groups
                            .iter()
                            .map(|g| g.error_code)
                            .find(|c| c.is_retriable())
                    },
                )
                .await
            {
                Err(e) => Err(AdminError::from(e)),
                Ok(response) => match response.groups.into_iter().find(|g| g.group_id == *group) {
                    None => Err(AdminError::MissingResult((*group).to_string())),
                    Some(g) => AdminError::check(g.error_code, None).map(|()| GroupDescription {
                        group_id: g.group_id,
                        state: g.group_state,
                        protocol_type: g.protocol_type,
                        protocol: g.protocol_data,
                        members: g
                            .members
                            .into_iter()
                            .map(|m| MemberDescription {
                                assignment: decode_assignment(&m.member_assignment)
                                    .unwrap_or_default(),
                                member_id: m.member_id,
                                group_instance_id: m.group_instance_id,
                                client_id: m.client_id,
                                client_host: m.client_host,
                            })
                            .collect(),
                    }),
                },
            };
            out.push(((*group).to_string(), r));
        }
        Ok(out)
    }

    /// Deletes groups; one result per group, in the order given
    /// (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP...).
    pub async fn delete_consumer_groups(
        &self,
        groups: &[&str],
    ) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let request = DeleteGroupsRequest {
                groups_names: vec![(*group).to_string()],
                ..Default::default()
            };
            let r = match self
                .client
                .send_with_retry_checked(
                    &request,
                    &Target::GroupCoordinator((*group).to_string()),
                    DEFAULT_TIMEOUT,
                    |r| {
                        r.results
                            .iter()
                            .map(|g| g.error_code)
                            .find(|c| c.is_retriable())
                    },
                )
                .await
            {
                Err(e) => Err(AdminError::from(e)),
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

    /// The committed offsets of every partition of `group`, sorted by topic
    /// and partition.
    pub async fn list_consumer_group_offsets(&self, group: &str) -> Result<Vec<CommittedOffset>> {
        let target = Target::GroupCoordinator(group.to_string());
        let version = match self.client.resolve(&target).await? {
            Some(node) => self
                .client
                .node_connection(node)
                .await?
                .version_for::<OffsetFetchRequest>()?,
            None => 0,
        };
        let mut request = OffsetFetchRequest::default();
        if version >= 8 {
            request.groups = vec![OffsetFetchRequestGroup {
                group_id: group.to_string(),
                member_id: None,
                member_epoch: -1,
                topics: None,
                ..Default::default()
            }];
        } else {
            request.group_id = group.to_string();
            request.topics = None;
        }
        let response = self
            .client
            .send_with_retry_checked(&request, &target, DEFAULT_TIMEOUT, |r| {
                if version >= 8 {
                    r.groups.iter().map(|g| g.error_code).find(|c| !c.is_ok())
                } else {
                    Some(r.error_code)
                }
            })
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

    /// Describes the cluster: brokers, controller and cluster id.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let request = DescribeClusterRequest::default();
        let response = self
            .client
            .send_with_retry(&request, &Target::AnyBroker, DEFAULT_TIMEOUT)
            .await?;
        AdminError::check(response.error_code, response.error_message)?;
        let mut brokers: Vec<Node> = response
            .brokers
            .into_iter()
            .map(|b| Node {
                id: b.broker_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id,
            controller: (response.controller_id >= 0).then_some(response.controller_id),
            brokers,
        })
    }
}
