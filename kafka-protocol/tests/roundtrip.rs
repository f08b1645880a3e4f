//! Round trips of every message at every version: each API's request and
//! response, the headers and the embedded data structures, filled with
//! non-default values in every field the version carries (the generated
//! `sample`), must decode to exactly what was encoded, consume exactly the
//! bytes written, and re-encode to the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::generated::*;
use ferrokafka_protocol::{ApiKey, Decode, Encode, Message, ProtocolError};

fn round_trip<M: Message>(value: &M, version: i16) {
    let mut buf = BytesMut::new();
    value
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{} v{version} encode: {e}", M::NAME));
    let bytes = buf.freeze();
    let mut input = bytes.clone();
    let decoded = M::decode(&mut input, version)
        .unwrap_or_else(|e| panic!("{} v{version} decode: {e}", M::NAME));
    assert!(
        input.is_empty(),
        "{} v{version}: {} bytes left over",
        M::NAME,
        input.len()
    );
    assert_eq!(&decoded, value, "{} v{version}", M::NAME);
    let mut again = BytesMut::new();
    decoded.encode(&mut again, version).unwrap();
    assert_eq!(again.freeze(), bytes, "{} v{version} re-encoding", M::NAME);
}

#[test]
fn every_request_and_response_at_every_version() {
    let mut checked = 0;
    for &api in ApiKey::ALL {
        let versions = api.valid_versions();
        for version in versions.min..=versions.max {
            for (_kind, _bytes) in [
                ("request", {
                    let request = RequestKind::sample(api, version);
                    assert_eq!(request.api_key(), api);
                    let mut buf = BytesMut::new();
                    request.encode(&mut buf, version).unwrap();
                    let mut input = buf.clone().freeze();
                    let decoded = RequestKind::decode(api, &mut input, version).unwrap();
                    assert!(
                        input.is_empty(),
                        "{api} v{version} request: bytes left over"
                    );
                    assert_eq!(decoded, request, "{api} v{version} request");
                    buf.freeze()
                }),
                ("response", {
                    let response = ResponseKind::sample(api, version);
                    assert_eq!(response.api_key(), api);
                    let mut buf = BytesMut::new();
                    response.encode(&mut buf, version).unwrap();
                    let mut input = buf.clone().freeze();
                    let decoded = ResponseKind::decode(api, &mut input, version).unwrap();
                    assert!(
                        input.is_empty(),
                        "{api} v{version} response: bytes left over"
                    );
                    assert_eq!(decoded, response, "{api} v{version} response");
                    buf.freeze()
                }),
            ] {
                checked += 1;
            }
        }
    }
    assert!(checked > 600, "only {checked} message versions checked");
}

#[test]
fn every_request_and_response_type_round_trips_through_its_own_codec() {
    macro_rules! check {
        ($($ty:ty),* $(,)?) => {$(
            for version in <$ty>::VERSIONS.min..=<$ty>::VERSIONS.max {
                round_trip(&<$ty>::sample(version), version);
                round_trip(&<$ty>::default(), version);
            }
        )*};
    }
    check!(
        RequestHeader,
        ResponseHeader,
        ConsumerProtocolSubscription,
        ConsumerProtocolAssignment,
        DefaultPrincipalData,
        LeaderChangeMessage,
        SnapshotHeaderRecord,
        SnapshotFooterRecord,
        ProduceRequest,
        FetchResponse,
        MetadataResponse,
    );
}

#[test]
fn versions_outside_the_spec_are_rejected() {
    let mut buf = BytesMut::new();
    assert_eq!(
        ProduceRequest::default().encode(&mut buf, 12),
        Err(ProtocolError::UnsupportedVersion {
            message: "ProduceRequest",
            version: 12
        })
    );
    assert_eq!(
        ProduceRequest::decode(&mut Bytes::new(), -1),
        Err(ProtocolError::UnsupportedVersion {
            message: "ProduceRequest",
            version: -1
        })
    );
}

#[test]
fn a_non_default_field_the_version_cannot_carry_is_an_error() {
    // TransactionalId arrived in Produce v3 and is not ignorable.
    let request = ProduceRequest {
        transactional_id: Some("tx".into()),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    assert_eq!(
        request.encode(&mut buf, 2),
        Err(ProtocolError::FieldNotSupported {
            field: "ProduceRequest.TransactionalId",
            version: 2
        })
    );
    assert!(request.encode(&mut BytesMut::new(), 3).is_ok());
}

#[test]
fn an_ignorable_field_is_dropped_by_older_versions() {
    // Fetch's IsolationLevel (v4+) is ignorable: v3 drops it.
    let request = FetchRequest {
        isolation_level: 1,
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    request.encode(&mut buf, 3).unwrap();
    let decoded = FetchRequest::decode(&mut buf.freeze(), 3).unwrap();
    assert_eq!(
        decoded.isolation_level, 0,
        "v3 cannot carry it, so the default comes back"
    );
    // Metadata's AllowAutoTopicCreation (v4+) is not ignorable: v3 refuses it.
    let request = MetadataRequest {
        allow_auto_topic_creation: false,
        topics: Some(vec![]),
        ..Default::default()
    };
    assert!(matches!(
        request.encode(&mut BytesMut::new(), 3),
        Err(ProtocolError::FieldNotSupported {
            field: "MetadataRequest.AllowAutoTopicCreation",
            version: 3
        })
    ));
}

#[test]
fn null_where_the_version_forbids_it_is_an_error() {
    // Metadata's Topics array became nullable in v1; v0 cannot say "all topics".
    let request = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    assert_eq!(
        request.encode(&mut BytesMut::new(), 0),
        Err(ProtocolError::NullNotAllowed {
            field: "MetadataRequest.Topics",
            version: 0
        })
    );
}

#[test]
fn unknown_tagged_fields_survive_a_round_trip() {
    let mut request = ApiVersionsRequest::sample(3);
    request
        .unknown_tagged_fields
        .insert(7, Bytes::from_static(b"future"));
    request
        .unknown_tagged_fields
        .insert(900, Bytes::from_static(b""));
    round_trip(&request, 3);
    // A version without tagged fields cannot carry them.
    assert!(matches!(
        request.encode(&mut BytesMut::new(), 2),
        Err(ProtocolError::FieldNotSupported { .. })
    ));
}

#[test]
fn known_tagged_fields_are_written_only_when_not_default() {
    // FetchRequest.ClusterId is tagged field 0 in v12+.
    let mut plain = BytesMut::new();
    FetchRequest::default().encode(&mut plain, 12).unwrap();
    let tagged = FetchRequest {
        cluster_id: Some("c".into()),
        ..Default::default()
    };
    let mut with_tag = BytesMut::new();
    tagged.encode(&mut with_tag, 12).unwrap();
    assert!(with_tag.len() > plain.len());
    let decoded = FetchRequest::decode(&mut with_tag.freeze(), 12).unwrap();
    assert_eq!(decoded.cluster_id.as_deref(), Some("c"));
    assert!(decoded.unknown_tagged_fields.is_empty());
}

#[test]
fn the_request_header_client_id_stays_a_classic_string_in_v2() {
    let header = RequestHeader {
        request_api_key: 18,
        request_api_version: 3,
        correlation_id: 1,
        client_id: Some("ab".into()),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    header.encode(&mut buf, 2).unwrap();
    // key, version, correlation id, i16 length 2, "ab", no tagged fields.
    assert_eq!(&buf[..], &[0, 18, 0, 3, 0, 0, 0, 1, 0, 2, b'a', b'b', 0]);
}
