//! Counters a later metrics feature can read: requests, errors, reconnects
//! and bytes, per client instance (no global registry).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub struct ClientMetrics {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Requests that failed (transport errors and timeouts).
    pub errors: AtomicU64,
    /// Connections opened after the first one to the same broker.
    pub reconnects: AtomicU64,
    /// Bytes written to brokers.
    pub bytes_sent: AtomicU64,
    /// Bytes read from brokers.
    pub bytes_received: AtomicU64,
}

/// A point-in-time copy of [`ClientMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Reconnections.
    pub reconnects: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
}

impl ClientMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}
