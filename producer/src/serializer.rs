//! Serializers and [`TypedProducer`], the typed face of the producer in the
//! spirit of Spring's `KafkaTemplate`: send keys and values of your own
//! types, serialized by a [`Serializer`] per side.
//!
//! The serialized key is what the partitioner hashes, so a `String` key
//! lands on the partition a Java producer with `StringSerializer` picks.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::producer::Producer;
use crate::record::{DeliveryFuture, ProducerRecord, RecordHeader, RecordMetadata};

/// Turns values into record bytes.
pub trait Serializer: Send + Sync {
    /// What it serializes.
    type Value: ?Sized;

    /// The bytes of `value`, for a record of `topic`.
    fn serialize(&self, topic: &str, value: &Self::Value) -> Result<Bytes>;
}

/// Bytes as they are (Java's `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;

impl Serializer for BytesSerializer {
    type Value = [u8];

    fn serialize(&self, _topic: &str, value: &[u8]) -> Result<Bytes> {
        Ok(Bytes::copy_from_slice(value))
    }
}

/// UTF-8 text (Java's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl Serializer for StringSerializer {
    type Value = str;

    fn serialize(&self, _topic: &str, value: &str) -> Result<Bytes> {
        Ok(Bytes::copy_from_slice(value.as_bytes()))
    }
}

/// JSON via serde (Spring's `JsonSerializer`).
pub struct JsonSerializer<T: ?Sized>(PhantomData<fn(&T)>);

impl<T: ?Sized> JsonSerializer<T> {
    /// A JSON serializer for `T`.
    pub fn new() -> Self {
        JsonSerializer(PhantomData)
    }
}

impl<T: ?Sized> Default for JsonSerializer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ?Sized> Clone for JsonSerializer<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: ?Sized> std::fmt::Debug for JsonSerializer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonSerializer")
    }
}

impl<T: serde::Serialize + ?Sized> Serializer for JsonSerializer<T> {
    type Value = T;

    fn serialize(&self, _topic: &str, value: &T) -> Result<Bytes> {
        serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| Error::Serialization(e.to_string()))
    }
}

/// A producer of typed keys and values: serializes them and sends the
/// bytes through a shared [`Producer`].
///
/// ```no_run
/// # async fn example(producer: ferrokafka_producer::Producer) -> ferrokafka_producer::Result<()> {
/// use ferrokafka_producer::{JsonSerializer, StringSerializer, TypedProducer};
///
/// #[derive(serde::Serialize)]
/// struct Order { id: u64, amount: u32 }
///
/// let orders = TypedProducer::new(producer, StringSerializer, JsonSerializer::<Order>::new());
/// let delivered = orders
///     .send("orders", Some("customer-7"), &Order { id: 1, amount: 30 })
///     .await?
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct TypedProducer<KS: Serializer, VS: Serializer> {
    producer: Producer,
    key_serializer: Arc<KS>,
    value_serializer: Arc<VS>,
}

impl<KS: Serializer, VS: Serializer> Clone for TypedProducer<KS, VS> {
    fn clone(&self) -> Self {
        TypedProducer {
            producer: self.producer.clone(),
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
        }
    }
}

impl<KS: Serializer, VS: Serializer> std::fmt::Debug for TypedProducer<KS, VS> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedProducer")
            .field("producer", &self.producer)
            .finish()
    }
}

impl<KS: Serializer, VS: Serializer> TypedProducer<KS, VS> {
    /// Wraps `producer` with a key and a value serializer.
    pub fn new(producer: Producer, key_serializer: KS, value_serializer: VS) -> Self {
        TypedProducer {
            producer,
            key_serializer: Arc::new(key_serializer),
            value_serializer: Arc::new(value_serializer),
        }
    }

    /// The underlying producer.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Serializes key and value into a record for `topic`.
    pub fn record(
        &self,
        topic: &str,
        key: Option<&KS::Value>,
        value: Option<&VS::Value>,
    ) -> Result<ProducerRecord> {
        let key = key
            .map(|k| self.key_serializer.serialize(topic, k))
            .transpose()?;
        let value = value
            .map(|v| self.value_serializer.serialize(topic, v))
            .transpose()?;
        Ok(ProducerRecord {
            topic: topic.into(),
            key,
            value,
            ..Default::default()
        })
    }

    /// Sends `value` with an optional `key` to `topic` (`KafkaTemplate.send(topic, key, data)`).
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&KS::Value>,
        value: &VS::Value,
    ) -> Result<DeliveryFuture> {
        let record = self.record(topic, key, Some(value))?;
        self.producer.send(record).await
    }

    /// Sends with everything a record can carry: an explicit partition,
    /// a timestamp and headers besides key and value (`None` is a tombstone).
    pub async fn send_with(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&KS::Value>,
        value: Option<&VS::Value>,
        headers: Vec<RecordHeader>,
        timestamp: Option<i64>,
    ) -> Result<DeliveryFuture> {
        let mut record = self.record(topic, key, value)?;
        record.partition = partition;
        record.headers = headers;
        record.timestamp = timestamp;
        self.producer.send(record).await
    }

    /// Sends and waits for the delivery.
    pub async fn send_and_wait(
        &self,
        topic: &str,
        key: Option<&KS::Value>,
        value: &VS::Value,
    ) -> Result<RecordMetadata> {
        self.send(topic, key, value).await?.await
    }

    /// [`Producer::flush`].
    pub async fn flush(&self) {
        self.producer.flush().await
    }

    /// [`Producer::close`].
    pub async fn close(&self, timeout: Duration) {
        self.producer.close(timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Order {
        id: u64,
    }

    #[test]
    fn serializers_produce_the_expected_bytes() {
        assert_eq!(
            StringSerializer.serialize("t", "héllo").unwrap(),
            "héllo".as_bytes()
        );
        assert_eq!(
            BytesSerializer.serialize("t", b"\x00\x01").unwrap(),
            &b"\x00\x01"[..]
        );
        let json = JsonSerializer::<Order>::new()
            .serialize("t", &Order { id: 7 })
            .unwrap();
        assert_eq!(json, &br#"{"id":7}"#[..]);
    }
}
