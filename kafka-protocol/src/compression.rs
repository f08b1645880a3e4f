//! The four compression codecs a record batch can use, and bounded
//! decompression.
//!
//! A batch's attributes name its codec (bits 0-2: 0 none, 1 gzip, 2 snappy,
//! 3 lz4, 4 zstd); the whole records section is compressed as one block. The
//! wire forms follow what the Java client writes, so Java, librdkafka and
//! ferrokafka can read each other's batches:
//!
//! - **gzip**: RFC 1952 members (flate2); several concatenated members are
//!   read as one stream, as `java.util.zip.GZIPInputStream` does.
//! - **snappy**: the xerial `snappy-java` stream framing (magic
//!   `\x82SNAPPY\x00`, version 1, compatible version 1, then blocks of a
//!   big-endian `i32` length and a raw snappy block of at most 32 KiB input).
//!   librdkafka writes *raw* snappy instead, so decompression accepts both:
//!   input that does not start with the xerial magic is read as one raw
//!   snappy block, as snappy-java itself falls back to.
//! - **lz4**: the LZ4 frame format with 64 KiB independent blocks and no
//!   checksums, which is what the Java client's `Lz4BlockOutputStream`
//!   writes (its reader rejects linked blocks). Reading parses the frame
//!   here and decompresses each block straight into the output buffer;
//!   frames this does not handle (legacy, skippable, dictionary, or more
//!   than one frame) and malformed ones go through `lz4_flex`'s streaming
//!   decoder, which reads and rejects them as it always has. The optional
//!   XXH32 block and content checksums are verified, except when a record
//!   batch's CRC-32C (which covers the compressed bytes) already was.
//! - **zstd**: standard zstd frames.
//!
//! Decompression is bounded: every codec stops at `limit + 1` output bytes
//! and fails with [`ProtocolError::DecompressedTooLarge`], and snappy's
//! declared uncompressed length is checked against the limit before anything
//! is allocated, so a small hostile batch (a "zip bomb") cannot exhaust
//! memory.

use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, Result};

/// The default ceiling on one batch's decompressed size: 64 MiB.
///
/// Why this number: Kafka's default `message.max.bytes` is about 1 MiB, and
/// realistic payloads (JSON, logs, Avro) compress 3-20x, so a legitimate
/// batch decompresses to a few MiB at most; 64 MiB leaves room for a broker
/// configured with a larger `message.max.bytes` and very compressible data,
/// while stopping a hostile batch (which can claim ratios of 1000x and more)
/// long before it threatens the process. Deployments that raise
/// `message.max.bytes` further should raise the limit in their decode options.
pub const DEFAULT_DECOMPRESSION_LIMIT: usize = 64 * 1024 * 1024;

/// The compression codec of a record batch (attribute bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (id 0).
    #[default]
    None,
    /// gzip, RFC 1952 (id 1).
    Gzip,
    /// Snappy: xerial framing written, xerial or raw read (id 2).
    Snappy,
    /// LZ4 frame format (id 3).
    Lz4,
    /// Zstandard (id 4); needs magic v2 batches (Kafka 2.1+).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with wire id `id`; ids outside 0..=4 are
    /// [`ProtocolError::UnknownCompression`].
    pub fn from_id(id: u8) -> Result<Self> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(ProtocolError::UnknownCompression(other)),
        }
    }

    /// The wire id (0..=4) carried in a batch's attributes.
    pub const fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` setting uses: `none`, `gzip`,
    /// `snappy`, `lz4` or `zstd`.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec a `compression.type` value names (ASCII case-insensitive),
    /// or `None` for an unknown name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The xerial snappy-java stream header: magic, version 1, compatible
/// version 1 (big-endian `i32`s), as the Java client writes it.
const XERIAL_HEADER: [u8; 16] = *b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
/// The first 8 bytes of [`XERIAL_HEADER`], which identify the framing.
const XERIAL_MAGIC: &[u8] = b"\x82SNAPPY\x00";
/// snappy-java's default block size; each block holds at most this much input.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

/// Compresses `input` with `codec` at the codec's default level, appending
/// the result to `out`. [`Compression::None`] appends `input` unchanged.
pub fn compress(codec: Compression, input: &[u8], out: &mut BytesMut) -> Result<()> {
    compress_with_level(codec, input, None, out)
}

/// Compresses `input` with `codec`, appending the result to `out`.
///
/// `level` follows the Java client's `compression.<codec>.level` settings
/// (KIP-390): gzip 1..=9 (default 6), zstd -131072..=22 (default 3).
/// Snappy has no levels and lz4 here has one speed (the Java client's
/// default, fast compressor), so `level` is ignored for them; `None` picks
/// the default.
pub fn compress_with_level(
    codec: Compression,
    input: &[u8],
    level: Option<i32>,
    out: &mut BytesMut,
) -> Result<()> {
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => compress_gzip(input, level, out),
        Compression::Snappy => compress_snappy(input, out),
        Compression::Lz4 => compress_lz4(input, out),
        Compression::Zstd => compress_zstd(input, level, out),
    }
}

fn compression_error(codec: Compression, error: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Compression {
        codec: codec.name(),
        message: error.to_string(),
    }
}

fn decompression_error(codec: Compression, error: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Decompression {
        codec: codec.name(),
        message: error.to_string(),
    }
}

fn too_large(codec: Compression, limit: usize) -> ProtocolError {
    ProtocolError::DecompressedTooLarge {
        codec: codec.name(),
        limit,
    }
}

fn compress_gzip(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<()> {
    // Java's GZIPOutputStream uses Deflater's default, level 6.
    let level = match level {
        None => flate2::Compression::new(6),
        Some(level @ 0..=9) => flate2::Compression::new(level.unsigned_abs()),
        Some(level) => {
            return Err(compression_error(
                Compression::Gzip,
                format_args!("level {level} is outside 0..=9"),
            ));
        }
    };
    let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
    encoder
        .write_all(input)
        .map_err(|e| compression_error(Compression::Gzip, e))?;
    encoder
        .finish()
        .map_err(|e| compression_error(Compression::Gzip, e))?;
    Ok(())
}

fn compress_snappy(input: &[u8], out: &mut BytesMut) -> Result<()> {
    let codec = Compression::Snappy;
    out.reserve(
        XERIAL_HEADER.len() + snap::raw::max_compress_len(input.len().min(XERIAL_BLOCK_SIZE)),
    );
    out.extend_from_slice(&XERIAL_HEADER);
    let mut encoder = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_SIZE) {
        let bound = snap::raw::max_compress_len(block.len());
        // Write the block straight into `out`: room for the length prefix and
        // the worst-case compressed size, then trim to what was written.
        let length_at = out.len();
        let block_at = length_at + 4;
        out.resize(block_at + bound, 0);
        let target = out
            .get_mut(block_at..)
            .ok_or_else(|| compression_error(codec, "output buffer too short"))?;
        let written = encoder
            .compress(block, target)
            .map_err(|e| compression_error(codec, e))?;
        out.truncate(block_at + written);
        // A 32 KiB block never compresses to more than ~38 KiB, so this fits.
        let length = u32::try_from(written).map_err(|e| compression_error(codec, e))?;
        if let Some(prefix) = out.get_mut(length_at..block_at) {
            prefix.copy_from_slice(&length.to_be_bytes());
        }
    }
    Ok(())
}

/// The largest block the Java client writes, and its reader accepts, in an
/// lz4 frame: 64 KiB (BD block-size code 4).
const LZ4_BLOCK_SIZE: usize = 64 * 1024;
/// The frame header we write: magic, FLG (version 01, independent blocks,
/// no block or content checksum, no content size, no dictionary), BD (64 KiB
/// maximum block size), then the header checksum, `(xxh32(FLG, BD) >> 8) as
/// u8`, which a test checks.
const LZ4_FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0x82];
/// The end mark: a zero block size.
const LZ4_END_MARK: [u8; 4] = [0; 4];

/// The lz4 compressor's scratch space, kept per thread so that compressing
/// a batch allocates nothing but the output: a hash table of 16-bit
/// positions for blocks shorter than 65535 bytes (half the memory to clear
/// and to keep in cache), one of 32-bit positions for full 64 KiB blocks,
/// and room for one block's worst-case compressed output.
struct Lz4Scratch {
    small: lz4_flex::block::CompressTable,
    large: lz4_flex::block::CompressTable,
    block: Vec<u8>,
}

impl Lz4Scratch {
    fn new() -> Self {
        Lz4Scratch {
            small: lz4_flex::block::CompressTable::small(),
            large: lz4_flex::block::CompressTable::large(),
            block: vec![0; lz4_flex::block::get_maximum_output_size(LZ4_BLOCK_SIZE)],
        }
    }

    /// Compresses `block` (at most 64 KiB) into the scratch block buffer,
    /// returning the compressed bytes.
    fn compress(&mut self, block: &[u8]) -> Result<&[u8]> {
        let codec = Compression::Lz4;
        // A small table would be replaced by a large one for 65535 bytes
        // and more.
        let table = if block.len() < usize::from(u16::MAX) {
            &mut self.small
        } else {
            &mut self.large
        };
        let written = lz4_flex::block::compress_into_with_table(block, &mut self.block, table)
            .map_err(|e| compression_error(codec, e))?;
        self.block
            .get(..written)
            .ok_or_else(|| compression_error(codec, "output buffer too short"))
    }
}

thread_local! {
    static LZ4_SCRATCH: std::cell::RefCell<Lz4Scratch> = std::cell::RefCell::new(Lz4Scratch::new());
}

/// Writes `input` as one LZ4 frame the way the Java client's
/// `KafkaLZ4BlockOutputStream` does: 64 KiB independent blocks, no
/// checksums, each block stored uncompressed (size word's high bit set) when
/// compressing does not make it smaller, then the end mark.
///
/// Blocks are compressed with this thread's reused hash tables and block
/// buffer, instead of through a `FrameEncoder`, which allocates its block
/// buffers and table per batch and copies every block in and out of them.
fn compress_lz4(input: &[u8], out: &mut BytesMut) -> Result<()> {
    let reused = LZ4_SCRATCH.try_with(|cell| {
        cell.try_borrow_mut()
            .ok()
            .map(|mut scratch| write_lz4_frame(input, out, &mut scratch))
    });
    match reused {
        Ok(Some(result)) => result,
        // The scratch is in use (not reachable: nothing here re-enters) or,
        // as the thread exits, gone; a fresh one is always correct.
        Ok(None) | Err(_) => write_lz4_frame(input, out, &mut Lz4Scratch::new()),
    }
}

/// [`compress_lz4`] with the scratch space given. On error `out` is left as
/// it was.
fn write_lz4_frame(input: &[u8], out: &mut BytesMut, scratch: &mut Lz4Scratch) -> Result<()> {
    let start = out.len();
    let result = append_lz4_frame(input, out, scratch);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The body of [`write_lz4_frame`]: appends the frame to `out`, which grows
/// only by what is written (callers size it for the compressed batch they
/// expect).
fn append_lz4_frame(input: &[u8], out: &mut BytesMut, scratch: &mut Lz4Scratch) -> Result<()> {
    out.extend_from_slice(&LZ4_FRAME_HEADER);
    for block in input.chunks(LZ4_BLOCK_SIZE) {
        let compressed = scratch.compress(block)?;
        // Stored when compressing does not help, as the Java client does.
        let stored = compressed.len() >= block.len();
        let data = if stored { block } else { compressed };
        // A block is at most 64 KiB, so its size fits in the low 31 bits.
        let mut word =
            u32::try_from(data.len()).map_err(|e| compression_error(Compression::Lz4, e))?;
        if stored {
            word |= LZ4_BLOCK_UNCOMPRESSED;
        }
        out.reserve(data.len().saturating_add(4));
        out.extend_from_slice(&word.to_le_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&LZ4_END_MARK);
    Ok(())
}

fn compress_zstd(input: &[u8], level: Option<i32>, out: &mut BytesMut) -> Result<()> {
    // Bulk compression records the content size in the frame header, which
    // lets readers size their window to the batch instead of the level's
    // maximum. Level 3 is the Java client's (and zstd's) default.
    let level = level.unwrap_or(3);
    let start = out.len();
    let bound = zstd::zstd_safe::compress_bound(input.len());
    out.resize(start + bound, 0);
    let target = out
        .get_mut(start..)
        .ok_or_else(|| compression_error(Compression::Zstd, "output buffer too short"))?;
    let written = zstd::bulk::compress_to_buffer(input, target, level);
    match written {
        Ok(written) => {
            out.truncate(start + written);
            Ok(())
        }
        Err(error) => {
            out.truncate(start);
            Err(compression_error(Compression::Zstd, error))
        }
    }
}

/// Decompresses `input` (the records section of a batch compressed with
/// `codec`), failing with [`ProtocolError::DecompressedTooLarge`] as soon as
/// the output would exceed `limit` bytes; nothing past `limit + 1` bytes is
/// ever produced or allocated for. [`Compression::None`] copies `input`.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Bytes> {
    decompress_records(codec, input, limit, true)
}

/// [`decompress`], optionally skipping the codec's own checksums over data
/// that is already known to be intact: a batch whose CRC-32C, which covers
/// the compressed bytes, was just verified. Only lz4 has such checksums
/// (XXH32 per block and over the content, both optional in a frame).
pub(crate) fn decompress_records(
    codec: Compression,
    input: &[u8],
    limit: usize,
    verify_checksums: bool,
) -> Result<Bytes> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(too_large(codec, limit));
            }
            Ok(Bytes::copy_from_slice(input))
        }
        Compression::Gzip => read_bounded(
            codec,
            flate2::read::MultiGzDecoder::new(input),
            input.len(),
            limit,
        ),
        Compression::Snappy => decompress_snappy(input, limit),
        Compression::Lz4 => match decompress_lz4_frame(input, limit, verify_checksums) {
            Some(result) => result.map(Bytes::from),
            // Anything the direct path does not handle, and any error it
            // met, goes through the streaming decoder, which handles every
            // frame lz4_flex reads and reports errors as it always has.
            None => read_bounded(
                codec,
                lz4_flex::frame::FrameDecoder::new(input),
                input.len(),
                limit,
            ),
        },
        Compression::Zstd => {
            // zstd's own default window limit (2^27 = 128 MiB) stays in
            // force: Java producers at high levels write frames with that
            // window and no content size, and they must stay readable.
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| decompression_error(codec, e))?;
            read_bounded(codec, decoder, input.len(), limit)
        }
    }
}

/// Reads `reader` to its end through a `take(limit + 1)`, so a stream that
/// would exceed `limit` stops one byte past it and is reported as too large.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    input_len: usize,
    limit: usize,
) -> Result<Bytes> {
    // A guess that avoids most regrowth for typical ratios, never above the
    // limit: the input length is honest (it is what we hold), the ratio is not.
    let guess = input_len.saturating_mul(4).min(limit);
    let mut out = Vec::with_capacity(guess);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| decompression_error(codec, e))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(Bytes::from(out))
}

/// The LZ4 frame magic number (little-endian on the wire).
const LZ4_FRAME_MAGIC: [u8; 4] = 0x184D_2204_u32.to_le_bytes();
/// FLG: the version bits (7-6), which must be `01`.
const LZ4_FLG_VERSION_MASK: u8 = 0xC0;
/// FLG: version `01`.
const LZ4_FLG_VERSION_1: u8 = 0x40;
/// FLG: blocks are independent (no back-references into earlier blocks).
const LZ4_FLG_INDEPENDENT: u8 = 0x20;
/// FLG: every block is followed by an XXH32 of its (stored) bytes.
const LZ4_FLG_BLOCK_CHECKSUM: u8 = 0x10;
/// FLG: the descriptor holds the content size (8 bytes, little-endian).
const LZ4_FLG_CONTENT_SIZE: u8 = 0x08;
/// FLG: the end mark is followed by an XXH32 of the whole content.
const LZ4_FLG_CONTENT_CHECKSUM: u8 = 0x04;
/// FLG: the reserved bit and the dictionary id bit, which this fast path
/// leaves to the streaming decoder.
const LZ4_FLG_UNHANDLED: u8 = 0x03;
/// BD: the reserved bits.
const LZ4_BD_RESERVED: u8 = 0x8F;
/// The high bit of a block size: the block is stored uncompressed.
const LZ4_BLOCK_UNCOMPRESSED: u32 = 0x8000_0000;
/// How far back a match can reach, and so how much of the previous blocks
/// a linked block may use.
const LZ4_WINDOW: usize = 64 * 1024;
/// LZ4's best compression ratio is below 255:1 (a match of 255 bytes costs
/// at least one extension byte); room for a block's output is bounded by
/// this ratio too, so a tiny block in a frame with 4 MiB blocks does not
/// make us zero 4 MiB.
const LZ4_MAX_RATIO: usize = 255;

/// `N` bytes of `input` at `at`, or `None` past its end.
#[inline]
fn bytes_at<const N: usize>(input: &[u8], at: usize) -> Option<[u8; N]> {
    input.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Decompresses one LZ4 frame block by block straight into the output,
/// without the streaming decoder's intermediate buffers and copies.
///
/// Returns `None` (so the caller uses the streaming decoder, which then
/// decodes or reports the problem as it always has) for what this path does
/// not handle (legacy, skippable, dictionary and concatenated frames) and
/// for every malformation; `Some(Err(..))` only for
/// [`ProtocolError::DecompressedTooLarge`]. Never holds more than `limit + 1`
/// bytes of output. Block and content checksums are verified only if
/// `verify_checksums` says so; the header checksum always is.
fn decompress_lz4_frame(
    input: &[u8],
    limit: usize,
    verify_checksums: bool,
) -> Option<Result<Vec<u8>>> {
    let codec = Compression::Lz4;
    if input.get(..4)? != LZ4_FRAME_MAGIC {
        return None;
    }
    let [flg, bd] = bytes_at::<2>(input, 4)?;
    if flg & LZ4_FLG_VERSION_MASK != LZ4_FLG_VERSION_1
        || flg & LZ4_FLG_UNHANDLED != 0
        || bd & LZ4_BD_RESERVED != 0
    {
        return None;
    }
    let block_max: usize = match (bd >> 4) & 0x07 {
        4 => 64 * 1024,
        5 => 256 * 1024,
        6 => 1024 * 1024,
        7 => 4 * 1024 * 1024,
        _ => return None,
    };
    let mut at = 6;
    let content_size = if flg & LZ4_FLG_CONTENT_SIZE != 0 {
        let size = u64::from_le_bytes(bytes_at(input, at)?);
        at = 14;
        Some(size)
    } else {
        None
    };
    let stored_header_checksum = *input.get(at)?;
    if (xxh32(input.get(4..at)?) >> 8) as u8 != stored_header_checksum {
        return None;
    }
    at += 1;
    let linked = flg & LZ4_FLG_INDEPENDENT == 0;
    let block_checksums = flg & LZ4_FLG_BLOCK_CHECKSUM != 0;

    // The content size, when the frame gives it, is exact; otherwise guess
    // a typical ratio. Either way never more than the limit allows, nor
    // more than the input could honestly expand to.
    let bound = limit.min(input.len().saturating_mul(LZ4_MAX_RATIO));
    let guess = content_size
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or_else(|| input.len().saturating_mul(4))
        .min(bound);
    let mut out: Vec<u8> = Vec::with_capacity(guess);
    loop {
        let word = u32::from_le_bytes(bytes_at(input, at)?);
        at = at.checked_add(4)?;
        if word == 0 {
            // The end mark, then maybe the content checksum.
            if flg & LZ4_FLG_CONTENT_CHECKSUM != 0 {
                let stored = u32::from_le_bytes(bytes_at(input, at)?);
                at = at.checked_add(4)?;
                if verify_checksums && xxh32(&out) != stored {
                    return None;
                }
            }
            if content_size.is_some_and(|size| u64::try_from(out.len()).ok() != Some(size)) {
                return None;
            }
            // Another frame after this one is the streaming decoder's job.
            return (at == input.len()).then_some(Ok(out));
        }
        let len = usize::try_from(word & !LZ4_BLOCK_UNCOMPRESSED).ok()?;
        if len > block_max {
            return None;
        }
        let end = at.checked_add(len)?;
        let block = input.get(at..end)?;
        at = end;
        if block_checksums {
            let stored = u32::from_le_bytes(bytes_at(input, at)?);
            at = at.checked_add(4)?;
            if verify_checksums && xxh32(block) != stored {
                return None;
            }
        }
        let pos = out.len();
        // How many more bytes the limit allows.
        let room = limit.saturating_sub(pos);
        if word & LZ4_BLOCK_UNCOMPRESSED != 0 {
            if len > room {
                return Some(Err(too_large(codec, limit)));
            }
            out.extend_from_slice(block);
            continue;
        }
        // Room for the block's output: its maximum size, but no more than
        // one byte past the limit (to tell "at the limit" from "past it").
        let past_limit = room.saturating_add(1);
        let capacity = block_max
            .min(past_limit)
            .min(len.saturating_mul(LZ4_MAX_RATIO).saturating_add(64));
        out.resize(pos.checked_add(capacity)?, 0);
        let (previous, target) = out.split_at_mut(pos);
        let written = if linked && pos > 0 {
            let dictionary = previous.get(pos.saturating_sub(LZ4_WINDOW)..)?;
            lz4_flex::block::decompress_into_with_dict(block, target, dictionary)
        } else {
            lz4_flex::block::decompress_into(block, target)
        };
        match written {
            Ok(written) if written <= room => out.truncate(pos.saturating_add(written)),
            Ok(_) => return Some(Err(too_large(codec, limit))),
            Err(lz4_flex::block::DecompressError::OutputTooSmall { .. })
                if capacity == past_limit =>
            {
                return Some(Err(too_large(codec, limit)));
            }
            Err(_) => return None,
        }
    }
}

fn decompress_snappy(input: &[u8], limit: usize) -> Result<Bytes> {
    let codec = Compression::Snappy;
    let Some(mut rest) = input.strip_prefix(XERIAL_MAGIC) else {
        // Raw snappy, as librdkafka writes it: one block whose header
        // declares the uncompressed length, checked before allocating.
        let mut out = Vec::new();
        append_snappy_block(input, &mut out, limit)?;
        return Ok(Bytes::from(out));
    };
    // Skip the version and compatible-version words; snappy-java writes 1
    // and 1 and every reader since ignores them.
    rest = rest
        .get(8..)
        .ok_or_else(|| decompression_error(codec, "truncated xerial header"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        // snappy-java reads concatenated streams, each with its own header;
        // the magic's first byte (0x82) can never start a valid length.
        if let Some(after_magic) = rest.strip_prefix(XERIAL_MAGIC) {
            rest = after_magic
                .get(8..)
                .ok_or_else(|| decompression_error(codec, "truncated xerial header"))?;
            continue;
        }
        let (length, after_length) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| decompression_error(codec, "truncated xerial block length"))?;
        let length = i32::from_be_bytes(*length);
        let length = usize::try_from(length).map_err(|_| {
            decompression_error(codec, format_args!("negative block length {length}"))
        })?;
        if length > after_length.len() {
            return Err(decompression_error(
                codec,
                format_args!("block of {length} bytes but {} remain", after_length.len()),
            ));
        }
        let (block, after_block) = after_length.split_at(length);
        append_snappy_block(block, &mut out, limit)?;
        rest = after_block;
    }
    Ok(Bytes::from(out))
}

/// Decompresses one raw snappy block onto the end of `out`, checking the
/// block's declared length against what `limit` still allows before
/// growing `out`.
fn append_snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let codec = Compression::Snappy;
    let declared = snap::raw::decompress_len(block).map_err(|e| decompression_error(codec, e))?;
    let start = out.len();
    let end = start
        .checked_add(declared)
        .filter(|end| *end <= limit)
        .ok_or_else(|| too_large(codec, limit))?;
    out.resize(end, 0);
    let target = out
        .get_mut(start..)
        .ok_or_else(|| decompression_error(codec, "output buffer too short"))?;
    let written = snap::raw::Decoder::new()
        .decompress(block, target)
        .map_err(|e| decompression_error(codec, e))?;
    out.truncate(start + written.min(declared));
    Ok(())
}

/// Decompresses the value of a legacy (magic 0 or 1) compressed wrapper
/// message.
///
/// Identical to [`decompress`] except for lz4 in magic 0: Kafka before 0.10
/// computed the LZ4 frame descriptor checksum over the magic number too
/// (KAFKA-1493), and magic 0 messages carry that broken checksum. Such a
/// header is repaired (on a copy) before decoding, as the Java client's
/// reader ignores it for magic 0.
pub(crate) fn decompress_legacy(
    codec: Compression,
    magic: i8,
    input: &[u8],
    limit: usize,
) -> Result<Bytes> {
    if codec == Compression::Lz4 && magic == 0 {
        if let Some(repaired) = repair_kafka_1493_lz4_header(input) {
            return decompress(codec, &repaired, limit);
        }
    }
    decompress(codec, input, limit)
}

/// If `input` is an LZ4 frame whose descriptor checksum was computed the
/// KAFKA-1493 way (over magic and descriptor), returns a copy with the
/// correct checksum (over the descriptor only); otherwise `None`.
fn repair_kafka_1493_lz4_header(input: &[u8]) -> Option<Vec<u8>> {
    const LZ4_MAGIC: [u8; 4] = 0x184D_2204_u32.to_le_bytes();
    const FLG_CONTENT_SIZE: u8 = 0x08;
    const FLG_DICTIONARY_ID: u8 = 0x01;
    if input.get(..4)? != LZ4_MAGIC {
        return None;
    }
    let flg = *input.get(4)?;
    let mut descriptor_end = 6;
    if flg & FLG_CONTENT_SIZE != 0 {
        descriptor_end += 8;
    }
    if flg & FLG_DICTIONARY_ID != 0 {
        descriptor_end += 4;
    }
    let stored = *input.get(descriptor_end)?;
    let correct = (xxh32(input.get(4..descriptor_end)?) >> 8) as u8;
    let broken = (xxh32(input.get(..descriptor_end)?) >> 8) as u8;
    if stored == correct || stored != broken {
        return None;
    }
    let mut repaired = input.to_vec();
    *repaired.get_mut(descriptor_end)? = correct;
    Some(repaired)
}

/// XXH32 with seed 0, as the LZ4 frame descriptor checksum uses; only
/// needed for the short descriptor in [`repair_kafka_1493_lz4_header`].
fn xxh32(input: &[u8]) -> u32 {
    const P1: u32 = 2_654_435_761;
    const P2: u32 = 2_246_822_519;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    fn round(acc: u32, lane: u32) -> u32 {
        acc.wrapping_add(lane.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    }
    fn lane(chunk: &[u8]) -> u32 {
        let mut word = [0u8; 4];
        word.copy_from_slice(chunk);
        u32::from_le_bytes(word)
    }
    let stripes = input.chunks_exact(16);
    let tail = stripes.remainder();
    let mut hash = if input.len() >= 16 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u32.wrapping_sub(P1)];
        for stripe in stripes {
            for (acc, chunk) in v.iter_mut().zip(stripe.chunks_exact(4)) {
                *acc = round(*acc, lane(chunk));
            }
        }
        let [v1, v2, v3, v4] = v;
        v1.rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18))
    } else {
        P5
    };
    hash = hash.wrapping_add(input.len() as u32);
    let words = tail.chunks_exact(4);
    let bytes = words.remainder();
    for word in words {
        hash = hash
            .wrapping_add(lane(word).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for byte in bytes {
        hash = hash
            .wrapping_add(u32::from(*byte).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    hash ^= hash >> 15;
    hash = hash.wrapping_mul(P2);
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(P3);
    hash ^= hash >> 16;
    hash
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a repeating text with a counter.
        let mut out = Vec::with_capacity(len);
        let mut i = 0u32;
        while out.len() < len {
            out.extend_from_slice(format!("record-{i} payload {} ", i % 7).as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    #[test]
    fn ids_and_names_round_trip() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_id(codec.id()).unwrap(), codec);
            assert_eq!(Compression::from_name(codec.name()), Some(codec));
            assert_eq!(codec.to_string(), codec.name());
        }
        assert_eq!(Compression::from_name("ZSTD"), Some(Compression::Zstd));
        assert_eq!(Compression::from_name("brotli"), None);
        for id in 5..=7 {
            assert_eq!(
                Compression::from_id(id),
                Err(ProtocolError::UnknownCompression(id))
            );
        }
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_multi_block_input() {
        for codec in Compression::ALL {
            for len in [
                0,
                1,
                100,
                XERIAL_BLOCK_SIZE,
                3 * XERIAL_BLOCK_SIZE + 17,
                300_000,
            ] {
                let input = sample(len);
                let mut out = BytesMut::new();
                compress(codec, &input, &mut out).unwrap();
                let back = decompress(codec, &out, DEFAULT_DECOMPRESSION_LIMIT).unwrap();
                assert_eq!(back.len(), input.len(), "{codec} at {len}");
                assert!(back[..] == input[..], "{codec} at {len}");
            }
        }
    }

    #[test]
    fn compress_appends_after_existing_bytes() {
        for codec in Compression::ALL {
            let mut out = BytesMut::from(&b"prefix"[..]);
            compress(codec, b"hello hello hello", &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            let back = decompress(codec, &out[6..], 1024).unwrap();
            assert_eq!(&back[..], b"hello hello hello");
        }
    }

    #[test]
    fn levels_are_honoured_and_checked() {
        let input = sample(50_000);
        for level in [1, 9] {
            let mut out = BytesMut::new();
            compress_with_level(Compression::Gzip, &input, Some(level), &mut out).unwrap();
            assert_eq!(
                decompress(Compression::Gzip, &out, usize::MAX)
                    .unwrap()
                    .len(),
                input.len()
            );
        }
        let mut out = BytesMut::new();
        assert!(matches!(
            compress_with_level(Compression::Gzip, &input, Some(10), &mut out),
            Err(ProtocolError::Compression { codec: "gzip", .. })
        ));
        for level in [-5, 1, 19] {
            let mut out = BytesMut::new();
            compress_with_level(Compression::Zstd, &input, Some(level), &mut out).unwrap();
            assert_eq!(
                decompress(Compression::Zstd, &out, usize::MAX)
                    .unwrap()
                    .len(),
                input.len()
            );
        }
    }

    #[test]
    fn snappy_writes_the_xerial_framing_in_32k_blocks() {
        let input = sample(XERIAL_BLOCK_SIZE + 10);
        let mut out = BytesMut::new();
        compress(Compression::Snappy, &input, &mut out).unwrap();
        assert_eq!(&out[..16], &XERIAL_HEADER);
        let first = u32::from_be_bytes(out[16..20].try_into().unwrap()) as usize;
        let first_block = &out[20..20 + first];
        assert_eq!(
            snap::raw::decompress_len(first_block).unwrap(),
            XERIAL_BLOCK_SIZE
        );
        let second_at = 20 + first;
        let second = u32::from_be_bytes(out[second_at..second_at + 4].try_into().unwrap()) as usize;
        assert_eq!(out.len(), second_at + 4 + second);
        assert_eq!(
            snap::raw::decompress_len(&out[second_at + 4..]).unwrap(),
            10
        );
    }

    #[test]
    fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
        let input = sample(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        let back = decompress(Compression::Snappy, &raw, 10_000).unwrap();
        assert!(back[..] == input[..]);
    }

    #[test]
    fn snappy_reads_the_bytes_the_java_client_writes() {
        // A one-record batch body (null key, value "sdfdsf") framed the way
        // snappy-java frames it: header, one length-prefixed raw block.
        let java = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x0f\x0d\x30\x18\x00\x00\x00\x01\x0csdfdsf\x00";
        let back = decompress(Compression::Snappy, java, 100).unwrap();
        assert_eq!(&back[..], b"\x18\x00\x00\x00\x01\x0csdfdsf\x00");
        let mut ours = BytesMut::new();
        compress(Compression::Snappy, &back, &mut ours).unwrap();
        assert_eq!(&ours[..], &java[..]);
    }

    #[test]
    fn snappy_reads_concatenated_xerial_streams() {
        let mut out = BytesMut::new();
        compress(Compression::Snappy, b"first ", &mut out).unwrap();
        compress(Compression::Snappy, b"second", &mut out).unwrap();
        let back = decompress(Compression::Snappy, &out, 100).unwrap();
        assert_eq!(&back[..], b"first second");
    }

    #[test]
    fn snappy_declared_length_is_checked_before_allocating() {
        // A raw block whose varint header claims 2^32 - 1 bytes.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decompress(Compression::Snappy, &bomb, 1 << 20),
            Err(ProtocolError::DecompressedTooLarge {
                codec: "snappy",
                limit: 1 << 20
            })
        );
        // The same inside xerial framing.
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
        framed.extend_from_slice(&bomb);
        assert!(matches!(
            decompress(Compression::Snappy, &framed, 1 << 20),
            Err(ProtocolError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn snappy_rejects_bad_framing() {
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decompress(Compression::Snappy, &framed, 100),
            Err(ProtocolError::Decompression { .. })
        ));
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&100u32.to_be_bytes());
        framed.push(1);
        assert!(matches!(
            decompress(Compression::Snappy, &framed, 100),
            Err(ProtocolError::Decompression { .. })
        ));
        assert!(matches!(
            decompress(Compression::Snappy, &XERIAL_HEADER[..12], 100),
            Err(ProtocolError::Decompression { .. })
        ));
    }

    #[test]
    fn every_codec_stops_a_zip_bomb_at_the_limit() {
        // 8 MiB of zeros compresses to a few KiB with every codec; with a
        // 1 MiB limit each must refuse without producing the 8 MiB.
        let zeros = vec![0u8; 8 << 20];
        let limit = 1 << 20;
        for codec in Compression::ALL {
            let mut out = BytesMut::new();
            compress(codec, &zeros, &mut out).unwrap();
            if codec != Compression::None {
                assert!(
                    out.len() < zeros.len() / 10,
                    "{codec} should compress zeros"
                );
            }
            assert_eq!(
                decompress(codec, &out, limit),
                Err(ProtocolError::DecompressedTooLarge {
                    codec: codec.name(),
                    limit
                }),
                "{codec}"
            );
            // Exactly at the limit is fine.
            let mut out = BytesMut::new();
            compress(codec, &zeros[..limit], &mut out).unwrap();
            assert_eq!(
                decompress(codec, &out, limit).unwrap().len(),
                limit,
                "{codec}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        let garbage = b"this is not compressed data at all, not even close";
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            assert!(
                matches!(
                    decompress(codec, garbage, 1000),
                    Err(ProtocolError::Decompression { .. })
                ),
                "{codec}"
            );
        }
    }

    #[test]
    fn lz4_frames_use_64k_independent_blocks_without_checksums() {
        let mut out = BytesMut::new();
        compress(Compression::Lz4, b"abc", &mut out).unwrap();
        assert_eq!(&out[..4], &[0x04, 0x22, 0x4d, 0x18]);
        // FLG: version 01, independent blocks, nothing else.
        assert_eq!(out[4], 0b0110_0000);
        // BD: 64 KiB maximum block size.
        assert_eq!(out[5], 0x40);
        // The header checksum is XXH32's second byte over FLG and BD.
        assert_eq!((xxh32(&out[4..6]) >> 8) as u8, out[6]);
        assert_eq!(&out[..7], &LZ4_FRAME_HEADER);
        // One compressed block... (a 3-byte block does not compress, so it
        // is stored), then the end mark.
        assert_eq!(&out[7..11], &(3 | LZ4_BLOCK_UNCOMPRESSED).to_le_bytes());
        assert_eq!(&out[11..14], b"abc");
        assert_eq!(&out[14..], &LZ4_END_MARK);
    }

    /// The blocks of a frame [`compress`] wrote: for each, whether it is
    /// stored uncompressed and its bytes.
    fn lz4_blocks(frame: &[u8]) -> Vec<(bool, &[u8])> {
        assert_eq!(&frame[..7], &LZ4_FRAME_HEADER);
        let mut at = 7;
        let mut blocks = Vec::new();
        loop {
            let word = u32::from_le_bytes(frame[at..at + 4].try_into().unwrap());
            at += 4;
            if word == 0 {
                assert_eq!(at, frame.len(), "bytes after the end mark");
                return blocks;
            }
            let len = (word & !LZ4_BLOCK_UNCOMPRESSED) as usize;
            blocks.push((word & LZ4_BLOCK_UNCOMPRESSED != 0, &frame[at..at + len]));
            at += len;
        }
    }

    #[test]
    fn lz4_frames_round_trip_at_block_boundaries() {
        let sizes = [
            0,
            1,
            LZ4_BLOCK_SIZE - 1,
            LZ4_BLOCK_SIZE,
            LZ4_BLOCK_SIZE + 1,
            2 * LZ4_BLOCK_SIZE,
            3 * 1024 * 1024 + 17,
        ];
        for (kind, data) in [("text", sample as fn(usize) -> Vec<u8>), ("noise", noise)] {
            for size in sizes {
                let input = data(size);
                let mut frame = BytesMut::new();
                compress(Compression::Lz4, &input, &mut frame).unwrap();
                let what = format!("{kind} {size}");

                // 64 KiB blocks; each decompresses on its own (independent
                // blocks), to 64 KiB except the last.
                let blocks = lz4_blocks(&frame);
                assert_eq!(blocks.len(), size.div_ceil(LZ4_BLOCK_SIZE), "{what}");
                for ((stored, block), chunk) in blocks.iter().zip(input.chunks(LZ4_BLOCK_SIZE)) {
                    if *stored {
                        assert_eq!(*block, chunk, "{what}");
                    } else {
                        assert!(block.len() < chunk.len(), "{what}");
                        let mut decoded = vec![0; LZ4_BLOCK_SIZE];
                        let n = lz4_flex::block::decompress_into(block, &mut decoded).unwrap();
                        assert_eq!(&decoded[..n], chunk, "{what}");
                    }
                    // Noise never compresses; text does, but for a few bytes.
                    if kind == "noise" {
                        assert!(*stored, "{what}");
                    } else if chunk.len() >= 1024 {
                        assert!(!*stored, "{what}");
                    }
                }

                // Our direct path, the streaming fallback, and lz4_flex's
                // own frame decoder all read it.
                for verify in [true, false] {
                    let direct = decompress_lz4_frame(&frame, DEFAULT_DECOMPRESSION_LIMIT, verify);
                    assert_eq!(direct.unwrap().unwrap(), input, "{what}");
                }
                assert_eq!(
                    decompress(Compression::Lz4, &frame, DEFAULT_DECOMPRESSION_LIMIT).unwrap(),
                    input,
                    "{what}"
                );
                assert_eq!(
                    lz4_streaming(&frame, DEFAULT_DECOMPRESSION_LIMIT).unwrap(),
                    input,
                    "{what}"
                );
                let mut decoded = Vec::new();
                lz4_flex::frame::FrameDecoder::new(&frame[..])
                    .read_to_end(&mut decoded)
                    .unwrap();
                assert_eq!(decoded, input, "{what}");
            }
        }
    }

    #[test]
    fn lz4_compresses_as_well_as_lz4_flex_frame_encoder() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent);
        for input in [sample(1_000_000), noise(200_000), sample(70_000)] {
            let mut ours = BytesMut::new();
            compress(Compression::Lz4, &input, &mut ours).unwrap();
            let theirs = lz4_frame(info.clone(), &input);
            eprintln!(
                "{} -> ours {} lz4_flex {}",
                input.len(),
                ours.len(),
                theirs.len()
            );
            assert!(ours.len() <= theirs.len() + theirs.len() / 100);
        }
    }

    #[test]
    fn lz4_compression_reuses_its_tables_safely() {
        // Blocks of every table size, one after another on one thread and
        // on several: a table left over from an earlier batch must not leak
        // matches into a later one.
        let inputs = [sample(200_000), noise(70_000), sample(10), sample(65_534)];
        let expected: Vec<Vec<u8>> = inputs
            .iter()
            .map(|input| {
                let mut frame = BytesMut::new();
                write_lz4_frame(input, &mut frame, &mut Lz4Scratch::new()).unwrap();
                frame.to_vec()
            })
            .collect();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..2 {
                        for (input, expected) in inputs.iter().zip(&expected) {
                            let mut frame = BytesMut::new();
                            compress(Compression::Lz4, input, &mut frame).unwrap();
                            assert_eq!(&frame[..], &expected[..]);
                            let decoded = decompress(Compression::Lz4, &frame, 1 << 20).unwrap();
                            assert_eq!(decoded, &input[..]);
                        }
                    }
                });
            }
        });
    }

    /// What lz4 decompression did before the direct frame path: the
    /// streaming decoder for everything.
    fn lz4_streaming(input: &[u8], limit: usize) -> Result<Bytes> {
        read_bounded(
            Compression::Lz4,
            lz4_flex::frame::FrameDecoder::new(input),
            input.len(),
            limit,
        )
    }

    /// An lz4 frame of `input` written with `info`.
    fn lz4_frame(info: lz4_flex::frame::FrameInfo, input: &[u8]) -> Vec<u8> {
        let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(input).unwrap();
        encoder.finish().unwrap()
    }

    /// Incompressible bytes (lz4 stores them as uncompressed blocks).
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    /// Frames in every layout the direct path handles: block sizes, linked
    /// and independent blocks, block and content checksums, content size,
    /// compressible and incompressible data.
    fn lz4_frames() -> Vec<(String, Vec<u8>, Vec<u8>)> {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
        let mut frames = Vec::new();
        let inputs = [
            ("empty", Vec::new()),
            ("small", sample(100)),
            ("text", sample(300_000)),
            ("noise", noise(150_000)),
            (
                "mixed",
                [sample(70_000), noise(70_000), sample(70_000)].concat(),
            ),
        ];
        for (name, input) in &inputs {
            for block_size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for block_mode in [BlockMode::Independent, BlockMode::Linked] {
                    for checksums in [false, true] {
                        let mut info = FrameInfo::new()
                            .block_size(block_size)
                            .block_mode(block_mode)
                            .block_checksums(checksums)
                            .content_checksum(checksums);
                        if checksums {
                            info = info.content_size(Some(input.len() as u64));
                        }
                        frames.push((
                            format!("{name} {block_size:?} {block_mode:?} checksums {checksums}"),
                            input.clone(),
                            lz4_frame(info, input),
                        ));
                    }
                }
            }
        }
        frames
    }

    #[test]
    fn the_direct_lz4_path_reads_every_frame_layout() {
        for (name, input, frame) in lz4_frames() {
            for verify in [true, false] {
                let out = decompress_lz4_frame(&frame, DEFAULT_DECOMPRESSION_LIMIT, verify);
                let out = out.unwrap_or_else(|| panic!("{name}: not handled"));
                assert!(out.unwrap() == input, "{name}");
            }
            assert!(
                decompress(Compression::Lz4, &frame, DEFAULT_DECOMPRESSION_LIMIT).unwrap()
                    == input[..],
                "{name}"
            );
        }
    }

    #[test]
    fn the_direct_lz4_path_honours_the_limit_exactly() {
        for (name, input, frame) in lz4_frames() {
            let len = input.len();
            assert_eq!(
                decompress(Compression::Lz4, &frame, len).unwrap().len(),
                len,
                "{name}"
            );
            if len > 0 {
                assert_eq!(
                    decompress(Compression::Lz4, &frame, len - 1),
                    Err(ProtocolError::DecompressedTooLarge {
                        codec: "lz4",
                        limit: len - 1
                    }),
                    "{name}"
                );
                assert_eq!(
                    decompress_records(Compression::Lz4, &frame, len - 1, false),
                    Err(ProtocolError::DecompressedTooLarge {
                        codec: "lz4",
                        limit: len - 1
                    }),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn lz4_checksums_are_checked_unless_the_batch_crc_was() {
        use lz4_flex::frame::FrameInfo;
        let input = sample(10_000);
        let info = FrameInfo::new()
            .block_checksums(true)
            .content_checksum(true);
        let frame = lz4_frame(info, &input);
        // The block checksum sits right before the end mark and the content
        // checksum; the content checksum is the last 4 bytes.
        let n = frame.len();
        for at in [n - 12, n - 1] {
            let mut bad = frame.clone();
            bad[at] ^= 0x55;
            assert!(
                matches!(
                    decompress(Compression::Lz4, &bad, 1 << 20),
                    Err(ProtocolError::Decompression { codec: "lz4", .. })
                ),
                "corrupt byte {at}"
            );
            assert!(
                decompress_records(Compression::Lz4, &bad, 1 << 20, false).unwrap() == input[..],
                "corrupt byte {at}"
            );
        }
    }

    #[test]
    fn truncated_or_corrupt_lz4_frames_fail_as_they_always_did() {
        use lz4_flex::frame::FrameInfo;
        let input = [sample(70_000), noise(1000)].concat();
        let frames = [
            lz4_frame(FrameInfo::new(), &input),
            lz4_frame(
                FrameInfo::new()
                    .block_checksums(true)
                    .content_checksum(true)
                    .content_size(Some(input.len() as u64)),
                &input,
            ),
        ];
        for frame in &frames {
            for cut in (0..frame.len())
                .step_by(97)
                .chain(frame.len() - 20..frame.len())
            {
                let cut_frame = &frame[..cut];
                assert_eq!(
                    decompress(Compression::Lz4, cut_frame, 1 << 20),
                    lz4_streaming(cut_frame, 1 << 20),
                    "cut at {cut}"
                );
                // Without checksum checks there is no panic either.
                let _ = decompress_records(Compression::Lz4, cut_frame, 1 << 20, false);
            }
            for at in (0..frame.len()).step_by(31) {
                let mut bad = frame.clone();
                bad[at] = bad[at].wrapping_add(0x3b);
                assert_eq!(
                    decompress(Compression::Lz4, &bad, 1 << 20),
                    lz4_streaming(&bad, 1 << 20),
                    "corrupt byte {at}"
                );
                let _ = decompress_records(Compression::Lz4, &bad, 1 << 20, false);
            }
        }
    }

    #[test]
    fn hostile_lz4_block_headers_do_not_panic_or_allocate() {
        let mut frame = BytesMut::new();
        compress(Compression::Lz4, b"", &mut frame).unwrap();
        let header = frame[..7].to_vec();
        for block in [
            // A compressed block claiming 2 GiB, an uncompressed one too.
            0x7fff_ffff_u32.to_le_bytes(),
            0xffff_ffff_u32.to_le_bytes(),
            // Past the 64 KiB block maximum the header declares.
            0x0001_0001_u32.to_le_bytes(),
            // Compressed and uncompressed blocks of 5 bytes with 1 present.
            5u32.to_le_bytes(),
            0x8000_0005_u32.to_le_bytes(),
        ] {
            let mut bad = header.clone();
            bad.extend_from_slice(&block);
            bad.push(0x10);
            assert_eq!(decompress_lz4_frame(&bad, 1 << 20, false), None);
            assert!(decompress(Compression::Lz4, &bad, 1 << 20).is_err());
        }
        // A compressed block that expands past the limit is too large, not
        // merely corrupt: one token of 15+ literals... of zeros, then a long
        // match over them.
        let zeros = vec![0u8; 100_000];
        let mut frame = BytesMut::new();
        compress(Compression::Lz4, &zeros, &mut frame).unwrap();
        assert_eq!(
            decompress_lz4_frame(&frame, 1000, false),
            Some(Err(ProtocolError::DecompressedTooLarge {
                codec: "lz4",
                limit: 1000
            }))
        );
    }

    #[test]
    fn bytes_after_an_lz4_frame_are_left_to_the_stream() {
        // The streaming decoder stops after the first frame; the direct
        // path leaves such input to it, so it reads as it always did.
        let mut two = BytesMut::new();
        compress(Compression::Lz4, b"first ", &mut two).unwrap();
        compress(Compression::Lz4, b"second", &mut two).unwrap();
        assert_eq!(decompress_lz4_frame(&two, 100, true), None);
        assert_eq!(
            decompress(Compression::Lz4, &two, 100),
            lz4_streaming(&two, 100)
        );
    }

    #[test]
    fn xxh32_matches_reference_values() {
        assert_eq!(xxh32(b""), 0x02CC_5D05);
        assert_eq!(xxh32(b"a"), 0x550D_7456);
        assert_eq!(xxh32(b"abc"), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition"),
            0xE229_3B2F
        );
    }

    #[test]
    fn kafka_1493_lz4_headers_are_repaired_for_magic_0_only() {
        let mut out = BytesMut::new();
        compress(Compression::Lz4, b"legacy lz4 payload", &mut out).unwrap();
        let mut broken = out.to_vec();
        broken[6] = (xxh32(&broken[..6]) >> 8) as u8;
        assert_ne!(broken[6], out[6]);
        assert!(decompress(Compression::Lz4, &broken, 100).is_err());
        assert_eq!(
            &decompress_legacy(Compression::Lz4, 0, &broken, 100).unwrap()[..],
            b"legacy lz4 payload"
        );
        assert!(decompress_legacy(Compression::Lz4, 1, &broken, 100).is_err());
        // A correct header passes through untouched.
        assert_eq!(
            &decompress_legacy(Compression::Lz4, 0, &out, 100).unwrap()[..],
            b"legacy lz4 payload"
        );
    }
}
