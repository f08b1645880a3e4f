//! The wall clock that stamps records sent without a timestamp.
//!
//! A record's `CreateTime` is the wall clock in milliseconds, read once per
//! record. `SystemTime::now()` costs a `clock_gettime` (an ordered read of
//! the CPU counter and a conversion); measured on the benchmark machine it
//! took about a sixth of `send`'s time. [`RecordClock`] reads the CPU's
//! counter instead (the TSC where it is invariant, through `quanta`, which
//! falls back to the OS monotonic clock elsewhere) and adds the offset to
//! the wall clock it measured at its last anchoring. It anchors again
//! whenever 10 ms of counter time have passed, so a timestamp
//! is never further from `SystemTime::now()` than the counter drifts in
//! that interval (microseconds) or than a step of the system clock made
//! within it (seen at the next anchoring). The first clock a process
//! makes calibrates the counter against the OS clock (under a millisecond
//! here; `quanta` bounds it at 200 ms).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
#[cfg(test)]
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// How much counter time one anchoring to the wall clock serves, in
/// nanoseconds.
const ANCHOR_NANOS: u64 = 10_000_000;

const NANOS_PER_MILLI: i64 = 1_000_000;

/// Wall-clock milliseconds since the epoch, read cheaply (see the module
/// documentation). Owned by one producer; callers on many threads share it.
#[derive(Debug)]
pub(crate) struct RecordClock {
    /// The counter, calibrated to nanoseconds.
    counter: quanta::Clock,
    /// The counter's raw reading when this clock was made: counter
    /// nanoseconds are counted from it.
    origin: u64,
    /// Wall-clock nanoseconds since the epoch minus counter nanoseconds,
    /// as measured at the last anchoring: one value, so that a reader
    /// never pairs one anchoring's counter reading with another's wall
    /// time.
    offset_nanos: AtomicI64,
    /// Counter nanoseconds at the last anchoring (only decides when to
    /// anchor again).
    anchored_at: AtomicU64,
}

impl RecordClock {
    /// A clock anchored now.
    pub(crate) fn new() -> Self {
        let counter = quanta::Clock::new();
        let origin = counter.raw();
        let clock = RecordClock {
            counter,
            origin,
            offset_nanos: AtomicI64::new(0),
            anchored_at: AtomicU64::new(0),
        };
        clock.anchor(0);
        clock
    }

    /// Nanoseconds of counter time since this clock was made.
    fn counter_nanos(&self) -> u64 {
        self.counter.delta_as_nanos(self.origin, self.counter.raw())
    }

    /// The wall clock now, in milliseconds since the epoch.
    pub(crate) fn now_millis(&self) -> i64 {
        let counter = self.counter_nanos();
        let since_anchor = counter.saturating_sub(self.anchored_at.load(Ordering::Relaxed));
        if since_anchor >= ANCHOR_NANOS {
            return self.anchor(counter) / NANOS_PER_MILLI;
        }
        let counter = i64::try_from(counter).unwrap_or(i64::MAX);
        counter.saturating_add(self.offset_nanos.load(Ordering::Relaxed)) / NANOS_PER_MILLI
    }

    /// Measures the wall clock against the counter reading `counter`;
    /// returns the wall clock in nanoseconds since the epoch. Racing
    /// anchorings each store a correct offset.
    fn anchor(&self, counter: u64) -> i64 {
        let wall = wall_nanos();
        let offset = wall.saturating_sub(i64::try_from(counter).unwrap_or(i64::MAX));
        self.offset_nanos.store(offset, Ordering::Relaxed);
        self.anchored_at.store(counter, Ordering::Relaxed);
        wall
    }
}

impl Default for RecordClock {
    fn default() -> Self {
        RecordClock::new()
    }
}

/// `SystemTime::now()` in nanoseconds since the epoch (0 before it).
fn wall_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANCHOR_INTERVAL: Duration = Duration::from_nanos(ANCHOR_NANOS);

    fn wall_millis() -> i64 {
        wall_nanos() / NANOS_PER_MILLI
    }

    #[test]
    fn reads_agree_with_the_system_clock() {
        let clock = RecordClock::new();
        // Spanning several anchorings, each read lies between the system
        // clock just before and just after it (a millisecond either way for
        // the counter's drift and the rounding down to milliseconds).
        let until = std::time::Instant::now() + ANCHOR_INTERVAL * 5;
        let mut reads = 0u32;
        while std::time::Instant::now() < until {
            let before = wall_millis();
            let read = clock.now_millis();
            let after = wall_millis();
            assert!(
                (before - 1..=after + 1).contains(&read),
                "{before} <= {read} <= {after}"
            );
            reads += 1;
        }
        assert!(reads > 0);
    }

    #[test]
    fn anchors_again_after_the_interval() {
        let clock = RecordClock::new();
        let first = clock.anchored_at.load(Ordering::Relaxed);
        std::thread::sleep(ANCHOR_INTERVAL * 2);
        clock.now_millis();
        let second = clock.anchored_at.load(Ordering::Relaxed);
        assert!(second >= first + ANCHOR_NANOS, "{first} then {second}");
    }

    #[test]
    fn a_stale_offset_is_corrected_at_the_next_anchoring() {
        // As after a step of the system clock: the offset is an hour off.
        let clock = RecordClock::new();
        clock
            .offset_nanos
            .fetch_sub(3_600_000 * NANOS_PER_MILLI, Ordering::Relaxed);
        std::thread::sleep(ANCHOR_INTERVAL * 2);
        let before = wall_millis();
        let read = clock.now_millis();
        assert!((before - 1..=wall_millis() + 1).contains(&read));
    }
}
