//! Requests, responses, headers and frames decoded from bytes nobody
//! checked: what each decoder must answer, not only that it does not panic.
//!
//! - Every strict prefix of a valid encoding (every API, every version,
//!   request and response, header and body) fails with
//!   [`ProtocolError::Truncated`] or [`ProtocolError::LengthExceedsInput`],
//!   never `Ok` with a value made of half a message; a frame cut short is
//!   "incomplete".
//! - Any input, mutated or random, either fails with one of the decoding
//!   error kinds, naming the field it stopped in, or decodes to a value that
//!   re-encodes to a fixed point: `encode(v)` succeeds, decodes whole to a
//!   value that encodes to the same bytes, and is no longer than the bytes
//!   `v` was read from (a re-encoding only drops non-canonical forms:
//!   over-long varints, default-valued tagged fields, non-0/1 booleans).
//!
//! The allocation bound is measured in `bounded_allocation.rs`, a binary of
//! its own because it needs a counting global allocator.

#![allow(clippy::indexing_slicing, clippy::panic)]

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::generated::{RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use ferrokafka_protocol::{ApiKey, Decode, Encode, ProtocolError, frame, header};
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

/// Which side of an API a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// A decoded request or response body, re-encodable.
#[derive(Debug)]
enum Body {
    Request(RequestKind),
    Response(ResponseKind),
}

impl Body {
    fn encode(&self, version: i16) -> Result<Bytes, ProtocolError> {
        let mut buf = BytesMut::new();
        match self {
            Body::Request(r) => r.encode(&mut buf, version)?,
            Body::Response(r) => r.encode(&mut buf, version)?,
        }
        Ok(buf.freeze())
    }
}

/// Decodes `bytes` as a body of `api` at `version`: the value and how many
/// bytes it took.
fn decode(
    side: Side,
    api: ApiKey,
    version: i16,
    bytes: &[u8],
) -> Result<(Body, usize), ProtocolError> {
    let mut buf = Bytes::copy_from_slice(bytes);
    let body = match side {
        Side::Request => Body::Request(RequestKind::decode(api, &mut buf, version)?),
        Side::Response => Body::Response(ResponseKind::decode(api, &mut buf, version)?),
    };
    Ok((body, bytes.len() - buf.len()))
}

/// The sample value of a body, encoded.
fn sample(side: Side, api: ApiKey, version: i16) -> Bytes {
    let body = match side {
        Side::Request => Body::Request(RequestKind::sample(api, version)),
        Side::Response => Body::Response(ResponseKind::sample(api, version)),
    };
    body.encode(version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} {side:?} sample does not encode: {e}"))
}

/// The kinds a decoder may fail with on bad input; the rest (encoding
/// failures, record and compression errors) have no business here.
fn is_decoding_error(error: &ProtocolError) -> bool {
    let what = match error {
        ProtocolError::Truncated { what, .. }
        | ProtocolError::NegativeLength { what, .. }
        | ProtocolError::LengthExceedsInput { what, .. }
        | ProtocolError::MalformedVarint { what }
        | ProtocolError::InvalidUtf8 { what }
        | ProtocolError::NullNotAllowed { field: what, .. }
        | ProtocolError::TrailingBytes { what, .. }
        | ProtocolError::UnsupportedVersion { message: what, .. } => what,
        ProtocolError::UnknownApiKey(_) => return true,
        _ => return false,
    };
    !what.is_empty()
}

/// The kinds a strict prefix of a valid encoding must fail with: the input
/// ended, or a length says more bytes follow than remain.
fn is_truncation(error: &ProtocolError) -> bool {
    match error {
        ProtocolError::Truncated {
            what,
            needed,
            remaining,
        } => !what.is_empty() && remaining < needed,
        ProtocolError::LengthExceedsInput {
            what,
            length,
            remaining,
        } => !what.is_empty() && *length > *remaining as u64,
        _ => false,
    }
}

/// Asserts what decoding `input` may give: a decoding error, or a value
/// whose encoding is a fixed point no longer than what it was read from.
fn assert_fails_cleanly_or_reencodes(side: Side, api: ApiKey, version: i16, input: &[u8]) {
    let context = || format!("{api:?} v{version} {side:?} from {input:02x?}");
    match decode(side, api, version, input) {
        Err(error) => assert!(is_decoding_error(&error), "{}: {error:?}", context()),
        Ok((value, consumed)) => {
            let first = value.encode(version).unwrap_or_else(|e| {
                panic!("{}: decoded {value:?} does not re-encode: {e}", context())
            });
            assert!(
                first.len() <= consumed,
                "{}: re-encoding {} bytes read from {consumed}",
                context(),
                first.len()
            );
            let (again, whole) = decode(side, api, version, &first)
                .unwrap_or_else(|e| panic!("{}: re-encoding does not decode: {e}", context()));
            assert_eq!(
                whole,
                first.len(),
                "{}: re-encoding not read whole",
                context()
            );
            let second = again
                .encode(version)
                .unwrap_or_else(|e| panic!("{}: {e}", context()));
            assert_eq!(
                first,
                second,
                "{}: re-encoding is not a fixed point",
                context()
            );
        }
    }
}

#[test]
fn every_strict_prefix_of_every_message_is_truncated() {
    for (api, version) in api_versions() {
        for side in [Side::Request, Side::Response] {
            let encoded = sample(side, api, version);
            let (_, consumed) = decode(side, api, version, &encoded)
                .unwrap_or_else(|e| panic!("{api:?} v{version} {side:?} sample: {e}"));
            assert_eq!(consumed, encoded.len(), "{api:?} v{version} {side:?}");
            for cut in 0..encoded.len() {
                match decode(side, api, version, &encoded[..cut]) {
                    Err(error) => assert!(
                        is_truncation(&error),
                        "{api:?} v{version} {side:?} cut at {cut}/{}: {error:?}",
                        encoded.len()
                    ),
                    Ok((value, _)) => panic!(
                        "{api:?} v{version} {side:?} cut at {cut}/{} decoded: {value:?}",
                        encoded.len()
                    ),
                }
            }
        }
    }
}

#[test]
fn every_strict_prefix_of_a_header_and_body_is_truncated() {
    for (api, version) in api_versions() {
        // A request payload as a broker reads it: header, then body.
        let mut payload = BytesMut::new();
        let header_version = api.request_header_version(version);
        let request_header = RequestHeader {
            request_api_key: api.key(),
            request_api_version: version,
            correlation_id: 7,
            client_id: Some("prefix-test".into()),
            ..RequestHeader::sample(header_version)
        };
        request_header.encode(&mut payload, header_version).unwrap();
        RequestKind::sample(api, version)
            .encode(&mut payload, version)
            .unwrap();
        let payload = payload.freeze();
        let (decoded_header, body) = header::decode_request(payload.clone()).unwrap();
        // Header v0 (ControlledShutdown v0) cannot carry the client id.
        assert_eq!(
            (
                decoded_header.request_api_key,
                decoded_header.request_api_version
            ),
            (api.key(), version)
        );
        assert_eq!(decoded_header.correlation_id, 7);
        assert_eq!(body, RequestKind::sample(api, version));
        for cut in 0..payload.len() {
            let error = header::decode_request(payload.slice(..cut)).unwrap_err();
            assert!(
                is_truncation(&error),
                "{api:?} v{version} request cut at {cut}/{}: {error:?}",
                payload.len()
            );
        }

        // A response payload as a client reads it.
        let mut payload = BytesMut::new();
        header::encode_response_kind(&mut payload, api, version, 9, |buf| {
            ResponseKind::sample(api, version).encode(buf, version)
        })
        .unwrap();
        let payload = payload.freeze();
        let (decoded_header, body) =
            header::decode_response_kind(payload.clone(), api, version).unwrap();
        assert_eq!(decoded_header.correlation_id, 9);
        assert_eq!(body, ResponseKind::sample(api, version));
        for cut in 0..payload.len() {
            let error =
                header::decode_response_kind(payload.slice(..cut), api, version).unwrap_err();
            assert!(
                is_truncation(&error),
                "{api:?} v{version} response cut at {cut}/{}: {error:?}",
                payload.len()
            );
        }
    }
}

#[test]
fn every_strict_prefix_of_a_frame_is_incomplete() {
    let mut framed = BytesMut::new();
    frame::write_frame(&mut framed, |buf| {
        RequestKind::sample(ApiKey::Produce, 9).encode(buf, 9)
    })
    .unwrap();
    let payload_len = framed.len() - frame::SIZE_PREFIX_LEN;
    for cut in 0..framed.len() {
        assert_eq!(
            frame::check_frame(&framed[..cut], framed.len()),
            Ok(None),
            "cut at {cut}"
        );
        let mut buf = BytesMut::from(&framed[..cut]);
        assert_eq!(frame::split_frame(&mut buf, framed.len()), Ok(None));
        assert_eq!(
            &buf[..],
            &framed[..cut],
            "an incomplete frame stays in the buffer"
        );
    }
    assert_eq!(
        frame::check_frame(&framed, payload_len),
        Ok(Some(payload_len))
    );
    // One byte under the frame's size as the maximum: refused, not waited for.
    assert_eq!(
        frame::check_frame(&framed[..4], payload_len - 1),
        Err(ProtocolError::FrameTooLarge {
            size: payload_len as u64,
            max: payload_len - 1
        })
    );
}

/// Every byte of every sample message set in turn to values that sit on
/// the encodings' boundaries (zero, one, the largest single-byte varint,
/// a varint continuation, all ones): about 100,000 decodes, each a clean
/// failure or a fixed point.
#[test]
fn every_single_byte_change_fails_cleanly_or_decodes_to_a_fixed_point() {
    for (api, version) in api_versions() {
        for side in [Side::Request, Side::Response] {
            let encoded = sample(side, api, version);
            for at in 0..encoded.len() {
                for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut bytes = encoded.to_vec();
                    bytes[at] = value;
                    assert_fails_cleanly_or_reencodes(side, api, version, &bytes);
                }
            }
        }
    }
}

#[test]
fn a_truncated_message_names_the_field_it_stopped_in() {
    let encoded = sample(Side::Request, ApiKey::Produce, 9);
    let cut = &encoded[..encoded.len() - 3];
    let error =
        RequestKind::decode(ApiKey::Produce, &mut Bytes::copy_from_slice(cut), 9).unwrap_err();
    assert!(is_truncation(&error), "{error:?}");
    assert!(
        error.to_string().contains("ProduceRequest"),
        "error should name the field: {error}"
    );
}

/// What [`frame::check_frame`] must answer for `buf`, from the protocol's
/// definition: a big-endian i32 size, then that many bytes.
fn expected_frame(buf: &[u8], max: usize) -> Result<Option<usize>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(ProtocolError::InvalidFrameSize(size));
    }
    if size as usize > max {
        return Err(ProtocolError::FrameTooLarge {
            size: size as u64,
            max,
        });
    }
    Ok((buf.len() - 4 >= size as usize).then_some(size as usize))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_fail_cleanly_or_decode_to_a_fixed_point(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        for (api, version) in api_versions() {
            assert_fails_cleanly_or_reencodes(Side::Request, api, version, &bytes);
            assert_fails_cleanly_or_reencodes(Side::Response, api, version, &bytes);
        }
        for version in 0..=2 {
            if let Err(error) = RequestHeader::decode(&mut Bytes::from(bytes.clone()), version) {
                prop_assert!(is_decoding_error(&error), "{:?}", error);
            }
        }
        for version in 0..=1 {
            if let Err(error) = ResponseHeader::decode(&mut Bytes::from(bytes.clone()), version) {
                prop_assert!(is_decoding_error(&error), "{:?}", error);
            }
        }
        if let Err(error) = header::decode_request(Bytes::from(bytes.clone())) {
            prop_assert!(is_decoding_error(&error), "{:?}", error);
        }
        prop_assert_eq!(frame::check_frame(&bytes, 1 << 20), expected_frame(&bytes, 1 << 20));
        prop_assert_eq!(frame::check_frame(&bytes, 16), expected_frame(&bytes, 16));
    }

    /// Valid messages with a few bytes changed reach deeper than random
    /// noise: every result must still be a clean failure or a fixed point.
    #[test]
    fn mutated_messages_fail_cleanly_or_decode_to_a_fixed_point(
        pair in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let pairs = api_versions();
        let (api, version) = pairs[pair.index(pairs.len())];
        for side in [Side::Request, Side::Response] {
            let mut bytes = sample(side, api, version).to_vec();
            if bytes.is_empty() {
                continue;
            }
            for (at, value) in &mutations {
                let at = at.index(bytes.len());
                bytes[at] = *value;
            }
            assert_fails_cleanly_or_reencodes(side, api, version, &bytes);
        }
    }
}
