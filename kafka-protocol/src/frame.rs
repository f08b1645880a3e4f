//! Size-prefixed framing: every Kafka request and response travels as a
//! big-endian `i32` length followed by that many bytes.
//!
//! [`split_frame`] takes complete frames off a read buffer and says
//! "incomplete" (`Ok(None)`) rather than erroring when more bytes are needed,
//! so a connection can call it after every read. A size prefix above the
//! configured maximum is an error before anything is allocated for it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, Result};

/// The largest frame accepted by default: 100 MiB, like the broker's
/// `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// The bytes of the size prefix.
pub const SIZE_PREFIX_LEN: usize = 4;

/// Looks at the front of `buf`: `Ok(None)` if a whole frame is not there yet,
/// `Ok(Some(n))` with the payload length `n` if it is, and an error for a
/// negative size or one over `max_frame_size`.
pub fn check_frame(buf: &[u8], max_frame_size: usize) -> Result<Option<usize>> {
    let Some(&[a, b, c, d]) = buf.get(..SIZE_PREFIX_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([a, b, c, d]);
    if size < 0 {
        return Err(ProtocolError::InvalidFrameSize(size));
    }
    let size = size as usize;
    if size > max_frame_size {
        return Err(ProtocolError::FrameTooLarge {
            size: size as u64,
            max: max_frame_size,
        });
    }
    if buf.len() - SIZE_PREFIX_LEN < size {
        Ok(None)
    } else {
        Ok(Some(size))
    }
}

/// Splits one complete frame's payload (without its size prefix) off the
/// front of `buf`, or returns `Ok(None)` if the frame is incomplete. The
/// payload shares `buf`'s memory.
pub fn split_frame(buf: &mut BytesMut, max_frame_size: usize) -> Result<Option<Bytes>> {
    match check_frame(buf, max_frame_size)? {
        None => Ok(None),
        Some(size) => {
            buf.advance(SIZE_PREFIX_LEN);
            Ok(Some(buf.split_to(size).freeze()))
        }
    }
}

/// Appends a frame to `buf`: reserves the size prefix, lets `write` append
/// the payload, then fills in the size. On error `buf` is left as it was.
pub fn write_frame(
    buf: &mut BytesMut,
    write: impl FnOnce(&mut BytesMut) -> Result<()>,
) -> Result<()> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(error) = write(buf) {
        buf.truncate(start);
        return Err(error);
    }
    let size = buf.len() - start - SIZE_PREFIX_LEN;
    let Ok(size32) = i32::try_from(size) else {
        buf.truncate(start);
        return Err(ProtocolError::ValueTooLong {
            what: "frame",
            length: size,
            max: i32::MAX as usize,
        });
    };
    if let Some(prefix) = buf.get_mut(start..start + SIZE_PREFIX_LEN) {
        prefix.copy_from_slice(&size32.to_be_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn incomplete_frames_wait_for_more_bytes() {
        let mut buf = BytesMut::new();
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[0, 0]);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(&[0, 3, b'a', b'b']);
        assert_eq!(split_frame(&mut buf, 100).unwrap(), None);
        buf.extend_from_slice(b"cd");
        assert_eq!(&split_frame(&mut buf, 100).unwrap().unwrap()[..], b"abc");
        assert_eq!(&buf[..], b"d");
    }

    #[test]
    fn oversized_and_negative_sizes_are_errors() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            split_frame(&mut buf, DEFAULT_MAX_FRAME_SIZE),
            Err(ProtocolError::FrameTooLarge {
                size: 0x7fff_ffff,
                max: DEFAULT_MAX_FRAME_SIZE
            })
        );
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert_eq!(
            split_frame(&mut buf, 100),
            Err(ProtocolError::InvalidFrameSize(-2))
        );
    }

    #[test]
    fn write_frame_patches_the_size_and_rolls_back_on_error() {
        let mut buf = BytesMut::from(&b"x"[..]);
        write_frame(&mut buf, |b| {
            b.extend_from_slice(b"hello");
            Ok(())
        })
        .unwrap();
        assert_eq!(&buf[..], b"x\0\0\0\x05hello");
        let err = write_frame(&mut buf, |b| {
            b.extend_from_slice(b"junk");
            Err(ProtocolError::UnknownApiKey(-7))
        });
        assert_eq!(err, Err(ProtocolError::UnknownApiKey(-7)));
        assert_eq!(&buf[..], b"x\0\0\0\x05hello");
    }
}
