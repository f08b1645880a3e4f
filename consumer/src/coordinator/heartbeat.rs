//! The heartbeat task: one per joined member, spawned by the first join and
//! owned by the [`ConsumerCoordinator`] (an [`OwnedTask`], aborted when the
//! coordinator stops heartbeating or is dropped). Every
//! `heartbeat.interval.ms` of a stable generation it sends a Heartbeat and
//! only flags what it learns, for `poll` to act on: REBALANCE_IN_PROGRESS →
//! rejoin; ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID → generation reset,
//! partitions lost; FENCED_INSTANCE_ID → fatal; NOT_COORDINATOR or no
//! answer → look the coordinator up again. It leaves the group when `poll`
//! was not called for `max.poll.interval.ms` (KIP-62).

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use ferrokafka_client::{Client, CoordinatorType, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{HeartbeatRequest, HeartbeatResponse};

use super::{ConsumerCoordinator, MemberState, send_leave};
use crate::config::ConsumerConfig;
use crate::error::Error;

/// Aborts its task when dropped: the task never outlives its owner.
#[derive(Debug)]
pub(super) struct OwnedTask(tokio::task::JoinHandle<()>);

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ConsumerCoordinator {
    /// Starts the heartbeat task unless it runs already.
    pub(super) fn ensure_heartbeat(&mut self) {
        if self.heartbeat.as_ref().is_some_and(|t| !t.0.is_finished()) {
            return;
        }
        let task = tokio::spawn(heartbeat_loop(
            self.client.clone(),
            self.config.clone(),
            self.group.clone(),
            Arc::clone(&self.state),
        ));
        self.heartbeat = Some(OwnedTask(task));
    }

    /// Stops heartbeating (close, unsubscribe).
    pub(crate) fn stop_heartbeat(&mut self) {
        self.heartbeat = None;
    }
}

async fn heartbeat_loop(
    client: Client,
    config: ConsumerConfig,
    group: String,
    state: Arc<Mutex<MemberState>>,
) {
    let target = Target::GroupCoordinator(group.clone());
    loop {
        tokio::time::sleep(config.heartbeat_interval).await;
        let Some((member_id, generation, stable, last_poll)) = state
            .lock()
            .ok()
            .map(|s| (s.member_id.clone(), s.generation, s.stable, s.last_poll))
        else {
            return;
        };
        if !stable {
            continue;
        }
        if last_poll.elapsed() > config.max_poll_interval {
            leave_after_poll_timeout(&client, &config, &group, &state, member_id).await;
            continue;
        }
        let request = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: generation,
            member_id,
            group_instance_id: config.group_instance_id.clone(),
            ..Default::default()
        };
        let response = tokio::time::timeout(
            config.client.request_timeout,
            client.send(&request, &target),
        )
        .await;
        let Ok(mut s) = state.lock() else { return };
        if s.generation != generation {
            continue;
        }
        if answer_heartbeat(&client, &config, &group, &mut s, response).is_break() {
            return;
        }
    }
}

/// KIP-62: a member that stopped polling leaves, so that the group can move
/// on; the next poll rejoins. A static member keeps its member id and
/// sends no LeaveGroup.
async fn leave_after_poll_timeout(
    client: &Client,
    config: &ConsumerConfig,
    group: &str,
    state: &Mutex<MemberState>,
    member_id: String,
) {
    tracing::warn!(
        %group,
        "poll was not called within max.poll.interval.ms; leaving the group"
    );
    if let Ok(mut s) = state.lock() {
        s.reset_generation(config.group_instance_id.is_none());
    }
    if config.group_instance_id.is_none() {
        let _ = tokio::time::timeout(
            config.client.request_timeout,
            send_leave(
                client,
                group,
                member_id,
                Some("consumer poll timeout has expired".into()),
            ),
        )
        .await;
    }
}

/// Flags what a Heartbeat's answer (or its failure, or its timeout) says
/// about the member's generation it was sent in; breaks when the member
/// was fenced and the task must stop.
fn answer_heartbeat(
    client: &Client,
    config: &ConsumerConfig,
    group: &str,
    s: &mut MemberState,
    response: Result<ferrokafka_client::Result<HeartbeatResponse>, tokio::time::error::Elapsed>,
) -> ControlFlow<()> {
    match response {
        Ok(Ok(response)) => match response.error_code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => s.rejoin_needed = true,
            ErrorCode::IllegalGeneration => s.reset_generation(false),
            ErrorCode::UnknownMemberId => s.reset_generation(true),
            ErrorCode::FencedInstanceId => {
                s.fatal = Some(Error::FencedInstanceId(
                    config.group_instance_id.clone().unwrap_or_default(),
                ));
                s.stable = false;
                return ControlFlow::Break(());
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                client.invalidate_coordinator(CoordinatorType::Group, group);
            }
            code => tracing::debug!(%group, %code, "heartbeat error"),
        },
        Ok(Err(error)) => {
            tracing::debug!(%group, %error, "heartbeat failed");
            client.invalidate_coordinator(CoordinatorType::Group, group);
        }
        Err(_) => client.invalidate_coordinator(CoordinatorType::Group, group),
    }
    ControlFlow::Continue(())
}
