//! The sender's sending half: each turn it drains the ready batches from
//! the accumulator, seals them, packs each broker's into one Produce request
//! and hands it to that broker's sink (started on first use), as long as
//! the broker has fewer than `max.in.flight.requests.per.connection`
//! requests in flight.

use ferrokafka_protocol::generated::ProduceRequest;
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sink::{RequestOutcome, Sink, SinkRequest, run_sink};
use super::{InFlight, Sender};
use crate::accumulator::{DrainOptions, ProducerBatch};
use crate::error::Error;

impl Sender {
    /// Drains and dispatches everything ready; returns when to look again.
    pub(super) fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        let metadata = self.client.metadata();
        let fatal = self.shared.fatal().is_some();
        let may_send =
            !fatal && (!self.idempotent || (self.producer.is_some() && !self.epoch_bump_pending));
        let producer = if self.idempotent { self.producer } else { None };
        let max_in_flight = self.config.max_in_flight_requests_per_connection;
        loop {
            let node_in_flight = &self.node_in_flight;
            let drained = self.acc.drain(
                &metadata,
                DrainOptions {
                    now,
                    flush_all: self.acc.flush_all(),
                    may_send,
                    producer,
                    max_request_size: self.config.max_request_size,
                    transactional: self.txn.is_some(),
                },
                |node| node_in_flight.get(&node).copied().unwrap_or(0) < max_in_flight,
            );
            for batch in drained.expired {
                let error = Error::DeliveryTimeout {
                    topic: batch.topic().to_string(),
                    partition: batch.partition(),
                    after: self.config.delivery_timeout,
                };
                self.complete(batch, Err(error));
            }
            if drained.sequence_gap && self.idempotent {
                self.epoch_bump_pending = true;
            }
            if drained.unknown_leader {
                self.refresh_wanted = true;
            }
            let dispatched = !drained.requests.is_empty();
            for (node, batches) in drained.requests {
                self.dispatch(node, batches);
            }
            if !drained.more || !dispatched {
                return drained.next_wakeup;
            }
        }
    }

    /// The sink of broker `node`, started on first use.
    fn sink(&mut self, node: i32) -> &Sink {
        self.sinks.entry(node).or_insert_with(|| {
            let (requests, receiver) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_sink(
                self.client.clone(),
                node,
                self.config.acks,
                receiver,
                self.outcomes_tx.clone(),
            ));
            Sink {
                requests,
                task,
                failures_seen: 0,
            }
        })
    }

    /// Seals a broker's drained batches and hands them to its sink as one
    /// Produce request.
    fn dispatch(&mut self, node: i32, batches: Vec<ProducerBatch>) {
        let producer = if self.idempotent { self.producer } else { None };
        let mut ready = Vec::with_capacity(batches.len());
        for mut batch in batches {
            match batch.seal(producer) {
                Ok(()) => ready.push(batch),
                Err(error) => self.fail_in_flight(batch, error, true),
            }
        }
        if ready.is_empty() {
            return;
        }
        let sent_at = Instant::now();
        let request = self.produce_request(&ready, sent_at);
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.in_flight.insert(
            id,
            InFlight {
                node,
                batches: ready,
                sent_at,
            },
        );
        *self.node_in_flight.entry(node).or_insert(0) += 1;
        self.acc.set_requests_in_flight(self.in_flight.len());
        self.shared.counters.request_sent(self.in_flight.len());
        let sink = self.sink(node);
        let failures_seen = sink.failures_seen;
        let sent = sink.requests.send(SinkRequest {
            id,
            request,
            failures_seen,
        });
        if sent.is_err() {
            // The sink is gone (it never stops on its own while the sender
            // lives); answer for it so the batches are retried.
            self.sinks.remove(&node);
            self.handle_outcome(RequestOutcome {
                id,
                result: Err(ferrokafka_client::Error::Closed),
            });
        }
    }

    /// The Produce request carrying `batches`, counted as sent at
    /// `sent_at`.
    fn produce_request(&self, batches: &[ProducerBatch], sent_at: Instant) -> ProduceRequest {
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        for batch in batches {
            self.shared
                .counters
                .batch_sent(batch.size_in_bytes(), batch.record_count());
            self.shared
                .counters
                .batch_queued(sent_at.saturating_duration_since(batch.created_at));
            let partition = PartitionProduceData {
                index: batch.partition(),
                records: Some(batch.records()),
                ..Default::default()
            };
            match topic_data.iter_mut().find(|t| t.name == batch.topic()) {
                Some(topic) => topic.partition_data.push(partition),
                None => topic_data.push(TopicProduceData {
                    name: batch.topic().to_string(),
                    partition_data: vec![partition],
                    ..Default::default()
                }),
            }
        }
        ProduceRequest {
            transactional_id: self.txn.as_ref().map(|t| t.transactional_id.clone()),
            acks: self.config.acks.as_i16(),
            timeout_ms: i32::try_from(self.config.client.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            topic_data,
            ..Default::default()
        }
    }
}
