//! Joining the group: JoinGroup (with the MEMBER_ID_REQUIRED round trip of
//! KIP-394; the subscription carries the owned partitions for KIP-429, or,
//! under the eager `sticky` protocol, the last assignment and its
//! generation in Java's `StickyAssignor` user data), the leader's
//! assignment with the chosen [`Assignor`](crate::assignor::Assignor), and
//! SyncGroup. A round that meets a coordinator or membership error is
//! retried, with the retry backoff, until the caller's deadline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_client::{Client, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::generated::join_group_response::JoinGroupResponseMember;
use ferrokafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::generated::{JoinGroupRequest, JoinGroupResponse, SyncGroupRequest};

use super::ConsumerCoordinator;
use crate::assignor::{
    MemberSubscription, StickyAssignor, assignor_for, decode_assignment, decode_sticky_member,
    decode_subscription, encode_assignment, encode_sticky_subscription, encode_subscription,
};
use crate::config::AssignmentStrategy;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// The protocol type of consumer groups.
const PROTOCOL_TYPE: &str = "consumer";

/// What a finished join produced.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) assignment: Vec<TopicPartition>,
    /// Whether the group chose a cooperative (KIP-429) protocol.
    pub(crate) cooperative: bool,
}

/// How one JoinGroup and SyncGroup round ended, when it did not fail.
enum Round {
    /// Joined and synced.
    Joined(Joined),
    /// Try again after the retry backoff.
    Retry,
    /// Try again at once (KIP-394: the coordinator handed out a member id).
    RetryNow,
}

/// The JoinGroup metadata of this member's protocols: the plain
/// subscription, and what the `sticky` protocol sends instead.
struct ProtocolMetadata {
    plain: Bytes,
    sticky: Bytes,
}

impl ConsumerCoordinator {
    /// The client for JoinGroup and SyncGroup (see `join_client`).
    async fn join_client(&mut self) -> Result<Client> {
        let needed = self.config.max_poll_interval + Duration::from_secs(5);
        if self.config.client.request_timeout >= needed {
            return Ok(self.client.clone());
        }
        if let Some(client) = &self.join_client {
            return Ok(client.clone());
        }
        let mut config = self.config.client.clone();
        config.request_timeout = needed;
        let client = Client::connect(config).await?;
        self.join_client = Some(client.clone());
        Ok(client)
    }

    /// Joins (or rejoins) the group with `topics` and returns this member's
    /// assignment. Retries coordinator and membership errors until
    /// `deadline`; `Ok(None)` when it passes first.
    pub(crate) async fn join(
        &mut self,
        topics: &[String],
        owned: &[TopicPartition],
        deadline: Instant,
    ) -> Result<Option<Joined>> {
        let metadata = self.protocol_metadata(topics, owned)?;
        // No heartbeats while joining: the JoinGroup in flight keeps the
        // membership, and a heartbeat answered for the old generation must
        // not flag another rebalance after this one completes.
        self.with_state(|s| s.stable = false);
        let mut attempt = 0u32;
        loop {
            if let Some(fatal) = self.take_fatal() {
                return Err(fatal);
            }
            if attempt > 0 {
                let backoff = self.retry_backoff(attempt);
                if Instant::now() + backoff >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(backoff).await;
            }
            attempt = attempt.saturating_add(1);
            match self.join_round(&metadata).await? {
                Round::Joined(joined) => return Ok(Some(joined)),
                Round::Retry => {}
                Round::RetryNow => attempt = 0,
            }
        }
    }

    /// The subscription of `topics` (owning `owned`) for each protocol. The
    /// `sticky` protocol carries the previous assignment in its user data
    /// instead (an eager member revoked everything before joining).
    fn protocol_metadata(
        &self,
        topics: &[String],
        owned: &[TopicPartition],
    ) -> Result<ProtocolMetadata> {
        let plain = encode_subscription(topics, owned)?;
        let last = self.with_state(|s| s.last_assignment.clone()).flatten();
        let sticky = if self
            .config
            .partition_assignment_strategy
            .contains(&AssignmentStrategy::Sticky)
        {
            encode_sticky_subscription(
                topics,
                last.as_ref()
                    .map(|(partitions, generation)| (partitions.as_slice(), *generation)),
            )?
        } else {
            plain.clone()
        };
        Ok(ProtocolMetadata { plain, sticky })
    }

    /// One round: JoinGroup, then SyncGroup in the generation it started.
    async fn join_round(&mut self, metadata: &ProtocolMetadata) -> Result<Round> {
        let (member_id, _) = self.member();
        let request = self.join_group_request(member_id, metadata);
        let target = Target::GroupCoordinator(self.group.clone());
        let join_client = match self.join_client().await {
            Ok(client) => client,
            Err(error) => {
                tracing::debug!(%error, group = %self.group, "connecting for JoinGroup failed");
                return Ok(Round::Retry);
            }
        };
        let response = match join_client.send(&request, &target).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, group = %self.group, "JoinGroup failed");
                self.forget_coordinator();
                return Ok(Round::Retry);
            }
        };
        match response.error_code {
            ErrorCode::None => {}
            ErrorCode::MemberIdRequired => {
                // KIP-394: rejoin at once with the id the coordinator gave.
                self.with_state(|s| s.member_id = response.member_id.clone());
                return Ok(Round::RetryNow);
            }
            code => return self.answer_group_error(code),
        }
        self.sync_group(&join_client, &target, &response).await
    }

    fn join_group_request(
        &self,
        member_id: String,
        metadata: &ProtocolMetadata,
    ) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: self.group.clone(),
            session_timeout_ms: self.config.session_timeout_ms(),
            rebalance_timeout_ms: self.config.rebalance_timeout_ms(),
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: PROTOCOL_TYPE.to_string(),
            protocols: self
                .config
                .partition_assignment_strategy
                .iter()
                .map(|s| JoinGroupRequestProtocol {
                    name: s.name().to_string(),
                    metadata: if *s == AssignmentStrategy::Sticky {
                        metadata.sticky.clone()
                    } else {
                        metadata.plain.clone()
                    },
                    ..Default::default()
                })
                .collect(),
            reason: None,
            ..Default::default()
        }
    }

    /// SyncGroup in the generation `joined` started, sending the plan when
    /// this member leads; a synced assignment completes the join.
    async fn sync_group(
        &mut self,
        join_client: &Client,
        target: &Target,
        joined: &JoinGroupResponse,
    ) -> Result<Round> {
        let generation = joined.generation_id;
        let member_id = joined.member_id.clone();
        let protocol = joined.protocol_name.clone().unwrap_or_default();
        let assignments = if joined.leader == member_id && !joined.skip_assignment {
            self.assign_as_leader(joined, &protocol).await?
        } else {
            Vec::new()
        };
        self.with_state(|s| {
            s.member_id = member_id.clone();
            s.generation = generation;
            s.protocol = Some(protocol.clone());
        });
        let sync = SyncGroupRequest {
            group_id: self.group.clone(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.to_string()),
            protocol_name: Some(protocol.clone()),
            assignments,
            ..Default::default()
        };
        let response = match join_client.send(&sync, target).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, group = %self.group, "SyncGroup failed");
                self.forget_coordinator();
                return Ok(Round::Retry);
            }
        };
        if response.error_code != ErrorCode::None {
            return self.answer_group_error(response.error_code);
        }
        let assignment = decode_assignment(response.assignment)?;
        let joined = self.complete_join(assignment, generation, &member_id, &protocol);
        Ok(Round::Joined(joined))
    }

    /// A JoinGroup or SyncGroup error: retried after forgetting what it
    /// made stale (the generation, the member id, the coordinator), or
    /// the error the join fails with.
    fn answer_group_error(&self, code: ErrorCode) -> Result<Round> {
        match code {
            ErrorCode::UnknownMemberId => {
                self.with_state(|s| s.reset_generation(true));
            }
            ErrorCode::IllegalGeneration => {
                self.with_state(|s| s.reset_generation(false));
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.forget_coordinator();
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => {}
            ErrorCode::FencedInstanceId => {
                return Err(Error::FencedInstanceId(
                    self.config.group_instance_id.clone().unwrap_or_default(),
                ));
            }
            code => {
                return Err(Error::Group {
                    group: self.group.clone(),
                    code,
                });
            }
        }
        Ok(Round::Retry)
    }

    /// Makes the synced assignment this generation's: the member is stable
    /// (heartbeats run) and remembers it for the `sticky` user data.
    fn complete_join(
        &mut self,
        assignment: Vec<TopicPartition>,
        generation: i32,
        member_id: &str,
        protocol: &str,
    ) -> Joined {
        self.with_state(|s| {
            s.last_assignment = Some((assignment.clone(), generation));
            s.stable = true;
            s.rejoin_needed = false;
            s.lost = false;
            s.last_poll = Instant::now();
        });
        self.ensure_heartbeat();
        tracing::debug!(group = %self.group, generation, %member_id, ?assignment, "joined");
        let cooperative = self
            .config
            .partition_assignment_strategy
            .iter()
            .any(|s| s.name() == protocol && s.is_cooperative());
        Joined {
            assignment,
            cooperative,
        }
    }

    async fn assign_as_leader(
        &self,
        response: &JoinGroupResponse,
        protocol: &str,
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let strategy = self
            .config
            .partition_assignment_strategy
            .iter()
            .find(|s| s.name() == protocol)
            .copied()
            .ok_or_else(|| {
                Error::Assignment(format!(
                    "the group chose {protocol:?}, which this member lacks"
                ))
            })?;
        let (members, generations) = decode_members(strategy, &response.members)?;
        let mut topics: Vec<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let metadata = self.client.metadata_for(&topics).await?;
        let counts: BTreeMap<String, i32> = topics
            .iter()
            .filter_map(|t| {
                metadata
                    .partition_count(t)
                    .filter(|&n| n > 0)
                    .map(|n| (t.to_string(), i32::try_from(n).unwrap_or(i32::MAX)))
            })
            .collect();
        let plan = compute_plan(strategy, &counts, &members, &generations);
        plan.into_iter()
            .map(|(member_id, partitions)| {
                Ok(SyncGroupRequestAssignment {
                    member_id,
                    assignment: encode_assignment(&partitions)?,
                    ..Default::default()
                })
            })
            .collect()
    }
}

/// Decodes the members' JoinGroup metadata for `strategy`: their
/// subscriptions and, for `sticky`, the generation of each member's claims
/// (members without one are absent). `sticky` reads the claims from
/// Java's `StickyAssignor` user data; the other protocols take the owned
/// partitions of the subscription.
fn decode_members(
    strategy: AssignmentStrategy,
    members: &[JoinGroupResponseMember],
) -> Result<(Vec<MemberSubscription>, BTreeMap<String, i32>)> {
    let mut out = Vec::with_capacity(members.len());
    let mut generations = BTreeMap::new();
    for member in members {
        if strategy == AssignmentStrategy::Sticky {
            let (subscription, generation) = decode_sticky_member(
                &member.member_id,
                member.group_instance_id.clone(),
                member.metadata.clone(),
            )?;
            if let Some(generation) = generation {
                generations.insert(member.member_id.clone(), generation);
            }
            out.push(subscription);
        } else {
            let (topics, owned) = decode_subscription(member.metadata.clone())?;
            out.push(MemberSubscription {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                topics,
                owned,
            });
        }
    }
    Ok((out, generations))
}

/// The leader's plan for `strategy`: `sticky` lets the claim of the newest
/// generation win where members claim one partition (as Java's
/// `StickyAssignor` does); the others run their [`Assignor`](crate::assignor::Assignor).
fn compute_plan(
    strategy: AssignmentStrategy,
    counts: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    generations: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    if strategy == AssignmentStrategy::Sticky {
        StickyAssignor.assign_with_generations(counts, members, generations)
    } else {
        assignor_for(strategy).assign(counts, members)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::collections::BTreeSet;

    use super::*;
    use crate::assignor::encode_subscription_with_user_data;

    type Last = Option<(Vec<TopicPartition>, i32)>;

    /// A member as the leader sees it in JoinGroup, with the `sticky`
    /// metadata a member whose last assignment was `last` sends.
    fn sticky_member(id: &str, last: &Last) -> JoinGroupResponseMember {
        JoinGroupResponseMember {
            member_id: id.to_string(),
            metadata: encode_sticky_subscription(
                &["t".to_string()],
                last.as_ref().map(|(p, g)| (p.as_slice(), *g)),
            )
            .unwrap(),
            ..Default::default()
        }
    }

    /// One generation of `sticky`: the leader's plan from the members'
    /// metadata, and each member remembering its share.
    fn round(
        generation: i32,
        members: &[(&str, &Last)],
    ) -> BTreeMap<String, (Vec<TopicPartition>, i32)> {
        let joined: Vec<_> = members
            .iter()
            .map(|(id, last)| sticky_member(id, last))
            .collect();
        let (subscriptions, generations) =
            decode_members(AssignmentStrategy::Sticky, &joined).unwrap();
        let counts = BTreeMap::from([("t".to_string(), 6)]);
        let plan = compute_plan(
            AssignmentStrategy::Sticky,
            &counts,
            &subscriptions,
            &generations,
        );
        let all: BTreeSet<&TopicPartition> = plan.values().flatten().collect();
        assert_eq!(all.len(), 6, "{plan:?}");
        assert_eq!(plan.values().map(Vec::len).sum::<usize>(), 6, "{plan:?}");
        plan.into_iter()
            .map(|(id, partitions)| (id, (partitions, generation)))
            .collect()
    }

    fn kept(before: &Last, after: &(Vec<TopicPartition>, i32)) -> usize {
        before.as_ref().map_or(0, |(b, _)| {
            b.iter().filter(|tp| after.0.contains(tp)).count()
        })
    }

    #[test]
    fn the_sticky_leader_keeps_previous_assignments_from_user_data() {
        let none: Last = None;
        let g1 = round(1, &[("a", &none)]);
        let a1 = Some(g1["a"].clone());
        assert_eq!(a1.as_ref().unwrap().0.len(), 6);

        // b joins: a keeps 3 of its 6.
        let g2 = round(2, &[("a", &a1), ("b", &none)]);
        assert_eq!(kept(&a1, &g2["a"]), 3);
        let (a2, b2) = (Some(g2["a"].clone()), Some(g2["b"].clone()));

        // c joins: a and b each hand over one and keep two.
        let g3 = round(3, &[("a", &a2), ("b", &b2), ("c", &none)]);
        assert_eq!((kept(&a2, &g3["a"]), kept(&b2, &g3["b"])), (2, 2));
        let (a3, c3) = (Some(g3["a"].clone()), Some(g3["c"].clone()));

        // b leaves, and a member back with a stale generation-1 claim on
        // everything joins: the newer claims of a and c win, nothing of
        // theirs moves.
        let g4 = round(4, &[("a", &a3), ("c", &c3), ("z", &a1)]);
        assert_eq!((kept(&a3, &g4["a"]), kept(&c3, &g4["c"])), (2, 2));
        assert_eq!(g4["z"].0.len(), 2, "{g4:?}");
    }

    #[test]
    fn only_sticky_reads_the_user_data() {
        let previous = vec![TopicPartition::new("t", 5)];
        let member = JoinGroupResponseMember {
            member_id: "m".into(),
            metadata: encode_subscription_with_user_data(
                &["t".to_string()],
                &[TopicPartition::new("t", 1)],
                Some(
                    crate::assignor::StickyUserData {
                        partitions: previous.clone(),
                        generation: Some(9),
                    }
                    .encode(),
                ),
            )
            .unwrap(),
            ..Default::default()
        };
        let (members, generations) =
            decode_members(AssignmentStrategy::Sticky, std::slice::from_ref(&member)).unwrap();
        assert_eq!(members[0].owned, previous);
        assert_eq!(generations, BTreeMap::from([("m".to_string(), 9)]));
        let (members, generations) =
            decode_members(AssignmentStrategy::CooperativeSticky, &[member]).unwrap();
        assert_eq!(members[0].owned, vec![TopicPartition::new("t", 1)]);
        assert!(generations.is_empty());
    }
}
