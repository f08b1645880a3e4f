//! Partition assignors ([`Assignor`]) run by the group leader, and the
//! ConsumerProtocol bytes that carry subscriptions and assignments (an i16
//! version followed by `ConsumerProtocolSubscription` /
//! `ConsumerProtocolAssignment` at that version, so groups mixing clients
//! agree). The range and roundrobin assignors place partitions exactly as
//! Java's `RangeAssignor` and `RoundRobinAssignor` do (members sorted by
//! member id, as Java sorts them).

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use ferrokafka_protocol::generated::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use ferrokafka_protocol::generated::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};
use ferrokafka_protocol::{Decode, Encode};

use crate::config::AssignmentStrategy;
use crate::error::{Error, Result};
use crate::record::TopicPartition;

/// The subscription version this consumer writes: v1 adds the owned
/// partitions that cooperative rebalancing (KIP-429) needs; every client
/// since Kafka 2.4 reads it.
const SUBSCRIPTION_VERSION: i16 = 1;
/// The highest ConsumerProtocol version this crate decodes; newer versions
/// only append fields, so decoding a newer one at this version works.
const MAX_PROTOCOL_VERSION: i16 = 3;

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
        let plan = sticky_plan(partition_counts, members);
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

/// A balanced assignment that keeps owned partitions where it can: each
/// member keeps up to its quota of what it owns (ceil of partitions per
/// member, and only as many members at the ceiling as the remainder allows),
/// then the rest go to the least loaded subscribed members.
fn sticky_plan(
    partition_counts: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
    let mut out: BTreeMap<String, Vec<TopicPartition>> = sorted
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    let subscribed = |m: &MemberSubscription, topic: &str| m.topics.iter().any(|t| t == topic);
    let all: Vec<TopicPartition> = partition_counts
        .iter()
        .filter(|(topic, _)| sorted.iter().any(|m| subscribed(m, topic)))
        .flat_map(|(topic, &count)| {
            (0..count.max(0)).map(|p| TopicPartition::new(topic.clone(), p))
        })
        .collect();
    let member_count = sorted.len().max(1);
    let floor = all.len() / member_count;
    let mut at_ceiling = all.len() % member_count;
    let exists: BTreeSet<&TopicPartition> = all.iter().collect();
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    for m in &sorted {
        let Some(list) = out.get_mut(&m.member_id) else {
            continue;
        };
        for tp in &m.owned {
            if !exists.contains(tp) || !subscribed(m, &tp.topic) || taken.contains(tp) {
                continue;
            }
            let quota = if list.len() < floor {
                true
            } else if list.len() == floor && at_ceiling > 0 {
                at_ceiling -= 1;
                true
            } else {
                false
            };
            if quota {
                taken.insert(tp.clone());
                list.push(tp.clone());
            }
        }
    }
    for tp in all {
        if taken.contains(&tp) {
            continue;
        }
        let target = sorted
            .iter()
            .filter(|m| subscribed(m, &tp.topic))
            .min_by_key(|m| out.get(&m.member_id).map_or(usize::MAX, Vec::len))
            .map(|m| m.member_id.clone());
        if let Some(list) = target.and_then(|id| out.get_mut(&id)) {
            list.push(tp);
        }
    }
    for list in out.values_mut() {
        list.sort();
    }
    out
}

/// The assignor for a configured strategy.
pub fn assignor_for(strategy: AssignmentStrategy) -> Box<dyn Assignor> {
    match strategy {
        AssignmentStrategy::Range => Box::new(RangeAssignor),
        AssignmentStrategy::RoundRobin => Box::new(RoundRobinAssignor),
        AssignmentStrategy::CooperativeSticky => Box::new(CooperativeStickyAssignor),
    }
}

/// Encodes this member's subscription for JoinGroup.
pub(crate) fn encode_subscription(topics: &[String], owned: &[TopicPartition]) -> Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in owned {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let subscription = ConsumerProtocolSubscription {
        topics: topics.to_vec(),
        user_data: None,
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
pub(crate) fn decode_subscription(mut bytes: Bytes) -> Result<(Vec<String>, Vec<TopicPartition>)> {
    if bytes.remaining() < 2 {
        return Err(Error::Assignment(
            "subscription shorter than its version".into(),
        ));
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(Error::Assignment(format!(
            "negative subscription version {version}"
        )));
    }
    let subscription =
        ConsumerProtocolSubscription::decode(&mut bytes, version.min(MAX_PROTOCOL_VERSION))
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
    Ok((subscription.topics, owned))
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
pub(crate) fn decode_assignment(mut bytes: Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.remaining() < 2 {
        return Err(Error::Assignment(
            "assignment shorter than its version".into(),
        ));
    }
    let version = bytes.get_i16();
    if version < 0 {
        return Err(Error::Assignment(format!(
            "negative assignment version {version}"
        )));
    }
    let assignment =
        ConsumerProtocolAssignment::decode(&mut bytes, version.min(MAX_PROTOCOL_VERSION))
            .map_err(|e| Error::Assignment(format!("decoding the assignment: {e}")))?;
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
