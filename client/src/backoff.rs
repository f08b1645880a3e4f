//! Exponential back-off: the one schedule type of every retry in ferrokafka,
//! [`ExponentialBackOff`] (`initial * multiplier^n`, capped, optionally
//! spread by random jitter, optionally bounded in attempts). Two callers
//! configure it differently:
//!
//! - the clients' reconnects and request retries ([`ExponentialBackOff::new`]):
//!   as the Java client computes them for `reconnect.backoff.ms` /
//!   `retry.backoff.ms` (KIP-144, KIP-580): `initial * 2^n`, capped at the
//!   maximum, then spread by ±20% so that many clients failing together do
//!   not retry in lockstep, with no limit on attempts (a deadline bounds
//!   them);
//! - the listener container's error handler (`ferrokafka-listener`,
//!   [`ExponentialBackOff::bounded`]): as Spring's `ExponentialBackOff`,
//!   any multiplier, no jitter (the waits are exactly the configured ones),
//!   and a number of attempts after which the record goes to the recoverer.
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

/// Nanoseconds in a second, for the exact integer arithmetic of [`ExponentialBackOff::base`].
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// An exponential back-off schedule: waits of `initial * multiplier^n`,
/// capped at `max_interval`, spread by ±`jitter`, for at most
/// `max_attempts` attempts. See the module docs for its two configurations.
///
/// Named as Spring spells it, `ExponentialBackOff`
/// (`org.springframework.util.backoff.ExponentialBackOff`): that is the
/// public type a Java user configures (`DefaultErrorHandler(recoverer, new
/// ExponentialBackOff(...))`) and looks for here. The Java client's own
/// `org.apache.kafka.common.utils.ExponentialBackoff` is internal: its users
/// only ever set `retry.backoff.ms` and `reconnect.backoff.ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackOff {
    /// The first wait (Spring's `initialInterval`; `retry.backoff.ms` or
    /// `reconnect.backoff.ms` in the clients).
    pub initial: Duration,
    /// The factor applied after each further failure (Spring's
    /// `multiplier`; 2 in the clients). Below 1 counts as 1.
    pub multiplier: f64,
    /// The longest wait before jitter (Spring's `maxInterval`;
    /// `retry.backoff.max.ms` or `reconnect.backoff.max.ms` in the clients).
    pub max_interval: Duration,
    /// Attempts in all, the first included, or `None` for no limit (the
    /// clients, whose retries a deadline bounds instead).
    pub max_attempts: Option<u32>,
    /// The fraction by which each wait is randomly spread either way:
    /// [`JITTER`] in the clients, 0 (none) for the listener's error handler.
    pub jitter: f64,
}

impl ExponentialBackOff {
    /// The clients' schedule (Java's `retry.backoff.ms` /
    /// `reconnect.backoff.ms`): `initial`, doubling, capped at `max` (raised
    /// to `initial` if below it), spread by ±[`JITTER`], no attempt limit.
    pub fn new(initial: Duration, max: Duration) -> Self {
        ExponentialBackOff {
            initial,
            multiplier: 2.0,
            max_interval: max.max(initial),
            max_attempts: None,
            jitter: JITTER,
        }
    }

    /// Spring's schedule, as the listener's error handler uses it: waits
    /// `initial`, then `initial * multiplier`, ... at most `max_interval`
    /// (kept as given, even below `initial`), with no jitter, for
    /// `max_attempts` attempts in all (the first included; 0 counts as 1).
    /// Spring's `ExponentialBackOff(initial, multiplier)` with
    /// `setMaxInterval` and `setMaxAttempts`.
    pub fn bounded(
        initial: Duration,
        multiplier: f64,
        max_interval: Duration,
        max_attempts: u32,
    ) -> Self {
        ExponentialBackOff {
            initial,
            multiplier,
            max_interval,
            max_attempts: Some(max_attempts.max(1)),
            jitter: 0.0,
        }
    }

    /// The wait before retry number `retry + 1` (retry 0 is the first
    /// retry), without jitter: `initial * multiplier^retry`, at most
    /// `max_interval`. Whole multipliers (the clients' 2) are computed in
    /// integer nanoseconds, exactly; others in floating point.
    pub fn base(&self, retry: u32) -> Duration {
        let cap = self.max_interval;
        if self.initial.is_zero() {
            return Duration::ZERO;
        }
        // NaN and factors below 1 count as 1.
        let multiplier = self.multiplier.max(1.0);
        if multiplier.fract() == 0.0 && multiplier <= f64::from(u32::MAX) {
            let factor = u128::from(multiplier as u32);
            return factor
                .checked_pow(retry)
                .and_then(|f| self.initial.as_nanos().checked_mul(f))
                .filter(|nanos| *nanos < cap.as_nanos())
                .and_then(|nanos| {
                    let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
                    let subsec = u32::try_from(nanos % NANOS_PER_SEC).ok()?;
                    Some(Duration::new(secs, subsec))
                })
                .unwrap_or(cap);
        }
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * multiplier.powi(exponent);
        Duration::try_from_secs_f64(secs).unwrap_or(cap).min(cap)
    }

    /// The wait before retry number `retry + 1`, spread by ±`jitter` using
    /// `random` (which is not drawn from when there is no jitter).
    pub fn backoff(&self, retry: u32, random: &mut dyn JitterSource) -> Duration {
        let base = self.base(retry);
        if self.jitter <= 0.0 || self.jitter.is_nan() {
            return base;
        }
        let spread = 1.0 - self.jitter + 2.0 * self.jitter * random.next_unit();
        Duration::try_from_secs_f64((base.as_secs_f64() * spread).max(0.0)).unwrap_or(base)
    }

    /// Whether another attempt may follow `failures` failed ones.
    pub fn allows_retry(&self, failures: u32) -> bool {
        self.max_attempts.is_none_or(|max| failures < max)
    }

    /// Spring's `nextBackOff`, counted in failures: the wait after
    /// `failures` failed attempts (1 after the first), jittered with
    /// `random`, or `None` once `max_attempts` attempts are spent.
    pub fn delay_after(&self, failures: u32, random: &mut dyn JitterSource) -> Option<Duration> {
        self.allows_retry(failures)
            .then(|| self.backoff(failures.saturating_sub(1), random))
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
        let b = ExponentialBackOff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mid = &mut Fixed(0.5);
        let got: Vec<u128> = (0..6).map(|n| b.backoff(n, mid).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.base(1000), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_spreads_twenty_percent_each_way() {
        let b = ExponentialBackOff::new(Duration::from_millis(100), Duration::from_millis(1000));
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
    fn bounded_counts_attempts_without_jitter() {
        let b = ExponentialBackOff::bounded(
            Duration::from_millis(10),
            2.0,
            Duration::from_millis(30),
            4,
        );
        let never = &mut Fixed(0.0);
        let got: Vec<Option<Duration>> = (1..=4).map(|f| b.delay_after(f, never)).collect();
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(got, vec![ms(10), ms(20), ms(30), None]);
        assert!(
            !ExponentialBackOff::bounded(Duration::ZERO, 2.0, Duration::ZERO, 0).allows_retry(1)
        );
        // Kept as given: a cap below the first wait caps it.
        let low = ExponentialBackOff::bounded(
            Duration::from_millis(50),
            2.0,
            Duration::from_millis(20),
            3,
        );
        assert_eq!(low.base(0), Duration::from_millis(20));
        // The clients' schedule has no attempt limit.
        assert!(
            ExponentialBackOff::new(Duration::from_millis(1), Duration::from_millis(2))
                .allows_retry(u32::MAX)
        );
    }

    #[test]
    fn fractional_multipliers_and_overflow_are_capped() {
        let b = ExponentialBackOff::bounded(
            Duration::from_millis(100),
            1.5,
            Duration::from_secs(1),
            10,
        );
        let got: Vec<u128> = (0..7).map(|n| b.base(n).as_millis()).collect();
        assert_eq!(got, vec![100, 150, 225, 337, 506, 759, 1000]);
        assert_eq!(b.base(u32::MAX), Duration::from_secs(1));
        let huge = ExponentialBackOff::bounded(Duration::MAX, 3.0, Duration::MAX, 10);
        assert_eq!(huge.base(5), Duration::MAX);
        assert_eq!(
            ExponentialBackOff::bounded(Duration::ZERO, 2.0, Duration::MAX, 10).base(5000),
            Duration::ZERO
        );
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
