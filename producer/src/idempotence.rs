//! Idempotent-producer bookkeeping (KIP-98, KIP-360), the part of the Java
//! client's `TransactionManager` that plain idempotence needs: the producer
//! id and epoch, and per partition the next sequence number and the
//! sequences sent but not yet acknowledged.
//!
//! The rules it encodes:
//! - a batch gets its sequence when it is first drained, and keeps it across
//!   retries (Kafka's dedup depends on the retry carrying the same one);
//!   nothing is numbered that was never sent;
//! - a retried batch is resent only once it is the lowest unacknowledged
//!   sequence of its partition, so retries go out in order;
//! - a partition's first batch of an epoch goes alone: until the broker has
//!   acknowledged one, it may hold no state for the producer there, and
//!   then it takes any sequence (Kafka does, so that a producer whose state
//!   expired can go on), so a later batch could land before a refused first;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER for the lowest unacknowledged sequence is a
//!   real gap (the broker lost or never got earlier data); for any later one
//!   it only means an earlier batch failed and will be retried;
//! - a gap is closed by bumping the epoch (InitProducerId with the current
//!   id and epoch, KIP-360) once nothing is in flight, then numbering every
//!   partition from 0 again.

use std::collections::VecDeque;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::records::increment_sequence;

/// The id and epoch from InitProducerId.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProducerIdAndEpoch {
    /// The producer id.
    pub(crate) producer_id: i64,
    /// The epoch.
    pub(crate) epoch: i16,
}

/// One partition's sequence numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartitionSequences {
    /// The base sequence the next new batch gets.
    next_sequence: i32,
    /// Base sequences assigned and not yet acknowledged or failed (in
    /// flight, or waiting to be retried), in the order they were assigned.
    unacked: VecDeque<i32>,
    /// Base sequences of batches known to be written because a later batch
    /// of the same epoch was acknowledged (the broker appends a partition's
    /// sequences only in order), while their own answer was lost.
    written: Vec<i32>,
    /// Whether a batch of this epoch was acknowledged here. Until one is,
    /// the broker may hold no state for the producer on this partition, and
    /// then it takes any sequence (as Kafka does, for a producer whose state
    /// expired): a batch sent alongside the first could be appended although
    /// the first was refused, out of order. So the first goes alone.
    acknowledged_any: bool,
}

impl PartitionSequences {
    /// The sequence the next new batch would get.
    #[cfg(test)]
    pub(crate) fn next_sequence(&self) -> i32 {
        self.next_sequence
    }

    /// Assigns the next base sequence to a batch of `record_count` records.
    pub(crate) fn assign(&mut self, record_count: usize) -> i32 {
        let base = self.next_sequence;
        let count = i32::try_from(record_count).unwrap_or(i32::MAX);
        self.next_sequence = increment_sequence(base, count);
        self.unacked.push_back(base);
        base
    }

    /// The lowest sequence sent and not yet acknowledged.
    pub(crate) fn first_unacked(&self) -> Option<i32> {
        self.unacked.front().copied()
    }

    /// Whether `base_sequence` is still waiting for its acknowledgement. A
    /// queued batch whose number is not (a later batch was acknowledged
    /// although this one was refused) can only go out renumbered, after an
    /// epoch bump.
    pub(crate) fn is_unacked(&self, base_sequence: i32) -> bool {
        self.unacked.contains(&base_sequence)
    }

    /// Whether another batch may join those in flight: only once the
    /// broker has acknowledged one of this epoch (see `acknowledged_any`).
    pub(crate) fn may_pipeline(&self) -> bool {
        self.acknowledged_any
    }

    /// Whether a batch may be sent now: a new batch (no sequence yet)
    /// always, a retried one only when it is the lowest unacknowledged.
    pub(crate) fn may_send(&self, base_sequence: Option<i32>) -> bool {
        match base_sequence {
            None => true,
            Some(sequence) => self.first_unacked() == Some(sequence),
        }
    }

    /// The batch with `base_sequence` is done (acknowledged, or failed for
    /// good); it no longer holds back later ones.
    pub(crate) fn resolve(&mut self, base_sequence: i32) {
        if let Some(index) = self.unacked.iter().position(|&s| s == base_sequence) {
            self.unacked.remove(index);
        }
    }

    /// The batch with `base_sequence` was acknowledged. Every batch numbered
    /// before it was written too, whatever its own answer says; those are
    /// remembered (see [`PartitionSequences::take_written`]).
    pub(crate) fn acknowledge(&mut self, base_sequence: i32) {
        self.acknowledged_any = true;
        if let Some(index) = self.unacked.iter().position(|&s| s == base_sequence) {
            let earlier: Vec<i32> = self.unacked.drain(..=index).collect();
            if let Some((_, before)) = earlier.split_last() {
                self.written.extend_from_slice(before);
            }
        }
    }

    /// Whether the batch with `base_sequence` is known to be written (a
    /// later batch was acknowledged); forgets it.
    pub(crate) fn take_written(&mut self, base_sequence: i32) -> bool {
        match self.written.iter().position(|&s| s == base_sequence) {
            Some(index) => {
                self.written.swap_remove(index);
                true
            }
            None => false,
        }
    }

    /// A split batch: its base sequence `base` is replaced by its pieces'
    /// `bases`, in order, in the same place.
    pub(crate) fn replace(&mut self, base: i32, bases: &[i32]) {
        if let Some(index) = self.unacked.iter().position(|&s| s == base) {
            self.unacked.remove(index);
            for (offset, &piece) in bases.iter().enumerate() {
                self.unacked.insert(index.saturating_add(offset), piece);
            }
        }
    }

    /// A batch of `record_count` records at `base_sequence` failed for
    /// good. When the broker surely did not write it (`not_written`) and no
    /// batch was numbered after it, its numbers are reused and the
    /// partition stays consistent: returns true. Otherwise the broker's and
    /// the producer's next sequence now differ, and only an epoch bump
    /// reconciles them: returns false.
    pub(crate) fn give_back(
        &mut self,
        base_sequence: i32,
        record_count: usize,
        not_written: bool,
    ) -> bool {
        self.resolve(base_sequence);
        let count = i32::try_from(record_count).unwrap_or(i32::MAX);
        if not_written && increment_sequence(base_sequence, count) == self.next_sequence {
            self.next_sequence = base_sequence;
            true
        } else {
            false
        }
    }

    /// Whether OUT_OF_ORDER_SEQUENCE_NUMBER for this batch is a real gap
    /// rather than the echo of an earlier batch's failure.
    pub(crate) fn is_real_gap(&self, base_sequence: i32) -> bool {
        self.first_unacked() == Some(base_sequence)
    }

    /// Starts over at sequence 0 (after an epoch bump).
    pub(crate) fn reset(&mut self) {
        *self = PartitionSequences::default();
    }
}

/// What to do about a Produce error code under idempotence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceVerdict {
    /// The batch is delivered (DUPLICATE_SEQUENCE_NUMBER: the broker has it).
    Delivered,
    /// Retry the batch (after the epoch bump, when one is pending).
    Retry,
    /// Retry the batch after bumping the epoch.
    RetryAfterEpochBump,
    /// Fail the batch and bump the epoch (a real sequence gap).
    FailAndBumpEpoch,
    /// Fail the batch and make the producer fatal (fenced, not authorized).
    Fatal,
    /// Not a sequence error: the usual retry rules apply.
    NotSequenceError,
}

/// How an idempotent producer treats `code` for a batch with
/// `base_sequence`, as the Java client does.
pub(crate) fn classify_sequence_error(
    code: ErrorCode,
    base_sequence: i32,
    sequences: &PartitionSequences,
    epoch_bump_pending: bool,
) -> SequenceVerdict {
    match code {
        ErrorCode::DuplicateSequenceNumber => SequenceVerdict::Delivered,
        ErrorCode::OutOfOrderSequenceNumber => {
            if !epoch_bump_pending && sequences.is_real_gap(base_sequence) {
                SequenceVerdict::FailAndBumpEpoch
            } else {
                SequenceVerdict::Retry
            }
        }
        // The broker forgot this producer (its state expired with the
        // log): nothing of this batch was written, so resending it under a
        // new epoch is safe (KIP-360).
        ErrorCode::UnknownProducerId => SequenceVerdict::RetryAfterEpochBump,
        ErrorCode::InvalidProducerEpoch
        | ErrorCode::ProducerFenced
        | ErrorCode::InvalidProducerIdMapping
        | ErrorCode::ClusterAuthorizationFailed
        | ErrorCode::TransactionalIdAuthorizationFailed => SequenceVerdict::Fatal,
        _ => SequenceVerdict::NotSequenceError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_advance_by_record_count_and_wrap_like_java() {
        let mut s = PartitionSequences::default();
        assert_eq!(s.assign(3), 0);
        assert_eq!(s.assign(2), 3);
        assert_eq!(s.next_sequence(), 5);
        s.next_sequence = i32::MAX - 1;
        assert_eq!(s.assign(5), i32::MAX - 1);
        assert_eq!(s.next_sequence(), 3);
    }

    #[test]
    fn retries_go_out_lowest_sequence_first() {
        let mut s = PartitionSequences::default();
        let a = s.assign(10);
        let b = s.assign(10);
        let c = s.assign(10);
        // All three failed and wait in the queue: only `a` may go.
        assert!(s.may_send(Some(a)));
        assert!(!s.may_send(Some(b)));
        assert!(!s.may_send(Some(c)));
        assert!(s.may_send(None));
        s.resolve(a);
        assert!(s.may_send(Some(b)));
        assert!(!s.may_send(Some(c)));
        s.resolve(b);
        s.resolve(c);
        assert_eq!(s.first_unacked(), None);
    }

    #[test]
    fn out_of_order_is_a_gap_only_for_the_lowest_unacked_sequence() {
        let mut s = PartitionSequences::default();
        let a = s.assign(1);
        let b = s.assign(1);
        let verdict = |s: &PartitionSequences, seq, pending| {
            classify_sequence_error(ErrorCode::OutOfOrderSequenceNumber, seq, s, pending)
        };
        assert_eq!(verdict(&s, b, false), SequenceVerdict::Retry);
        assert_eq!(verdict(&s, a, false), SequenceVerdict::FailAndBumpEpoch);
        assert_eq!(verdict(&s, a, true), SequenceVerdict::Retry);
        s.resolve(a);
        assert_eq!(verdict(&s, b, false), SequenceVerdict::FailAndBumpEpoch);
    }

    #[test]
    fn duplicate_is_delivery_and_fencing_is_fatal() {
        let s = PartitionSequences::default();
        let c = |code| classify_sequence_error(code, 0, &s, false);
        assert_eq!(
            c(ErrorCode::DuplicateSequenceNumber),
            SequenceVerdict::Delivered
        );
        assert_eq!(c(ErrorCode::InvalidProducerEpoch), SequenceVerdict::Fatal);
        assert_eq!(c(ErrorCode::ProducerFenced), SequenceVerdict::Fatal);
        assert_eq!(
            c(ErrorCode::UnknownProducerId),
            SequenceVerdict::RetryAfterEpochBump
        );
        assert_eq!(
            c(ErrorCode::NotLeaderOrFollower),
            SequenceVerdict::NotSequenceError
        );
    }

    #[test]
    fn failed_batches_give_their_numbers_back_only_when_last_and_unwritten() {
        let mut s = PartitionSequences::default();
        let a = s.assign(2);
        assert!(s.give_back(a, 2, true));
        assert_eq!(s.next_sequence(), 0);
        let a = s.assign(2);
        let b = s.assign(2);
        assert!(!s.give_back(a, 2, true), "b was numbered after a");
        assert!(!s.give_back(b, 2, false), "b may have been written");
    }

    #[test]
    fn split_pieces_take_the_place_of_the_batch() {
        let mut s = PartitionSequences::default();
        let a = s.assign(10);
        let b = s.assign(1);
        s.replace(a, &[0, 4, 8]);
        assert_eq!(s.unacked, VecDeque::from(vec![0, 4, 8, b]));
    }

    #[test]
    fn an_acknowledgement_implies_every_earlier_batch_was_written() {
        let mut s = PartitionSequences::default();
        let a = s.assign(1);
        let b = s.assign(1);
        let c = s.assign(1);
        let d = s.assign(1);
        // c's answer came, a's and b's were lost: they were written anyway.
        s.acknowledge(c);
        assert_eq!(s.first_unacked(), Some(d));
        assert!(s.take_written(a));
        assert!(!s.take_written(a));
        assert!(s.take_written(b));
        assert!(!s.take_written(c));
    }

    #[test]
    fn reset_starts_over_at_zero() {
        let mut s = PartitionSequences::default();
        s.assign(7);
        s.reset();
        assert_eq!(s.assign(1), 0);
    }

    #[test]
    fn batches_pipeline_only_after_an_acknowledgement_in_the_epoch() {
        let mut s = PartitionSequences::default();
        assert!(!s.may_pipeline());
        let a = s.assign(3);
        s.acknowledge(a);
        assert!(s.may_pipeline());
        s.reset();
        assert!(!s.may_pipeline(), "a new epoch starts without broker state");
    }
}
