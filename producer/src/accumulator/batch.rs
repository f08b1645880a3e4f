//! [`ProducerBatch`]: one partition's batch from its first record until
//! every record in it is delivered or failed. While open it is a
//! [`RecordBatchBuilder`] the records are laid out in as they come (magic
//! v2, encoded once); sealed, its wire bytes. Beside the bytes it keeps each
//! record's way back (a share of the batch's delivery slot, or a callback),
//! its share of `buffer.memory`, and its retry state.
//!
//! Sealing stamps the idempotent producer id, epoch and base sequence; after
//! an epoch bump (KIP-360) a sealed batch is restamped by the protocol
//! crate's [`RecordBatchMut`], which owns the byte offsets and the CRC.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::records::{RecordBatchBuilder, RecordBatchMut};
use tokio::time::Instant;

use super::PartitionEntry;
use crate::delivery::{BatchDelivery, Completion, DeliveryFuture, DeliveryPart, Reply};
use crate::error::{Error, Result};
use crate::idempotence::ProducerIdAndEpoch;
use crate::record::TopicName;

/// A record sent with a callback: its way back to the application.
#[derive(Debug)]
pub(super) struct CallbackThunk {
    /// The record's index in its batch.
    pub(super) position: usize,
    pub(super) completion: Completion,
    pub(super) timestamp: i64,
}

/// A batch's records: still open for appends, or sealed into wire bytes.
#[derive(Debug)]
pub(super) enum Payload {
    Open(RecordBatchBuilder),
    Sealed(Bytes),
}

/// One partition's batch of records, from creation until every record in
/// it is delivered or failed.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) entry: Arc<PartitionEntry>,
    pub(super) payload: Payload,
    /// Records appended.
    pub(super) record_count: usize,
    /// Where the outcome for its records sent with a [`DeliveryFuture`]
    /// goes (made with the first such record); nothing per record.
    pub(super) delivery: Option<DeliveryPart>,
    /// Its records sent with a callback, in order.
    pub(super) callbacks: Vec<CallbackThunk>,
    /// Every record's timestamp, kept only for interceptors' acknowledgements.
    pub(super) timestamps: Vec<i64>,
    /// Creation order, shared by the pieces of a split batch.
    pub(crate) id: u64,
    pub(crate) created_at: Instant,
    /// Bytes of `buffer.memory` this batch holds.
    pub(super) reserved_bytes: usize,
    /// Failed sends so far.
    pub(crate) attempts: u32,
    /// Not before this instant (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The idempotent base sequence, once drained.
    pub(crate) base_sequence: Option<i32>,
    /// A send failed without an answer (lost connection, timeout), so the
    /// broker may have appended the batch.
    pub(crate) maybe_written: bool,
    /// Closed for appends: another record like its last would not fit
    /// (Java's `closeForRecordAppends`), so it is ready to drain at once.
    pub(super) full: bool,
}

impl ProducerBatch {
    /// Counts a record in and adds its way back, making its future if it
    /// wants one.
    pub(super) fn push(&mut self, reply: Reply, timestamp: i64) -> Option<DeliveryFuture> {
        let position = self.record_count;
        self.record_count = self.record_count.saturating_add(1);
        match reply {
            Reply::Future => {
                let entry = &self.entry;
                self.delivery
                    .get_or_insert_with(|| {
                        DeliveryPart::whole(BatchDelivery::new(
                            TopicName::from(entry.topic.clone()),
                            entry.partition,
                        ))
                    })
                    .future(position, timestamp)
            }
            Reply::Callback(completion) => {
                self.callbacks.push(CallbackThunk {
                    position,
                    completion,
                    timestamp,
                });
                None
            }
        }
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &str {
        &self.entry.topic
    }

    /// The partition.
    pub(crate) fn partition(&self) -> i32 {
        self.entry.partition
    }

    /// How many records it holds.
    pub(crate) fn record_count(&self) -> usize {
        self.record_count
    }

    /// Its size in bytes (uncompressed while open).
    pub(crate) fn size_in_bytes(&self) -> usize {
        match &self.payload {
            Payload::Open(builder) => builder.size_in_bytes(),
            Payload::Sealed(bytes) => bytes.len(),
        }
    }

    /// The sealed wire bytes (empty while open).
    pub(crate) fn records(&self) -> Bytes {
        match &self.payload {
            Payload::Open(_) => Bytes::new(),
            Payload::Sealed(bytes) => bytes.clone(),
        }
    }

    pub(super) fn is_sealed(&self) -> bool {
        matches!(self.payload, Payload::Sealed(_))
    }

    /// Compresses and seals the batch with the producer state given (if
    /// any); a sealed batch stays as it is.
    pub(crate) fn seal(&mut self, producer: Option<ProducerIdAndEpoch>) -> Result<()> {
        let payload = std::mem::replace(&mut self.payload, Payload::Sealed(Bytes::new()));
        self.payload = match payload {
            Payload::Open(mut builder) => {
                if let (Some(p), Some(sequence)) = (producer, self.base_sequence) {
                    builder.set_producer_state(p.producer_id, p.epoch, sequence);
                }
                Payload::Sealed(builder.build()?)
            }
            sealed => sealed,
        };
        Ok(())
    }

    /// Rewrites the producer id, epoch and base sequence of a sealed batch
    /// (after an epoch bump) and recomputes its CRC.
    pub(crate) fn reset_producer_state(
        &mut self,
        producer: ProducerIdAndEpoch,
        base_sequence: i32,
    ) -> Result<()> {
        self.base_sequence = Some(base_sequence);
        let bytes = match &mut self.payload {
            Payload::Open(builder) => {
                builder.set_producer_state(producer.producer_id, producer.epoch, base_sequence);
                return Ok(());
            }
            Payload::Sealed(bytes) => bytes,
        };
        // In place when no request holds the bytes any more; a copy when
        // one still does, which must keep what it was sent with.
        let mut patched = std::mem::take(bytes)
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let stamped = RecordBatchMut::new(&mut patched).map(|mut batch| {
            batch.set_producer_state(producer.producer_id, producer.epoch, base_sequence);
        });
        *bytes = patched.freeze();
        stamped.map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::RecordAccumulator;
    use crate::accumulator::testing::{add, config};
    use ferrokafka_protocol::records::RecordBatchHeader;

    #[tokio::test]
    async fn reset_producer_state_patches_header_and_crc() {
        let acc = RecordAccumulator::new(config());
        drop(add(&acc, 0, b"x"));
        let entry = acc.entry("t", 0);
        let mut batch = entry.queue.lock().unwrap().batches.pop_front().unwrap();
        batch.base_sequence = Some(5);
        batch
            .seal(Some(ProducerIdAndEpoch {
                producer_id: 9,
                epoch: 1,
            }))
            .unwrap();
        let address = batch.records().as_ptr();
        batch
            .reset_producer_state(
                ProducerIdAndEpoch {
                    producer_id: 9,
                    epoch: 2,
                },
                0,
            )
            .unwrap();
        assert_eq!(batch.records().as_ptr(), address, "patched in place");
        let view = ferrokafka_protocol::records::RecordBatchView::new(batch.records()).unwrap();
        view.verify_crc().unwrap();
        assert_eq!(view.header().producer_epoch, 2);
        assert_eq!(view.header().base_sequence, 0);

        // Bytes a request still holds keep what was sent.
        let in_flight = batch.records();
        batch
            .reset_producer_state(
                ProducerIdAndEpoch {
                    producer_id: 9,
                    epoch: 3,
                },
                4,
            )
            .unwrap();
        assert_eq!(
            RecordBatchHeader::parse(&in_flight).unwrap().producer_epoch,
            2
        );
        let header = RecordBatchHeader::parse(&batch.records()).unwrap();
        assert_eq!((header.producer_epoch, header.base_sequence), (3, 4));
    }
}
