//! What happens to a record whose listener failed: the
//! [`DefaultErrorHandler`] retries it in place after a [`BackOff`]
//! ([`FixedBackOff`], or [`ExponentialBackOff`], the client core's one
//! exponential schedule, made with [`ExponentialBackOff::bounded`] for
//! Spring's semantics) and, once the attempts are spent or the error is not
//! retryable, hands it to a [`Recoverer`] ([`LoggingRecoverer`] by default).
//!
//! Follows Spring Kafka's `DefaultErrorHandler`: by default 10 attempts in
//! all with no delay (`FixedBackOff(0, 9)` there, which counts retries; here
//! [`FixedBackOff::new`] counts attempts, the first included), and
//! deserialization failures are not retried. Retries run on the consumer's
//! task between polls; heartbeats go on meanwhile, but the whole back-off
//! of a record must stay within `max.poll.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

pub use ferrokafka_client::backoff::ExponentialBackOff;
use ferrokafka_client::backoff::XorShift;
use ferrokafka_consumer::{ConsumerRecord, Error};

use crate::ListenerError;
use crate::handler::BoxFuture;

/// How long to wait before retrying a failed record, and when to stop.
pub trait BackOff: Send + Sync + std::fmt::Debug + 'static {
    /// The wait before the next attempt after `failures` failed attempts
    /// (1 after the first failure), or `None` to stop retrying.
    fn next_delay(&self, failures: u32) -> Option<Duration>;
}

/// The same wait between attempts, up to a number of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedBackOff {
    /// The wait between attempts.
    pub interval: Duration,
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
}

impl FixedBackOff {
    /// `max_attempts` attempts in all (the first included; 0 counts as 1),
    /// `interval` apart.
    pub fn new(interval: Duration, max_attempts: u32) -> Self {
        FixedBackOff {
            interval,
            max_attempts: max_attempts.max(1),
        }
    }
}

impl Default for FixedBackOff {
    /// Spring's default: 10 attempts, no wait.
    fn default() -> Self {
        FixedBackOff::new(Duration::ZERO, 10)
    }
}

impl BackOff for FixedBackOff {
    fn next_delay(&self, failures: u32) -> Option<Duration> {
        (failures < self.max_attempts).then_some(self.interval)
    }
}

/// A wait that grows by a factor after each failure, capped, up to a
/// number of attempts: [`ExponentialBackOff::bounded`] (no jitter, Spring's
/// waits exactly). A schedule with jitter (such as the clients'
/// [`ExponentialBackOff::new`]) is spread with a fresh random source per
/// wait; one without an attempt limit retries until the container stops.
impl BackOff for ExponentialBackOff {
    fn next_delay(&self, failures: u32) -> Option<Duration> {
        // Not drawn from when there is no jitter.
        self.delay_after(failures, &mut XorShift::from_entropy())
    }
}

/// Takes a record that failed for good: publishes it elsewhere, logs it,
/// stores it... If it fails itself, the container seeks back to the record
/// and tries it again later (it is never skipped).
pub trait Recoverer: Send + Sync + 'static {
    /// Recovers `record`, which failed with `error`.
    fn recover<'a>(
        &'a self,
        record: &'a ConsumerRecord,
        error: &'a ListenerError,
    ) -> BoxFuture<'a, Result<(), ListenerError>>;
}

impl<R: Recoverer + ?Sized> Recoverer for Arc<R> {
    fn recover<'a>(
        &'a self,
        record: &'a ConsumerRecord,
        error: &'a ListenerError,
    ) -> BoxFuture<'a, Result<(), ListenerError>> {
        (**self).recover(record, error)
    }
}

/// Logs the failed record (at error level) and moves on: Spring's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingRecoverer;

impl Recoverer for LoggingRecoverer {
    fn recover<'a>(
        &'a self,
        record: &'a ConsumerRecord,
        error: &'a ListenerError,
    ) -> BoxFuture<'a, Result<(), ListenerError>> {
        tracing::error!(
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            %error,
            "record failed after retries; skipping it"
        );
        Box::pin(std::future::ready(Ok(())))
    }
}

type Classifier = Arc<dyn Fn(&ListenerError) -> bool + Send + Sync>;

/// Retries failed records after a back-off, then recovers them.
#[derive(Clone)]
pub struct DefaultErrorHandler {
    back_off: Arc<dyn BackOff>,
    recoverer: Arc<dyn Recoverer>,
    not_retryable: Vec<Classifier>,
}

impl std::fmt::Debug for DefaultErrorHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultErrorHandler")
            .field("back_off", &self.back_off)
            .field("not_retryable", &self.not_retryable.len())
            .finish_non_exhaustive()
    }
}

impl Default for DefaultErrorHandler {
    /// 10 attempts, no wait, then [`LoggingRecoverer`] (Spring's default).
    fn default() -> Self {
        DefaultErrorHandler::new(FixedBackOff::default())
    }
}

impl DefaultErrorHandler {
    /// Retries with `back_off`, then logs the record ([`LoggingRecoverer`]).
    pub fn new(back_off: impl BackOff) -> Self {
        DefaultErrorHandler {
            back_off: Arc::new(back_off),
            recoverer: Arc::new(LoggingRecoverer),
            not_retryable: Vec::new(),
        }
    }

    /// Hands records that failed for good to `recoverer`.
    #[must_use]
    pub fn with_recoverer(mut self, recoverer: impl Recoverer) -> Self {
        self.recoverer = Arc::new(recoverer);
        self
    }

    /// Errors for which `is_fatal` is true go to the recoverer at once,
    /// without retries (Spring's `addNotRetryableExceptions`).
    /// Deserialization failures ([`Error::Deserialization`]) always do.
    #[must_use]
    pub fn add_not_retryable(
        mut self,
        is_fatal: impl Fn(&ListenerError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.not_retryable.push(Arc::new(is_fatal));
        self
    }

    /// Whether `error` may be retried.
    pub fn is_retryable(&self, error: &ListenerError) -> bool {
        if matches!(
            error.downcast_ref::<Error>(),
            Some(Error::Deserialization(_))
        ) {
            return false;
        }
        !self.not_retryable.iter().any(|fatal| fatal(error))
    }

    /// The wait before the next attempt after `failures` failures of a
    /// record that failed with `error`; `None` once it should be recovered.
    pub fn next_delay(&self, error: &ListenerError, failures: u32) -> Option<Duration> {
        if self.is_retryable(error) {
            self.back_off.next_delay(failures)
        } else {
            None
        }
    }

    /// The recoverer.
    pub fn recoverer(&self) -> &dyn Recoverer {
        &*self.recoverer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn back_offs_count_attempts() {
        let fixed = FixedBackOff::new(Duration::from_millis(5), 3);
        assert_eq!(fixed.next_delay(1), Some(Duration::from_millis(5)));
        assert_eq!(fixed.next_delay(2), Some(Duration::from_millis(5)));
        assert_eq!(fixed.next_delay(3), None);
        assert_eq!(FixedBackOff::new(Duration::ZERO, 0).next_delay(1), None);
        assert_eq!(FixedBackOff::default().next_delay(9), Some(Duration::ZERO));
        assert_eq!(FixedBackOff::default().next_delay(10), None);
        let exp = ExponentialBackOff::bounded(
            Duration::from_millis(10),
            2.0,
            Duration::from_millis(30),
            4,
        );
        assert_eq!(exp.next_delay(1), Some(Duration::from_millis(10)));
        assert_eq!(exp.next_delay(2), Some(Duration::from_millis(20)));
        assert_eq!(exp.next_delay(3), Some(Duration::from_millis(30)));
        assert_eq!(exp.next_delay(4), None);
    }

    #[test]
    fn deserialization_and_classified_errors_are_not_retried() {
        let handler =
            DefaultErrorHandler::default().add_not_retryable(|e| e.to_string().contains("fatal"));
        let de: ListenerError = Error::Deserialization("bad".into()).into();
        assert_eq!(handler.next_delay(&de, 1), None);
        let fatal: ListenerError = "fatal thing".into();
        assert_eq!(handler.next_delay(&fatal, 1), None);
        let other: ListenerError = "transient".into();
        assert_eq!(handler.next_delay(&other, 1), Some(Duration::ZERO));
    }
}
