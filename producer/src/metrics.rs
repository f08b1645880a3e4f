//! The producer's metrics: counters the sender updates as batches and
//! requests come and go ([`SenderCounters`]), and the snapshot a caller
//! reads with [`Producer::metrics`](crate::Producer::metrics)
//! ([`ProducerMetrics`]).
//!
//! The figures follow the Java producer's `producer-metrics` group (the
//! name of each is given on its field), as totals since the producer
//! started: rates are left to whoever samples them twice. Only the sender
//! task writes the counters, with relaxed atomics, so `send` pays nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrokafka_client::metrics::MetricsSnapshot;

/// The counters, written by the sender.
#[derive(Debug, Default)]
pub(crate) struct SenderCounters {
    records_sent: AtomicU64,
    records_failed: AtomicU64,
    records_retried: AtomicU64,
    batches_sent: AtomicU64,
    batch_bytes: AtomicU64,
    batch_records: AtomicU64,
    batches_split: AtomicU64,
    queue_micros_total: AtomicU64,
    queue_micros_max: AtomicU64,
    requests: AtomicU64,
    responses: AtomicU64,
    latency_micros_total: AtomicU64,
    latency_micros_max: AtomicU64,
    throttle_ms_max: AtomicU64,
    requests_in_flight: AtomicU64,
}

/// Adds `n` to a counter.
fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl SenderCounters {
    /// `records` records were delivered (acknowledged, or known written).
    pub(crate) fn delivered(&self, records: usize) {
        add(&self.records_sent, records as u64);
    }

    /// `records` records failed for good.
    pub(crate) fn failed(&self, records: usize) {
        add(&self.records_failed, records as u64);
    }

    /// A batch of `records` records goes back to its queue for a retry.
    pub(crate) fn retried(&self, records: usize) {
        add(&self.records_retried, records as u64);
    }

    /// A batch that was too large was split.
    pub(crate) fn split(&self) {
        add(&self.batches_split, 1);
    }

    /// A sealed batch of `bytes` bytes and `records` records joins a
    /// request.
    pub(crate) fn batch_sent(&self, bytes: usize, records: usize) {
        add(&self.batches_sent, 1);
        add(&self.batch_bytes, bytes as u64);
        add(&self.batch_records, records as u64);
    }

    /// A batch left the accumulator for a request `waited` after it was
    /// created (its first record's time in the buffer).
    pub(crate) fn batch_queued(&self, waited: Duration) {
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        add(&self.queue_micros_total, micros);
        self.queue_micros_max.fetch_max(micros, Ordering::Relaxed);
    }

    /// A Produce request was handed to a broker's sink; `in_flight` is how
    /// many are in flight now.
    pub(crate) fn request_sent(&self, in_flight: usize) {
        add(&self.requests, 1);
        self.requests_in_flight
            .store(in_flight as u64, Ordering::Relaxed);
    }

    /// A request's outcome came back after `latency` (from the moment it
    /// was handed to the sink), with the broker's throttle time if it
    /// answered; `in_flight` is how many remain in flight.
    pub(crate) fn response(&self, latency: Duration, throttle_ms: Option<i32>, in_flight: usize) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        add(&self.responses, 1);
        add(&self.latency_micros_total, micros);
        self.latency_micros_max.fetch_max(micros, Ordering::Relaxed);
        if let Some(throttle) = throttle_ms.and_then(|t| u64::try_from(t).ok()) {
            self.throttle_ms_max.fetch_max(throttle, Ordering::Relaxed);
        }
        self.requests_in_flight
            .store(in_flight as u64, Ordering::Relaxed);
    }

    /// Reads the counters into a snapshot; the buffer and client figures
    /// come from their owners.
    pub(crate) fn snapshot(
        &self,
        buffer_total_bytes: usize,
        buffer_available_bytes: usize,
        client: MetricsSnapshot,
    ) -> ProducerMetrics {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let ratio = |total: u64, count: u64| {
            if count == 0 {
                0.0
            } else {
                total as f64 / count as f64
            }
        };
        let batches = get(&self.batches_sent);
        let responses = get(&self.responses);
        ProducerMetrics {
            record_send_total: get(&self.records_sent),
            record_error_total: get(&self.records_failed),
            record_retry_total: get(&self.records_retried),
            batch_total: batches,
            batch_split_total: get(&self.batches_split),
            batch_size_avg: ratio(get(&self.batch_bytes), batches),
            records_per_batch_avg: ratio(get(&self.batch_records), batches),
            record_queue_time_avg_ms: ratio(get(&self.queue_micros_total), batches) / 1000.0,
            record_queue_time_max_ms: get(&self.queue_micros_max) as f64 / 1000.0,
            request_total: get(&self.requests),
            response_total: responses,
            request_latency_avg_ms: ratio(get(&self.latency_micros_total), responses) / 1000.0,
            request_latency_max_ms: get(&self.latency_micros_max) as f64 / 1000.0,
            produce_throttle_time_max_ms: get(&self.throttle_ms_max),
            requests_in_flight: get(&self.requests_in_flight),
            buffer_total_bytes: buffer_total_bytes as u64,
            buffer_available_bytes: buffer_available_bytes as u64,
            outgoing_byte_total: client.bytes_sent,
            incoming_byte_total: client.bytes_received,
            connection_reconnect_total: client.reconnects,
        }
    }
}

/// A point-in-time copy of a producer's metrics, totals since it started.
/// Each field names its Java `producer-metrics` counterpart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProducerMetrics {
    /// Records delivered (`record-send-total`).
    pub record_send_total: u64,
    /// Records that failed for good (`record-error-total`).
    pub record_error_total: u64,
    /// Records in batches sent again after a failure (`record-retry-total`).
    pub record_retry_total: u64,
    /// Record batches sent, counting each attempt (`batch-size` count).
    pub batch_total: u64,
    /// Batches split because the broker found them too large
    /// (`batch-split-total`).
    pub batch_split_total: u64,
    /// Mean bytes per batch sent, compressed (`batch-size-avg`).
    pub batch_size_avg: f64,
    /// Mean records per batch sent (`records-per-request-avg` is per
    /// request; this is per batch).
    pub records_per_batch_avg: f64,
    /// Mean time from a batch's creation to its leaving the accumulator
    /// for a request, in milliseconds (`record-queue-time-avg`).
    pub record_queue_time_avg_ms: f64,
    /// The longest such time, in milliseconds (`record-queue-time-max`).
    pub record_queue_time_max_ms: f64,
    /// Produce requests sent (`request-total`).
    pub request_total: u64,
    /// Produce requests answered or failed (`response-total`).
    pub response_total: u64,
    /// Mean time from handing a request to its broker's sink to its outcome,
    /// in milliseconds (`request-latency-avg`).
    pub request_latency_avg_ms: f64,
    /// The longest such time, in milliseconds (`request-latency-max`).
    pub request_latency_max_ms: f64,
    /// The longest throttle a broker asked for, in milliseconds
    /// (`produce-throttle-time-max`).
    pub produce_throttle_time_max_ms: u64,
    /// Produce requests in flight now (`requests-in-flight`).
    pub requests_in_flight: u64,
    /// `buffer.memory` (`buffer-total-bytes`).
    pub buffer_total_bytes: u64,
    /// Bytes of `buffer.memory` free now (`buffer-available-bytes`).
    pub buffer_available_bytes: u64,
    /// Bytes written to brokers by this producer's client, all requests
    /// (`outgoing-byte-total`).
    pub outgoing_byte_total: u64,
    /// Bytes read from brokers (`incoming-byte-total`).
    pub incoming_byte_total: u64,
    /// Connections opened again after one to the same broker was lost
    /// (`connection-creation-total` minus the first ones).
    pub connection_reconnect_total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_averages_and_maxima() {
        let counters = SenderCounters::default();
        let empty = counters.snapshot(100, 100, MetricsSnapshot::default());
        assert_eq!(empty.batch_size_avg, 0.0);
        assert_eq!(empty.request_latency_avg_ms, 0.0);
        counters.batch_sent(1000, 10);
        counters.batch_sent(3000, 30);
        counters.batch_queued(Duration::from_millis(1));
        counters.batch_queued(Duration::from_millis(5));
        counters.request_sent(1);
        counters.request_sent(2);
        counters.response(Duration::from_millis(4), Some(0), 1);
        counters.response(Duration::from_millis(2), Some(7), 0);
        counters.delivered(40);
        counters.failed(3);
        counters.retried(5);
        counters.split();
        let m = counters.snapshot(
            100,
            60,
            MetricsSnapshot {
                bytes_sent: 9,
                ..Default::default()
            },
        );
        assert_eq!(m.batch_total, 2);
        assert_eq!(m.batch_size_avg, 2000.0);
        assert_eq!(m.records_per_batch_avg, 20.0);
        assert_eq!(m.record_queue_time_avg_ms, 3.0);
        assert_eq!(m.record_queue_time_max_ms, 5.0);
        assert_eq!(m.request_total, 2);
        assert_eq!(m.response_total, 2);
        assert_eq!(m.request_latency_avg_ms, 3.0);
        assert_eq!(m.request_latency_max_ms, 4.0);
        assert_eq!(m.produce_throttle_time_max_ms, 7);
        assert_eq!(m.requests_in_flight, 0);
        assert_eq!(
            (
                m.record_send_total,
                m.record_error_total,
                m.record_retry_total
            ),
            (40, 3, 5)
        );
        assert_eq!(m.batch_split_total, 1);
        assert_eq!((m.buffer_total_bytes, m.buffer_available_bytes), (100, 60));
        assert_eq!(m.outgoing_byte_total, 9);
    }
}
