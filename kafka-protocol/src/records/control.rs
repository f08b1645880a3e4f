//! Control records: the transaction markers in control batches (KIP-98).
//!
//! A control batch (attribute bit 5) holds one record whose key is
//! `version i16 | type i16` (0 abort, 1 commit; KRaft uses higher types in
//! its own metadata log) and, for commit and abort, whose value is the end
//! transaction marker `version i16 | coordinatorEpoch i32`. Consumers read
//! them to drop aborted records under `read_committed` and never hand them to
//! the application; the broker writes them when a transaction ends.

use bytes::Bytes;

use super::{NO_SEQUENCE, Record, RecordBatchBuilder};
use crate::compression::Compression;
use crate::error::{ProtocolError, Result};

/// The kind of a control record (the `type` in its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordKind {
    /// Type 0: the producer's transaction was aborted.
    Abort,
    /// Type 1: the producer's transaction was committed.
    Commit,
    /// Any other type (KRaft's leader change, snapshot and voter records, or
    /// one from a newer broker); consumers skip these.
    Other(i16),
}

impl ControlRecordKind {
    /// The kind with wire type `code`.
    pub const fn from_code(code: i16) -> Self {
        match code {
            0 => ControlRecordKind::Abort,
            1 => ControlRecordKind::Commit,
            other => ControlRecordKind::Other(other),
        }
    }

    /// The wire type.
    pub const fn code(self) -> i16 {
        match self {
            ControlRecordKind::Abort => 0,
            ControlRecordKind::Commit => 1,
            ControlRecordKind::Other(code) => code,
        }
    }
}

/// A control record's key: schema version and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// The key's schema version (0 today).
    pub version: i16,
    /// What the record marks.
    pub kind: ControlRecordKind,
}

impl ControlRecord {
    /// The key schema version this crate writes.
    pub const CURRENT_VERSION: i16 = 0;

    /// A current-version control record of `kind`.
    pub const fn new(kind: ControlRecordKind) -> Self {
        Self {
            version: Self::CURRENT_VERSION,
            kind,
        }
    }

    /// Parses a control record key. Like the Java client, it accepts newer
    /// versions (reading the fields it knows) and extra trailing bytes, and
    /// rejects keys shorter than 4 bytes and negative versions.
    pub fn parse_key(key: &[u8]) -> Result<Self> {
        let (Some(version), Some(kind)) = (
            super::header::be_bytes(key, 0),
            super::header::be_bytes(key, 2),
        ) else {
            return Err(ProtocolError::InvalidRecord(format!(
                "control record key of {} bytes, needs 4",
                key.len()
            )));
        };
        let version = i16::from_be_bytes(version);
        if version < 0 {
            return Err(ProtocolError::InvalidRecord(format!(
                "negative control record key version {version}"
            )));
        }
        Ok(Self {
            version,
            kind: ControlRecordKind::from_code(i16::from_be_bytes(kind)),
        })
    }

    /// The control record a record of a control batch carries in its key.
    pub fn from_record(record: &Record) -> Result<Self> {
        match &record.key {
            Some(key) => Self::parse_key(key),
            None => Err(ProtocolError::InvalidRecord(
                "control record with a null key".into(),
            )),
        }
    }

    /// The key bytes.
    pub fn to_key_bytes(&self) -> [u8; 4] {
        let [v0, v1] = self.version.to_be_bytes();
        let [k0, k1] = self.kind.code().to_be_bytes();
        [v0, v1, k0, k1]
    }
}

/// The value of a commit or abort control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTransactionMarker {
    /// The value's schema version (0 today).
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTransactionMarker {
    /// The value schema version this crate writes.
    pub const CURRENT_VERSION: i16 = 0;

    /// A current-version marker from a coordinator at `coordinator_epoch`.
    pub const fn new(coordinator_epoch: i32) -> Self {
        Self {
            version: Self::CURRENT_VERSION,
            coordinator_epoch,
        }
    }

    /// Parses a marker value; newer versions are read for the fields known
    /// here, as the Java client does.
    pub fn parse_value(value: &[u8]) -> Result<Self> {
        let (Some(version), Some(epoch)) = (
            super::header::be_bytes(value, 0),
            super::header::be_bytes(value, 2),
        ) else {
            return Err(ProtocolError::InvalidRecord(format!(
                "end transaction marker of {} bytes, needs 6",
                value.len()
            )));
        };
        let version = i16::from_be_bytes(version);
        if version < 0 {
            return Err(ProtocolError::InvalidRecord(format!(
                "negative end transaction marker version {version}"
            )));
        }
        Ok(Self {
            version,
            coordinator_epoch: i32::from_be_bytes(epoch),
        })
    }

    /// The value bytes.
    pub fn to_value_bytes(&self) -> [u8; 6] {
        let [v0, v1] = self.version.to_be_bytes();
        let [e0, e1, e2, e3] = self.coordinator_epoch.to_be_bytes();
        [v0, v1, e0, e1, e2, e3]
    }
}

/// Encodes the control batch a broker appends when a transaction ends: one
/// transactional control record of `kind` (commit or abort) with the
/// coordinator's epoch, uncompressed, base sequence -1, base offset 0 (the
/// broker assigns offsets and leader epoch with
/// [`RecordBatchMut`](super::RecordBatchMut)).
pub fn end_transaction_batch(
    kind: ControlRecordKind,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<Bytes> {
    if !matches!(kind, ControlRecordKind::Commit | ControlRecordKind::Abort) {
        return Err(ProtocolError::InvalidRecord(format!(
            "an end transaction marker is a commit or an abort, not {kind:?}"
        )));
    }
    let key = ControlRecord::new(kind).to_key_bytes();
    let value = EndTransactionMarker::new(coordinator_epoch).to_value_bytes();
    let mut builder = RecordBatchBuilder::with_capacity(Compression::None, 96);
    builder
        .set_transactional(true)
        .set_control(true)
        .set_producer_state(producer_id, producer_epoch, NO_SEQUENCE);
    builder.append(timestamp, Some(&key), Some(&value), &[])?;
    builder.build()
}
