//! DescribeGroups, ListGroups and DeleteGroups.
//!
//! Follows Kafka's classic-group answers: DescribeGroups (v0-5) describes an
//! unknown group as state "Dead" with no error (GROUP_ID_NOT_FOUND only
//! arrives with v6, which the specs here do not define), and shows member
//! metadata and assignments only while the group is Stable; ListGroups
//! filters by state (v4, KIP-518) and type (v5, KIP-848: these groups are
//! "classic"), case-insensitively; DeleteGroups refuses groups with members
//! (NON_EMPTY_GROUP) and takes the group's offsets with it.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::delete_groups_response::DeletableGroupResult;
use ferrokafka_protocol::generated::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use ferrokafka_protocol::generated::list_groups_response::ListedGroup;
use ferrokafka_protocol::generated::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    ListGroupsRequest, ListGroupsResponse,
};

use super::State;
use super::classic::{Group, GroupState};

/// The state Kafka reports for a group it does not know.
const DEAD: &str = "Dead";

/// The type ListGroups v5+ reports for these groups.
const CLASSIC: &str = "classic";

/// `AuthorizedOperations` when the client asked: without an authorizer
/// Kafka grants every operation its `AclEntry` lists for a group (READ = 3,
/// DELETE = 6, DESCRIBE = 8, and since 4.0 DESCRIBE_CONFIGS = 10 and
/// ALTER_CONFIGS = 11, for group configs), as a bit field.
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

/// `AuthorizedOperations` when the client did not ask (the spec's default).
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

fn describe(group: &Group) -> DescribedGroup {
    let stable = group.state == GroupState::Stable;
    let protocol = if stable {
        group.protocol_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let members = group
        .members_in_order()
        .into_iter()
        .map(|m| DescribedGroupMember {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            // Kafka describes metadata and assignment only for a stable group.
            member_metadata: if stable {
                m.metadata(&protocol)
            } else {
                Default::default()
            },
            member_assignment: if stable {
                m.assignment.clone()
            } else {
                Default::default()
            },
            ..Default::default()
        })
        .collect();
    DescribedGroup {
        group_id: group.id.clone(),
        group_state: group.state.name().to_owned(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: protocol,
        members,
        ..Default::default()
    }
}

impl State {
    /// DescribeGroups.
    pub(super) fn describe_groups(
        &self,
        request: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let operations = if version >= 3 && request.include_authorized_operations {
            GROUP_AUTHORIZED_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        };
        let groups = request
            .groups
            .into_iter()
            .map(|group_id| {
                let described = if self.shutdown {
                    DescribedGroup {
                        error_code: ErrorCode::CoordinatorNotAvailable,
                        group_id,
                        ..Default::default()
                    }
                } else {
                    match self.groups.get(&group_id) {
                        Some(group) => describe(group),
                        None => DescribedGroup {
                            group_id,
                            group_state: DEAD.to_owned(),
                            ..Default::default()
                        },
                    }
                };
                DescribedGroup {
                    authorized_operations: operations,
                    ..described
                }
            })
            .collect();
        DescribeGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    /// ListGroups, sorted by group id.
    pub(super) fn list_groups(
        &self,
        request: ListGroupsRequest,
        version: i16,
    ) -> ListGroupsResponse {
        if self.shutdown {
            return ListGroupsResponse {
                error_code: ErrorCode::CoordinatorNotAvailable,
                ..Default::default()
            };
        }
        let states: Vec<String> = if version >= 4 {
            request
                .states_filter
                .iter()
                .map(|s| s.to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let types: Vec<String> = if version >= 5 {
            request
                .types_filter
                .iter()
                .map(|t| t.to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        if !types.is_empty() && !types.iter().any(|t| t == CLASSIC) {
            return ListGroupsResponse::default();
        }
        let mut groups: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                group_state: if version >= 4 {
                    g.state.name().to_owned()
                } else {
                    String::new()
                },
                group_type: if version >= 5 {
                    CLASSIC.to_owned()
                } else {
                    String::new()
                },
                ..Default::default()
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    /// DeleteGroups: one result per requested group.
    pub(super) fn delete_groups(&mut self, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut results = Vec::with_capacity(request.groups_names.len());
        for group_id in request.groups_names {
            let error_code = if self.shutdown {
                ErrorCode::CoordinatorNotAvailable
            } else {
                match self.groups.get(&group_id) {
                    None => ErrorCode::GroupIdNotFound,
                    Some(group) if !group.is_empty_state() => ErrorCode::NonEmptyGroup,
                    Some(_) => {
                        let had_offsets = self
                            .groups
                            .remove(&group_id)
                            .is_some_and(|g| !g.offsets.is_empty());
                        if let Some(store) = self.store.as_ref().filter(|_| had_offsets) {
                            store.delete(&group_id, None);
                        }
                        tracing::debug!(group = %group_id, "group deleted");
                        ErrorCode::None
                    }
                }
            };
            results.push(DeletableGroupResult {
                group_id,
                error_code,
                ..Default::default()
            });
        }
        DeleteGroupsResponse {
            results,
            ..Default::default()
        }
    }
}
