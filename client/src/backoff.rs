//! Exponential backoff with jitter, as the Java client computes it for
//! `retry.backoff.ms` / `reconnect.backoff.ms` (KIP-580): `initial * 2^n`,
//! capped at the maximum, then spread by ±20% so that many clients failing
//! together do not retry in lockstep.
//!
//! The random source is injected ([`JitterSource`]) so tests are exact.

use std::time::Duration;

/// The fraction by which each backoff is randomly spread (Java's 0.2).
pub const JITTER: f64 = 0.2;

/// A source of uniform random numbers in `[0, 1)`.
pub trait JitterSource: Send {
    /// The next number in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

/// A small xorshift generator: good enough to spread retries, seeded per
/// instance (no global state).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed (zero is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// A generator seeded from the clock and a stack address.
    pub fn from_entropy() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let local = 0u8;
        XorShift::new(nanos ^ ((&local as *const u8 as u64).rotate_left(32)))
    }
}

impl JitterSource for XorShift {
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An exponential backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    /// The first backoff.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl ExponentialBackoff {
    /// A schedule from `initial` to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        ExponentialBackoff {
            initial,
            max: max.max(initial),
        }
    }

    /// The backoff before retry number `attempt + 1` (attempt 0 is the first
    /// retry), without jitter.
    pub fn base(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The backoff for `attempt`, spread by ±[`JITTER`] using `random`.
    pub fn backoff(&self, attempt: u32, random: &mut dyn JitterSource) -> Duration {
        let base = self.base(attempt).as_secs_f64();
        let spread = 1.0 - JITTER + 2.0 * JITTER * random.next_unit();
        Duration::from_secs_f64((base * spread).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random source that returns fixed values.
    struct Fixed(f64);
    impl JitterSource for Fixed {
        fn next_unit(&mut self) -> f64 {
            self.0
        }
    }

    #[test]
    fn doubles_from_initial_and_stops_at_max() {
        let b = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mid = &mut Fixed(0.5);
        let got: Vec<u128> = (0..6).map(|n| b.backoff(n, mid).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.base(1000), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_spreads_twenty_percent_each_way() {
        let b = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(b.backoff(0, &mut Fixed(0.0)).as_millis(), 80);
        assert_eq!(b.backoff(0, &mut Fixed(0.999_999)).as_millis(), 119);
        let mut rng = XorShift::new(42);
        for attempt in 0..20 {
            let d = b.backoff(attempt, &mut rng);
            let base = b.base(attempt);
            assert!(
                d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2),
                "{d:?} vs {base:?}"
            );
        }
    }

    #[test]
    fn xorshift_is_uniform_enough() {
        let mut rng = XorShift::new(7);
        let values: Vec<f64> = (0..10_000).map(|_| rng.next_unit()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
    }
}
