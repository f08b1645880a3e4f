//! Arbitrary bytes fed to every decoder: each must return a value or an
//! error, never panic, and never allocate beyond what its input could hold
//! (a panic or an abort fails the test run).

#![allow(clippy::indexing_slicing)]

use bytes::Bytes;
use ferrokafka_protocol::generated::{RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use ferrokafka_protocol::{ApiKey, Decode, frame, header};
use proptest::prelude::*;

/// Every (API, version) pair the specs define.
fn api_versions() -> Vec<(ApiKey, i16)> {
    ApiKey::ALL
        .iter()
        .flat_map(|&api| {
            let v = api.valid_versions();
            (v.min..=v.max).map(move |version| (api, version))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_request_and_response_decoder_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for (api, version) in api_versions() {
            let _ = RequestKind::decode(api, &mut Bytes::from(bytes.clone()), version);
            let _ = ResponseKind::decode(api, &mut Bytes::from(bytes.clone()), version);
        }
        for version in 0..=2 {
            let _ = RequestHeader::decode(&mut Bytes::from(bytes.clone()), version);
        }
        for version in 0..=1 {
            let _ = ResponseHeader::decode(&mut Bytes::from(bytes.clone()), version);
        }
        let _ = header::decode_request(Bytes::from(bytes.clone()));
        let _ = frame::check_frame(&bytes, 1 << 20);
    }

    /// Valid messages with corrupted bytes: deeper paths than random noise reaches.
    #[test]
    fn corrupted_valid_messages_decode_or_fail_cleanly(index in 0usize..2000, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4), cut in any::<usize>()) {
        let pairs = api_versions();
        let (api, version) = pairs[index % pairs.len()];
        for encoded in [encode_request(api, version), encode_response(api, version)] {
            let mut bytes = encoded;
            for (at, value) in &flips {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = *value;
                }
            }
            let truncated = bytes[..cut % (bytes.len() + 1)].to_vec();
            let _ = RequestKind::decode(api, &mut Bytes::from(bytes.clone()), version);
            let _ = ResponseKind::decode(api, &mut Bytes::from(bytes.clone()), version);
            let _ = RequestKind::decode(api, &mut Bytes::from(truncated.clone()), version);
            let _ = ResponseKind::decode(api, &mut Bytes::from(truncated), version);
        }
    }
}

fn encode_request(api: ApiKey, version: i16) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    RequestKind::sample(api, version)
        .encode(&mut buf, version)
        .unwrap_or_default();
    buf.to_vec()
}

fn encode_response(api: ApiKey, version: i16) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    ResponseKind::sample(api, version)
        .encode(&mut buf, version)
        .unwrap_or_default();
    buf.to_vec()
}

#[test]
fn a_truncated_message_names_the_field_it_stopped_in() {
    let mut buf = bytes::BytesMut::new();
    RequestKind::sample(ApiKey::Produce, 9)
        .encode(&mut buf, 9)
        .unwrap_or_default();
    let cut = Bytes::copy_from_slice(&buf[..buf.len() - 3]);
    let error = RequestKind::decode(ApiKey::Produce, &mut cut.clone(), 9).err();
    let message = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("ProduceRequest"),
        "error should name the field: {message}"
    );
}
