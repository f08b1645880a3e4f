//! Deserializers: turn a record's key or value bytes into a typed value
//! ([`BytesDeserializer`], [`StringDeserializer`], [`JsonDeserializer`]),
//! and [`TypedRecord`], a record with both deserialized.

use std::marker::PhantomData;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, RecordHeader, TimestampType};

/// Turns the bytes of a key or value (`None` = null) into a `T`.
pub trait Deserializer<T>: Send + Sync {
    /// Deserializes `data` of `topic`.
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<T>;
}

/// Hands out the bytes as they are (a cheap clone of the fetched buffer).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesDeserializer;

impl Deserializer<Option<Bytes>> for BytesDeserializer {
    fn deserialize(&self, _topic: &str, data: Option<&Bytes>) -> Result<Option<Bytes>> {
        Ok(data.cloned())
    }
}

/// UTF-8 text; null stays `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringDeserializer;

impl Deserializer<Option<String>> for StringDeserializer {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<Option<String>> {
        data.map(|b| {
            String::from_utf8(b.to_vec())
                .map_err(|e| Error::Deserialization(format!("{topic}: not UTF-8: {e}")))
        })
        .transpose()
    }
}

/// JSON via serde; null stays `None`.
#[derive(Debug, Clone, Copy)]
pub struct JsonDeserializer<T>(PhantomData<fn() -> T>);

impl<T> Default for JsonDeserializer<T> {
    fn default() -> Self {
        JsonDeserializer(PhantomData)
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<Option<T>> for JsonDeserializer<T> {
    fn deserialize(&self, topic: &str, data: Option<&Bytes>) -> Result<Option<T>> {
        data.map(|b| {
            serde_json::from_slice(b)
                .map_err(|e| Error::Deserialization(format!("{topic}: invalid JSON: {e}")))
        })
        .transpose()
    }
}

/// A record with its key and value deserialized.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedRecord<K, V> {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The timestamp.
    pub timestamp: i64,
    /// The timestamp's type.
    pub timestamp_type: TimestampType,
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// The headers.
    pub headers: Vec<RecordHeader>,
}

impl<K, V> TypedRecord<K, V> {
    /// Deserializes `record`'s key and value.
    pub fn from_record(
        record: ConsumerRecord,
        keys: &dyn Deserializer<K>,
        values: &dyn Deserializer<V>,
    ) -> Result<Self> {
        Ok(TypedRecord {
            key: keys.deserialize(&record.topic, record.key.as_ref())?,
            value: values.deserialize(&record.topic, record.value.as_ref())?,
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
            timestamp_type: record.timestamp_type,
            headers: record.headers,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Order {
        id: u32,
    }

    #[test]
    fn deserializers_keep_null_and_report_bad_input() {
        let b = Bytes::from_static(b"{\"id\":7}");
        assert_eq!(
            JsonDeserializer::<Order>::default()
                .deserialize("t", Some(&b))
                .unwrap(),
            Some(Order { id: 7 })
        );
        assert_eq!(
            JsonDeserializer::<Order>::default()
                .deserialize("t", None)
                .unwrap(),
            None
        );
        assert!(
            JsonDeserializer::<Order>::default()
                .deserialize("t", Some(&Bytes::from_static(b"x")))
                .is_err()
        );
        assert_eq!(
            StringDeserializer
                .deserialize("t", Some(&Bytes::from_static(b"hi")))
                .unwrap(),
            Some("hi".to_string())
        );
        assert!(
            StringDeserializer
                .deserialize("t", Some(&Bytes::from_static(&[0xff])))
                .is_err()
        );
        assert_eq!(BytesDeserializer.deserialize("t", None).unwrap(), None);
    }
}
