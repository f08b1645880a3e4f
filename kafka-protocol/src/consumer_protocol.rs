//! The ConsumerProtocol envelope: the bytes that carry a consumer's
//! subscription (JoinGroup member metadata) and its assignment (SyncGroup,
//! DescribeGroups) are an i16 version followed by
//! [`ConsumerProtocolSubscription`](crate::generated::ConsumerProtocolSubscription)
//! or [`ConsumerProtocolAssignment`](crate::generated::ConsumerProtocolAssignment)
//! at that version.
//!
//! Later versions only append fields, so, as in Kafka's `ConsumerProtocol`,
//! a version newer than this crate knows is decoded at the highest one it
//! does (whatever follows is left unread), and a version below the lowest is
//! an error. Decoding goes through [`decode`] (or [`decode_up_to`] for a
//! reader that wants only the fields of early versions) everywhere: in the
//! consumer, the admin client and the broker.

use bytes::{Buf, Bytes};

use crate::codec::Message;
use crate::error::{ProtocolError, Result};

/// A decoded ConsumerProtocol struct and the version its bytes carried.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The version as written, which may be newer than `T` knows.
    pub version: i16,
    /// The struct, decoded at `version` or at the highest version known.
    pub body: T,
}

/// Decodes ConsumerProtocol bytes (an i16 version, then `T` at that
/// version): a version newer than `T`'s highest is decoded at the highest.
///
/// Fails with [`ProtocolError::Truncated`] when the bytes are too short for
/// the version or the body, and with [`ProtocolError::UnsupportedVersion`]
/// for a version below `T`'s lowest (a negative one). Bytes after the body
/// are ignored, as newer versions' fields must be. The body's byte fields
/// (user data) share `bytes`' buffer.
pub fn decode<T: Message>(bytes: &Bytes) -> Result<Versioned<T>> {
    decode_up_to(bytes, T::VERSIONS.max)
}

/// [`decode`] for a reader that needs no field past version `highest`: the
/// body is decoded at most at that version, so what later versions add is
/// never read (Kafka's group coordinator reads subscriptions this way, at
/// version 0, for their topics).
pub fn decode_up_to<T: Message>(bytes: &Bytes, highest: i16) -> Result<Versioned<T>> {
    let mut body = bytes.clone();
    let version = body.try_get_i16().map_err(|_| ProtocolError::Truncated {
        what: "ConsumerProtocol version",
        needed: 2,
        remaining: bytes.len(),
    })?;
    if version < T::VERSIONS.min {
        return Err(ProtocolError::UnsupportedVersion {
            message: T::NAME,
            version,
        });
    }
    let at = version.min(highest).min(T::VERSIONS.max);
    let body = T::decode(&mut body, at)?;
    Ok(Versioned { version, body })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::{BufMut, BytesMut};

    use super::*;
    use crate::codec::Encode;
    use crate::generated::consumer_protocol_assignment::TopicPartition as AssignedTopic;
    use crate::generated::consumer_protocol_subscription::TopicPartition as OwnedTopic;
    use crate::generated::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};

    fn subscription() -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"user")),
            owned_partitions: vec![OwnedTopic {
                topic: "a".into(),
                partitions: vec![0, 2],
            }],
            generation_id: 7,
            rack_id: Some("rack-1".into()),
        }
    }

    fn assignment() -> ConsumerProtocolAssignment {
        ConsumerProtocolAssignment {
            assigned_partitions: vec![AssignedTopic {
                topic: "a".into(),
                partitions: vec![1, 3],
            }],
            user_data: Some(Bytes::from_static(b"data")),
        }
    }

    /// `value` encoded at `body_version` behind the version `written`.
    fn envelope<T: Encode>(value: &T, written: i16, body_version: i16) -> BytesMut {
        let mut buf = BytesMut::new();
        buf.put_i16(written);
        value.encode(&mut buf, body_version).unwrap();
        buf
    }

    /// What `value` keeps when written at `version`.
    fn at_version<T: Message>(value: &T, version: i16) -> T {
        let mut buf = BytesMut::new();
        value.encode(&mut buf, version).unwrap();
        T::decode(&mut buf.freeze(), version).unwrap()
    }

    #[test]
    fn every_known_version_decodes_at_itself() {
        for version in 0..=3 {
            let bytes = envelope(&subscription(), version, version).freeze();
            let decoded = decode::<ConsumerProtocolSubscription>(&bytes).unwrap();
            assert_eq!(decoded.version, version);
            assert_eq!(decoded.body, at_version(&subscription(), version));

            let bytes = envelope(&assignment(), version, version).freeze();
            let decoded = decode::<ConsumerProtocolAssignment>(&bytes).unwrap();
            assert_eq!(decoded.version, version);
            assert_eq!(decoded.body, assignment());
        }
    }

    #[test]
    fn an_unknown_newer_version_is_decoded_at_the_highest_known() {
        // A version 5 body: version 3's fields, then fields this crate does
        // not know.
        let mut buf = envelope(&subscription(), 5, 3);
        buf.put_slice(b"\x00\x00\x00\x2a future fields");
        let decoded = decode::<ConsumerProtocolSubscription>(&buf.freeze()).unwrap();
        assert_eq!(decoded.version, 5);
        assert_eq!(decoded.body, subscription());

        let mut buf = envelope(&assignment(), i16::MAX, 3);
        buf.put_slice(b"\xff");
        let decoded = decode::<ConsumerProtocolAssignment>(&buf.freeze()).unwrap();
        assert_eq!(decoded.version, i16::MAX);
        assert_eq!(decoded.body, assignment());
    }

    #[test]
    fn truncated_input_is_an_error() {
        for short in [&b""[..], &b"\x00"[..]] {
            assert_eq!(
                decode::<ConsumerProtocolSubscription>(&Bytes::copy_from_slice(short)),
                Err(ProtocolError::Truncated {
                    what: "ConsumerProtocol version",
                    needed: 2,
                    remaining: short.len(),
                })
            );
        }
        // Every cut of a complete envelope short of its end fails.
        let whole = envelope(&subscription(), 3, 3).freeze();
        for len in 0..whole.len() {
            assert!(
                decode::<ConsumerProtocolSubscription>(&whole.slice(..len)).is_err(),
                "{len} of {} bytes",
                whole.len()
            );
        }
        let whole = envelope(&assignment(), 1, 1).freeze();
        for len in 0..whole.len() {
            assert!(decode::<ConsumerProtocolAssignment>(&whole.slice(..len)).is_err());
        }
    }

    #[test]
    fn a_negative_version_is_an_error() {
        let bytes = envelope(&assignment(), -1, 0).freeze();
        assert_eq!(
            decode::<ConsumerProtocolAssignment>(&bytes),
            Err(ProtocolError::UnsupportedVersion {
                message: "ConsumerProtocolAssignment",
                version: -1,
            })
        );
        assert!(decode_up_to::<ConsumerProtocolSubscription>(&bytes, 0).is_err());
    }

    #[test]
    fn decoding_up_to_a_version_leaves_later_fields_unread() {
        // The owned partitions are cut short: only a reader of version 0
        // fields gets through.
        let whole = envelope(&subscription(), 3, 3).freeze();
        let v0_len = envelope(&subscription(), 0, 0).len();
        let cut = whole.slice(..v0_len + 3);
        assert!(decode::<ConsumerProtocolSubscription>(&cut).is_err());
        let decoded = decode_up_to::<ConsumerProtocolSubscription>(&cut, 0).unwrap();
        assert_eq!(decoded.version, 3);
        assert_eq!(decoded.body, at_version(&subscription(), 0));

        // A ceiling above the highest known is the highest known.
        let decoded = decode_up_to::<ConsumerProtocolSubscription>(&whole, i16::MAX).unwrap();
        assert_eq!(decoded.body, subscription());
    }

    #[test]
    fn user_data_shares_the_input() {
        let bytes = envelope(&assignment(), 1, 1).freeze();
        let decoded = decode::<ConsumerProtocolAssignment>(&bytes).unwrap();
        let user_data = decoded.body.user_data.unwrap();
        let range = bytes.as_ptr_range();
        assert!(range.contains(&user_data.as_ptr()));
    }
}
