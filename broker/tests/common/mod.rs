//! A tiny Kafka client for the broker's integration tests: frames plus the
//! protocol crate's generated messages over a plain TCP stream. The real
//! client crate depends on nothing here, and nothing here on it.

#![allow(dead_code, unreachable_pub)]
// A test client: failing loudly on a bad answer is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::{Buf, Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::frame;
use ferrokafka_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::generated::{
    FetchRequest, FetchResponse, MetadataRequest, ProduceRequest, ProduceResponse,
};
use ferrokafka_protocol::header::{decode_response, encode_request};
use ferrokafka_protocol::records::RecordBatchBuilder;
use ferrokafka_protocol::{ErrorCode, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One connection to one node.
pub struct TestClient {
    pub stream: TcpStream,
    next_correlation_id: i32,
}

impl TestClient {
    pub async fn connect(address: impl tokio::net::ToSocketAddrs) -> Self {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Encodes a request frame; returns it and its correlation id.
    pub fn frame<R: Request>(&mut self, version: i16, request: &R) -> (BytesMut, i32) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut out = BytesMut::new();
        frame::write_frame(&mut out, |buf| {
            encode_request(buf, version, correlation_id, Some("broker-tests"), request)
        })
        .expect("encode request");
        (out, correlation_id)
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response frame's payload; `None` if the broker closed.
    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).await.ok()?;
        let mut payload = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut payload).await.ok()?;
        Some(Bytes::from(payload))
    }

    /// Reads the response to a request of type `R` sent at `version`.
    pub async fn receive<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let payload = self
            .read_frame()
            .await
            .expect("broker closed the connection");
        let (header, response) = decode_response::<R>(payload, version).expect("decode response");
        assert_eq!(
            header.correlation_id, correlation_id,
            "responses out of order"
        );
        response
    }

    /// Sends a request and waits for its response.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let (bytes, correlation_id) = self.frame(version, request);
        self.write(&bytes).await;
        self.receive::<R>(version, correlation_id).await
    }

    /// Whether the broker has closed the connection (reads EOF).
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte).await, Ok(0) | Err(_))
    }
}

/// A batch of records with values `values` (keys `k0`, `k1`...).
pub fn batch(values: &[&str]) -> Bytes {
    batch_with(values, None, now_ms())
}

/// Now, in milliseconds since the epoch: record timestamps must be recent,
/// or the default 7-day retention deletes them.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A batch with optional (producer id, epoch, base sequence) and timestamp.
pub fn batch_with(values: &[&str], producer: Option<(i64, i16, i32)>, timestamp: i64) -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    if let Some((id, epoch, sequence)) = producer {
        builder.set_producer_state(id, epoch, sequence);
    }
    for (index, value) in values.iter().enumerate() {
        let key = format!("k{index}");
        builder
            .append(timestamp, Some(key.as_bytes()), Some(value.as_bytes()), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub const PRODUCE_VERSION: i16 = 9;
pub const FETCH_VERSION: i16 = 12;

/// Produces `records` with acks=-1; returns (error, base offset).
pub async fn produce(
    client: &mut TestClient,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (ErrorCode, i64) {
    let response: ProduceResponse = client
        .send(
            PRODUCE_VERSION,
            &produce_request(topic, partition, records, -1),
        )
        .await;
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        max_bytes: 50 * 1024 * 1024,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 1024 * 1024,
                current_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Fetches without waiting; returns (error, high watermark, records).
pub async fn fetch(
    client: &mut TestClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> (ErrorCode, i64, Bytes) {
    let response: FetchResponse = client
        .send(
            FETCH_VERSION,
            &fetch_request(topic, partition, offset, 0, 0),
        )
        .await;
    let data = &response.responses[0].partitions[0];
    (
        data.error_code,
        data.high_watermark,
        data.records.clone().unwrap_or_default(),
    )
}

pub fn metadata_for(topics: &[&str]) -> MetadataRequest {
    MetadataRequest {
        topics: Some(
            topics
                .iter()
                .map(|name| {
                    ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic {
                        name: Some((*name).into()),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        allow_auto_topic_creation: true,
        ..Default::default()
    }
}

/// The base offsets of the batches in `records`.
pub fn base_offsets(records: &Bytes) -> Vec<i64> {
    ferrokafka_protocol::records::RecordBatchViews::new(records.clone())
        .map(|view| view.unwrap().header().base_offset)
        .collect()
}

/// Bytes of a batch from byte 12 on (everything the broker must not change
/// except the leader epoch at 12..16).
pub fn after_epoch(batch: &Bytes) -> Bytes {
    let mut rest = batch.clone();
    rest.advance(16);
    rest
}
