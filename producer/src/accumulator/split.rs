//! [`RecordAccumulator::split`]: a sealed batch the broker refused as too
//! large (MESSAGE_TOO_LARGE) comes apart into smaller batches, as Java's
//! `splitAndReenqueue` does.
//!
//! The pieces keep the batch's id and creation time (so `flush` and
//! `delivery.timeout.ms` see one batch) and its sequence range: piece
//! sequences follow on from its base sequence, so the partition's later
//! batches stay valid. Each record keeps its way back: its share of the
//! delivery slot, its callback renumbered within its piece, and its
//! timestamp for the interceptors.

use std::iter::Peekable;

use ferrokafka_protocol::records::{
    DecodeOptions, RECORD_BATCH_OVERHEAD, RecordBatch, RecordBatchBuilder, increment_sequence,
};

use super::batch::{CallbackThunk, Payload};
use super::{PartitionEntry, ProducerBatch, RecordAccumulator};
use crate::delivery::DeliveryPart;
use crate::error::Error;
use crate::idempotence::ProducerIdAndEpoch;

/// What of a split batch's per-record state its pieces have not taken yet,
/// handed out piece by piece, in record order.
struct Unassigned {
    /// The delivery slot's parts, one per piece (none without futures).
    parts: Option<std::vec::IntoIter<DeliveryPart>>,
    callbacks: Peekable<std::vec::IntoIter<CallbackThunk>>,
    timestamps: std::vec::IntoIter<i64>,
    /// The index in the batch of the next piece's first record.
    first_position: usize,
}

impl Unassigned {
    /// The next piece's share, for its `count` records: its delivery part,
    /// its callbacks (renumbered from the piece's first record), and its
    /// records' timestamps.
    fn take(&mut self, count: usize) -> (Option<DeliveryPart>, Vec<CallbackThunk>, Vec<i64>) {
        let part = self.parts.as_mut().and_then(Iterator::next);
        let first_position = self.first_position;
        let end = first_position.saturating_add(count);
        let mut callbacks = Vec::new();
        while let Some(thunk) = self.callbacks.next_if(|t| t.position < end) {
            callbacks.push(CallbackThunk {
                position: thunk.position.saturating_sub(first_position),
                ..thunk
            });
        }
        self.first_position = end;
        let timestamps: Vec<i64> = self.timestamps.by_ref().take(count).collect();
        (part, callbacks, timestamps)
    }
}

impl RecordAccumulator {
    /// Splits a sealed batch the broker found too large into batches of at
    /// most `batch.size` (Java's `splitAndReenqueue`). The pieces keep the
    /// batch's id and creation time, and its sequence range: piece sequences
    /// follow on from its base sequence, so later batches stay valid. A
    /// batch that cannot be split (one record, or undecodable) comes back.
    pub(crate) fn split(
        &self,
        batch: ProducerBatch,
        producer: Option<ProducerIdAndEpoch>,
    ) -> Result<Vec<ProducerBatch>, Box<ProducerBatch>> {
        let Some(groups) = self.regroup(&batch) else {
            return Err(Box::new(batch));
        };
        let ProducerBatch {
            entry,
            record_count,
            delivery,
            callbacks,
            timestamps,
            id,
            created_at,
            reserved_bytes,
            attempts,
            base_sequence,
            ..
        } = batch;
        let pieces = groups.len();
        let share = reserved_bytes / pieces;
        let counts: Vec<usize> = groups.iter().map(|(_, count)| *count).collect();
        let mut unassigned = Unassigned {
            parts: delivery.map(|d| d.split(record_count, &counts).into_iter()),
            callbacks: callbacks.into_iter().peekable(),
            timestamps: timestamps.into_iter(),
            first_position: 0,
        };
        let mut sequence = base_sequence;
        let mut out = Vec::with_capacity(pieces);
        for (index, (mut builder, count)) in groups.into_iter().enumerate() {
            if let (Some(p), Some(s)) = (producer, sequence) {
                builder.set_producer_state(p.producer_id, p.epoch, s);
            }
            let piece_sequence = sequence;
            sequence =
                sequence.map(|s| increment_sequence(s, i32::try_from(count).unwrap_or(i32::MAX)));
            let reserved = if index + 1 == pieces {
                reserved_bytes.saturating_sub(share.saturating_mul(pieces - 1))
            } else {
                share
            };
            let (part, piece_callbacks, piece_timestamps) = unassigned.take(count);
            let sealed = match builder.build() {
                Ok(sealed) => sealed,
                // Unreachable in practice (the records were just decoded);
                // the piece's records fail rather than vanish.
                Err(e) => {
                    let error = Error::from(e);
                    self.fail_piece(&entry, &error, part, piece_callbacks, piece_timestamps);
                    self.release(reserved);
                    continue;
                }
            };
            out.push(ProducerBatch {
                entry: entry.clone(),
                payload: Payload::Sealed(sealed),
                record_count: count,
                delivery: part,
                callbacks: piece_callbacks,
                timestamps: piece_timestamps,
                id,
                created_at,
                reserved_bytes: reserved,
                attempts,
                retry_at: None,
                base_sequence: piece_sequence,
                maybe_written: false,
                full: false,
            });
        }
        self.count_extra_pieces(id, out.len());
        Ok(out)
    }

    /// The batch's records, decoded and laid out again in new builders of
    /// at most half the batch (and at most `batch.size`) each, with how
    /// many records each holds; `None` when the batch cannot be split (one
    /// record, undecodable, or not holding the records it counts).
    fn regroup(&self, batch: &ProducerBatch) -> Option<Vec<(RecordBatchBuilder, usize)>> {
        let mut bytes = batch.records();
        let decoded = RecordBatch::decode(&mut bytes, &DecodeOptions::default()).ok()?;
        // Pieces of at most half the batch (and at most `batch.size`), so
        // every split makes progress even when the broker's limit is below
        // `batch.size`.
        let limit = self
            .batch_limit
            .min(batch.size_in_bytes() / 2)
            .max(RECORD_BATCH_OVERHEAD);
        let mut groups: Vec<(RecordBatchBuilder, usize)> = Vec::new();
        for record in &decoded.records {
            let key = record.key.as_deref();
            let value = record.value.as_deref();
            let fits = groups.last().is_some_and(|(b, _)| {
                b.has_room_for(limit, record.timestamp, key, value, &record.headers)
            });
            if !fits {
                let mut builder = RecordBatchBuilder::new(self.config.compression);
                builder.set_transactional(self.config.transactional);
                groups.push((builder, 0));
            }
            if let Some((builder, count)) = groups.last_mut() {
                if builder
                    .append(record.timestamp, key, value, &record.headers)
                    .is_err()
                {
                    return None;
                }
                *count += 1;
            }
        }
        if groups.len() < 2 || decoded.records.len() != batch.record_count {
            return None;
        }
        Some(groups)
    }

    /// Fails the records of a piece that could not be sealed: its delivery
    /// part, its callbacks and the interceptors' acknowledgements.
    fn fail_piece(
        &self,
        entry: &PartitionEntry,
        error: &Error,
        part: Option<DeliveryPart>,
        callbacks: Vec<CallbackThunk>,
        timestamps: Vec<i64>,
    ) {
        if let Some(part) = part {
            part.complete(Err(error.clone()));
        }
        for thunk in callbacks {
            thunk.completion.complete(Err(error.clone()));
        }
        for _ in timestamps {
            self.interceptors.on_acknowledgement(
                &entry.topic,
                entry.partition,
                &Err(error.clone()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::records::RecordBatchHeader;
    use tokio::time::Instant;

    use super::*;
    use crate::accumulator::testing::config;
    use crate::delivery::{Completion, Reply};

    #[tokio::test(start_paused = true)]
    async fn split_keeps_records_sequence_range_and_order() {
        let mut c = config();
        c.batch_size = 300;
        let acc = RecordAccumulator::new(c);
        let entry = acc.entry("t", 0);
        // One big batch built with a large limit, as if batch.size changed.
        let mut builder = RecordBatchBuilder::new(Compression::None);
        let mut batch = ProducerBatch {
            entry,
            payload: Payload::Open(RecordBatchBuilder::new(Compression::None)),
            record_count: 0,
            delivery: None,
            callbacks: Vec::new(),
            timestamps: Vec::new(),
            id: acc.register_batch(),
            created_at: Instant::now(),
            reserved_bytes: 1000,
            attempts: 1,
            retry_at: None,
            base_sequence: Some(40),
            maybe_written: false,
            full: false,
        };
        // Every third record reports to a callback, the others to futures.
        let called = Arc::new(Mutex::new(Vec::new()));
        let mut futures = Vec::new();
        for i in 0..10u8 {
            builder.append(1000, None, Some(&[i; 100]), &[]).unwrap();
            if i % 3 == 2 {
                let called = called.clone();
                let reply = Reply::Callback(Completion::callback(Box::new(move |result| {
                    called.lock().unwrap().push((i, result.unwrap().offset));
                })));
                assert!(batch.push(reply, 1000).is_none());
            } else {
                futures.push((i, batch.push(Reply::Future, 1000).unwrap()));
            }
        }
        batch.payload = Payload::Sealed(builder.build().unwrap());
        let producer = ProducerIdAndEpoch {
            producer_id: 1,
            epoch: 2,
        };
        let pieces = acc.split(batch, Some(producer)).unwrap();
        assert!(pieces.len() >= 4, "{}", pieces.len());
        let mut sequence = 40;
        // The offset each record gets: piece k is stored at 100 * k.
        let mut expected = Vec::new();
        for (k, piece) in pieces.iter().enumerate() {
            let header = RecordBatchHeader::parse(&piece.records()).unwrap();
            assert_eq!(header.base_sequence, sequence);
            assert_eq!(piece.base_sequence, Some(sequence));
            assert_eq!(
                usize::try_from(header.record_count).unwrap(),
                piece.record_count()
            );
            sequence += header.record_count;
            expected.extend((0..piece.record_count()).map(|p| 100 * k as i64 + p as i64));
        }
        assert_eq!(expected.len(), 10);
        // Completed out of order: each record still gets its piece's offset.
        for (k, piece) in pieces.into_iter().enumerate().rev() {
            acc.complete(piece, Ok((100 * k as i64, -1)));
        }
        assert!(acc.is_empty());
        assert_eq!(acc.available_memory(), (1 << 20) + 1000);
        for (i, future) in futures {
            let metadata = future.await.unwrap();
            assert_eq!(metadata.topic, "t");
            assert_eq!(metadata.offset, expected[usize::from(i)], "record {i}");
        }
        let mut called = called.lock().unwrap().clone();
        called.sort_unstable();
        let want: Vec<(u8, i64)> = [2u8, 5, 8]
            .into_iter()
            .map(|i| (i, expected[usize::from(i)]))
            .collect();
        assert_eq!(called, want);
    }
}
