//! The idempotent producer's id and epoch, as the sender keeps them: it
//! gets them from InitProducerId before anything is drained, and bumps the
//! epoch (KIP-360) once nothing is in flight whenever a partition's
//! sequence has a gap, renumbering the batches waiting for a retry. Fencing,
//! a missing authorization, or a broker that cannot hand out producer ids
//! is fatal; other failures are retried after a backoff. A transactional
//! producer's id comes from `init_transactions` instead (see
//! `run_transaction_steps`).

use std::collections::VecDeque;
use std::time::Duration;

use ferrokafka_client::{Client, Target};
use ferrokafka_protocol::generated::InitProducerIdRequest;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;

use super::Sender;
use crate::error::{Error, Result};
use crate::idempotence::ProducerIdAndEpoch;

impl Sender {
    /// Starts InitProducerId when an idempotent producer needs an id, or an
    /// epoch bump and nothing is in flight, unless a retry must wait.
    pub(super) fn maybe_init_producer_id(&mut self, now: Instant) {
        // A transactional producer's id comes from `init_transactions`.
        if !self.idempotent
            || self.txn.is_some()
            || self.init.is_some()
            || self.shared.fatal().is_some()
        {
            return;
        }
        let needed =
            self.producer.is_none() || (self.epoch_bump_pending && self.in_flight.is_empty());
        if !needed || self.init_not_before.is_some_and(|at| at > now) {
            return;
        }
        self.init_not_before = None;
        let current = if self.epoch_bump_pending {
            self.producer
        } else {
            None
        };
        self.init = Some(Box::pin(init_producer_id(
            self.client.clone(),
            current,
            self.config.client.request_timeout,
        )));
    }

    /// Takes up the producer id InitProducerId returned, or schedules a
    /// retry (or makes the producer fatal) when it failed.
    pub(super) fn handle_init(&mut self, result: Result<ProducerIdAndEpoch>) {
        match result {
            Ok(producer) => {
                tracing::debug!(
                    producer_id = producer.producer_id,
                    epoch = producer.epoch,
                    bump = self.epoch_bump_pending,
                    "producer id"
                );
                self.init_failures = 0;
                let bumped = self.producer.is_some();
                self.producer = Some(producer);
                if bumped {
                    self.renumber_after_epoch_bump(producer);
                }
                self.epoch_bump_pending = false;
            }
            Err(error) => {
                // Retrying cannot help when fenced, not authorized, or the
                // broker cannot hand out producer ids at all.
                let fatal = matches!(
                    error.kafka_code(),
                    Some(
                        ErrorCode::ClusterAuthorizationFailed
                            | ErrorCode::ProducerFenced
                            | ErrorCode::InvalidProducerEpoch
                            | ErrorCode::TransactionalIdAuthorizationFailed
                            | ErrorCode::UnsupportedVersion
                    )
                ) || matches!(
                    error,
                    Error::Client(ferrokafka_client::Error::UnsupportedByBroker { .. })
                );
                if fatal {
                    self.shared.set_fatal(Error::Fatal(error.to_string()));
                    return;
                }
                tracing::debug!(%error, "InitProducerId failed; retrying");
                let wait = self.backoff.backoff(self.init_failures, &mut self.rng);
                self.init_failures = self.init_failures.saturating_add(1);
                self.init_not_before = Some(Instant::now() + wait);
            }
        }
    }

    /// After an epoch bump every partition numbers from 0 again; batches
    /// waiting for a retry get new numbers in queue order.
    pub(super) fn renumber_after_epoch_bump(&mut self, producer: ProducerIdAndEpoch) {
        let mut failed = Vec::new();
        for entry in self.acc.entries() {
            let Ok(mut queue) = entry.queue.lock() else {
                continue;
            };
            let queue = &mut *queue;
            queue.sequences.reset();
            let mut kept = VecDeque::with_capacity(queue.batches.len());
            for mut batch in queue.batches.drain(..) {
                if batch.base_sequence.is_some() {
                    let sequence = queue.sequences.assign(batch.record_count());
                    if let Err(e) = batch.reset_producer_state(producer, sequence) {
                        queue.sequences.resolve(sequence);
                        failed.push((batch, e));
                        continue;
                    }
                }
                kept.push_back(batch);
            }
            queue.batches = kept;
        }
        for (batch, error) in failed {
            self.complete(batch, Err(error));
        }
    }
}

/// InitProducerId for an idempotent producer: a new id, or with `current`
/// the same id with the next epoch (KIP-360; brokers before 2.5 hand out a
/// new id instead).
async fn init_producer_id(
    client: Client,
    current: Option<ProducerIdAndEpoch>,
    timeout: Duration,
) -> Result<ProducerIdAndEpoch> {
    let mut request = InitProducerIdRequest {
        transactional_id: None,
        // Java: transaction.timeout.ms (60000); unused without a transactional id.
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if let Some(current) = current {
        request.producer_id = current.producer_id;
        request.producer_epoch = current.epoch;
    }
    let response = match client
        .send_with_retry(&request, &Target::AnyBroker, timeout)
        .await
    {
        Err(ferrokafka_client::Error::Protocol { .. }) if current.is_some() => {
            request.producer_id = -1;
            request.producer_epoch = -1;
            client
                .send_with_retry(&request, &Target::AnyBroker, timeout)
                .await?
        }
        other => other?,
    };
    if response.error_code != ErrorCode::None {
        return Err(ferrokafka_client::Error::kafka(
            response.error_code,
            ApiKey::InitProducerId,
            None,
            None,
        )
        .into());
    }
    Ok(ProducerIdAndEpoch {
        producer_id: response.producer_id,
        epoch: response.producer_epoch,
    })
}
