//! Kafka's primitive wire types: fixed-width big-endian integers, zigzag
//! varints and varlongs, unsigned varints, classic and compact strings, bytes
//! and array lengths, UUIDs and tagged-field headers.
//!
//! Decoders read from a [`Bytes`] so byte fields can be sliced without
//! copying. Every read checks the bytes that remain first and every length
//! or element count is checked against them before anything is allocated, so
//! no input can make a decoder panic or allocate more than a fixed multiple
//! of its input size.
//! Encoders append to a [`BytesMut`].

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, Result};

/// Fails with [`ProtocolError::Truncated`] unless `needed` bytes remain.
#[inline]
pub fn ensure(buf: &Bytes, needed: usize, what: &'static str) -> Result<()> {
    if buf.remaining() < needed {
        Err(ProtocolError::Truncated {
            what,
            needed,
            remaining: buf.remaining(),
        })
    } else {
        Ok(())
    }
}

macro_rules! fixed {
    ($(#[$doc:meta] $get:ident $put:ident $ty:ty, $bget:ident, $bput:ident;)*) => {$(
        #[$doc]
        #[inline]
        pub fn $get(buf: &mut Bytes, what: &'static str) -> Result<$ty> {
            ensure(buf, std::mem::size_of::<$ty>(), what)?;
            Ok(buf.$bget())
        }
        #[$doc]
        #[inline]
        pub fn $put(buf: &mut BytesMut, value: $ty) {
            buf.$bput(value);
        }
    )*};
}

fixed! {
    /// A signed 8-bit integer.
    get_i8 put_i8 i8, get_i8, put_i8;
    /// A big-endian signed 16-bit integer.
    get_i16 put_i16 i16, get_i16, put_i16;
    /// A big-endian unsigned 16-bit integer.
    get_u16 put_u16 u16, get_u16, put_u16;
    /// A big-endian signed 32-bit integer.
    get_i32 put_i32 i32, get_i32, put_i32;
    /// A big-endian unsigned 32-bit integer.
    get_u32 put_u32 u32, get_u32, put_u32;
    /// A big-endian signed 64-bit integer.
    get_i64 put_i64 i64, get_i64, put_i64;
    /// A big-endian IEEE 754 double.
    get_f64 put_f64 f64, get_f64, put_f64;
}

/// A boolean: one byte, non-zero is true.
#[inline]
pub fn get_bool(buf: &mut Bytes, what: &'static str) -> Result<bool> {
    Ok(get_i8(buf, what)? != 0)
}

/// A boolean: one byte, 1 or 0.
#[inline]
pub fn put_bool(buf: &mut BytesMut, value: bool) {
    buf.put_u8(u8::from(value));
}

/// A 128-bit UUID, as 16 raw bytes.
#[inline]
pub fn get_uuid(buf: &mut Bytes, what: &'static str) -> Result<crate::Uuid> {
    ensure(buf, 16, what)?;
    let mut raw = [0u8; 16];
    buf.copy_to_slice(&mut raw);
    Ok(crate::Uuid::from_bytes(raw))
}

/// A 128-bit UUID, as 16 raw bytes.
#[inline]
pub fn put_uuid(buf: &mut BytesMut, value: &crate::Uuid) {
    buf.put_slice(value.as_bytes());
}

/// An unsigned LEB128 varint of at most 5 bytes (32 bits).
#[inline]
pub fn get_unsigned_varint(buf: &mut Bytes, what: &'static str) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = get_i8(buf, what)? as u8;
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtocolError::MalformedVarint { what })
}

/// An unsigned LEB128 varlong of at most 10 bytes (64 bits).
#[inline]
pub fn get_unsigned_varlong(buf: &mut Bytes, what: &'static str) -> Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = get_i8(buf, what)? as u8;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtocolError::MalformedVarint { what })
}

/// An unsigned LEB128 varint.
#[inline]
pub fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// An unsigned LEB128 varlong.
#[inline]
pub fn put_unsigned_varlong(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// The encoded width of an unsigned varint.
#[inline]
pub fn unsigned_varint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// The encoded width of an unsigned varlong.
#[inline]
pub fn unsigned_varlong_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A zigzag-encoded signed varint (32 bits), as record fields use.
#[inline]
pub fn get_varint(buf: &mut Bytes, what: &'static str) -> Result<i32> {
    let raw = get_unsigned_varint(buf, what)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// A zigzag-encoded signed varint (32 bits).
#[inline]
pub fn put_varint(buf: &mut BytesMut, value: i32) {
    put_unsigned_varint(buf, zigzag32(value));
}

/// A zigzag-encoded signed varlong (64 bits), as record timestamp deltas use.
#[inline]
pub fn get_varlong(buf: &mut Bytes, what: &'static str) -> Result<i64> {
    let raw = get_unsigned_varlong(buf, what)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// A zigzag-encoded signed varlong (64 bits).
#[inline]
pub fn put_varlong(buf: &mut BytesMut, value: i64) {
    put_unsigned_varlong(buf, zigzag64(value));
}

/// The encoded width of a zigzag varint.
#[inline]
pub fn varint_len(value: i32) -> usize {
    unsigned_varint_len(zigzag32(value))
}

/// The encoded width of a zigzag varlong.
#[inline]
pub fn varlong_len(value: i64) -> usize {
    unsigned_varlong_len(zigzag64(value))
}

#[inline]
fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

#[inline]
fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

// Slice-based varints, for hot loops (the record batch codec) that walk a
// plain `&[u8]` with a position instead of advancing a `Bytes` byte by
// byte. They read and write exactly what the `Bytes` functions above do
// and fail the same way.

/// The error a varint read returns at the end of its input: what reading
/// the next byte with [`get_i8`] reports.
#[cold]
fn varint_truncated(what: &'static str) -> ProtocolError {
    ProtocolError::Truncated {
        what,
        needed: 1,
        remaining: 0,
    }
}

/// Reads an unsigned LEB128 varint of at most 5 bytes (32 bits) at `*pos`
/// in `buf` and advances `*pos` past it; as [`get_unsigned_varint`] does,
/// bits past the 32nd in a fifth byte are dropped. On error `*pos` is left
/// unchanged.
#[inline]
pub fn read_unsigned_varint(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u32> {
    let at = *pos;
    // Varints of up to three bytes (values below 2^21) are nearly all
    // record fields: decode them without a loop. Each arm's slice pattern
    // proves that `at + n <= buf.len()`, so the additions cannot overflow.
    match buf.get(at..) {
        Some(&[b0, ..]) if b0 < 0x80 => {
            *pos = at + 1;
            Ok(u32::from(b0))
        }
        Some(&[b0, b1, ..]) if b1 < 0x80 => {
            *pos = at + 2;
            Ok(u32::from(b0 & 0x7f) | u32::from(b1) << 7)
        }
        Some(&[b0, b1, b2, ..]) if b2 < 0x80 => {
            *pos = at + 3;
            Ok(u32::from(b0 & 0x7f) | u32::from(b1 & 0x7f) << 7 | u32::from(b2) << 14)
        }
        _ => read_unsigned_varint_multi(buf, pos, what),
    }
}

/// [`read_unsigned_varint`] past its short cases.
#[cold]
#[inline(never)]
fn read_unsigned_varint_multi(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u32> {
    let rest = buf.get(*pos..).unwrap_or_default();
    let mut value: u32 = 0;
    for (i, &byte) in rest.iter().take(5).enumerate() {
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos = pos.saturating_add(i + 1);
            return Ok(value);
        }
    }
    if rest.len() < 5 {
        Err(varint_truncated(what))
    } else {
        Err(ProtocolError::MalformedVarint { what })
    }
}

/// Reads an unsigned LEB128 varlong of at most 10 bytes (64 bits) at
/// `*pos` in `buf` and advances `*pos` past it, as
/// [`get_unsigned_varlong`] reads it. On error `*pos` is left unchanged.
#[inline]
pub fn read_unsigned_varlong(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u64> {
    let at = *pos;
    // As in `read_unsigned_varint`: the slice patterns bound `at + n`.
    match buf.get(at..) {
        Some(&[b0, ..]) if b0 < 0x80 => {
            *pos = at + 1;
            Ok(u64::from(b0))
        }
        Some(&[b0, b1, ..]) if b1 < 0x80 => {
            *pos = at + 2;
            Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
        }
        Some(&[b0, b1, b2, ..]) if b2 < 0x80 => {
            *pos = at + 3;
            Ok(u64::from(b0 & 0x7f) | u64::from(b1 & 0x7f) << 7 | u64::from(b2) << 14)
        }
        _ => read_unsigned_varlong_multi(buf, pos, what),
    }
}

/// [`read_unsigned_varlong`] past its short cases.
#[cold]
#[inline(never)]
fn read_unsigned_varlong_multi(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u64> {
    let rest = buf.get(*pos..).unwrap_or_default();
    let mut value: u64 = 0;
    for (i, &byte) in rest.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos = pos.saturating_add(i + 1);
            return Ok(value);
        }
    }
    if rest.len() < 10 {
        Err(varint_truncated(what))
    } else {
        Err(ProtocolError::MalformedVarint { what })
    }
}

/// Reads a zigzag-encoded signed varint (32 bits) at `*pos` in `buf`; see
/// [`read_unsigned_varint`].
#[inline]
pub fn read_varint(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<i32> {
    let raw = read_unsigned_varint(buf, pos, what)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zigzag-encoded signed varlong (64 bits) at `*pos` in `buf`; see
/// [`read_unsigned_varlong`].
#[inline]
pub fn read_varlong(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<i64> {
    let raw = read_unsigned_varlong(buf, pos, what)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Writes an unsigned LEB128 varlong at the start of `out` and returns how
/// many bytes it took, or `None` (having written a prefix of it) if `out`
/// is too short; [`unsigned_varlong_len`] says how long it will be.
#[inline]
pub fn write_unsigned_varlong(out: &mut [u8], mut value: u64) -> Option<usize> {
    for (written, slot) in out.iter_mut().enumerate() {
        if value < 0x80 {
            *slot = value as u8;
            return Some(written + 1);
        }
        *slot = (value as u8) | 0x80;
        value >>= 7;
    }
    None
}

/// Writes an unsigned LEB128 varint at the start of `out`; see
/// [`write_unsigned_varlong`].
#[inline]
pub fn write_unsigned_varint(out: &mut [u8], value: u32) -> Option<usize> {
    match out.first_mut() {
        Some(slot) if value < 0x80 => {
            *slot = value as u8;
            Some(1)
        }
        _ => write_unsigned_varlong(out, u64::from(value)),
    }
}

/// Writes a zigzag-encoded signed varint at the start of `out`; see
/// [`write_unsigned_varlong`] and [`varint_len`].
#[inline]
pub fn write_varint(out: &mut [u8], value: i32) -> Option<usize> {
    write_unsigned_varint(out, zigzag32(value))
}

/// Writes a zigzag-encoded signed varlong at the start of `out`; see
/// [`write_unsigned_varlong`] and [`varlong_len`].
#[inline]
pub fn write_varlong(out: &mut [u8], value: i64) -> Option<usize> {
    write_unsigned_varlong(out, zigzag64(value))
}

/// Reads a length prefix: `i16` (strings) or `i32` (bytes, arrays) in
/// classic versions, an unsigned varint holding length + 1 in flexible ones.
/// Returns `None` for null, and checks the length against the bytes left.
#[inline]
fn get_length(
    buf: &mut Bytes,
    flexible: bool,
    wide: bool,
    what: &'static str,
) -> Result<Option<usize>> {
    let length: i64 = if flexible {
        i64::from(get_unsigned_varint(buf, what)?) - 1
    } else if wide {
        i64::from(get_i32(buf, what)?)
    } else {
        i64::from(get_i16(buf, what)?)
    };
    if length == -1 {
        return Ok(None);
    }
    if length < 0 {
        return Err(ProtocolError::NegativeLength { what, length });
    }
    let length = length as u64;
    if length > buf.remaining() as u64 {
        return Err(ProtocolError::LengthExceedsInput {
            what,
            length,
            remaining: buf.remaining(),
        });
    }
    Ok(Some(length as usize))
}

/// Writes a length prefix (see [`get_length`]); `None` is null.
#[inline]
fn put_length(
    buf: &mut BytesMut,
    length: Option<usize>,
    flexible: bool,
    wide: bool,
    what: &'static str,
) -> Result<()> {
    let max = if flexible {
        (u32::MAX - 1) as usize
    } else if wide {
        i32::MAX as usize
    } else {
        i16::MAX as usize
    };
    match length {
        Some(length) if length > max => Err(ProtocolError::ValueTooLong { what, length, max }),
        Some(length) if flexible => {
            put_unsigned_varint(buf, length as u32 + 1);
            Ok(())
        }
        None if flexible => {
            put_unsigned_varint(buf, 0);
            Ok(())
        }
        Some(length) if wide => {
            buf.put_i32(length as i32);
            Ok(())
        }
        None if wide => {
            buf.put_i32(-1);
            Ok(())
        }
        Some(length) => {
            buf.put_i16(length as i16);
            Ok(())
        }
        None => {
            buf.put_i16(-1);
            Ok(())
        }
    }
}

fn take_string(buf: &mut Bytes, length: usize, what: &'static str) -> Result<String> {
    let raw = buf.split_to(length);
    match std::str::from_utf8(&raw) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(ProtocolError::InvalidUtf8 { what }),
    }
}

/// A nullable string: `i16` length (classic) or compact length (flexible).
#[inline]
pub fn get_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Option<String>> {
    match get_length(buf, flexible, false, what)? {
        None => Ok(None),
        Some(length) => take_string(buf, length, what).map(Some),
    }
}

/// A non-nullable string; a null on the wire is an error.
#[inline]
pub fn get_string(
    buf: &mut Bytes,
    flexible: bool,
    version: i16,
    what: &'static str,
) -> Result<String> {
    match get_length(buf, flexible, false, what)? {
        None => Err(ProtocolError::NullNotAllowed {
            field: what,
            version,
        }),
        Some(length) => take_string(buf, length, what),
    }
}

/// A nullable string.
#[inline]
pub fn put_nullable_string(
    buf: &mut BytesMut,
    value: Option<&str>,
    flexible: bool,
    what: &'static str,
) -> Result<()> {
    put_length(buf, value.map(str::len), flexible, false, what)?;
    if let Some(value) = value {
        buf.put_slice(value.as_bytes());
    }
    Ok(())
}

/// A non-nullable string.
#[inline]
pub fn put_string(
    buf: &mut BytesMut,
    value: &str,
    flexible: bool,
    what: &'static str,
) -> Result<()> {
    put_nullable_string(buf, Some(value), flexible, what)
}

/// Nullable bytes: `i32` length (classic) or compact length (flexible).
/// The result shares the input buffer; nothing is copied.
#[inline]
pub fn get_nullable_bytes(
    buf: &mut Bytes,
    flexible: bool,
    what: &'static str,
) -> Result<Option<Bytes>> {
    Ok(get_length(buf, flexible, true, what)?.map(|length| buf.split_to(length)))
}

/// Non-nullable bytes; a null on the wire is an error.
#[inline]
pub fn get_bytes(
    buf: &mut Bytes,
    flexible: bool,
    version: i16,
    what: &'static str,
) -> Result<Bytes> {
    get_nullable_bytes(buf, flexible, what)?.ok_or(ProtocolError::NullNotAllowed {
        field: what,
        version,
    })
}

/// Nullable bytes.
#[inline]
pub fn put_nullable_bytes(
    buf: &mut BytesMut,
    value: Option<&[u8]>,
    flexible: bool,
    what: &'static str,
) -> Result<()> {
    put_length(buf, value.map(<[u8]>::len), flexible, true, what)?;
    if let Some(value) = value {
        buf.put_slice(value);
    }
    Ok(())
}

/// Non-nullable bytes.
#[inline]
pub fn put_bytes(
    buf: &mut BytesMut,
    value: &[u8],
    flexible: bool,
    what: &'static str,
) -> Result<()> {
    put_nullable_bytes(buf, Some(value), flexible, what)
}

/// An array's element count (`None` for a null array). Every element takes at
/// least one byte on the wire, so a count larger than the bytes that remain
/// is rejected before any allocation.
#[inline]
pub fn get_array_len(buf: &mut Bytes, flexible: bool, what: &'static str) -> Result<Option<usize>> {
    get_length(buf, flexible, true, what)
}

/// An array's element count (`None` for a null array).
#[inline]
pub fn put_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
    what: &'static str,
) -> Result<()> {
    put_length(buf, len, flexible, true, what)
}

/// A non-nullable array's element count; null on the wire is an error.
#[inline]
pub fn get_array_len_required(
    buf: &mut Bytes,
    flexible: bool,
    version: i16,
    what: &'static str,
) -> Result<usize> {
    get_array_len(buf, flexible, what)?.ok_or(ProtocolError::NullNotAllowed {
        field: what,
        version,
    })
}

/// How many elements to reserve for an array of `count` elements whose count
/// came off the wire: the count is already checked against the input size,
/// but an element's in-memory size can be many times its wire size, so the
/// first reservation is capped and the vector grows as elements really decode.
#[inline]
pub fn initial_capacity(count: usize) -> usize {
    count.min(1024)
}

/// Tagged fields a decoder did not recognise, by tag, kept as raw bytes so
/// they are written back unchanged when the message is re-encoded.
pub type UnknownTaggedFields = std::collections::BTreeMap<u32, Bytes>;

/// Reads one tagged field header (tag, size) and splits its payload off
/// `buf`, checked against the bytes that remain.
#[inline]
pub fn get_tagged_field(buf: &mut Bytes, what: &'static str) -> Result<(u32, Bytes)> {
    let tag = get_unsigned_varint(buf, what)?;
    let size = get_unsigned_varint(buf, what)? as usize;
    ensure(buf, size, what)?;
    Ok((tag, buf.split_to(size)))
}

/// Writes one tagged field: tag, size, payload.
#[inline]
pub fn put_tagged_field(buf: &mut BytesMut, tag: u32, payload: &[u8]) {
    put_unsigned_varint(buf, tag);
    put_unsigned_varint(buf, payload.len() as u32);
    buf.put_slice(payload);
}

/// Writes the tagged-field section of a flexible struct: `known` (tag, payload)
/// pairs the generated encoder produced, merged with `unknown` ones in
/// ascending tag order, as the protocol requires.
pub fn put_tagged_fields(
    buf: &mut BytesMut,
    mut known: Vec<(u32, BytesMut)>,
    unknown: &UnknownTaggedFields,
) {
    put_unsigned_varint(buf, (known.len() + unknown.len()) as u32);
    if unknown.is_empty() {
        for (tag, payload) in &known {
            put_tagged_field(buf, *tag, payload);
        }
        return;
    }
    known.extend(
        unknown
            .iter()
            .map(|(tag, payload)| (*tag, BytesMut::from(&payload[..]))),
    );
    known.sort_by_key(|(tag, _)| *tag);
    for (tag, payload) in &known {
        put_tagged_field(buf, *tag, payload);
    }
}

/// Fails with [`ProtocolError::TrailingBytes`] if a tagged field's payload
/// was not consumed exactly.
#[inline]
pub fn ensure_consumed(buf: &Bytes, what: &'static str) -> Result<()> {
    if buf.has_remaining() {
        Err(ProtocolError::TrailingBytes {
            what,
            remaining: buf.remaining(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varints_match_the_protocol_guide() {
        let cases: [(i32, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
        ];
        for (value, wire) in cases {
            let mut out = BytesMut::new();
            put_varint(&mut out, value);
            assert_eq!(&out[..], wire, "encoding {value}");
            assert_eq!(varint_len(value), wire.len());
            let mut input = Bytes::copy_from_slice(wire);
            assert_eq!(get_varint(&mut input, "v").unwrap(), value);
        }
    }

    #[test]
    fn varlongs_round_trip_at_the_extremes() {
        for value in [
            i64::MIN,
            i64::MAX,
            0,
            -1,
            1 << 40,
            2_147_483_648,
            -2_147_483_649,
        ] {
            let mut out = BytesMut::new();
            put_varlong(&mut out, value);
            assert_eq!(out.len(), varlong_len(value));
            let mut input = out.freeze();
            assert_eq!(get_varlong(&mut input, "v").unwrap(), value);
            assert!(input.is_empty());
        }
    }

    #[test]
    fn an_overlong_varint_is_an_error() {
        let mut input = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            get_unsigned_varint(&mut input, "v"),
            Err(ProtocolError::MalformedVarint { what: "v" })
        );
    }

    /// Values around every varint width boundary, both signs.
    fn boundary_values() -> Vec<i64> {
        let mut values = vec![
            0,
            1,
            -1,
            i64::MIN,
            i64::MAX,
            i32::MIN.into(),
            i32::MAX.into(),
        ];
        for bits in 1..63 {
            let edge = 1i64 << bits;
            values.extend([edge - 1, edge, edge + 1, -edge, -edge - 1, -edge + 1]);
        }
        values
    }

    #[test]
    fn slice_varints_read_what_the_bytes_readers_read() {
        for value in boundary_values() {
            let mut out = BytesMut::new();
            put_varlong(&mut out, value);
            out.put_u8(0xaa);
            let wire = out.freeze();
            let mut pos = 0;
            assert_eq!(read_varlong(&wire, &mut pos, "v"), Ok(value));
            assert_eq!(pos, varlong_len(value));
            let mut input = wire.clone();
            assert_eq!(
                get_unsigned_varlong(&mut input, "v"),
                read_unsigned_varlong(&wire, &mut 0, "v")
            );
            if let Ok(value) = i32::try_from(value) {
                let mut out = BytesMut::new();
                put_varint(&mut out, value);
                let wire = out.freeze();
                let mut pos = 0;
                assert_eq!(read_varint(&wire, &mut pos, "v"), Ok(value));
                assert_eq!(pos, varint_len(value));
            }
            // Every prefix (and every start position) fails or succeeds
            // exactly as the `Bytes` readers do, and never moves on error.
            for start in 0..wire.len() {
                for end in start..=wire.len() {
                    let slice = &wire[..end];
                    let mut bytes = wire.slice(start..end);
                    let mut pos = start;
                    let got = read_unsigned_varint(slice, &mut pos, "v");
                    let want = get_unsigned_varint(&mut bytes, "v");
                    assert_eq!(got, want, "{value} {start}..{end}");
                    if got.is_ok() {
                        assert_eq!(end - pos, bytes.len());
                    } else {
                        assert_eq!(pos, start);
                    }
                    let mut bytes = wire.slice(start..end);
                    let mut pos = start;
                    let got = read_unsigned_varlong(slice, &mut pos, "v");
                    assert_eq!(got, get_unsigned_varlong(&mut bytes, "v"));
                    if got.is_err() {
                        assert_eq!(pos, start);
                    }
                }
            }
        }
    }

    #[test]
    fn slice_varints_reject_overlong_and_truncated_input() {
        let overlong = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            read_unsigned_varint(&overlong, &mut 0, "v"),
            Err(ProtocolError::MalformedVarint { what: "v" })
        );
        let overlong = [0x80; 11];
        assert_eq!(
            read_unsigned_varlong(&overlong, &mut 0, "v"),
            Err(ProtocolError::MalformedVarint { what: "v" })
        );
        let truncated = ProtocolError::Truncated {
            what: "v",
            needed: 1,
            remaining: 0,
        };
        assert_eq!(read_varint(&[], &mut 0, "v"), Err(truncated.clone()));
        assert_eq!(
            read_varint(&[0x80, 0x80], &mut 0, "v"),
            Err(truncated.clone())
        );
        assert_eq!(
            read_varlong(&[0xff; 9], &mut 0, "v"),
            Err(truncated.clone())
        );
        // A position past the end is the end.
        assert_eq!(read_varint(&[1], &mut 5, "v"), Err(truncated));
        let mut far = usize::MAX;
        assert!(read_varint(&[1], &mut far, "v").is_err());
        assert_eq!(far, usize::MAX);
    }

    #[test]
    fn slice_varints_write_what_the_bytes_writers_write() {
        for value in boundary_values() {
            let mut want = BytesMut::new();
            put_varlong(&mut want, value);
            let mut out = [0u8; 12];
            assert_eq!(write_varlong(&mut out, value), Some(want.len()));
            assert_eq!(&out[..want.len()], &want[..]);
            // Too short: no panic, no success.
            assert_eq!(write_varlong(&mut out[..want.len() - 1], value), None);
            if let Ok(value) = i32::try_from(value) {
                let mut want = BytesMut::new();
                put_varint(&mut want, value);
                assert_eq!(write_varint(&mut out, value), Some(want.len()));
                assert_eq!(&out[..want.len()], &want[..]);
                assert_eq!(write_varint(&mut out[..want.len() - 1], value), None);
            }
        }
        assert_eq!(write_unsigned_varint(&mut [], 0), None);
    }

    #[test]
    fn lengths_are_checked_before_allocation() {
        let mut input = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 1, 2]);
        assert!(matches!(
            get_array_len(&mut input, false, "a"),
            Err(ProtocolError::LengthExceedsInput {
                length: 0x7fff_ffff,
                ..
            })
        ));
        let mut input = Bytes::from_static(&[0xff, 0xfe]);
        assert!(matches!(
            get_nullable_string(&mut input, false, "s"),
            Err(ProtocolError::NegativeLength { length: -2, .. })
        ));
    }

    #[test]
    fn compact_and_classic_strings() {
        let mut out = BytesMut::new();
        put_string(&mut out, "abc", true, "s").unwrap();
        put_nullable_string(&mut out, None, true, "s").unwrap();
        put_string(&mut out, "abc", false, "s").unwrap();
        put_nullable_string(&mut out, None, false, "s").unwrap();
        assert_eq!(
            &out[..],
            &[4, b'a', b'b', b'c', 0, 0, 3, b'a', b'b', b'c', 0xff, 0xff]
        );
        let mut input = out.freeze();
        assert_eq!(get_string(&mut input, true, 0, "s").unwrap(), "abc");
        assert_eq!(get_nullable_string(&mut input, true, "s").unwrap(), None);
        assert_eq!(get_string(&mut input, false, 0, "s").unwrap(), "abc");
        assert!(matches!(
            get_string(&mut input, false, 3, "s"),
            Err(ProtocolError::NullNotAllowed { version: 3, .. })
        ));
    }
}
