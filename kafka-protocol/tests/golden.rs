//! Golden byte vectors written out by hand from the Kafka protocol guide, so
//! the codecs are checked against the documented layout and not only against
//! themselves.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use ferrokafka_protocol::generated::{ApiVersionsRequest, MetadataResponse, RequestKind};
use ferrokafka_protocol::{ApiKey, Decode, Encode, ErrorCode, Uuid, header};

#[test]
fn api_versions_v3_request_with_header_v2() {
    #[rustfmt::skip]
    let wire: &[u8] = &[
        0x00, 0x12,                  // request_api_key: 18 (ApiVersions)
        0x00, 0x03,                  // request_api_version: 3
        0x00, 0x00, 0x00, 0x07,      // correlation_id: 7
        0x00, 0x03, b'c', b'l', b'i', // client_id: classic i16-length string "cli", even in header v2
        0x00,                        // header tagged fields: none
        0x0b, b'f', b'e', b'r', b'r', b'o', b'k', b'a', b'f', b'k', b'a', // client_software_name: compact string, length+1 = 11
        0x06, b'0', b'.', b'1', b'.', b'0', // client_software_version: compact string "0.1.0"
        0x00,                        // body tagged fields: none
    ];
    let request = ApiVersionsRequest {
        client_software_name: "ferrokafka".into(),
        client_software_version: "0.1.0".into(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    header::encode_request(&mut buf, 3, 7, Some("cli"), &request).unwrap();
    assert_eq!(&buf[..], wire);

    let (head, body) = header::decode_request(Bytes::from_static(wire)).unwrap();
    assert_eq!(head.request_api_key, ApiKey::ApiVersions.key());
    assert_eq!(head.correlation_id, 7);
    assert_eq!(head.client_id.as_deref(), Some("cli"));
    assert_eq!(body, RequestKind::ApiVersions(request));
}

#[test]
fn metadata_v12_response_with_header_v1() {
    #[rustfmt::skip]
    let wire: &[u8] = &[
        0x00, 0x00, 0x00, 0x2a,      // correlation_id: 42
        0x00,                        // header tagged fields
        0x00, 0x00, 0x00, 0x00,      // throttle_time_ms: 0
        0x02,                        // brokers: compact array, 1 element
          0x00, 0x00, 0x00, 0x01,    //   node_id: 1
          0x0a, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't', // host: "localhost"
          0x00, 0x00, 0x23, 0x84,    //   port: 9092
          0x00,                      //   rack: null (compact nullable string)
          0x00,                      //   tagged fields
        0x03, b'c', b'1',            // cluster_id: "c1"
        0x00, 0x00, 0x00, 0x01,      // controller_id: 1
        0x02,                        // topics: 1 element
          0x00, 0x00,                //   error_code: NONE
          0x02, b't',                //   name: "t"
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // topic_id (16 bytes)
          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
          0x00,                      //   is_internal: false
          0x02,                      //   partitions: 1 element
            0x00, 0x00,              //     error_code: NONE
            0x00, 0x00, 0x00, 0x00,  //     partition_index: 0
            0x00, 0x00, 0x00, 0x01,  //     leader_id: 1
            0x00, 0x00, 0x00, 0x03,  //     leader_epoch: 3
            0x02, 0x00, 0x00, 0x00, 0x01, // replica_nodes: [1]
            0x02, 0x00, 0x00, 0x00, 0x01, // isr_nodes: [1]
            0x01,                    //     offline_replicas: []
            0x00,                    //     tagged fields
          0x80, 0x00, 0x00, 0x00,    //   topic_authorized_operations: i32::MIN (not requested)
          0x00,                      //   tagged fields
        0x00,                        // body tagged fields (no cluster_authorized_operations after v10)
    ];
    let response = MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: None,
            ..Default::default()
        }],
        cluster_id: Some("c1".into()),
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            error_code: ErrorCode::None,
            name: Some("t".into()),
            topic_id: Uuid::from_u128(5),
            is_internal: false,
            partitions: vec![MetadataResponsePartition {
                error_code: ErrorCode::None,
                partition_index: 0,
                leader_id: 1,
                leader_epoch: 3,
                replica_nodes: vec![1],
                isr_nodes: vec![1],
                offline_replicas: vec![],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    header::encode_response(&mut buf, 12, 42, &response).unwrap();
    assert_eq!(&buf[..], wire);

    let (head, decoded) =
        header::decode_response::<ferrokafka_protocol::generated::MetadataRequest>(
            Bytes::from_static(wire),
            12,
        )
        .unwrap();
    assert_eq!(head.correlation_id, 42);
    assert_eq!(decoded, response);
}

#[test]
fn api_versions_responses_use_header_v0_even_when_flexible() {
    let mut buf = BytesMut::new();
    let response = ferrokafka_protocol::generated::ApiVersionsResponse::default();
    header::encode_response(&mut buf, 3, 9, &response).unwrap();
    // correlation id, then straight into the body: error code 0, no tagged-field byte in between.
    assert_eq!(&buf[..6], &[0, 0, 0, 9, 0, 0]);
    let mut body = Bytes::copy_from_slice(&buf[4..]);
    let decoded =
        ferrokafka_protocol::generated::ApiVersionsResponse::decode(&mut body, 3).unwrap();
    assert_eq!(decoded, response);
    let mut again = BytesMut::new();
    decoded.encode(&mut again, 3).unwrap();
    assert_eq!(&again[..], &buf[4..]);
}

#[test]
fn trailing_bytes_after_a_request_body_are_ignored_as_kafka_does() {
    // librdkafka 2.12's all-topics Metadata v12 request, as captured off the
    // wire: topics null, two false flags, no tagged fields, then three more
    // zero bytes that the Kafka broker ignores.
    #[rustfmt::skip]
    let wire: &[u8] = &[
        0x00, 0x03, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x03,
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let (head, body) = header::decode_request(Bytes::from_static(wire)).unwrap();
    assert_eq!(head.correlation_id, 3);
    match body {
        RequestKind::Metadata(request) => assert_eq!(request.topics, None),
        other => panic!("decoded {other:?}"),
    }
}
