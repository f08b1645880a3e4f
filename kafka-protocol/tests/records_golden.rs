//! Golden bytes and fuzzing for record batches.
//!
//! The golden batch is written out byte by byte from the protocol guide's
//! record batch layout (<https://kafka.apache.org/documentation/#recordbatch>),
//! each field commented, and ferrokafka must encode exactly those bytes and
//! decode them back. Then what the decoders must answer for bytes nobody
//! checked: a batch cut short is `Truncated` (or, in a fetch response's
//! records, the partial tail left as the remainder); a changed byte under
//! the CRC is a `CrcMismatch` naming both CRCs; with CRC checks off, a
//! mutated batch fails or decodes to a batch that re-encodes to itself.
//! Arbitrary bytes fed to every entry point and decompressor must not
//! panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::ProtocolError;
use ferrokafka_protocol::compression::{self, Compression};
use ferrokafka_protocol::records::{
    DecodeOptions, Record, RecordBatch, RecordBatchBuilder, RecordBatchHeader, RecordBatchMut,
    RecordBatchView, RecordBatchViews, RecordHeader, TimestampType, decode_all, decode_batches,
};
use proptest::prelude::*;

/// An idempotent producer's batch of two records, spelled out.
#[rustfmt::skip]
const GOLDEN: [u8; 95] = [
    // ---- batch header ----
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // baseOffset: 0 (the broker assigns it)
    0x00, 0x00, 0x00, 0x53,                         // batchLength: 83 = 49 header bytes after this field + 34 record bytes
    0xff, 0xff, 0xff, 0xff,                         // partitionLeaderEpoch: -1
    0x02,                                           // magic: 2
    0x0f, 0x76, 0xd3, 0xe2,                         // crc: CRC-32C of attributes..end (checked below with the crc32c crate)
    0x00, 0x00,                                     // attributes: no compression, CreateTime, not transactional, not control
    0x00, 0x00, 0x00, 0x01,                         // lastOffsetDelta: 1
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp: 1_700_000_000_000
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0xfa, // maxTimestamp: 1_700_000_000_250
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // producerId: 42
    0x00, 0x01,                                     // producerEpoch: 1
    0x00, 0x00, 0x00, 0x07,                         // baseSequence: 7
    0x00, 0x00, 0x00, 0x02,                         // recordCount: 2
    // ---- record 0 (varints are zigzag: 2n for n >= 0, -2n-1 for n < 0) ----
    0x1c,                                           // length: 14
    0x00,                                           // attributes: 0 (unused)
    0x00,                                           // timestampDelta (varlong): 0
    0x00,                                           // offsetDelta: 0
    0x04, b'k', b'1',                               // key: length 2, "k1"
    0x04, b'v', b'1',                               // value: length 2, "v1"
    0x02,                                           // headerCount: 1
    0x02, b'h',                                     //   header key: length 1, "h"
    0x02, b'x',                                     //   header value: length 1, "x"
    // ---- record 1 ----
    0x24,                                           // length: 18
    0x00,                                           // attributes: 0
    0xf4, 0x03,                                     // timestampDelta (varlong): 250 -> zigzag 500 = 0x1f4 -> 0xf4 0x03
    0x02,                                           // offsetDelta: 1
    0x01,                                           // key: length -1, null
    0x0a, b'h', b'e', b'l', b'l', b'o',             // value: length 5, "hello"
    0x04,                                           // headerCount: 2
    0x02, b'a',                                     //   header key: "a"
    0x01,                                           //   header value: null
    0x02, b'b',                                     //   header key: "b"
    0x00,                                           //   header value: length 0, empty
];

const T0: i64 = 1_700_000_000_000;

fn golden_records() -> Vec<Record> {
    vec![
        Record {
            offset: 0,
            timestamp: T0,
            key: Some(Bytes::from_static(b"k1")),
            value: Some(Bytes::from_static(b"v1")),
            headers: vec![RecordHeader::new("h", Some(Bytes::from_static(b"x")))],
        },
        Record {
            offset: 1,
            timestamp: T0 + 250,
            key: None,
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                RecordHeader::new("a", None),
                RecordHeader::new("b", Some(Bytes::new())),
            ],
        },
    ]
}

#[test]
fn the_golden_crc_is_the_crc32c_of_attributes_to_end() {
    let crc = crc32c::crc32c(&GOLDEN[21..]);
    assert_eq!(crc.to_be_bytes(), GOLDEN[17..21], "computed {crc:#010x}");
}

#[test]
fn ferrokafka_encodes_the_golden_batch_exactly() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder.set_producer_state(42, 1, 7);
    for record in golden_records() {
        builder
            .append(
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
            )
            .unwrap();
    }
    let bytes = builder.build().unwrap();
    assert_eq!(&bytes[..], &GOLDEN[..]);
}

#[test]
fn ferrokafka_decodes_the_golden_batch() {
    let mut buf = Bytes::from_static(&GOLDEN);
    let batch = RecordBatch::decode(&mut buf, &DecodeOptions::default()).unwrap();
    assert!(buf.is_empty());
    assert_eq!(batch.records, golden_records());
    assert_eq!(batch.base_offset, 0);
    assert_eq!(batch.partition_leader_epoch, -1);
    assert_eq!(batch.magic, 2);
    assert_eq!(batch.compression, Compression::None);
    assert_eq!(batch.timestamp_type, TimestampType::CreateTime);
    assert!(!batch.is_transactional && !batch.is_control && !batch.has_delete_horizon);
    assert_eq!(batch.last_offset_delta, 1);
    assert_eq!(batch.base_timestamp, T0);
    assert_eq!(batch.max_timestamp, T0 + 250);
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (42, 1, 7)
    );
    assert_eq!(batch.encode().unwrap(), Bytes::from_static(&GOLDEN));

    let header = RecordBatchHeader::parse(&GOLDEN).unwrap();
    assert_eq!(header.batch_length, 83);
    assert_eq!(header.crc, 0x0f76_d3e2);
    assert_eq!(header.record_count, 2);
    assert_eq!(header.last_sequence(), 8);
}

#[test]
fn the_golden_batch_survives_the_brokers_offset_assignment() {
    let mut raw = BytesMut::from(&GOLDEN[..]);
    let mut batch = RecordBatchMut::new(&mut raw).unwrap();
    batch.set_base_offset(0x0102_0304_0506_0708);
    batch.set_partition_leader_epoch(5);
    batch.verify_crc().unwrap();
    assert_eq!(&raw[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&raw[12..16], &[0, 0, 0, 5]);
    assert_eq!(&raw[16..], &GOLDEN[16..], "nothing under the CRC changed");
}

// ---- property tests ------------------------------------------------------

fn sample_batch(codec: Compression) -> Bytes {
    let mut builder = RecordBatchBuilder::new(codec);
    builder.set_producer_state(1, 0, 0);
    for (i, record) in golden_records().iter().enumerate() {
        builder
            .append(
                record.timestamp + i as i64,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
            )
            .unwrap();
    }
    builder
        .append(T0 - 5, Some(b"another key"), Some(&[9; 64]), &[])
        .unwrap();
    builder.build().unwrap()
}

/// The CRC-32C a v2 batch stores (bytes 17..21).
fn stored_crc(batch: &[u8]) -> u32 {
    u32::from_be_bytes(batch[17..21].try_into().unwrap())
}

#[test]
fn every_strict_prefix_of_a_batch_is_truncated_or_left_as_the_remainder() {
    for codec in Compression::ALL {
        let whole = sample_batch(codec);
        let first = RecordBatch::decode(&mut whole.clone(), &DecodeOptions::default()).unwrap();
        let mut two = whole.to_vec();
        two.extend_from_slice(&whole);
        let two = Bytes::from(two);
        for cut in 0..whole.len() {
            let prefix = whole.slice(..cut);
            let mut buf = prefix.clone();
            let error = RecordBatch::decode(&mut buf, &DecodeOptions::default()).unwrap_err();
            // The whole batch is needed once its length field is there.
            let needed = if cut < 12 { 12 } else { whole.len() };
            assert_eq!(
                error,
                ProtocolError::Truncated {
                    what: "RecordBatch",
                    needed,
                    remaining: cut
                },
                "{codec:?} cut at {cut}"
            );
            assert_eq!(buf, prefix, "left unchanged on error");
            // In a fetch response a partial batch is normal: no batch, no
            // error, and the bytes kept as the remainder.
            let mut batches = decode_batches(prefix.clone(), DecodeOptions::default());
            assert_eq!(batches.next(), None, "{codec:?} cut at {cut}");
            assert_eq!(batches.remainder(), &prefix);
            // Behind a complete batch: that batch, then the partial tail.
            let prefix = two.slice(..whole.len() + cut);
            let mut batches = decode_batches(prefix.clone(), DecodeOptions::default());
            assert_eq!(
                batches.next(),
                Some(Ok(first.clone())),
                "{codec:?} cut at {cut}"
            );
            assert_eq!(batches.next(), None);
            assert_eq!(batches.remainder(), &prefix.slice(whole.len()..));
        }
    }
}

/// What decoding `raw` (a v2 batch with changed bytes) with CRC checks on
/// must report: the two header fields checked before the CRC when they
/// cannot be honest (a negative record count, a codec id past 4), else a
/// CRC mismatch naming the stored and the computed CRC.
fn expected_corruption(raw: &[u8]) -> ProtocolError {
    let record_count = i32::from_be_bytes(raw[57..61].try_into().unwrap());
    let codec = raw[22] & 0x07;
    if record_count < 0 {
        ProtocolError::NegativeLength {
            what: "RecordBatch.recordCount",
            length: i64::from(record_count),
        }
    } else if codec > 4 {
        ProtocolError::UnknownCompression(codec)
    } else {
        ProtocolError::CrcMismatch {
            stored: stored_crc(raw),
            computed: crc32c::crc32c(&raw[21..]),
        }
    }
}

/// Asserts that the single-batch decoder and `decode_batches` (as its
/// first and last item) both report exactly [`expected_corruption`].
fn assert_corruption_reported(raw: &[u8], context: &str) {
    let expected = expected_corruption(raw);
    if let ProtocolError::CrcMismatch { stored, computed } = expected {
        assert_ne!(stored, computed, "{context}: CRC-32C missed a short burst");
    }
    let bytes = Bytes::copy_from_slice(raw);
    let result = RecordBatch::decode(&mut bytes.clone(), &DecodeOptions::default());
    assert_eq!(result, Err(expected.clone()), "{context}");
    let mut batches = decode_batches(bytes, DecodeOptions::default());
    assert_eq!(batches.next(), Some(Err(expected)), "{context}");
    assert_eq!(
        batches.next(),
        None,
        "{context}: iteration ends at a corrupt batch"
    );
}

/// Every byte the CRC covers (attributes to the end) and every byte of the
/// CRC itself, changed one at a time: CRC-32C detects every error burst of
/// up to 32 bits, so each must be reported, with both CRCs, unless the
/// header check before it refuses the field first.
#[test]
fn every_changed_byte_under_the_crc_is_reported_as_corruption() {
    for codec in Compression::ALL {
        let clean = sample_batch(codec).to_vec();
        for at in 17..clean.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut raw = clean.clone();
                raw[at] ^= flip;
                assert_corruption_reported(&raw, &format!("{codec:?} byte {at} ^ {flip:#04x}"));
            }
        }
    }
}

/// Runs every decoder entry point over `input`; each may fail, none may panic.
fn decode_everything(input: &[u8], options: &DecodeOptions) {
    let bytes = Bytes::copy_from_slice(input);
    let mut buf = bytes.clone();
    let _ = RecordBatch::decode(&mut buf, options);
    let _ = decode_all(bytes.clone(), options);
    let mut batches = decode_batches(bytes.clone(), *options);
    for _ in batches.by_ref() {}
    let _ = batches.remainder();
    let _ = RecordBatchHeader::parse(input);
    let mut buf = bytes.clone();
    if let Ok(view) = RecordBatchView::split_from(&mut buf) {
        let _ = view.verify_crc();
        let _ = view.decode(options);
        let _ = view.header().last_sequence();
    }
    for view in RecordBatchViews::new(bytes).flatten() {
        let _ = view.decode(options);
    }
    let mut raw = input.to_vec();
    if let Ok(mut batch) = RecordBatchMut::new(&mut raw) {
        let _ = batch.verify_crc();
        batch.set_log_append_time(i64::MAX);
        let _ = batch.header();
    }
}

/// A record as the property test generates it: timestamp delta, key, value
/// and headers.
type ArbRecord = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    (
        any::<i64>().prop_map(|delta| delta >> 20),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(
            (
                ".{0,8}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..4,
        ),
    )
}

fn arb_codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(input in proptest::collection::vec(any::<u8>(), 0..400)) {
        decode_everything(&input, &DecodeOptions::default());
        decode_everything(&input, &DecodeOptions::default().with_verify_crc(false));
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_prefix_never_panic(
        magic in 0i8..=3,
        length in -3i32..300,
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // A plausible offset, length and magic, so the decoders get past the
        // framing into the fields behind it.
        let mut input = vec![0u8; 8];
        input.extend_from_slice(&length.to_be_bytes());
        input.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, magic as u8]);
        input.extend_from_slice(&tail);
        decode_everything(&input, &DecodeOptions::default().with_verify_crc(false));
    }

    #[test]
    fn mutated_batches_never_panic_the_decoders(
        codec in arb_codec(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        // With CRC checks off, corrupt bytes reach the record parser and the
        // decompressors instead of stopping at the CRC.
        let mut raw = sample_batch(codec).to_vec();
        for (at, byte) in mutations {
            let at = at.index(raw.len());
            raw[at] = byte;
        }
        if truncate {
            raw.truncate(cut.index(raw.len()));
        }
        decode_everything(&raw, &DecodeOptions::default().with_verify_crc(false));
        decode_everything(&raw, &DecodeOptions::default());
    }

    /// Up to four adjacent bytes under the CRC changed at once: a burst of
    /// at most 32 bits, which CRC-32C always detects.
    #[test]
    fn a_burst_of_changed_bytes_under_the_crc_is_reported_as_corruption(
        codec in arb_codec(),
        start in any::<prop::sample::Index>(),
        burst in proptest::collection::vec(1u8..=255, 1..=4),
    ) {
        let mut raw = sample_batch(codec).to_vec();
        let start = 21 + start.index(raw.len() - 21 - burst.len() + 1);
        for (i, flip) in burst.iter().enumerate() {
            raw[start + i] ^= flip;
        }
        assert_corruption_reported(&raw, &format!("{codec:?} burst {burst:02x?} at {start}"));
    }

    /// With CRC checks off the changed bytes reach the record parser: each
    /// result is a decoding error, or a batch that encodes and decodes back
    /// to itself (offsets, timestamps, keys, values and headers).
    #[test]
    fn mutated_batches_fail_or_decode_to_a_batch_that_reencodes(
        codec in arb_codec(),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut raw = sample_batch(codec).to_vec();
        for (at, byte) in mutations {
            let at = at.index(raw.len());
            raw[at] = byte;
        }
        let unchecked = DecodeOptions::default().with_verify_crc(false);
        match RecordBatch::decode(&mut Bytes::from(raw.clone()), &unchecked) {
            Err(error) => prop_assert!(
                !matches!(error, ProtocolError::CrcMismatch { .. }),
                "CRC checked though told not to: {:?}", error
            ),
            // Legacy (magic 0/1) batches cannot be written.
            Ok(batch) if batch.magic != 2 => {}
            Ok(batch) => {
                if let Ok(encoded) = batch.encode() {
                    let again = RecordBatch::decode(&mut encoded.clone(), &DecodeOptions::default());
                    prop_assert_eq!(again, Ok(batch), "{:02x?}", raw);
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_decompress(
        codec in arb_codec(),
        input in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let _ = compression::decompress(codec, &input, 1 << 16);
    }

    #[test]
    fn mutated_compressed_data_never_panics_decompress(
        codec in arb_codec(),
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut compressed = BytesMut::new();
        compression::compress(codec, &data, &mut compressed).unwrap();
        let clean = compressed.clone();
        for (at, byte) in &mutations {
            if !compressed.is_empty() {
                let at = at.index(compressed.len());
                compressed[at] = *byte;
            }
        }
        let result = compression::decompress(codec, &compressed, 1 << 16);
        if compressed == clean {
            prop_assert_eq!(&result.unwrap()[..], &data[..]);
        }
        // A limit below the size is always refused, whatever the codec.
        if data.len() > 1 && compressed == clean {
            let small = compression::decompress(codec, &clean, data.len() - 1);
            let refused = matches!(
                small,
                Err(ferrokafka_protocol::ProtocolError::DecompressedTooLarge { .. })
            );
            prop_assert!(refused);
        }
    }

    #[test]
    fn arbitrary_records_round_trip(
        codec in arb_codec(),
        records in proptest::collection::vec(arb_record(), 0..20),
        base_timestamp in any::<i64>().prop_map(|t| t >> 2),
    ) {
        let mut builder = RecordBatchBuilder::new(codec);
        let mut expected = Vec::new();
        for (i, (delta, key, value, headers)) in records.iter().enumerate() {
            let headers: Vec<RecordHeader> = headers
                .iter()
                .map(|(k, v)| RecordHeader::new(k.clone().into_bytes(), v.clone().map(Bytes::from)))
                .collect();
            let timestamp = base_timestamp + delta;
            builder.append(timestamp, key.as_deref(), value.as_deref(), &headers).unwrap();
            expected.push(Record {
                offset: i as i64,
                timestamp,
                key: key.clone().map(Bytes::from),
                value: value.clone().map(Bytes::from),
                headers,
            });
        }
        let size = builder.size_in_bytes();
        let bytes = builder.build().unwrap();
        if codec == Compression::None {
            prop_assert_eq!(bytes.len(), size);
        }
        let mut buf = bytes.clone();
        let batch = RecordBatch::decode(&mut buf, &DecodeOptions::default()).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&batch.records, &expected);
        prop_assert_eq!(batch.encode().unwrap(), bytes);
    }
}
