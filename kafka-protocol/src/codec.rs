//! The traits that tie generated messages together, so the client and the
//! broker can be generic over requests: every message encodes and decodes at
//! a version; every request knows its API key, its versions and its response.

use bytes::{Bytes, BytesMut};

use crate::ApiKey;
use crate::error::Result;

/// An inclusive range of protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version.
    pub min: i16,
    /// The highest version.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        VersionRange { min, max }
    }

    /// Whether `version` lies in the range.
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The versions both ranges contain, or `None` if they do not overlap.
    pub fn intersect(&self, other: &VersionRange) -> Option<VersionRange> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(VersionRange { min, max })
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// Writes a value in the layout of one protocol version.
pub trait Encode {
    /// Appends the value's wire form at `version` to `buf`.
    ///
    /// Fails if the version is not one the message defines, if a field holds
    /// a non-default value that the version cannot carry (unless the spec
    /// marks it ignorable), or if a null is given where the version forbids it.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<()>;
}

/// Reads a value in the layout of one protocol version.
pub trait Decode: Sized {
    /// Reads the value at `version` from the front of `buf`, leaving what
    /// follows it. Never panics, and allocates at most a fixed multiple of
    /// the input size (an element count may claim one element per byte
    /// that remains; `tests/bounded_allocation.rs` measures the bound).
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self>;
}

/// A top-level protocol message (a request, response, header or embedded
/// data structure) described by one spec file.
pub trait Message: Encode + Decode + Default + Clone + std::fmt::Debug + PartialEq {
    /// The message name as the spec spells it.
    const NAME: &'static str;
    /// The versions the spec defines.
    const VERSIONS: VersionRange;
    /// The first flexible version (compact encodings, tagged fields), if any.
    const FIRST_FLEXIBLE_VERSION: Option<i16>;

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        matches!(Self::FIRST_FLEXIBLE_VERSION, Some(first) if version >= first)
    }
}

/// A request message: its API key and the response it is answered with.
pub trait Request: Message {
    /// The API key that identifies the request on the wire.
    const API_KEY: ApiKey;
    /// The response type.
    type Response: Response;
}

/// A response message.
pub trait Response: Message {
    /// The API key of the request this answers.
    const API_KEY: ApiKey;
}

/// Decodes a whole buffer as one message at `version`; bytes left over are
/// an error (they mean the version or the framing is wrong).
pub fn decode_exact<M: Message>(mut buf: Bytes, version: i16) -> Result<M> {
    let message = M::decode(&mut buf, version)?;
    crate::primitives::ensure_consumed(&buf, M::NAME)?;
    Ok(message)
}

/// Encodes one message at `version` into a fresh buffer.
pub fn encode_to_vec<M: Encode>(message: &M, version: i16) -> Result<BytesMut> {
    let mut buf = BytesMut::new();
    message.encode(&mut buf, version)?;
    Ok(buf)
}
