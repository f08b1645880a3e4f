//! Partition assignors ([`Assignor`]) run by the group leader, and the
//! ConsumerProtocol bytes that carry subscriptions and assignments (an i16
//! version followed by `ConsumerProtocolSubscription` /
//! `ConsumerProtocolAssignment` at that version, so groups mixing clients
//! agree). The range and roundrobin assignors place partitions exactly as
//! Java's `RangeAssignor` and `RoundRobinAssignor` do (members sorted by
//! member id, as Java sorts them). The eager `sticky` and the cooperative
//! `cooperative-sticky` assignors share one balanced, sticky core (Java's
//! `AbstractStickyAssignor` goals: balance first, then as few moves as
//! possible); `sticky`'s previous assignments travel in Java's
//! `StickyAssignor` user data ([`StickyUserData`]).

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrokafka_protocol::Encode;
use ferrokafka_protocol::consumer_protocol::{self, Versioned};
use ferrokafka_protocol::generated::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use ferrokafka_protocol::generated::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};

use crate::config::AssignmentStrategy;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// The subscription version this consumer writes: v1 adds the owned
/// partitions that cooperative rebalancing (KIP-429) needs; every client
/// since Kafka 2.4 reads it.
const SUBSCRIPTION_VERSION: i16 = 1;

/// One member's subscription as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id.
    pub member_id: String,
    /// Its static instance id, if any.
    pub group_instance_id: Option<String>,
    /// The topics it subscribed to.
    pub topics: Vec<String>,
    /// The partitions it owns now (subscription v1+; what the
    /// cooperative-sticky assignor keeps in place).
    pub owned: Vec<TopicPartition>,
}

/// Computes the group's assignment on the leader.
pub trait Assignor: Send + Sync {
    /// The protocol name (`"range"`, `"roundrobin"`...).
    fn name(&self) -> &'static str;

    /// Assigns the partitions of the subscribed topics (`partition_counts`
    /// gives each known topic's count) to the members. Every member appears
    /// in the result, possibly with no partitions.
    fn assign(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>>;
}

/// Java's `RangeAssignor`: per topic, the members subscribed to it (sorted)
/// each get a consecutive range; the first `partitions % members` get one more.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> = members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        for (topic, &count) in partition_counts {
            let mut subscribers: Vec<&str> = members
                .iter()
                .filter(|m| m.topics.iter().any(|t| t == topic))
                .map(|m| m.member_id.as_str())
                .collect();
            subscribers.sort_unstable();
            let n = i32::try_from(subscribers.len()).unwrap_or(i32::MAX);
            if n == 0 || count <= 0 {
                continue;
            }
            let per = count / n;
            let extra = count % n;
            let mut next = 0i32;
            for (i, member) in (0i32..).zip(subscribers) {
                let len = per.saturating_add(i32::from(i < extra));
                let end = next.saturating_add(len);
                if let Some(list) = out.get_mut(member) {
                    list.extend((next..end).map(|p| TopicPartition::new(topic.clone(), p)));
                }
                next = end;
            }
        }
        out
    }
}

/// Java's `RoundRobinAssignor`: every subscribed partition (topics sorted)
/// dealt to the members (sorted) in turn, skipping members not subscribed
/// to the partition's topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn assign(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut out: BTreeMap<String, Vec<TopicPartition>> = members
            .iter()
            .map(|m| (m.member_id.clone(), Vec::new()))
            .collect();
        let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
        sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        if sorted.is_empty() {
            return out;
        }
        let subscribed: BTreeSet<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        let mut cursor = 0usize;
        for (topic, &count) in partition_counts {
            if !subscribed.contains(topic.as_str()) {
                continue;
            }
            for partition in 0..count.max(0) {
                // Find the next member (cyclically) subscribed to the topic.
                for _ in 0..sorted.len() {
                    let member = sorted.get(cursor % sorted.len());
                    cursor = cursor.wrapping_add(1);
                    if let Some(member) = member {
                        if member.topics.iter().any(|t| t == topic) {
                            if let Some(list) = out.get_mut(&member.member_id) {
                                list.push(TopicPartition::new(topic.clone(), partition));
                            }
                            break;
                        }
                    }
                }
            }
        }
        out
    }
}

/// KIP-429's `cooperative-sticky`: a balanced assignment that keeps every
/// partition with its current owner where balance allows; a partition that
/// must move is left out of this round (its owner revokes it and rejoins,
/// and the follow-up rebalance hands it to its new owner), so no partition
/// is ever owned by two members at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn assign(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let plan = balanced_sticky(partition_counts, members, &BTreeMap::new());
        // Partitions moving away from a current owner wait one round.
        let mut owner: BTreeMap<&TopicPartition, &str> = BTreeMap::new();
        for m in members {
            for tp in &m.owned {
                owner.entry(tp).or_insert(m.member_id.as_str());
            }
        }
        plan.into_iter()
            .map(|(member, partitions)| {
                let kept = partitions
                    .into_iter()
                    .filter(|tp| owner.get(tp).is_none_or(|o| *o == member))
                    .collect();
                (member, kept)
            })
            .collect()
    }
}

/// Java's eager `StickyAssignor`: a balanced assignment that moves as few
/// partitions as balance allows. Unlike `cooperative-sticky`, every
/// partition is handed out in the same round: members of an eager protocol
/// give up everything before they join, so nothing is owned twice.
///
/// Previous ownership comes from each member's claims ([`MemberSubscription::owned`]).
/// Java's eager members send an empty owned list (they revoked everything
/// before joining) and carry their previous assignment and its generation
/// in the subscription's user data instead ([`StickyUserData`]);
/// [`decode_sticky_member`] reads a member's claims from either, and
/// [`StickyAssignor::assign_with_generations`] lets the newest generation
/// win where two members claim one partition, as Java does.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl StickyAssignor {
    /// [`Assignor::assign`] with the generation each member's claims come
    /// from (missing: -1, Java's default generation). A partition claimed
    /// by several members goes to the claim of the highest generation; two
    /// claims at that generation cancel out (the partition counts as
    /// unowned), as in Java's `AbstractStickyAssignor`.
    pub fn assign_with_generations(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
        generations: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        balanced_sticky(partition_counts, members, generations)
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &'static str {
        "sticky"
    }

    fn assign(
        &self,
        partition_counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        balanced_sticky(partition_counts, members, &BTreeMap::new())
    }
}

/// The core both sticky assignors share: a balanced assignment that keeps
/// claimed partitions with their claimant where balance allows.
///
/// 1. Valid claims stay (the partition exists, its claimant subscribes to
///    its topic; conflicts resolved by generation).
/// 2. Unclaimed partitions go, those with the fewest candidate members
///    first, to the least loaded member subscribed to their topic.
/// 3. While some partition's owner holds at least two more partitions than
///    another member subscribed to its topic, the partition moves there
///    (most loaded owner first, its highest partitions first). This ends
///    where Java's `isBalanced` holds: no single move could even things out
///    further; with equal subscriptions, loads differ by at most one. Each
///    move lowers the sum of squared loads, so the loop ends, and it moves
///    only what balance needs.
///
/// Ties go to the member id that sorts first, so every leader computes the
/// same plan. Every member appears in the result.
fn balanced_sticky(
    partition_counts: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    generations: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    sorted.dedup_by(|a, b| a.member_id == b.member_id);
    // Topic -> the members subscribed to it (sorted), for topics with partitions.
    let mut candidates: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for m in &sorted {
        for topic in &m.topics {
            if partition_counts.get(topic).is_some_and(|&count| count > 0) {
                let list = candidates.entry(topic.as_str()).or_default();
                if !list.contains(&m.member_id.as_str()) {
                    list.push(m.member_id.as_str());
                }
            }
        }
    }
    let may_own = |member: &str, topic: &str| {
        candidates
            .get(topic)
            .is_some_and(|list| list.contains(&member))
    };

    // Partition -> (generation of the winning claim, its member; None when
    // two claims of that generation conflict).
    let mut claims: BTreeMap<&TopicPartition, (i32, Option<&str>)> = BTreeMap::new();
    for m in &sorted {
        let id = m.member_id.as_str();
        let generation = generations.get(id).copied().unwrap_or(-1);
        for tp in &m.owned {
            let exists = partition_counts
                .get(&tp.topic)
                .is_some_and(|&count| tp.partition >= 0 && tp.partition < count);
            if !exists || !may_own(id, &tp.topic) {
                continue;
            }
            match claims.get_mut(tp) {
                None => {
                    claims.insert(tp, (generation, Some(id)));
                }
                Some(claim) if generation > claim.0 => *claim = (generation, Some(id)),
                Some(claim) if generation == claim.0 && claim.1 != Some(id) => claim.1 = None,
                Some(_) => {}
            }
        }
    }

    let mut load: BTreeMap<&str, BTreeSet<TopicPartition>> = sorted
        .iter()
        .map(|m| (m.member_id.as_str(), BTreeSet::new()))
        .collect();
    let mut unclaimed = Vec::new();
    for topic in candidates.keys() {
        let count = partition_counts.get(*topic).copied().unwrap_or(0);
        for partition in 0..count {
            let tp = TopicPartition::new(*topic, partition);
            match claims.get(&tp).and_then(|claim| claim.1) {
                Some(owner) => {
                    if let Some(set) = load.get_mut(owner) {
                        set.insert(tp);
                    }
                }
                None => unclaimed.push(tp),
            }
        }
    }
    let size = |load: &BTreeMap<&str, BTreeSet<TopicPartition>>, id: &str| {
        load.get(id).map_or(usize::MAX, BTreeSet::len)
    };
    // A stable sort: within one candidate count, topic and partition order.
    unclaimed.sort_by_key(|tp| candidates.get(tp.topic.as_str()).map_or(0, Vec::len));
    for tp in unclaimed {
        let target = candidates
            .get(tp.topic.as_str())
            .and_then(|list| list.iter().copied().min_by_key(|id| (size(&load, id), *id)));
        if let Some(set) = target.and_then(|id| load.get_mut(id)) {
            set.insert(tp);
        }
    }

    loop {
        let mut owners: Vec<(&str, usize)> =
            load.iter().map(|(id, set)| (*id, set.len())).collect();
        owners.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut chosen: Option<(&str, &str, TopicPartition)> = None;
        'search: for &(from, from_load) in &owners {
            let Some(partitions) = load.get(from) else {
                continue;
            };
            for tp in partitions.iter().rev() {
                let to = candidates.get(tp.topic.as_str()).and_then(|list| {
                    list.iter()
                        .copied()
                        .filter(|id| *id != from)
                        .min_by_key(|id| (size(&load, id), *id))
                });
                if let Some(to) = to
                    && size(&load, to).saturating_add(2) <= from_load
                {
                    chosen = Some((from, to, tp.clone()));
                    break 'search;
                }
            }
        }
        let Some((from, to, tp)) = chosen else {
            break;
        };
        if let Some(set) = load.get_mut(from) {
            set.remove(&tp);
        }
        if let Some(set) = load.get_mut(to) {
            set.insert(tp);
        }
    }
    load.into_iter()
        .map(|(id, set)| (id.to_string(), set.into_iter().collect()))
        .collect()
}

/// The assignor for a configured strategy.
pub fn assignor_for(strategy: AssignmentStrategy) -> Box<dyn Assignor> {
    match strategy {
        AssignmentStrategy::Range => Box::new(RangeAssignor),
        AssignmentStrategy::RoundRobin => Box::new(RoundRobinAssignor),
        AssignmentStrategy::Sticky => Box::new(StickyAssignor),
        AssignmentStrategy::CooperativeSticky => Box::new(CooperativeStickyAssignor),
    }
}

/// Encodes this member's subscription for JoinGroup.
pub(crate) fn encode_subscription(topics: &[String], owned: &[TopicPartition]) -> Result<Bytes> {
    encode_subscription_with_user_data(topics, owned, None)
}

/// Encodes JoinGroup member metadata (subscription v1): the topics, the
/// owned partitions and the assignor's user data.
pub fn encode_subscription_with_user_data(
    topics: &[String],
    owned: &[TopicPartition],
    user_data: Option<Bytes>,
) -> Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in owned {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let subscription = ConsumerProtocolSubscription {
        topics: topics.to_vec(),
        user_data,
        owned_partitions: by_topic
            .into_iter()
            .map(|(topic, partitions)| OwnedTopic {
                topic: topic.to_string(),
                partitions,
            })
            .collect(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i16(SUBSCRIPTION_VERSION);
    subscription
        .encode(&mut buf, SUBSCRIPTION_VERSION)
        .map_err(|e| Error::Assignment(format!("encoding the subscription: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes a member's subscription metadata from JoinGroup: its topics and
/// owned partitions.
pub(crate) fn decode_subscription(bytes: Bytes) -> Result<(Vec<String>, Vec<TopicPartition>)> {
    let decoded = DecodedSubscription::decode(bytes)?;
    Ok((decoded.topics, decoded.owned))
}

/// A member's subscription as decoded on the leader, with what the sticky
/// assignors need beyond [`MemberSubscription`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedSubscription {
    /// The topics it subscribed to.
    pub topics: Vec<String>,
    /// Its owned partitions (ConsumerProtocol v1+).
    pub owned: Vec<TopicPartition>,
    /// The assignor's user data, if any.
    pub user_data: Option<Bytes>,
    /// The generation of its owned partitions (ConsumerProtocol v2+).
    pub generation: Option<i32>,
}

impl DecodedSubscription {
    /// Decodes JoinGroup member metadata (an i16 version, then
    /// `ConsumerProtocolSubscription` at that version).
    pub fn decode(bytes: Bytes) -> Result<DecodedSubscription> {
        let Versioned {
            version,
            body: subscription,
        } = consumer_protocol::decode::<ConsumerProtocolSubscription>(&bytes)
            .map_err(|e| Error::Assignment(format!("decoding a subscription: {e}")))?;
        let owned = subscription
            .owned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect();
        Ok(DecodedSubscription {
            topics: subscription.topics,
            owned,
            user_data: subscription.user_data,
            generation: (version >= 2 && subscription.generation_id >= 0)
                .then_some(subscription.generation_id),
        })
    }

    /// What the eager sticky assignor takes as this member's previous
    /// assignment, and its generation. Java's `StickyAssignor` reads them
    /// from the user data only (an eager member revoked everything before
    /// joining, so its owned list is empty); a member without valid
    /// sticky user data falls back to its owned partitions and the
    /// ConsumerProtocol v2 generation.
    pub fn sticky_claims(&self) -> (Vec<TopicPartition>, Option<i32>) {
        match self
            .user_data
            .as_ref()
            .and_then(|data| StickyUserData::decode(data).ok())
        {
            Some(data) => (data.partitions, data.generation),
            None => (self.owned.clone(), self.generation),
        }
    }
}

/// Decodes a member's JoinGroup metadata for the eager sticky assignor: its
/// subscription with [`DecodedSubscription::sticky_claims`] as the owned
/// partitions, and the generation of those claims (for
/// [`StickyAssignor::assign_with_generations`]).
pub fn decode_sticky_member(
    member_id: &str,
    group_instance_id: Option<String>,
    metadata: Bytes,
) -> Result<(MemberSubscription, Option<i32>)> {
    let decoded = DecodedSubscription::decode(metadata)?;
    let (owned, generation) = decoded.sticky_claims();
    Ok((
        MemberSubscription {
            member_id: member_id.to_string(),
            group_instance_id,
            topics: decoded.topics,
            owned,
        },
        generation,
    ))
}

/// Encodes this member's subscription for the `sticky` protocol as Java's
/// eager `StickyAssignor` does: no owned partitions (they were revoked
/// before the join), the previous assignment and its generation in the user
/// data ([`StickyUserData`] v1). A member that never had an assignment
/// sends no user data.
pub fn encode_sticky_subscription(
    topics: &[String],
    previous: Option<(&[TopicPartition], i32)>,
) -> Result<Bytes> {
    let user_data = previous.map(|(partitions, generation)| {
        StickyUserData {
            partitions: partitions.to_vec(),
            generation: Some(generation),
        }
        .encode()
    });
    encode_subscription_with_user_data(topics, &[], user_data)
}

/// Java's `StickyAssignor` user data: the member's previous assignment and
/// (v1) its generation, in the classic (non-flexible) encoding without a
/// version prefix: `[topic: string, partitions: [int32]]`, then
/// `generation: int32` (absent in v0). librdkafka's sticky assignor writes
/// the same layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The partitions the member was assigned.
    pub partitions: Vec<TopicPartition>,
    /// The generation of that assignment (`None`: v0 data).
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes v1 (generation -1, Java's default, when unknown).
    pub fn encode(&self) -> Bytes {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &self.partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let mut buf = BytesMut::new();
        buf.put_i32(i32::try_from(by_topic.len()).unwrap_or(i32::MAX));
        for (topic, partitions) in by_topic {
            let name = topic.as_bytes();
            let name = name
                .get(..usize::from(i16::MAX.unsigned_abs()))
                .unwrap_or(name);
            buf.put_i16(i16::try_from(name.len()).unwrap_or(i16::MAX));
            buf.put_slice(name);
            buf.put_i32(i32::try_from(partitions.len()).unwrap_or(i32::MAX));
            for partition in partitions {
                buf.put_i32(partition);
            }
        }
        buf.put_i32(self.generation.unwrap_or(-1));
        buf.freeze()
    }

    /// Decodes v1, or v0 when the generation is missing (Java tries v1,
    /// then v0). Every count is checked against the bytes left.
    pub fn decode(mut bytes: &[u8]) -> Result<StickyUserData> {
        let invalid = |what: &str| Error::Assignment(format!("sticky user data: {what}"));
        let read_count = |bytes: &mut &[u8], element: usize| -> Result<usize> {
            if bytes.remaining() < 4 {
                return Err(invalid("truncated count"));
            }
            let count = usize::try_from(bytes.get_i32()).map_err(|_| invalid("negative count"))?;
            if count.saturating_mul(element) > bytes.remaining() {
                return Err(invalid("count beyond the data"));
            }
            Ok(count)
        };
        let mut partitions = Vec::new();
        // A topic entry is at least a string length and a partition count.
        let topics = read_count(&mut bytes, 6)?;
        for _ in 0..topics {
            if bytes.remaining() < 2 {
                return Err(invalid("truncated topic name"));
            }
            let len = usize::try_from(bytes.get_i16()).map_err(|_| invalid("null topic name"))?;
            if len > bytes.remaining() {
                return Err(invalid("topic name beyond the data"));
            }
            let topic = std::str::from_utf8(bytes.get(..len).unwrap_or_default())
                .map_err(|_| invalid("topic name not UTF-8"))?
                .to_string();
            bytes.advance(len);
            let count = read_count(&mut bytes, 4)?;
            for _ in 0..count {
                partitions.push(TopicPartition::new(topic.clone(), bytes.get_i32()));
            }
        }
        let generation = (bytes.remaining() >= 4).then(|| bytes.get_i32());
        Ok(StickyUserData {
            partitions,
            generation,
        })
    }
}

/// Encodes one member's assignment for SyncGroup (version 0).
pub(crate) fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: by_topic
            .into_iter()
            .map(|(topic, partitions)| AssignedTopic {
                topic: topic.to_string(),
                partitions,
            })
            .collect(),
        user_data: None,
    };
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    assignment
        .encode(&mut buf, 0)
        .map_err(|e| Error::Assignment(format!("encoding an assignment: {e}")))?;
    Ok(buf.freeze())
}

/// Decodes this member's assignment from SyncGroup; empty bytes are an
/// empty assignment (what the coordinator sends a member the leader left out).
pub(crate) fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment = consumer_protocol::decode::<ConsumerProtocolAssignment>(&bytes)
        .map_err(|e| Error::Assignment(format!("decoding the assignment: {e}")))?
        .body;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partitions
                .into_iter()
                .map(move |p| TopicPartition::new(topic.clone(), p))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            owned: Vec::new(),
        }
    }

    fn owning(id: &str, topic: &str, partitions: &[i32]) -> MemberSubscription {
        MemberSubscription {
            owned: partitions
                .iter()
                .map(|p| TopicPartition::new(topic, *p))
                .collect(),
            ..member(id, &[topic])
        }
    }

    #[test]
    fn cooperative_sticky_keeps_owners_and_defers_moves() {
        let counts = BTreeMap::from([("t".to_string(), 6)]);
        // a owned everything; b joins: a keeps 3, the other 3 wait a round.
        let members = [owning("a", "t", &[0, 1, 2, 3, 4, 5]), member("b", &["t"])];
        let out = CooperativeStickyAssignor.assign(&counts, &members);
        assert_eq!(out["a"].len(), 3);
        assert!(out["b"].is_empty(), "{out:?}");
        // Next round a owns its 3: b gets the rest.
        let kept: Vec<i32> = out["a"].iter().map(|tp| tp.partition).collect();
        let members = [owning("a", "t", &kept), member("b", &["t"])];
        let out = CooperativeStickyAssignor.assign(&counts, &members);
        let a: Vec<i32> = out["a"].iter().map(|tp| tp.partition).collect();
        assert_eq!(a, kept);
        assert_eq!(out["b"].len(), 3);
        // A member leaves: the survivor takes its partitions at once.
        let members = [owning("b", "t", &[3, 4, 5])];
        let out = CooperativeStickyAssignor.assign(&counts, &members);
        assert_eq!(out["b"].len(), 6);
    }

    fn partitions(list: &[TopicPartition]) -> Vec<(String, i32)> {
        list.iter()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect()
    }

    #[test]
    fn range_gives_the_first_members_the_extra_partitions() {
        let counts = BTreeMap::from([("t".to_string(), 7), ("u".to_string(), 2)]);
        let members = [member("b", &["t", "u"]), member("a", &["t"])];
        let out = RangeAssignor.assign(&counts, &members);
        assert_eq!(
            partitions(&out["a"]),
            vec![
                ("t".into(), 0),
                ("t".into(), 1),
                ("t".into(), 2),
                ("t".into(), 3)
            ]
        );
        assert_eq!(
            partitions(&out["b"]),
            vec![
                ("t".into(), 4),
                ("t".into(), 5),
                ("t".into(), 6),
                ("u".into(), 0),
                ("u".into(), 1)
            ]
        );
    }

    #[test]
    fn roundrobin_deals_partitions_in_turn() {
        let counts = BTreeMap::from([("t".to_string(), 3), ("u".to_string(), 2)]);
        let members = [member("m2", &["t", "u"]), member("m1", &["t", "u"])];
        let out = RoundRobinAssignor.assign(&counts, &members);
        assert_eq!(
            partitions(&out["m1"]),
            vec![("t".into(), 0), ("t".into(), 2), ("u".into(), 1)]
        );
        assert_eq!(
            partitions(&out["m2"]),
            vec![("t".into(), 1), ("u".into(), 0)]
        );
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let counts = BTreeMap::from([("t".to_string(), 1)]);
        let members = [member("a", &["t"]), member("b", &["t"])];
        for assignor in [
            assignor_for(AssignmentStrategy::Range),
            assignor_for(AssignmentStrategy::RoundRobin),
        ] {
            let out = assignor.assign(&counts, &members);
            assert_eq!(out["a"].len() + out["b"].len(), 1, "{}", assignor.name());
        }
    }

    /// Every subscribed partition assigned exactly once, to a subscriber,
    /// every member present, and balanced as Java's `isBalanced` means it:
    /// no partition's owner holds two or more than another subscriber of
    /// its topic.
    fn assert_valid_and_balanced(
        counts: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
        out: &BTreeMap<String, Vec<TopicPartition>>,
    ) {
        assert_eq!(out.len(), members.len(), "{out:?}");
        let mut seen = BTreeSet::new();
        for (id, list) in out {
            let m = members.iter().find(|m| &m.member_id == id).unwrap();
            for tp in list {
                assert!(m.topics.contains(&tp.topic), "{id} got {tp}: {out:?}");
                assert!(seen.insert(tp.clone()), "{tp} twice: {out:?}");
            }
        }
        let expected: usize = counts
            .iter()
            .filter(|(t, _)| members.iter().any(|m| m.topics.contains(t)))
            .map(|(_, &n)| n as usize)
            .sum();
        assert_eq!(seen.len(), expected, "{out:?}");
        for (owner, list) in out {
            for tp in list {
                for m in members.iter().filter(|m| m.topics.contains(&tp.topic)) {
                    assert!(
                        out[&m.member_id].len() + 2 > list.len(),
                        "{tp} could move from {owner} to {}: {out:?}",
                        m.member_id
                    );
                }
            }
        }
    }

    fn with_owned(
        subscription: MemberSubscription,
        out: &BTreeMap<String, Vec<TopicPartition>>,
    ) -> MemberSubscription {
        MemberSubscription {
            owned: out
                .get(&subscription.member_id)
                .cloned()
                .unwrap_or_default(),
            ..subscription
        }
    }

    fn kept(
        before: &BTreeMap<String, Vec<TopicPartition>>,
        after: &BTreeMap<String, Vec<TopicPartition>>,
        id: &str,
    ) -> usize {
        let now: BTreeSet<&TopicPartition> = after[id].iter().collect();
        before[id].iter().filter(|tp| now.contains(tp)).count()
    }

    #[test]
    fn sticky_balances_equal_subscriptions_over_several_topics() {
        let counts = BTreeMap::from([("t".to_string(), 7), ("u".to_string(), 5)]);
        let members = [
            member("c", &["t", "u"]),
            member("a", &["t", "u"]),
            member("b", &["t", "u"]),
            member("d", &["t", "u"]),
            member("e", &["t", "u"]),
        ];
        let out = StickyAssignor.assign(&counts, &members);
        assert_valid_and_balanced(&counts, &members, &out);
        let sizes: BTreeSet<usize> = out.values().map(Vec::len).collect();
        assert_eq!(sizes, BTreeSet::from([2, 3]), "{out:?}");
        // Eager: nothing is held back a round, unlike cooperative-sticky.
        let owning_all = [
            owning("a", "t", &[0, 1, 2, 3, 4, 5, 6]),
            member("b", &["t"]),
        ];
        let counts = BTreeMap::from([("t".to_string(), 7)]);
        let out = StickyAssignor.assign(&counts, &owning_all);
        assert_eq!((out["a"].len(), out["b"].len()), (4, 3), "{out:?}");
        assert_eq!(partitions(&out["a"]), partitions(&owning_all[0].owned[..4]));
    }

    #[test]
    fn sticky_moves_only_what_a_join_or_leave_needs() {
        let counts = BTreeMap::from([("t".to_string(), 8), ("u".to_string(), 4)]);
        let subs = |ids: &[&str]| -> Vec<MemberSubscription> {
            ids.iter().map(|id| member(id, &["t", "u"])).collect()
        };
        let first = StickyAssignor.assign(&counts, &subs(&["a", "b"]));
        assert_valid_and_balanced(&counts, &subs(&["a", "b"]), &first);

        // c joins: a and b each give up exactly two and keep the rest.
        let members: Vec<_> = subs(&["a", "b", "c"])
            .into_iter()
            .map(|m| with_owned(m, &first))
            .collect();
        let second = StickyAssignor.assign(&counts, &members);
        assert_valid_and_balanced(&counts, &members, &second);
        assert_eq!(kept(&first, &second, "a"), 4, "{second:?}");
        assert_eq!(kept(&first, &second, "b"), 4, "{second:?}");
        assert_eq!(second["c"].len(), 4);

        // Same members again: nothing moves.
        let members: Vec<_> = subs(&["a", "b", "c"])
            .into_iter()
            .map(|m| with_owned(m, &second))
            .collect();
        assert_eq!(StickyAssignor.assign(&counts, &members), second);

        // a leaves: b and c keep all theirs and split a's.
        let members: Vec<_> = subs(&["b", "c"])
            .into_iter()
            .map(|m| with_owned(m, &second))
            .collect();
        let third = StickyAssignor.assign(&counts, &members);
        assert_valid_and_balanced(&counts, &members, &third);
        assert_eq!(kept(&second, &third, "b"), 4);
        assert_eq!(kept(&second, &third, "c"), 4);
        assert_eq!((third["b"].len(), third["c"].len()), (6, 6));
    }

    #[test]
    fn sticky_balances_and_sticks_with_different_subscriptions() {
        let counts = BTreeMap::from([
            ("t1".to_string(), 3),
            ("t2".to_string(), 4),
            ("t3".to_string(), 5),
            ("gone".to_string(), 0),
        ]);
        let members = vec![
            member("m1", &["t1"]),
            member("m2", &["t1", "t2"]),
            member("m3", &["t2", "t3"]),
            member("m4", &["t3", "missing"]),
        ];
        let first = StickyAssignor.assign(&counts, &members);
        assert_valid_and_balanced(&counts, &members, &first);
        // m1 can only have t1, m4 only t3.
        assert!(first["m1"].iter().all(|tp| tp.topic == "t1"));
        assert!(first["m4"].iter().all(|tp| tp.topic == "t3"));

        // m5 joins on every topic: the others keep what balance lets them.
        let mut next: Vec<_> = members
            .iter()
            .cloned()
            .map(|m| with_owned(m, &first))
            .collect();
        next.push(member("m5", &["t1", "t2", "t3"]));
        let second = StickyAssignor.assign(&counts, &next);
        assert_valid_and_balanced(&counts, &next, &second);
        let moved: usize = ["m1", "m2", "m3", "m4"]
            .iter()
            .map(|id| first[*id].len() - kept(&first, &second, id))
            .sum();
        assert_eq!(
            moved,
            second["m5"].len(),
            "only m5's share moved: {second:?}"
        );
        assert!(second["m5"].len() >= 2, "{second:?}");

        // m3 leaves: only its partitions move.
        let next: Vec<_> = next
            .into_iter()
            .filter(|m| m.member_id != "m3")
            .map(|m| with_owned(m, &second))
            .collect();
        let third = StickyAssignor.assign(&counts, &next);
        assert_valid_and_balanced(&counts, &next, &third);
        for id in ["m1", "m2", "m4", "m5"] {
            assert_eq!(
                kept(&second, &third, id),
                second[id].len(),
                "{id}: {third:?}"
            );
        }
    }

    #[test]
    fn sticky_claims_of_the_newest_generation_win() {
        let counts = BTreeMap::from([("t".to_string(), 4)]);
        // b's claim on 0 and 1 is stale (generation 3; a's is 5).
        let members = [owning("a", "t", &[0, 1]), owning("b", "t", &[0, 1, 2, 3])];
        let generations = BTreeMap::from([("a".to_string(), 5), ("b".to_string(), 3)]);
        let out = StickyAssignor.assign_with_generations(&counts, &members, &generations);
        assert_eq!(partitions(&out["a"]), partitions(&members[0].owned));
        assert_eq!(out["b"].len(), 2);
        // Equal generations: the doubly claimed partitions are unowned and
        // dealt out for balance; nothing is assigned twice.
        let out = StickyAssignor.assign(&counts, &members);
        assert_valid_and_balanced(&counts, &members, &out);
        // Claims on partitions that no longer exist or topics no longer
        // subscribed are dropped.
        let members = [owning("a", "t", &[3, 9]), owning("b", "x", &[0])];
        let out = StickyAssignor.assign(&counts, &members);
        assert!(out["a"].contains(&TopicPartition::new("t", 3)));
        assert!(out["b"].is_empty());
    }

    #[test]
    fn sticky_user_data_is_javas_layout() {
        let data = StickyUserData {
            partitions: vec![
                TopicPartition::new("t", 0),
                TopicPartition::new("t", 2),
                TopicPartition::new("u", 1),
            ],
            generation: Some(7),
        };
        let bytes = data.encode();
        let mut expected = BytesMut::new();
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"t");
        expected.put_i32(2);
        expected.put_i32(0);
        expected.put_i32(2);
        expected.put_i16(1);
        expected.put_slice(b"u");
        expected.put_i32(1);
        expected.put_i32(1);
        expected.put_i32(7);
        assert_eq!(bytes, expected.freeze());
        assert_eq!(StickyUserData::decode(&bytes).unwrap(), data);
        // v0: no generation.
        let v0 = &bytes[..bytes.len() - 4];
        assert_eq!(StickyUserData::decode(v0).unwrap().generation, None);
        // Bounded: truncated, negative and oversized counts are errors.
        assert!(StickyUserData::decode(&bytes[..9]).is_err());
        assert!(StickyUserData::decode(&[0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(StickyUserData::decode(&[0, 0, 0x10, 0]).is_err());
        assert!(StickyUserData::decode(&[]).is_err());
    }

    #[test]
    fn sticky_members_read_claims_from_user_data_or_owned() {
        let topics = vec!["t".to_string()];
        let previous = [TopicPartition::new("t", 1), TopicPartition::new("t", 3)];
        // Java's eager layout: no owned partitions, user data with them.
        let metadata = encode_sticky_subscription(&topics, Some((&previous, 4))).unwrap();
        let (member, generation) = decode_sticky_member("m", None, metadata.clone()).unwrap();
        assert_eq!(member.owned, previous);
        assert_eq!(member.topics, topics);
        assert_eq!(generation, Some(4));
        // The plain path (other protocols) ignores the user data.
        assert_eq!(
            decode_subscription(metadata).unwrap(),
            (topics.clone(), vec![])
        );
        // No user data: the owned partitions, no generation.
        let metadata = encode_subscription(&topics, &previous).unwrap();
        let (member, generation) = decode_sticky_member("m", None, metadata).unwrap();
        assert_eq!((member.owned, generation), (previous.to_vec(), None));
        // A first join sends no user data.
        let first = encode_sticky_subscription(&topics, None).unwrap();
        let decoded = DecodedSubscription::decode(first).unwrap();
        assert_eq!(decoded.user_data, None);
        assert_eq!(assignor_for(AssignmentStrategy::Sticky).name(), "sticky");
    }

    #[test]
    fn protocol_bytes_round_trip() {
        let topics = vec!["a".to_string(), "b".to_string()];
        let owned = vec![TopicPartition::new("a", 2)];
        assert_eq!(
            decode_subscription(encode_subscription(&topics, &owned).unwrap()).unwrap(),
            (topics, owned)
        );
        let assigned = vec![TopicPartition::new("a", 1), TopicPartition::new("b", 0)];
        assert_eq!(
            decode_assignment(encode_assignment(&assigned).unwrap()).unwrap(),
            assigned
        );
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_subscription(Bytes::from_static(&[0])).is_err());
    }
}
