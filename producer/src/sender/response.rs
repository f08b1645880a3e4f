//! What the sender makes of each request's outcome: every batch of it is
//! delivered, retried (back in its partition's queue in sequence order,
//! after a backoff, with a metadata refresh when the leader may have
//! moved), split (MESSAGE_TOO_LARGE), or failed with a typed error. The
//! sender alone decides; the sinks only report.
//!
//! A NOT_LEADER_OR_FOLLOWER answer that names the new leader (KIP-951)
//! moves its partition there at once, and its batches are retried there
//! without a refresh or a backoff. With idempotence, sequence errors are
//! judged by [`classify_sequence_error`]; a batch whose answer was lost is
//! known to be written once a later batch of its partition is acknowledged.

use std::time::Duration;

use ferrokafka_client::metadata::{BrokerInfo, LeaderHint};
use ferrokafka_client::{RetryAction, classify, classify_code};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::ProduceResponse;
use tokio::time::Instant;

use super::sink::RequestOutcome;
use super::{InFlight, Sender};
use crate::accumulator::ProducerBatch;
use crate::error::{Error, Result};
use crate::idempotence::{SequenceVerdict, classify_sequence_error};

/// Why a batch's send failed.
#[derive(Debug, Clone)]
enum SendFailure {
    /// The request got no usable response.
    Client(ferrokafka_client::Error),
    /// The broker answered with an error code for the partition.
    Code(ErrorCode, Option<String>),
}

impl Sender {
    /// Settles the batches of a request by its outcome.
    pub(super) fn handle_outcome(&mut self, outcome: RequestOutcome) {
        let Some(InFlight {
            node,
            batches,
            sent_at,
        }) = self.in_flight.remove(&outcome.id)
        else {
            return;
        };
        self.acc.set_requests_in_flight(self.in_flight.len());
        let throttle = match &outcome.result {
            Ok(Some(response)) => Some(response.throttle_time_ms),
            _ => None,
        };
        self.shared
            .counters
            .response(sent_at.elapsed(), throttle, self.in_flight.len());
        if let Some(count) = self.node_in_flight.get_mut(&node) {
            *count = count.saturating_sub(1);
        }
        match outcome.result {
            Err(error) => {
                if let Some(sink) = self.sinks.get_mut(&node) {
                    sink.failures_seen = sink.failures_seen.saturating_add(1);
                }
                for batch in batches {
                    self.handle_failure(batch, SendFailure::Client(error.clone()));
                }
            }
            Ok(None) => {
                for batch in batches {
                    self.succeed(batch, -1, -1);
                }
            }
            Ok(Some(response)) => self.handle_response(node, batches, &response),
        }
    }

    /// Settles each batch of a request by its partition's answer in the
    /// response.
    fn handle_response(
        &mut self,
        node: i32,
        batches: Vec<ProducerBatch>,
        response: &ProduceResponse,
    ) {
        self.take_leader_hints(response);
        for batch in batches {
            let partition = response
                .responses
                .iter()
                .find(|t| t.name == batch.topic())
                .and_then(|t| {
                    t.partition_responses
                        .iter()
                        .find(|p| p.index == batch.partition())
                });
            match partition {
                Some(p)
                    if p.error_code == ErrorCode::None
                        || (p.error_code == ErrorCode::DuplicateSequenceNumber
                            && self.idempotent) =>
                {
                    self.succeed(batch, p.base_offset, p.log_append_time_ms);
                }
                Some(p) => {
                    let message = p.error_message.clone().or_else(|| {
                        p.record_errors
                            .first()
                            .and_then(|e| e.batch_index_error_message.clone())
                    });
                    self.handle_failure(batch, SendFailure::Code(p.error_code, message));
                }
                None => self.handle_failure(
                    batch,
                    SendFailure::Client(ferrokafka_client::Error::Network {
                        broker: node.to_string(),
                        message: "the response did not mention the partition".into(),
                    }),
                ),
            }
        }
        self.fresh_leaders.clear();
    }

    /// Takes the leaders a Produce response names for partitions it
    /// refused with NOT_LEADER_OR_FOLLOWER (KIP-951, v10+) into the
    /// metadata at once; the batches of those partitions are then retried
    /// at the new leader without a metadata refresh or a backoff, as the
    /// Java client does.
    fn take_leader_hints(&mut self, response: &ProduceResponse) {
        let hints: Vec<LeaderHint> = response
            .responses
            .iter()
            .flat_map(|topic| {
                topic
                    .partition_responses
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.error_code,
                            ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
                        ) && p.current_leader.leader_id >= 0
                    })
                    .map(|p| LeaderHint {
                        topic: topic.name.clone(),
                        partition: p.index,
                        leader_id: p.current_leader.leader_id,
                        leader_epoch: p.current_leader.leader_epoch,
                    })
            })
            .collect();
        if hints.is_empty() {
            return;
        }
        let brokers: Vec<BrokerInfo> = response
            .node_endpoints
            .iter()
            .filter_map(|node| {
                Some(BrokerInfo {
                    node_id: node.node_id,
                    host: node.host.clone(),
                    port: u16::try_from(node.port).ok()?,
                    rack: node.rack.clone(),
                })
            })
            .collect();
        self.fresh_leaders = self.client.apply_leader_hints(&hints, &brokers);
        if !self.fresh_leaders.is_empty() {
            tracing::debug!(partitions = ?self.fresh_leaders, "leaders taken from a produce response");
        }
    }

    /// Completes a batch the broker took, and those numbered before it
    /// that wait for a retry but must have been written too.
    fn succeed(&mut self, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
        let mut implied = Vec::new();
        if let Ok(mut queue) = batch.entry.queue.lock() {
            let queue = &mut *queue;
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if let Some(sequence) = batch.base_sequence {
                queue.sequences.take_written(sequence);
                queue.sequences.acknowledge(sequence);
                // Batches numbered before this one and waiting for a retry
                // were written (their answers were lost): done, not resent.
                let mut index = 0;
                while index < queue.batches.len() {
                    let written = queue
                        .batches
                        .get(index)
                        .filter(|b| b.maybe_written)
                        .and_then(|b| b.base_sequence)
                        .is_some_and(|s| queue.sequences.take_written(s));
                    if written {
                        implied.extend(queue.batches.remove(index));
                    } else {
                        index += 1;
                    }
                }
            }
        }
        self.complete(batch, Ok((base_offset, log_append_time)));
        for batch in implied {
            self.complete(batch, Ok((-1, -1)));
        }
    }

    /// Whether an idempotent batch whose answer is bad or missing is known
    /// to be written: some send of it went unanswered, and a later batch of
    /// its partition was acknowledged since.
    fn known_written(batch: &ProducerBatch) -> bool {
        let Some(sequence) = batch.base_sequence.filter(|_| batch.maybe_written) else {
            return false;
        };
        batch
            .entry
            .queue
            .lock()
            .map(|mut queue| queue.sequences.take_written(sequence))
            .unwrap_or(false)
    }

    /// Completes an in-flight batch whose sequence bookkeeping is done.
    fn complete_in_flight(&mut self, batch: ProducerBatch, result: Result<(i64, i64)>) {
        if let Ok(mut queue) = batch.entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
        self.complete(batch, result);
    }

    fn batch_error(batch: &ProducerBatch, failure: &SendFailure) -> Error {
        match failure {
            SendFailure::Client(e) => Error::Client(e.clone()),
            SendFailure::Code(code, message) => Error::Kafka {
                code: *code,
                topic: batch.topic().to_string(),
                partition: batch.partition(),
                message: message.clone(),
            },
        }
    }

    /// Decides a failed batch's fate: delivered after all, retried, split,
    /// or failed.
    fn handle_failure(&mut self, mut batch: ProducerBatch, failure: SendFailure) {
        if matches!(failure, SendFailure::Client(_)) {
            batch.maybe_written = true;
        }
        if self.idempotent && Self::known_written(&batch) {
            return self.complete_in_flight(batch, Ok((-1, -1)));
        }
        let code = match &failure {
            SendFailure::Code(code, _) => Some(*code),
            SendFailure::Client(e) => e.kafka_code(),
        };
        tracing::debug!(
            topic = batch.topic(),
            partition = batch.partition(),
            ?failure,
            attempts = batch.attempts,
            "produce failed"
        );
        match self.sequence_verdict(&batch, code) {
            SequenceVerdict::Delivered => return self.succeed(batch, -1, -1),
            SequenceVerdict::Retry => return self.retry(batch, failure, false),
            SequenceVerdict::RetryAfterEpochBump => {
                self.epoch_bump_pending = true;
                return self.retry(batch, failure, false);
            }
            SequenceVerdict::FailAndBumpEpoch => {
                self.epoch_bump_pending = true;
                let error = Self::batch_error(&batch, &failure);
                return self.fail_in_flight(batch, error, false);
            }
            SequenceVerdict::Fatal => {
                let error = Self::batch_error(&batch, &failure);
                self.shared.set_fatal(Error::Fatal(error.to_string()));
                return self.fail_in_flight(batch, error, false);
            }
            SequenceVerdict::NotSequenceError => {}
        }
        if code == Some(ErrorCode::MessageTooLarge) && batch.record_count() > 1 {
            match self.split_and_reenqueue(batch) {
                Ok(()) => return,
                Err(returned) => batch = *returned,
            }
        }
        let action = match &failure {
            SendFailure::Client(e) => classify(e),
            SendFailure::Code(code, _) => classify_code(*code),
        };
        if action == RetryAction::Fail {
            let error = Self::batch_error(&batch, &failure);
            // The broker refused the batch: nothing of it was written.
            return self.fail_in_flight(batch, error, true);
        }
        self.retry(batch, failure, action == RetryAction::RefreshMetadata);
    }

    /// What idempotence makes of a failed batch's error `code` (not a
    /// sequence error unless idempotent, numbered and answered with a code).
    fn sequence_verdict(&self, batch: &ProducerBatch, code: Option<ErrorCode>) -> SequenceVerdict {
        let (true, Some(sequence), Some(code)) = (self.idempotent, batch.base_sequence, code)
        else {
            return SequenceVerdict::NotSequenceError;
        };
        match batch.entry.queue.lock() {
            Ok(queue) => {
                classify_sequence_error(code, sequence, &queue.sequences, self.epoch_bump_pending)
            }
            Err(_) => SequenceVerdict::NotSequenceError,
        }
    }

    /// Splits a batch the broker found too large and puts the pieces back
    /// in its queue, keeping its sequence range (Java's
    /// `splitAndReenqueue`); a batch that cannot be split comes back.
    fn split_and_reenqueue(
        &mut self,
        batch: ProducerBatch,
    ) -> std::result::Result<(), Box<ProducerBatch>> {
        let producer = if self.idempotent { self.producer } else { None };
        let entry = batch.entry.clone();
        let original = batch.base_sequence;
        let count = batch.record_count();
        let pieces = self.acc.split(batch, producer)?;
        self.shared.counters.split();
        if let Ok(mut queue) = entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if let Some(original) = original {
                let bases: Vec<i32> = pieces.iter().filter_map(|p| p.base_sequence).collect();
                queue.sequences.replace(original, &bases);
                // A piece that could not be rebuilt failed its records: its
                // numbers are a gap now.
                let kept: usize = pieces.iter().map(|p| p.record_count()).sum();
                if kept != count {
                    self.epoch_bump_pending = true;
                }
            }
            queue.reenqueue_all(pieces);
        };
        Ok(())
    }

    /// Puts a failed batch back in its queue, unless retries or the
    /// delivery timeout ran out.
    fn retry(&mut self, mut batch: ProducerBatch, failure: SendFailure, refresh: bool) {
        // A new leader named by the response needs neither a refresh nor
        // a backoff (KIP-951).
        let new_leader = self
            .fresh_leaders
            .iter()
            .any(|(topic, partition)| topic == batch.topic() && *partition == batch.partition());
        if (refresh && !new_leader) || matches!(failure, SendFailure::Client(_)) {
            self.refresh_wanted = true;
        }
        batch.attempts = batch.attempts.saturating_add(1);
        let now = Instant::now();
        let retries = u32::try_from(self.config.retries).unwrap_or(0);
        if batch.created_at + self.config.delivery_timeout <= now {
            let error = Error::DeliveryTimeout {
                topic: batch.topic().to_string(),
                partition: batch.partition(),
                after: self.config.delivery_timeout,
            };
            return self.fail_in_flight(batch, error, false);
        }
        if batch.attempts > retries {
            let error = Self::batch_error(&batch, &failure);
            return self.fail_in_flight(batch, error, false);
        }
        self.shared.counters.retried(batch.record_count());
        let wait = if new_leader {
            Duration::ZERO
        } else {
            self.backoff
                .backoff(batch.attempts.saturating_sub(1), &mut self.rng)
        };
        batch.retry_at = Some(now + wait);
        let entry = batch.entry.clone();
        if let Ok(mut queue) = entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            queue.reenqueue(batch);
        };
    }

    /// Fails a batch that was in flight. `not_written`: the broker surely
    /// did not append it, so its sequence numbers can be given back when
    /// nothing followed it; otherwise a sequence gap needs an epoch bump.
    pub(super) fn fail_in_flight(&mut self, batch: ProducerBatch, error: Error, not_written: bool) {
        if let Ok(mut queue) = batch.entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if let Some(sequence) = batch.base_sequence {
                let count = batch.record_count();
                if !queue.sequences.give_back(sequence, count, not_written) {
                    self.epoch_bump_pending = true;
                }
            }
        }
        self.complete(batch, Err(error));
    }
}
