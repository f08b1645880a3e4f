//! Fault injection and request recording, for tests of clients.
//!
//! A [`FaultRule`] matches the next requests of one API (optionally only on
//! one node, or only requests that name one topic-partition) and makes them
//! fail with an error code, wait, lose their connection before or after
//! being applied, or go unanswered; each rule fires `times` times and is
//! then gone. Rules are checked in the order they were added, after the
//! request is decoded and recorded, so a recorded request shows what the
//! client sent even when a fault answered it.
//!
//! Modelled on franz-go's kfake request control and librdkafka's mock
//! cluster error stacks; the API is our own.

use std::sync::Mutex;
use std::time::Duration;

use ferrokafka_protocol::generated::{RequestHeader, RequestKind};
use ferrokafka_protocol::{ApiKey, ErrorCode};

/// What happens to a request a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer without applying the request, with this error code on every
    /// entry the response has (top-level and per topic, partition or group).
    /// For a rule scoped to one partition of a Produce, Fetch or ListOffsets
    /// request, only that partition fails and the others are served, so a
    /// client's per-partition retries can be tested.
    Fail(ErrorCode),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Close the connection without applying or answering the request.
    DropBeforeApply,
    /// Apply the request, then close the connection without answering.
    DropAfterApply,
    /// Apply the request and never answer it; the connection stays open and
    /// later requests on it are answered.
    NoResponse,
}

/// A fault for the next requests of one API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct FaultRule {
    /// The API whose requests are hit.
    pub api: ApiKey,
    /// What happens to them.
    pub action: FaultAction,
    /// How many requests are hit before the rule is spent.
    pub times: u32,
    /// Only requests that reach this node, if set.
    pub node: Option<i32>,
    /// Only requests that name this topic-partition, if set.
    pub partition: Option<(String, i32)>,
}

impl FaultRule {
    /// A rule for the next request of `api`.
    pub fn new(api: ApiKey, action: FaultAction) -> Self {
        Self {
            api,
            action,
            times: 1,
            node: None,
            partition: None,
        }
    }

    /// Hit the next `times` requests instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Only requests sent to node `node`.
    pub fn on_node(mut self, node: i32) -> Self {
        self.node = Some(node);
        self
    }

    /// Only requests that name `topic`-`partition` (Produce, Fetch,
    /// ListOffsets, OffsetForLeaderEpoch, DeleteRecords, OffsetCommit).
    pub fn for_partition(mut self, topic: impl Into<String>, partition: i32) -> Self {
        self.partition = Some((topic.into(), partition));
        self
    }
}

/// A request as the broker received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    /// The node that received it.
    pub node: i32,
    /// Its API.
    pub api: ApiKey,
    /// The version it was sent at.
    pub version: i16,
    /// Its header (correlation id, client id).
    pub header: RequestHeader,
    /// Its body, decoded.
    pub request: RequestKind,
}

/// A fault that hit a request: which rule's action, where, and on what.
/// Tests read these to prove that the faults they injected really fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredFault {
    /// The API of the request it hit.
    pub api: ApiKey,
    /// The node that received that request.
    pub node: i32,
    /// What was done to it.
    pub action: FaultAction,
    /// The topic-partition the rule was scoped to, if it was.
    pub partition: Option<(String, i32)>,
}

/// The rules, the faults they fired and the record of requests, shared by
/// every node.
#[derive(Debug, Default)]
pub(crate) struct FaultInjector {
    rules: Mutex<Vec<FaultRule>>,
    fired: Mutex<Vec<FiredFault>>,
    recording: Mutex<Option<Vec<SeenRequest>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultInjector {
    pub(crate) fn new(record: bool) -> Self {
        Self {
            rules: Mutex::new(Vec::new()),
            fired: Mutex::new(Vec::new()),
            recording: Mutex::new(record.then(Vec::new)),
        }
    }

    pub(crate) fn add(&self, rule: FaultRule) {
        if rule.times > 0 {
            lock(&self.rules).push(rule);
        }
    }

    pub(crate) fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// The rules not yet spent, in the order they were added.
    pub(crate) fn pending(&self) -> Vec<FaultRule> {
        lock(&self.rules).clone()
    }

    /// Every fault fired so far, in the order they fired.
    pub(crate) fn fired(&self) -> Vec<FiredFault> {
        lock(&self.fired).clone()
    }

    pub(crate) fn set_recording(&self, on: bool) {
        let mut recording = lock(&self.recording);
        match (on, recording.is_some()) {
            (true, false) => *recording = Some(Vec::new()),
            (false, true) => *recording = None,
            _ => {}
        }
    }

    pub(crate) fn is_recording(&self) -> bool {
        lock(&self.recording).is_some()
    }

    pub(crate) fn record(&self, seen: SeenRequest) {
        if let Some(seen_requests) = lock(&self.recording).as_mut() {
            seen_requests.push(seen);
        }
    }

    pub(crate) fn seen(&self) -> Vec<SeenRequest> {
        lock(&self.recording).clone().unwrap_or_default()
    }

    pub(crate) fn clear_seen(&self) {
        if let Some(seen) = lock(&self.recording).as_mut() {
            seen.clear();
        }
    }

    /// The action of the first rule matching this request and the
    /// partition the rule is scoped to, spending one of its uses.
    /// `topic_name` maps a topic id to its name (Fetch v13+).
    pub(crate) fn take(
        &self,
        api: ApiKey,
        node: i32,
        request: &RequestKind,
        topic_name: &dyn Fn(ferrokafka_protocol::Uuid) -> Option<String>,
    ) -> Option<(FaultAction, Option<(String, i32)>)> {
        let mut rules = lock(&self.rules);
        let position = rules.iter().position(|rule| {
            rule.api == api
                && rule.node.is_none_or(|wanted| wanted == node)
                && rule.partition.as_ref().is_none_or(|(topic, partition)| {
                    names_partition(request, topic, *partition, topic_name)
                })
        })?;
        let rule = rules.get_mut(position)?;
        let fired = (rule.action.clone(), rule.partition.clone());
        rule.times = rule.times.saturating_sub(1);
        if rule.times == 0 {
            drop(rules.remove(position));
        }
        drop(rules);
        lock(&self.fired).push(FiredFault {
            api,
            node,
            action: fired.0.clone(),
            partition: fired.1.clone(),
        });
        Some(fired)
    }
}

/// Whether `request` names `topic`-`partition`.
fn names_partition(
    request: &RequestKind,
    topic: &str,
    partition: i32,
    topic_name: &dyn Fn(ferrokafka_protocol::Uuid) -> Option<String>,
) -> bool {
    match request {
        RequestKind::Produce(r) => r
            .topic_data
            .iter()
            .any(|t| t.name == topic && t.partition_data.iter().any(|p| p.index == partition)),
        RequestKind::Fetch(r) => r.topics.iter().any(|t| {
            let name_matches = t.topic == topic
                || (!t.topic_id.is_zero() && topic_name(t.topic_id).as_deref() == Some(topic));
            name_matches && t.partitions.iter().any(|p| p.partition == partition)
        }),
        RequestKind::ListOffsets(r) => r.topics.iter().any(|t| {
            t.name == topic && t.partitions.iter().any(|p| p.partition_index == partition)
        }),
        RequestKind::OffsetForLeaderEpoch(r) => r
            .topics
            .iter()
            .any(|t| t.topic == topic && t.partitions.iter().any(|p| p.partition == partition)),
        RequestKind::DeleteRecords(r) => r.topics.iter().any(|t| {
            t.name == topic && t.partitions.iter().any(|p| p.partition_index == partition)
        }),
        RequestKind::OffsetCommit(r) => r.topics.iter().any(|t| {
            t.name == topic && t.partitions.iter().any(|p| p.partition_index == partition)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::generated::MetadataRequest;

    #[test]
    fn rules_fire_the_given_number_of_times_on_matching_nodes() {
        let faults = FaultInjector::new(false);
        faults.add(
            FaultRule::new(ApiKey::Metadata, FaultAction::NoResponse)
                .times(2)
                .on_node(1),
        );
        let request = RequestKind::Metadata(MetadataRequest::default());
        let none = |_| None;
        assert_eq!(faults.take(ApiKey::Metadata, 0, &request, &none), None);
        assert_eq!(
            faults.take(ApiKey::Metadata, 1, &request, &none),
            Some((FaultAction::NoResponse, None))
        );
        assert_eq!(faults.pending().len(), 1);
        assert_eq!(faults.take(ApiKey::Fetch, 1, &request, &none), None);
        assert_eq!(
            faults.take(ApiKey::Metadata, 1, &request, &none),
            Some((FaultAction::NoResponse, None))
        );
        assert_eq!(faults.take(ApiKey::Metadata, 1, &request, &none), None);
        assert!(faults.pending().is_empty());
        let fired = faults.fired();
        assert_eq!(fired.len(), 2);
        assert!(
            fired
                .iter()
                .all(|f| f.api == ApiKey::Metadata && f.node == 1)
        );
    }
}
