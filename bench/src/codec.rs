//! The `codec` benchmark: record batch encode and decode, ferrokafka's
//! `ferrokafka_protocol::records` against the crates.io `kafka-protocol`
//! crate, uncompressed and lz4.
//!
//! The workload is one magic v2 batch of about 1 MiB (uncompressed) of
//! records with 8-byte keys, 100-byte JSON-like values and no headers, as
//! many as a producer with `batch.size` = 1 MiB packs into one batch. Both
//! implementations get the same records and do a whole batch per iteration:
//!
//! - **encode**: from the records to the finished batch bytes (header, CRC,
//!   compression), into a buffer reserved for 1 MiB. ferrokafka appends the
//!   key and value slices to a [`RecordBatchBuilder`]; kafka-protocol takes
//!   its own `Record` structs, built once before timing (so building them is
//!   not counted against it).
//! - **decode**: from the batch bytes to a `Vec` of records, CRC checked,
//!   then a pass over the records summing offsets and key and value lengths.
//!   Both sides decode the same bytes: the batch kafka-protocol encoded.
//!
//! MB/s counts the uncompressed batch size for every case, so the figures
//! of all four cases compare. Before measuring, each side's batch is
//! decoded by the other side and checked record by record against the
//! input, and the two uncompressed encodings are compared byte for byte.
//!
//! The two crates do not write the same lz4 frames: ferrokafka uses
//! `lz4_flex` in LZ4's fast mode and, like the Java client, writes no
//! content checksum; kafka-protocol uses liblz4 at level 4, which liblz4
//! runs in its slower high-compression (HC) mode, with XXH32 block and
//! content checksums that every reader then verifies. Three supplementary rows
//! follow the main table to separate the codec from the record layer:
//! kafka-protocol given ferrokafka's lz4 through its custom (de)compression
//! hooks, and both crates decoding ferrokafka's (Java-style) lz4 batch.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::compression::{self as fk_compression, Compression as FkCompression};
use ferrokafka_protocol::records::{DecodeOptions, RecordBatch, RecordBatchBuilder};
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};

use crate::Result;
use crate::args::Args;
use crate::harness::{self, Stats, Timing};

/// Options of the `codec` subcommand.
pub(crate) const USAGE: &str = "\
usage: cargo run --release -p ferrokafka-bench -- codec [options]

Encodes and decodes a 1 MiB batch of 100-byte records, uncompressed and lz4,
with ferrokafka-protocol and with the kafka-protocol crate, and prints
records/s, MB/s and the ratio ferrokafka/kafka-protocol for each case.

options:
  --seconds <S>   measured time per case and implementation (default 1.5)
  --rounds <N>    rounds the time is split into; the median is reported (default 7)
  --warmup <S>    warm-up time per case and implementation (default 0.3)
  --only <TEXT>   measure only the cases whose name contains TEXT, e.g.
                  `decode`, `encode lz4`, `supplementary` (the cross-check
                  always runs)";

/// The producer `batch.size` the batch is filled to, uncompressed.
const BATCH_SIZE: usize = 1 << 20;
/// The size of every record value.
const VALUE_SIZE: usize = 100;
/// The first record's timestamp.
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
/// Records produced per millisecond, which sets the timestamp deltas.
const RECORDS_PER_MS: i64 = 50;
/// The ratio the issue asks ferrokafka to reach in every case.
const GOAL: f64 = 1.5;
/// A megabyte, for MB/s.
const MB: f64 = 1e6;

/// The two codecs measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    None,
    Lz4,
}

impl Codec {
    /// Its name in the table.
    fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Lz4 => "lz4",
        }
    }

    /// ferrokafka's value for it.
    fn ferrokafka(self) -> FkCompression {
        match self {
            Codec::None => FkCompression::None,
            Codec::Lz4 => FkCompression::Lz4,
        }
    }

    /// kafka-protocol's value for it.
    fn kafka_protocol(self) -> KpCompression {
        match self {
            Codec::None => KpCompression::None,
            Codec::Lz4 => KpCompression::Lz4,
        }
    }
}

/// One input record, as a producer application hands it over.
#[derive(Debug, Clone)]
struct InputRecord {
    timestamp: i64,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// The records of the batch, in both crates' input forms.
#[derive(Debug)]
struct Input {
    records: Vec<InputRecord>,
    /// The same records as kafka-protocol `Record`s, offsets from 0.
    kp_records: Vec<KpRecord>,
    /// The batch's uncompressed size, header included.
    batch_bytes: usize,
}

/// A deterministic pseudo-random generator (SplitMix64): the same input
/// every run, without a dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (`bound` > 0; the slight bias is irrelevant).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let index = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(index).copied().unwrap_or_default()
    }
}

/// A JSON-like value of exactly [`VALUE_SIZE`] bytes: repetitive field
/// names and enumerations, random numbers and a random hex trace id, so lz4
/// finds some but not all of it redundant, as with real payloads.
fn make_value(rng: &mut SplitMix64, seq: usize) -> Vec<u8> {
    let region = rng.pick(&["eu-west-1", "us-east-1", "ap-south-1", "sa-east-1"]);
    let status = rng.pick(&["created", "paid", "shipped"]);
    let amount = rng.below(100_000);
    let mut text = format!(
        r#"{{"seq":{seq},"region":"{region}","status":"{status}","amount":{}.{:02},"trace":""#,
        amount / 100,
        amount % 100
    );
    while text.len() < VALUE_SIZE - 2 {
        let digit = u32::try_from(rng.below(16)).unwrap_or(0);
        text.push(char::from_digit(digit, 16).unwrap_or('0'));
    }
    text.truncate(VALUE_SIZE - 2);
    text.push_str("\"}");
    text.into_bytes()
}

impl Input {
    /// Generates records until the next one would take the batch past
    /// [`BATCH_SIZE`], as a producer fills a batch.
    fn generate() -> Result<Self> {
        let mut rng = SplitMix64(0x00C0_FFEE);
        let mut builder = RecordBatchBuilder::with_capacity(FkCompression::None, BATCH_SIZE);
        let mut records = Vec::new();
        loop {
            let index = i64::try_from(records.len())?;
            let record = InputRecord {
                timestamp: BASE_TIMESTAMP + index / RECORDS_PER_MS,
                key: format!("user{:04}", rng.below(10_000)).into_bytes(),
                value: make_value(&mut rng, records.len()),
            };
            let (key, value) = (Some(record.key.as_slice()), Some(record.value.as_slice()));
            if !builder.has_room_for(BATCH_SIZE, record.timestamp, key, value, &[]) {
                break;
            }
            builder.append(record.timestamp, key, value, &[])?;
            records.push(record);
        }
        let kp_records = records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let offset = i64::try_from(index)?;
                Ok(KpRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: KpTimestampType::Creation,
                    offset,
                    // kafka-protocol cuts a new batch wherever offset -
                    // sequence changes and takes the first record's
                    // sequence, minus its offset, as the base sequence: this
                    // makes one batch with base sequence -1 (none).
                    sequence: i32::try_from(offset - 1)?,
                    timestamp: record.timestamp,
                    key: Some(Bytes::copy_from_slice(&record.key)),
                    value: Some(Bytes::copy_from_slice(&record.value)),
                    headers: Default::default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            batch_bytes: builder.size_in_bytes(),
            records,
            kp_records,
        })
    }

    /// The record count as a float, for rates.
    fn count(&self) -> f64 {
        self.records.len() as f64
    }
}

/// ferrokafka: builds the batch from the records.
fn fk_encode(records: &[InputRecord], codec: Codec) -> Result<Bytes> {
    let mut builder = RecordBatchBuilder::with_capacity(codec.ferrokafka(), BATCH_SIZE);
    for record in records {
        builder.append(
            record.timestamp,
            Some(&record.key),
            Some(&record.value),
            &[],
        )?;
    }
    Ok(builder.build()?)
}

/// kafka-protocol: encodes the batch from its `Record`s.
fn kp_encode(records: &[KpRecord], codec: Codec) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(BATCH_SIZE);
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec.kafka_protocol(),
    };
    RecordBatchEncoder::encode(&mut buf, records, &options)?;
    Ok(buf.freeze())
}

/// kafka-protocol with ferrokafka's lz4 compressor (`lz4_flex`) in its
/// custom compression hook (a supplementary row).
fn kp_encode_lz4_flex(records: &[KpRecord]) -> Result<Bytes> {
    let mut buf = BytesMut::with_capacity(BATCH_SIZE);
    let options = RecordEncodeOptions {
        version: 2,
        compression: KpCompression::Lz4,
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        records,
        &options,
        Some(|records: &mut BytesMut, out: &mut BytesMut, _| {
            fk_compression::compress(FkCompression::Lz4, records, out)?;
            Ok(())
        }),
    )?;
    Ok(buf.freeze())
}

/// What a decode pass saw: the record count and a checksum over each
/// record's offset and key and value lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Digest {
    records: u64,
    checksum: u64,
}

impl Digest {
    /// Folds records given as (offset, key, value).
    fn of<'a>(records: impl Iterator<Item = (i64, Option<&'a Bytes>, Option<&'a Bytes>)>) -> Self {
        let mut digest = Digest {
            records: 0,
            checksum: 0,
        };
        for (offset, key, value) in records {
            let key_len = key.map_or(0, Bytes::len) as u64;
            let value_len = value.map_or(0, Bytes::len) as u64;
            digest.records += 1;
            digest.checksum = digest
                .checksum
                .wrapping_add(offset as u64)
                .wrapping_add(key_len)
                .wrapping_add(value_len);
        }
        digest
    }

    /// A single number for the harness to black-box.
    fn fold(self) -> u64 {
        self.records ^ self.checksum
    }
}

/// ferrokafka: decodes the batch (CRC checked) into its records.
fn fk_decode(batch: &Bytes) -> Result<RecordBatch> {
    let mut buf = batch.clone();
    Ok(RecordBatch::decode(&mut buf, &DecodeOptions::default())?)
}

/// kafka-protocol: decodes the batch (CRC checked) into its records.
fn kp_decode(batch: &Bytes) -> Result<Vec<KpRecord>> {
    let mut buf = batch.clone();
    Ok(RecordBatchDecoder::decode(&mut buf)?.records)
}

/// kafka-protocol with ferrokafka's lz4 decompressor (`lz4_flex`) in its
/// custom decompression hook (a supplementary row).
fn kp_decode_lz4_flex(batch: &Bytes) -> Result<Vec<KpRecord>> {
    let mut buf = batch.clone();
    let set = RecordBatchDecoder::decode_with_custom_compression(
        &mut buf,
        Some(|records: &mut Bytes, _| {
            Ok(fk_compression::decompress(
                FkCompression::Lz4,
                records,
                fk_compression::DEFAULT_DECOMPRESSION_LIMIT,
            )?)
        }),
    )?;
    Ok(set.records)
}

fn fk_digest(batch: &RecordBatch) -> Digest {
    Digest::of(
        batch
            .records
            .iter()
            .map(|r| (r.offset, r.key.as_ref(), r.value.as_ref())),
    )
}

fn kp_digest(records: &[KpRecord]) -> Digest {
    Digest::of(
        records
            .iter()
            .map(|r| (r.offset, r.key.as_ref(), r.value.as_ref())),
    )
}

/// Checks decoded records against the input, field by field.
fn check_records<'a>(
    what: &str,
    decoded: impl ExactSizeIterator<Item = (i64, i64, Option<&'a Bytes>, Option<&'a Bytes>)>,
    input: &Input,
) -> Result<()> {
    if decoded.len() != input.records.len() {
        return Err(format!(
            "{what}: {} records decoded, {} encoded",
            decoded.len(),
            input.records.len()
        )
        .into());
    }
    for ((offset, timestamp, key, value), (index, record)) in
        decoded.zip(input.records.iter().enumerate())
    {
        let same = offset == i64::try_from(index)?
            && timestamp == record.timestamp
            && key.map(|key| &**key) == Some(record.key.as_slice())
            && value.map(|value| &**value) == Some(record.value.as_slice());
        if !same {
            return Err(format!("{what}: record {index} differs from the input").into());
        }
    }
    Ok(())
}

/// The batch each crate encoded, for one codec.
#[derive(Debug, Clone, Default)]
struct Batches {
    ferrokafka: Bytes,
    kafka_protocol: Bytes,
}

/// Encodes the batch with both crates, decodes each side's batch with the
/// other side and checks the records against the input; prints what it
/// found and returns both batches.
fn cross_check(input: &Input, codec: Codec) -> Result<Batches> {
    let fk_batch = fk_encode(&input.records, codec)?;
    let kp_batch = kp_encode(&input.kp_records, codec)?;

    let kp_reads_fk = kp_decode(&fk_batch)?;
    check_records(
        "kafka-protocol decoding ferrokafka's batch",
        kp_reads_fk
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.as_ref(), r.value.as_ref())),
        input,
    )?;
    let fk_reads_kp = fk_decode(&kp_batch)?;
    check_records(
        "ferrokafka decoding kafka-protocol's batch",
        fk_reads_kp
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.as_ref(), r.value.as_ref())),
        input,
    )?;
    let fk_reads_fk = fk_decode(&fk_batch)?;
    let kp_reads_kp = kp_decode(&kp_batch)?;
    let digests = [
        fk_digest(&fk_reads_fk),
        fk_digest(&fk_reads_kp),
        kp_digest(&kp_reads_fk),
        kp_digest(&kp_reads_kp),
    ];
    if digests.iter().any(|digest| Some(digest) != digests.first()) {
        return Err(format!("{}: decode digests differ: {digests:?}", codec.name()).into());
    }

    let identical = if fk_batch == kp_batch {
        "byte-identical"
    } else {
        "different bytes"
    };
    println!(
        "  {:<4}  ferrokafka batch {:>7} B -> kafka-protocol decodes {} records; \
         kafka-protocol batch {:>7} B -> ferrokafka decodes {} records; \
         all match the input; the two batches are {identical}",
        codec.name(),
        fk_batch.len(),
        kp_reads_fk.len(),
        kp_batch.len(),
        fk_reads_kp.records.len(),
    );
    Ok(Batches {
        ferrokafka: fk_batch,
        kafka_protocol: kp_batch,
    })
}

/// One line pair of the table.
struct Row {
    case: String,
    kp_name: &'static str,
    fk: Stats,
    kp: Stats,
}

/// Which cases to measure, and how.
struct Plan<'a> {
    timing: &'a Timing,
    /// `--only`: measure only cases whose name contains it.
    only: Option<String>,
}

impl Plan<'_> {
    /// Measures ferrokafka against kafka-protocol for one case, unless
    /// `--only` leaves it out. Supplementary cases also match
    /// `--only supplementary`.
    fn measure(
        &self,
        case: &str,
        kp_name: &'static str,
        supplementary: bool,
        fk: &mut harness::Workload<'_>,
        kp: &mut harness::Workload<'_>,
    ) -> Result<Option<Row>> {
        let full_name = if supplementary {
            format!("{case} supplementary")
        } else {
            case.to_owned()
        };
        if self
            .only
            .as_ref()
            .is_some_and(|only| !full_name.contains(only.as_str()))
        {
            return Ok(None);
        }
        eprintln!("measuring {full_name} ...");
        let (fk, kp) = harness::compare(self.timing, fk, kp)?;
        Ok(Some(Row {
            case: case.to_owned(),
            kp_name,
            fk,
            kp,
        }))
    }
}

/// Prints the table header.
fn print_header() {
    println!(
        "{:<14} {:<26} {:>9} {:>12} {:>8} {:>7} {:>6}   ferrokafka/kafka-protocol",
        "case", "implementation", "us/batch", "records/s", "MB/s", "spread", "iters"
    );
}

/// Prints one case: the ferrokafka line with the ratio, then the other.
fn print_row(row: &Row, input: &Input, goal: bool) {
    let line = |case: &str, name: &str, stats: &Stats| {
        let seconds = stats.median().as_secs_f64();
        let (records, megabytes) = if seconds > 0.0 {
            (
                input.count() / seconds,
                input.batch_bytes as f64 / MB / seconds,
            )
        } else {
            (0.0, 0.0)
        };
        format!(
            "{:<14} {:<26} {:>9.1} {:>10.2} M {:>8.1} {:>6.1}% {:>6}",
            case,
            name,
            seconds * 1e6,
            records / 1e6,
            megabytes,
            stats.spread() * 100.0,
            stats.iterations_per_round()
        )
    };
    let fk_time = row.fk.median().as_secs_f64();
    let ratio = if fk_time > 0.0 {
        row.kp.median().as_secs_f64() / fk_time
    } else {
        0.0
    };
    let verdict = if !goal {
        ""
    } else if ratio >= GOAL {
        "  (goal >= 1.5x: met)"
    } else {
        "  (goal >= 1.5x: NOT met)"
    };
    println!(
        "{}   {ratio:.2}x{verdict}",
        line(&row.case, "ferrokafka", &row.fk)
    );
    println!("{}", line("", row.kp_name, &row.kp));
}

/// Runs the `codec` subcommand.
pub(crate) fn run(mut args: Args) -> Result<()> {
    let timing = Timing::from_args(&mut args)?;
    let only = args.value::<String>("--only")?;
    args.finish()?;

    let input = Input::generate()?;
    let key_len = input.records.first().map_or(0, |r| r.key.len());
    println!(
        "codec: one magic v2 batch of {} records ({key_len}-byte keys, {VALUE_SIZE}-byte values, \
         no headers), {} bytes uncompressed (batch.size {BATCH_SIZE})",
        input.records.len(),
        input.batch_bytes
    );
    println!("cross-check (each side's batch decoded by the other):");
    let plain = cross_check(&input, Codec::None)?;
    let lz4 = cross_check(&input, Codec::Lz4)?;
    println!(
        "timing: median of {} rounds after {:.1} s warm-up, ~{:.1} s per case and implementation;\n        \
         MB/s = uncompressed batch bytes (10^6) per second; both sides decode kafka-protocol's batch;\n        \
         ratio = kafka-protocol time / ferrokafka time (higher is better for ferrokafka)",
        timing.rounds,
        timing.warmup.as_secs_f64(),
        timing.seconds
    );

    let plan = Plan {
        timing: &timing,
        only,
    };
    let kp_name = "kafka-protocol 0.18";
    let mut rows = Vec::new();
    for (codec, batches) in [(Codec::None, &plain), (Codec::Lz4, &lz4)] {
        let batch = &batches.kafka_protocol;
        rows.extend(plan.measure(
            &format!("encode {}", codec.name()),
            kp_name,
            false,
            &mut || Ok(black_box(fk_encode(black_box(&input.records), codec)?).len() as u64),
            &mut || Ok(black_box(kp_encode(black_box(&input.kp_records), codec)?).len() as u64),
        )?);
        rows.extend(plan.measure(
            &format!("decode {}", codec.name()),
            kp_name,
            false,
            &mut || Ok(fk_digest(&fk_decode(black_box(batch))?).fold()),
            &mut || Ok(kp_digest(&kp_decode(black_box(batch))?).fold()),
        )?);
    }

    let mut extra = Vec::new();
    extra.extend(plan.measure(
        "(a) encode lz4",
        "kafka-protocol + lz4_flex",
        true,
        &mut || Ok(black_box(fk_encode(black_box(&input.records), Codec::Lz4)?).len() as u64),
        &mut || Ok(black_box(kp_encode_lz4_flex(black_box(&input.kp_records))?).len() as u64),
    )?);
    extra.extend(plan.measure(
        "(b) decode lz4",
        "kafka-protocol + lz4_flex",
        true,
        &mut || Ok(fk_digest(&fk_decode(black_box(&lz4.kafka_protocol))?).fold()),
        &mut || Ok(kp_digest(&kp_decode_lz4_flex(black_box(&lz4.kafka_protocol))?).fold()),
    )?);
    extra.extend(plan.measure(
        "(c) decode lz4",
        kp_name,
        true,
        &mut || Ok(fk_digest(&fk_decode(black_box(&lz4.ferrokafka))?).fold()),
        &mut || Ok(kp_digest(&kp_decode(black_box(&lz4.ferrokafka))?).fold()),
    )?);

    println!();
    print_header();
    for row in &rows {
        print_row(row, &input, true);
    }
    if extra.is_empty() {
        return Ok(());
    }
    println!(
        "\nsupplementary, to tell the lz4 codec from the record layer:\n  \
         (a), (b) kafka-protocol given ferrokafka's lz4 (lz4_flex, fast mode) through its custom \
         (de)compression hooks\n           instead of its own liblz4 level 4 (HC mode, XXH32 block and content checksums)\n  \
         (c)      both crates as shipped, decoding ferrokafka's lz4 batch (framed like the Java \
         client's: no checksums)"
    );
    print_header();
    for row in &extra {
        print_row(row, &input, false);
    }
    Ok(())
}
