//! What decoding hostile bytes allocates, measured: the design promises that
//! every length and element count is checked against the bytes remaining
//! (and a maximum) before anything is allocated, so `n` bytes of input can
//! never make a decoder allocate more than a fixed multiple of `n`.
//!
//! This binary installs a counting global allocator (`stats_alloc`), which
//! is why it is a test file of its own. The counters are process-wide, so
//! the binary has a single `#[test]` that runs each check in turn: no other
//! test thread can allocate while a decoder is measured.
//!
//! "Allocated" is every byte asked of the allocator while the decoder runs
//! (new allocations plus growth by `realloc`), freed or not: an upper bound
//! on the peak. Allocations made by C code (zstd's window) are not seen.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

use std::alloc::System;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::generated::{RequestKind, ResponseKind};
use ferrokafka_protocol::records::{
    DecodeOptions, RecordBatch, RecordBatchBuilder, RecordHeader, decode_batches,
};
use ferrokafka_protocol::{ApiKey, ProtocolError, frame, header};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The most a request or response decoder may allocate per input byte. An
/// element count is accepted up to the bytes that remain (an element takes
/// at least one), and the decoder reserves for that many elements up
/// front (at most 1024), so each level of nested arrays may reserve its
/// element's in-memory size per remaining byte. Elements are under 300
/// bytes in memory and arrays nest at most five deep: under 1500 per byte.
/// Measured: 272 for one level (a ConsumerGroupDescribe v0 response whose
/// group count claims every remaining byte), 280 for random input.
const BYTES_PER_INPUT_BYTE: usize = 2048;
/// What any decode may allocate whatever its input (the first small
/// reservations, an error's text).
const CONSTANT: usize = 1024;

/// The bytes allocated while `f` runs.
fn allocated_by<T>(f: impl FnOnce() -> T) -> usize {
    let region = Region::new(GLOBAL);
    let value = f();
    let stats = region.change();
    drop(value);
    stats.bytes_allocated
}

/// Decodes `input` as a request and as a response of `api` at `version` and
/// fails if either allocated more than the bound for its length.
fn assert_bounded(api: ApiKey, version: i16, input: &Bytes) {
    let bound = input.len() * BYTES_PER_INPUT_BYTE + CONSTANT;
    let request = allocated_by(|| RequestKind::decode(api, &mut input.clone(), version));
    let response = allocated_by(|| ResponseKind::decode(api, &mut input.clone(), version));
    assert!(
        request <= bound && response <= bound,
        "{api:?} v{version}: {} input bytes allocated {request} (request) and {response} \
         (response) bytes, over the bound of {bound}: {input:02x?}",
        input.len()
    );
}

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

fn encode_sample(api: ApiKey, version: i16, response: bool) -> Vec<u8> {
    let mut buf = BytesMut::new();
    if response {
        ResponseKind::sample(api, version).encode(&mut buf, version)
    } else {
        RequestKind::sample(api, version).encode(&mut buf, version)
    }
    .unwrap();
    buf.to_vec()
}

/// Counts that claim far more elements or bytes than any input holds, as
/// each length encoding spells them: a classic `i32` array count or bytes
/// length of 2^31 - 1, a classic `i16` string length of 32767, and compact
/// (unsigned varint) lengths of 2^32 - 2 and 2^28.
const HUGE_COUNTS: [&[u8]; 4] = [
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x7f, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x01],
];

/// The counts to write at `at` in an input of `len` bytes: the huge ones,
/// and the largest an honest-looking count can be (every remaining byte an
/// element), which reserves the most, in each length encoding.
fn counts_at(at: usize, len: usize) -> Vec<Vec<u8>> {
    let remaining = len.saturating_sub(at + 4);
    let compact = u32::try_from(remaining + 1).unwrap();
    let mut counts: Vec<Vec<u8>> = HUGE_COUNTS.iter().map(|c| c.to_vec()).collect();
    counts.push(i32::try_from(remaining).unwrap().to_be_bytes().to_vec());
    counts.push(i16::try_from(remaining).unwrap().to_be_bytes().to_vec());
    counts.push(vec![(compact as u8) | 0x80, (compact >> 7) as u8]);
    counts
}

fn any_count_anywhere_in_any_message_allocates_within_the_bound() {
    for (api, version) in api_versions() {
        for response in [false, true] {
            // Room behind the message for a count to claim.
            let mut encoded = encode_sample(api, version, response);
            encoded.resize(encoded.len() + 64, 0);
            for at in 0..encoded.len() {
                for count in counts_at(at, encoded.len()) {
                    // Written over the bytes at `at`, so every length and
                    // count field of the message gets its turn.
                    let mut input = encoded.clone();
                    let end = (at + count.len()).min(input.len());
                    input[at..end].copy_from_slice(&count[..end - at]);
                    assert_bounded(api, version, &Bytes::from(input));
                }
            }
        }
    }
}

fn a_hundred_byte_message_claiming_two_billion_elements_allocates_under_a_mebibyte() {
    for (api, version) in api_versions() {
        for filler in [0x00, 0x01, 0xff] {
            // Claimed at the front (the first field is often the array), and
            // behind a valid start of the message.
            let mut front = vec![0x7f, 0xff, 0xff, 0xff];
            front.resize(100, filler);
            let mut compact = vec![0xff, 0xff, 0xff, 0xff, 0x07];
            compact.resize(100, filler);
            for input in [front, compact] {
                let input = Bytes::from(input);
                let request =
                    allocated_by(|| RequestKind::decode(api, &mut input.clone(), version));
                let response =
                    allocated_by(|| ResponseKind::decode(api, &mut input.clone(), version));
                assert!(
                    request < 1 << 20 && response < 1 << 20,
                    "{api:?} v{version}: {request} / {response} bytes for {input:02x?}"
                );
            }
        }
    }
}

fn a_frame_claiming_two_gibibytes_allocates_nothing() {
    let mut claim = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0][..]);
    let mut result = Ok(None);
    let allocated = allocated_by(|| result = frame::split_frame(&mut claim, usize::MAX));
    assert_eq!(
        result,
        Ok(None),
        "incomplete, not an error, below the maximum"
    );
    assert_eq!(allocated, 0);
    let allocated =
        allocated_by(|| result = frame::split_frame(&mut claim, frame::DEFAULT_MAX_FRAME_SIZE));
    assert!(
        matches!(
            result,
            Err(ProtocolError::FrameTooLarge {
                size: 0x7fff_ffff,
                ..
            })
        ),
        "{result:?}"
    );
    // The error carries no heap data.
    assert_eq!(allocated, 0);
}

/// A valid magic v2 batch of `count` small records.
fn batch(compression: Compression, count: usize) -> Vec<u8> {
    let mut builder = RecordBatchBuilder::new(compression);
    for i in 0..count {
        builder
            .append(1_700_000_000_000, Some(b"k"), Some(&[i as u8; 4]), &[])
            .unwrap();
    }
    builder.build().unwrap().to_vec()
}

/// Sets a v2 batch's record count (bytes 57..61) and fixes its CRC.
fn claim_records(batch: &mut [u8], count: i32) {
    batch[57..61].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// What decoding a record batch may allocate: a `Record` (about 100 bytes)
/// for each 7 bytes of records, the smallest a record can be on the wire,
/// plus what a codec's decompression may take within its limit.
fn record_bound(input_len: usize, decompressed_limit: usize) -> usize {
    input_len * 32 + decompressed_limit * 4 + 256 * 1024
}

fn a_batch_claiming_two_billion_records_allocates_within_the_bound() {
    for compression in [Compression::None, Compression::Gzip, Compression::Lz4] {
        let mut raw = batch(compression, 3);
        claim_records(&mut raw, i32::MAX);
        let raw = Bytes::from(raw);
        let limit = 64 * 1024;
        let options = DecodeOptions::default().with_decompression_limit(limit);
        let mut result = None;
        let allocated =
            allocated_by(|| result = Some(RecordBatch::decode(&mut raw.clone(), &options)));
        let error = result.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                ProtocolError::LengthExceedsInput {
                    what: "RecordBatch.recordCount",
                    length: 0x7fff_ffff,
                    ..
                }
            ),
            "{compression:?}: {error:?}"
        );
        let bound = record_bound(raw.len(), limit);
        assert!(allocated <= bound, "{compression:?}: {allocated} > {bound}");
    }
}

/// A count or length claimed anywhere in a batch's records (CRC checks off,
/// so the record parser reads them): key, value and header lengths, header
/// counts, each as large as a varint can say and as large as what remains.
/// Uncompressed, so no codec state: a `Record` per 7 bytes at most.
fn any_claim_in_the_records_allocates_within_the_bound() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    let headers = [RecordHeader::new("h", Some(Bytes::from_static(b"v")))];
    for i in 0..8u8 {
        builder
            .append(1_700_000_000_000, Some(&[i; 3]), Some(&[i; 5]), &headers)
            .unwrap();
    }
    let clean = builder.build().unwrap().to_vec();
    let options = DecodeOptions::default().with_verify_crc(false);
    for at in 61..clean.len() {
        let remaining = u32::try_from(clean.len() - at).unwrap();
        // Zigzag varints: 2^31 - 1, and twice what remains.
        let claims: [&[u8]; 2] = [
            &[0xfe, 0xff, 0xff, 0xff, 0x0f],
            &[((remaining * 2) as u8) | 0x80, ((remaining * 2) >> 7) as u8],
        ];
        for claim in claims {
            let mut raw = clean.clone();
            let end = (at + claim.len()).min(raw.len());
            raw[at..end].copy_from_slice(&claim[..end - at]);
            let raw = Bytes::from(raw);
            let allocated = allocated_by(|| RecordBatch::decode(&mut raw.clone(), &options));
            let bound = raw.len() * 32 + 4 * CONSTANT;
            assert!(
                allocated <= bound,
                "claim {claim:02x?} at {at}: {allocated} > {bound}"
            );
        }
    }
}

fn a_decompression_bomb_allocates_within_its_limit() {
    // One record of 8 MiB of zeros: a few kilobytes compressed (snappy,
    // whose ratio tops out near 20, some hundreds).
    for compression in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = RecordBatchBuilder::new(compression);
        builder
            .append(1_700_000_000_000, None, Some(&vec![0; 8 << 20]), &[])
            .unwrap();
        let raw = builder.build().unwrap();
        let limit = 64 * 1024;
        let options = DecodeOptions::default().with_decompression_limit(limit);
        let mut result = None;
        let allocated =
            allocated_by(|| result = Some(RecordBatch::decode(&mut raw.clone(), &options)));
        let error = result.unwrap().unwrap_err();
        assert!(
            matches!(
                error,
                ProtocolError::DecompressedTooLarge { limit: 65536, .. }
            ),
            "{compression:?}: {error:?}"
        );
        let bound = record_bound(raw.len(), limit);
        assert!(
            allocated <= bound,
            "{compression:?}: {} compressed bytes allocated {allocated} > {bound}",
            raw.len()
        );
    }
}

fn arbitrary_bytes_allocate_within_the_bound() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(any::<u8>(), 0..512), |bytes| {
        let input = Bytes::from(bytes);
        for (api, version) in api_versions() {
            assert_bounded(api, version, &input);
        }
        let allocated = allocated_by(|| header::decode_request(input.clone()));
        prop_assert!(allocated <= input.len() * BYTES_PER_INPUT_BYTE + CONSTANT);
        let options = DecodeOptions::default().with_decompression_limit(64 * 1024);
        let allocated = allocated_by(|| decode_batches(input.clone(), options).count());
        prop_assert!(allocated <= record_bound(input.len(), 64 * 1024));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// The one test of this binary; see the module comment for why.
#[test]
fn decoding_hostile_input_allocates_within_the_bounds() {
    any_count_anywhere_in_any_message_allocates_within_the_bound();
    a_hundred_byte_message_claiming_two_billion_elements_allocates_under_a_mebibyte();
    a_frame_claiming_two_gibibytes_allocates_nothing();
    a_batch_claiming_two_billion_records_allocates_within_the_bound();
    a_decompression_bomb_allocates_within_its_limit();
    any_claim_in_the_records_allocates_within_the_bound();
    arbitrary_bytes_allocate_within_the_bound();
}
