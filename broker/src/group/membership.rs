//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup requests: the checks Kafka
//! makes before a group sees them (coordinator up, group id, session timeout
//! bounds, group existence), then the group's state machine in [`super::classic`].
//!
//! Follows Kafka's `GroupCoordinatorService` and `GroupMetadataManager`
//! (classic groups): an empty group id is INVALID_GROUP_ID for these four
//! APIs; a request for a group that does not exist is UNKNOWN_MEMBER_ID,
//! except a JoinGroup with an empty member id, which creates the group.

use bytes::Bytes;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::leave_group_response::MemberResponse;
use ferrokafka_protocol::generated::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    SyncGroupRequest,
};
use tokio::time::Instant;

use super::State;
use super::classic::{Group, JoinArgs, JoinWaiter, SyncWaiter};

/// A JoinGroup answer that is only an error, encodable at `version`.
pub(super) fn join_error(version: i16, error: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: error,
        protocol_name: if version >= 7 {
            None
        } else {
            Some(String::new())
        },
        ..Default::default()
    }
}

impl State {
    /// JoinGroup: validates, then hands the request (and its waiter) to the group.
    pub(super) fn join_group(
        &mut self,
        request: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
        waiter: JoinWaiter,
        now: Instant,
    ) {
        let member_id = request.member_id.clone();
        if self.shutdown {
            return waiter.fail(&member_id, ErrorCode::CoordinatorNotAvailable);
        }
        if request.group_id.is_empty() {
            return waiter.fail(&member_id, ErrorCode::InvalidGroupId);
        }
        let session_timeout_ms = request.session_timeout_ms;
        if session_timeout_ms < self.min_session_timeout_ms
            || session_timeout_ms > self.max_session_timeout_ms
        {
            return waiter.fail(&member_id, ErrorCode::InvalidSessionTimeout);
        }
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        let rebalance_timeout_ms = if version == 0 || request.rebalance_timeout_ms < 0 {
            session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        };
        // The protocols collection is keyed by name in Kafka: keep the first.
        let mut protocols: Vec<(String, Bytes)> = Vec::with_capacity(request.protocols.len());
        for protocol in request.protocols {
            if !protocols.iter().any(|(name, _)| *name == protocol.name) {
                protocols.push((protocol.name, protocol.metadata));
            }
        }
        let instance_id = if version >= 5 {
            request.group_instance_id
        } else {
            None
        };
        let new_member_id = if member_id.is_empty() {
            self.ids
                .member_id(instance_id.as_deref().unwrap_or(client_id))
        } else {
            String::new()
        };
        let limits = self.limits;
        let group = match self.groups.get_mut(&request.group_id) {
            Some(group) => group,
            None if member_id.is_empty() => self
                .groups
                .entry(request.group_id.clone())
                .or_insert_with(|| Group::new(request.group_id.clone(), now, limits)),
            None => return waiter.fail(&member_id, ErrorCode::UnknownMemberId),
        };
        let args = JoinArgs {
            member_id,
            instance_id,
            client_id: client_id.to_owned(),
            client_host: client_host.to_owned(),
            session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type: request.protocol_type,
            protocols,
            version,
        };
        group.join(args, waiter, new_member_id, now);
    }

    /// SyncGroup: validates, then hands the request (and its waiter) to the group.
    pub(super) fn sync_group(
        &mut self,
        request: SyncGroupRequest,
        waiter: SyncWaiter,
        now: Instant,
    ) {
        if self.shutdown {
            return waiter.fail(ErrorCode::CoordinatorNotAvailable);
        }
        if request.group_id.is_empty() {
            return waiter.fail(ErrorCode::InvalidGroupId);
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return waiter.fail(ErrorCode::UnknownMemberId);
        };
        let assignments = request
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect();
        group.sync(
            &request.member_id,
            request.group_instance_id.as_deref(),
            request.generation_id,
            request.protocol_type.as_deref(),
            request.protocol_name.as_deref(),
            assignments,
            waiter,
            now,
        );
    }

    /// Heartbeat: the error code to answer with.
    pub(super) fn heartbeat(&mut self, request: &HeartbeatRequest, now: Instant) -> ErrorCode {
        if self.shutdown {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if request.group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        match self.groups.get_mut(&request.group_id) {
            Some(group) => group.heartbeat(
                &request.member_id,
                request.group_instance_id.as_deref(),
                request.generation_id,
                now,
            ),
            None => ErrorCode::UnknownMemberId,
        }
    }

    /// LeaveGroup. v0-2 name one member and answer with its error at the top
    /// level; v3+ name a batch (a static member possibly by instance id
    /// alone) and answer per member.
    pub(super) fn leave_group(
        &mut self,
        request: LeaveGroupRequest,
        version: i16,
        now: Instant,
    ) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            request
                .members
                .into_iter()
                .map(|m| (m.member_id, m.group_instance_id))
                .collect()
        } else {
            vec![(request.member_id, None)]
        };
        let top_level = if self.shutdown {
            Some(ErrorCode::CoordinatorNotAvailable)
        } else if request.group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else {
            None
        };
        if let Some(error) = top_level {
            return LeaveGroupResponse {
                error_code: error,
                ..Default::default()
            };
        }
        let errors = match self.groups.get_mut(&request.group_id) {
            Some(group) => group.leave(&leaving, now),
            None => vec![ErrorCode::UnknownMemberId; leaving.len()],
        };
        if version >= 3 {
            let members = leaving
                .into_iter()
                .zip(errors)
                .map(
                    |((member_id, group_instance_id), error_code)| MemberResponse {
                        member_id,
                        group_instance_id,
                        error_code,
                        ..Default::default()
                    },
                )
                .collect();
            LeaveGroupResponse {
                members,
                ..Default::default()
            }
        } else {
            let error_code = errors.first().copied().unwrap_or(ErrorCode::None);
            LeaveGroupResponse {
                error_code,
                ..Default::default()
            }
        }
    }
}
