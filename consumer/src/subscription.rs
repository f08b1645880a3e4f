//! [`SubscriptionState`]: what this consumer reads and where it is — the
//! subscribed topics or the manual assignment, and for each assigned
//! partition its position (the next offset `poll` hands out), whether it is
//! paused, and whether its position must be reset (KIP-320's leader epoch of
//! the last record handed out is kept for commits).
//!
//! Positions only move forward as records are handed to the application
//! (or by an explicit seek); auto-commit commits exactly these positions,
//! so it never commits records not yet returned by `poll`.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::OffsetReset;
use crate::record::TopicPartition;

/// How the consumer got its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Nothing yet.
    #[default]
    None,
    /// `assign`: a fixed set, no group.
    Manual,
    /// `subscribe`: the group hands out partitions of these topics.
    Subscribed(BTreeSet<String>),
}

/// Why a partition has no position yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingPosition {
    /// Look up the committed offset (then the reset policy).
    Committed,
    /// Apply this reset policy with ListOffsets.
    Reset(OffsetReset),
}

/// One assigned partition's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionState {
    /// The next offset to hand out, once known.
    pub(crate) position: Option<i64>,
    /// What to do when the position is unknown.
    pub(crate) pending: PendingPosition,
    /// The leader epoch of the last record handed out.
    pub(crate) last_epoch: Option<i32>,
    /// Paused by the application.
    pub(crate) paused: bool,
}

/// What this consumer reads and where it is.
#[derive(Debug, Default)]
pub struct SubscriptionState {
    pub(crate) mode: Mode,
    pub(crate) partitions: BTreeMap<TopicPartition, PartitionState>,
}

impl SubscriptionState {
    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.partitions.keys().cloned().collect()
    }

    /// Replaces the assignment; partitions kept keep their state.
    pub(crate) fn set_assignment(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let wanted: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        self.partitions.retain(|tp, _| wanted.contains(tp));
        for tp in wanted {
            self.partitions.entry(tp).or_insert(PartitionState {
                position: None,
                pending: PendingPosition::Committed,
                last_epoch: None,
                paused: false,
            });
        }
    }

    /// The position of an assigned partition, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp).and_then(|s| s.position)
    }

    /// Sets the position (seek, reset, or records handed out).
    pub(crate) fn seek(&mut self, tp: &TopicPartition, offset: i64) -> bool {
        match self.partitions.get_mut(tp) {
            Some(state) => {
                state.position = Some(offset);
                true
            }
            None => false,
        }
    }

    /// Forgets the position so that the reset policy applies on the next poll.
    pub(crate) fn request_reset(&mut self, tp: &TopicPartition, reset: OffsetReset) -> bool {
        match self.partitions.get_mut(tp) {
            Some(state) => {
                state.position = None;
                state.pending = PendingPosition::Reset(reset);
                true
            }
            None => false,
        }
    }

    /// Partitions without a position.
    pub(crate) fn missing_positions(&self) -> Vec<(TopicPartition, PendingPosition)> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position.is_none())
            .map(|(tp, s)| (tp.clone(), s.pending))
            .collect()
    }

    /// Partitions to fetch now: assigned, not paused, with a position.
    pub(crate) fn fetchable(&self) -> Vec<(TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter(|(_, s)| !s.paused)
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), p)))
            .collect()
    }

    /// Whether `tp` is assigned and not paused.
    pub(crate) fn is_fetchable(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|s| !s.paused)
    }

    /// Pauses or resumes; false if not assigned.
    pub(crate) fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> bool {
        match self.partitions.get_mut(tp) {
            Some(state) => {
                state.paused = paused;
                true
            }
            None => false,
        }
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Positions of every assigned partition that has one (what auto-commit
    /// commits), with the leader epoch of the last record handed out.
    pub(crate) fn consumed_positions(&self) -> BTreeMap<TopicPartition, (i64, Option<i32>)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| s.position.map(|p| (tp.clone(), (p, s.last_epoch))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reassignment_keeps_state_of_kept_partitions() {
        let mut s = SubscriptionState::default();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        s.set_assignment([a.clone(), b.clone()]);
        assert!(s.seek(&a, 5));
        s.set_paused(&b, true);
        assert_eq!(s.fetchable(), vec![(a.clone(), 5)]);
        s.set_assignment([a.clone()]);
        assert_eq!(s.position(&a), Some(5));
        assert_eq!(s.assignment(), vec![a.clone()]);
        assert!(!s.seek(&b, 1));
        assert!(s.request_reset(&a, OffsetReset::Earliest));
        assert_eq!(
            s.missing_positions(),
            vec![(a, PendingPosition::Reset(OffsetReset::Earliest))]
        );
    }
}
