//! The listener side of a container: the object-safe [`MessageListener`]
//! trait, the [`Acknowledgment`] handed to it, and adapters that turn async
//! closures into listeners: raw records ([`listener_fn`],
//! [`listener_fn_with_ack`]) or typed ones ([`typed_listener`],
//! [`json_listener`]).
//!
//! Typed listeners deserialize before calling the closure; a record that
//! does not deserialize fails with [`Error::Deserialization`], which the
//! [`DefaultErrorHandler`](crate::DefaultErrorHandler) does not retry
//! (Spring treats deserialization exceptions as fatal): it goes straight to
//! the recoverer, and the closure never sees it.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use ferrokafka_consumer::{
    ConsumerRecord, Deserializer, Error, JsonDeserializer, Result, StringDeserializer, TypedRecord,
};

use crate::ListenerError;

/// A boxed, sendable future, as object-safe async traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Marks a record as processed under [`AckMode::Manual`](crate::AckMode):
/// only acknowledged records are committed.
///
/// Clones share one flag. Acknowledge before the listener's future
/// completes: the container reads the flag when it does. Under the other
/// ack modes the container commits by itself and the flag is ignored.
#[derive(Debug, Clone, Default)]
pub struct Acknowledgment {
    acked: Arc<AtomicBool>,
}

impl Acknowledgment {
    /// A fresh, unacknowledged acknowledgment (for tests of listeners).
    pub fn new() -> Self {
        Acknowledgment::default()
    }

    /// Marks the record committable.
    pub fn acknowledge(&self) {
        self.acked.store(true, Ordering::Release);
    }

    /// Whether [`Acknowledgment::acknowledge`] was called.
    pub fn is_acknowledged(&self) -> bool {
        self.acked.load(Ordering::Acquire)
    }
}

/// Processes the records of a [`ListenerContainer`](crate::ListenerContainer).
///
/// Called with one record at a time per partition, in offset order. An
/// `Err` goes to the container's error handler (retry, then recover). The
/// returned future must not borrow the listener: it is run on its own task
/// so that a panicking listener fails the record instead of the consumer.
pub trait MessageListener: Send + Sync + 'static {
    /// Processes `record`; under [`AckMode::Manual`](crate::AckMode),
    /// `ack.acknowledge()` makes it committable.
    fn on_message(
        &self,
        record: ConsumerRecord,
        ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>>;
}

impl<L: MessageListener + ?Sized> MessageListener for Arc<L> {
    fn on_message(
        &self,
        record: ConsumerRecord,
        ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>> {
        (**self).on_message(record, ack)
    }
}

impl<L: MessageListener + ?Sized> MessageListener for Box<L> {
    fn on_message(
        &self,
        record: ConsumerRecord,
        ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>> {
        (**self).on_message(record, ack)
    }
}

/// A listener from an async closure over raw records; see [`listener_fn`].
pub struct FnListener<F>(F);

impl<F> std::fmt::Debug for FnListener<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnListener")
    }
}

impl<F, Fut> MessageListener for FnListener<F>
where
    F: Fn(ConsumerRecord) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    fn on_message(
        &self,
        record: ConsumerRecord,
        _ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>> {
        Box::pin((self.0)(record))
    }
}

/// A listener calling `f` with each raw record.
pub fn listener_fn<F, Fut>(f: F) -> FnListener<F>
where
    F: Fn(ConsumerRecord) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    FnListener(f)
}

/// A listener from an async closure over raw records and their
/// [`Acknowledgment`]; see [`listener_fn_with_ack`].
pub struct AckFnListener<F>(F);

impl<F> std::fmt::Debug for AckFnListener<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AckFnListener")
    }
}

impl<F, Fut> MessageListener for AckFnListener<F>
where
    F: Fn(ConsumerRecord, Acknowledgment) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    fn on_message(
        &self,
        record: ConsumerRecord,
        ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>> {
        Box::pin((self.0)(record, ack))
    }
}

/// A listener calling `f` with each raw record and its acknowledgment, for
/// [`AckMode::Manual`](crate::AckMode).
pub fn listener_fn_with_ack<F, Fut>(f: F) -> AckFnListener<F>
where
    F: Fn(ConsumerRecord, Acknowledgment) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    AckFnListener(f)
}

/// A listener that deserializes keys and values before calling its
/// closure; see [`typed_listener`].
pub struct TypedListener<K, V, KD, VD, F> {
    keys: KD,
    values: VD,
    f: F,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V, KD, VD, F> std::fmt::Debug for TypedListener<K, V, KD, VD, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypedListener")
    }
}

impl<K, V, KD, VD, F, Fut> MessageListener for TypedListener<K, V, KD, VD, F>
where
    K: 'static,
    V: 'static,
    KD: Deserializer<K> + 'static,
    VD: Deserializer<V> + 'static,
    F: Fn(TypedRecord<K, V>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    fn on_message(
        &self,
        record: ConsumerRecord,
        _ack: Acknowledgment,
    ) -> BoxFuture<'static, Result<(), ListenerError>> {
        match TypedRecord::from_record(record, &self.keys, &self.values) {
            Ok(typed) => Box::pin((self.f)(typed)),
            Err(error) => Box::pin(std::future::ready(Err(ListenerError::from(error)))),
        }
    }
}

/// A listener calling `f` with records whose key and value went through
/// `keys` and `values`. Records that fail to deserialize never reach `f`.
pub fn typed_listener<K, V, KD, VD, F, Fut>(
    keys: KD,
    values: VD,
    f: F,
) -> TypedListener<K, V, KD, VD, F>
where
    KD: Deserializer<K>,
    VD: Deserializer<V>,
    F: Fn(TypedRecord<K, V>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    TypedListener {
        keys,
        values,
        f,
        _types: PhantomData,
    }
}

/// Deserializes a value that must be present: a null value (a tombstone) is
/// a deserialization failure. [`json_listener`] uses it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonNull<D>(pub D);

impl<T, D: Deserializer<Option<T>>> Deserializer<T> for NonNull<D> {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<T> {
        self.0
            .deserialize(topic, data)?
            .ok_or_else(|| Error::Deserialization(format!("{topic}: null value")))
    }
}

/// A listener for JSON values: keys as UTF-8 text (`Option<String>`), values
/// decoded from JSON into `T`. A null value or one that does not decode is a
/// deserialization failure (not retried, straight to the recoverer).
pub fn json_listener<T, F, Fut>(
    f: F,
) -> TypedListener<Option<String>, T, StringDeserializer, NonNull<JsonDeserializer<T>>, F>
where
    T: serde::de::DeserializeOwned + 'static,
    F: Fn(TypedRecord<Option<String>, T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ListenerError>> + Send + 'static,
{
    typed_listener(StringDeserializer, NonNull(JsonDeserializer::default()), f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ferrokafka_consumer::TimestampType;

    fn record(value: Option<&'static [u8]>) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: 0,
            offset: 3,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k")),
            value: value.map(Bytes::from_static),
            headers: Vec::new(),
            leader_epoch: None,
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Order {
        id: u32,
    }

    #[tokio::test]
    async fn json_listener_decodes_and_rejects_null_and_garbage() {
        let listener = json_listener(|r: TypedRecord<Option<String>, Order>| async move {
            assert_eq!(r.key.as_deref(), Some("k"));
            if r.value.id == 7 {
                Ok(())
            } else {
                Err("wrong id".into())
            }
        });
        let ok = listener.on_message(record(Some(b"{\"id\":7}")), Acknowledgment::new());
        assert!(ok.await.is_ok());
        for bad in [None, Some(&b"nope"[..])] {
            let error = listener
                .on_message(record(bad), Acknowledgment::new())
                .await
                .unwrap_err();
            assert!(matches!(
                error.downcast_ref::<Error>(),
                Some(Error::Deserialization(_))
            ));
        }
    }

    #[tokio::test]
    async fn acknowledgment_clones_share_the_flag() {
        let listener = listener_fn_with_ack(|_r, ack: Acknowledgment| async move {
            ack.acknowledge();
            Ok(())
        });
        let ack = Acknowledgment::new();
        listener
            .on_message(record(None), ack.clone())
            .await
            .unwrap();
        assert!(ack.is_acknowledged());
    }
}
