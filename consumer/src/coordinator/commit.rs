//! Offsets: OffsetCommit with this member's generation (so the coordinator
//! refuses commits from a member that missed a rebalance and offsets never
//! move backwards), one commit at a time in call order, and OffsetFetch of
//! the committed offsets, retried through coordinator moves until a
//! deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, CoordinatorType, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use ferrokafka_protocol::generated::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};

use super::{ConsumerCoordinator, MemberState};
use crate::error::{Error, Result};
use crate::record::{OffsetAndMetadata, TopicPartition};

/// The last OffsetFetch version with a single group (v8 batched groups).
const MAX_OFFSET_FETCH_VERSION: i16 = 7;

impl ConsumerCoordinator {
    /// Takes this commit's place in line: the previous commit's end to wait
    /// for, and the sender whose drop tells the next one.
    fn next_commit_turn(
        &self,
    ) -> (
        Option<tokio::sync::oneshot::Receiver<()>>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let previous = self
            .last_commit
            .lock()
            .ok()
            .and_then(|mut last| last.replace(rx));
        (previous, tx)
    }

    /// Commits `offsets` with this member's generation (or as a standalone
    /// consumer when it never joined). Membership errors become
    /// [`Error::CommitFailed`] and flag a rejoin.
    pub(crate) async fn commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        timeout: Duration,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (previous, _done) = self.next_commit_turn();
        if let Some(previous) = previous {
            let _ = previous.await;
        }
        let (member_id, generation) = self.member();
        commit_offsets(
            &self.client,
            &self.group,
            self.config.group_instance_id.clone(),
            member_id,
            generation,
            offsets,
            timeout,
            Some(Arc::clone(&self.state)),
        )
        .await
    }

    /// A detached commit for `commit_async`: it carries the generation of
    /// now, so a rebalance in between makes the coordinator refuse it.
    pub(crate) fn commit_task(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let client = self.client.clone();
        let group = self.group.clone();
        let instance = self.config.group_instance_id.clone();
        let (member_id, generation) = self.member();
        let state = Arc::clone(&self.state);
        let (previous, done) = self.next_commit_turn();
        async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let _done = done;
            commit_offsets(
                &client,
                &group,
                instance,
                member_id,
                generation,
                &offsets,
                timeout,
                Some(state),
            )
            .await
        }
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    pub(crate) async fn committed(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let request = self.offset_fetch_request(partitions);
        let deadline = Instant::now() + timeout;
        let mut attempt = 0u32;
        loop {
            let retry = match self.send_offset_fetch(&request).await {
                Ok(response) => match offset_fetch_error(&response) {
                    ErrorCode::None => return Ok(committed_offsets(response, partitions)),
                    code @ (ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable) => {
                        self.forget_coordinator();
                        Error::Group {
                            group: self.group.clone(),
                            code,
                        }
                    }
                    code if code.is_retriable() => Error::Group {
                        group: self.group.clone(),
                        code,
                    },
                    code => {
                        return Err(Error::Group {
                            group: self.group.clone(),
                            code,
                        });
                    }
                },
                Err(error) => {
                    self.forget_coordinator();
                    error
                }
            };
            attempt = attempt.saturating_add(1);
            let backoff = self.retry_backoff(attempt);
            if Instant::now() + backoff >= deadline {
                return Err(retry);
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// The OffsetFetch of `partitions`, grouped by topic.
    fn offset_fetch_request(&self, partitions: &[TopicPartition]) -> OffsetFetchRequest {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        OffsetFetchRequest {
            group_id: self.group.clone(),
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                        name: name.to_string(),
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: false,
            ..Default::default()
        }
    }

    /// Sends `request` to the group coordinator once, at the highest
    /// version both sides speak that still carries a single group.
    async fn send_offset_fetch(&self, request: &OffsetFetchRequest) -> Result<OffsetFetchResponse> {
        let node = self
            .client
            .find_coordinator(CoordinatorType::Group, &self.group)
            .await?;
        let connection = self.client.coordinator_connection(node).await?;
        let version = connection
            .version_for::<OffsetFetchRequest>()?
            .min(MAX_OFFSET_FETCH_VERSION);
        let request = OffsetFetchRequest {
            require_stable: version >= 7 && request.require_stable,
            ..request.clone()
        };
        connection
            .send_at(&request, version)
            .await
            .map_err(Error::from)
    }
}

/// The first error of an OffsetFetch answer: the group's, else the first
/// partition's (`NONE` when there is none).
fn offset_fetch_error(response: &OffsetFetchResponse) -> ErrorCode {
    if response.error_code != ErrorCode::None {
        response.error_code
    } else {
        response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error_code)
            .find(|c| *c != ErrorCode::None)
            .unwrap_or(ErrorCode::None)
    }
}

/// The committed offsets an OffsetFetch answered, with `None` for every
/// one of `partitions` without a committed offset.
fn committed_offsets(
    response: OffsetFetchResponse,
    partitions: &[TopicPartition],
) -> BTreeMap<TopicPartition, Option<OffsetAndMetadata>> {
    let mut out = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions {
            let value = (p.committed_offset >= 0).then(|| OffsetAndMetadata {
                offset: p.committed_offset,
                leader_epoch: (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
                metadata: p.metadata.filter(|m| !m.is_empty()),
            });
            out.insert(
                TopicPartition::new(topic.name.clone(), p.partition_index),
                value,
            );
        }
    }
    for tp in partitions {
        out.entry(tp.clone()).or_insert(None);
    }
    out
}

/// Commits `offsets` in `generation` (-1 when not in one), retrying only
/// coordinator moves and transient errors; with `state`, membership errors
/// also reset the generation or flag a rejoin.
#[allow(clippy::too_many_arguments)]
async fn commit_offsets(
    client: &Client,
    group: &str,
    group_instance_id: Option<String>,
    member_id: String,
    generation: i32,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    timeout: Duration,
    state: Option<Arc<Mutex<MemberState>>>,
) -> Result<()> {
    let request = OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id_or_member_epoch: generation,
        member_id,
        group_instance_id,
        retention_time_ms: -1,
        topics: offset_commit_topics(offsets),
        ..Default::default()
    };
    let target = Target::GroupCoordinator(group.to_string());
    // Only coordinator moves and transient errors are retried; membership
    // errors are answered below, never retried with a stale generation.
    let response = client
        .send_with_retry_checked(&request, &target, timeout, |r| {
            offset_commit_error(r).filter(|code| {
                matches!(
                    code,
                    ErrorCode::NotCoordinator
                        | ErrorCode::CoordinatorNotAvailable
                        | ErrorCode::CoordinatorLoadInProgress
                        | ErrorCode::RequestTimedOut
                )
            })
        })
        .await?;
    match offset_commit_error(&response) {
        None => Ok(()),
        Some(code) => Err(answer_commit_error(group, code, state)),
    }
}

/// The OffsetCommit topics of `offsets`, in partition order.
fn offset_commit_topics(
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Vec<OffsetCommitRequestTopic> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, offset) in offsets {
        let partition = OffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: offset.offset,
            committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
            commit_timestamp: -1,
            committed_metadata: Some(offset.metadata.clone().unwrap_or_default()),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(OffsetCommitRequestTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    topics
}

/// The first partition error of an OffsetCommit answer.
fn offset_commit_error(response: &OffsetCommitResponse) -> Option<ErrorCode> {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.error_code)
        .find(|c| *c != ErrorCode::None)
}

/// The error a refused commit fails with; a membership error first resets
/// the member's generation (UNKNOWN_MEMBER_ID also forgets the member id)
/// or flags a rejoin, so that `poll` rejoins.
fn answer_commit_error(
    group: &str,
    code: ErrorCode,
    state: Option<Arc<Mutex<MemberState>>>,
) -> Error {
    match code {
        ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
            if let Some(state) = state {
                if let Ok(mut s) = state.lock() {
                    s.reset_generation(code == ErrorCode::UnknownMemberId);
                }
            }
            Error::CommitFailed(format!(
                "{code}: the group rebalanced and this member's generation is gone"
            ))
        }
        ErrorCode::RebalanceInProgress => {
            if let Some(state) = state {
                if let Ok(mut s) = state.lock() {
                    s.rejoin_needed = true;
                }
            }
            Error::CommitFailed("REBALANCE_IN_PROGRESS: rejoin, then commit again".into())
        }
        ErrorCode::FencedInstanceId => Error::FencedInstanceId(String::new()),
        code => Error::Group {
            group: group.to_string(),
            code,
        },
    }
}
