//! Kafka's protocol error codes as a typed enum.
//!
//! Every response carries `int16` error codes. This module turns them into
//! [`ErrorCode`] right at the decoder, so no bare integer travels further into
//! the client or the broker (see DESIGN.md, "Errors").
//!
//! The table covers every code Apache Kafka defines up to release 4.4: -1
//! (`UNKNOWN_SERVER_ERROR`), 0 (`NONE`) and 1 through 135, with no gaps. The
//! codes and names follow Kafka's `Errors` enum in the Java client; a code is
//! never reused there, so a value read from any broker version means the same
//! thing. A code outside the table (a newer broker, or a vendor extension) is
//! kept as [`ErrorCode::Unknown`] with its number, so it can still be logged
//! and re-encoded unchanged.
//!
//! Retriability mirrors the Java client exactly: a code is retriable when the
//! exception class Java maps it to extends `RetriableException` (directly, or
//! through `RefreshRetriableException` / `InvalidMetadataException`). Unknown
//! codes are not retriable, as Java treats them like `UNKNOWN_SERVER_ERROR`.
//! Retriable does not say *how* to retry (refresh metadata, find the
//! coordinator again, back off); the client's retry policy decides that.
//!
//! All facts about a code live in one row of the `error_codes!` table below;
//! the enum and every lookup are generated from it.

use std::fmt;

/// Builds [`ErrorCode`] and its lookups from one table.
///
/// Each row is `Variant = code, "KAFKA_NAME", retriable, "description";`.
/// The description doubles as the variant's doc comment.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $name:literal, $retriable:literal, $desc:literal;)+) => {
        /// A Kafka protocol error code.
        ///
        /// Build one from the wire with [`ErrorCode::from_code`] (or `From<i16>`)
        /// and write it back with [`ErrorCode::code`]. `from_code` never yields
        /// `Unknown` for a code the table knows, so compare values produced by
        /// it rather than hand-built `Unknown(n)` values.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = $desc]
                $variant,
            )+
            /// A code this table does not know, kept with its number so it
            /// round-trips unchanged.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every code the table knows, in ascending numeric order.
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// Maps a wire value to its error code; total over `i16`, with
            /// unknown values kept in [`ErrorCode::Unknown`].
            pub const fn from_code(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)+
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The value written on the wire for this code.
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)+
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Kafka's name for the code, as written in the protocol guide
            /// (for example `"NOT_LEADER_OR_FOLLOWER"`); `"UNKNOWN"` for a
            /// code outside the table.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Whether the Java client classes this error as retriable (its
            /// exception extends `RetriableException`). Unknown codes are not.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)+
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// A one-sentence explanation of the code.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)+
                    ErrorCode::Unknown(_) => {
                        "The broker returned an error code this client does not know."
                    }
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false,
        "The broker hit an unexpected failure while handling the request.";
    None = 0, "NONE", false,
        "The operation succeeded.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset lies outside the range of offsets the partition currently holds.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true,
        "A record batch failed its checksum, exceeded the allowed size, had a null key on a compacted topic, or was otherwise malformed.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "The broker does not host this topic or partition, or the topic does not exist.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false,
        "The requested fetch size is not acceptable.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true,
        "The partition has no leader right now, usually because a leader election is under way.";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true,
        "The broker is not the leader of this partition (or, for requests any replica may serve, not a replica of it).";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true,
        "The request did not complete within its time limit.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false,
        "The requested broker is not available.";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true,
        "The replica is not available for this partition.";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false,
        "A message is larger than the maximum size the broker accepts.";
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false,
        "The request carried a controller epoch older than the current one.";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false,
        "The metadata string attached to a committed offset is too long.";
    NetworkException = 13, "NETWORK_EXCEPTION", true,
        "The connection closed before a response arrived.";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "The coordinator is still loading its state and cannot serve requests yet.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true,
        "The coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true,
        "The broker is not the coordinator for this group or transactional id.";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false,
        "The request names a topic that is not valid for this operation.";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false,
        "A record batch is larger than the log segment size configured on the broker.";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true,
        "The write was refused because fewer replicas are in sync than the topic requires.";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true,
        "The write reached the leader's log, but fewer replicas are in sync than the topic requires.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false,
        "The produce request used an acks value the broker does not accept.";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false,
        "The group generation in the request is not the current one.";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false,
        "The member's protocols do not match the group's, or it joined with an empty protocol type or list.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false,
        "The group id is not valid.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false,
        "The coordinator does not know this member id.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout lies outside the range the broker allows.";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing, so the member has to rejoin.";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false,
        "The size of the offset commit data is not valid.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the topic.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the group.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false,
        "The client is not authorized for this cluster-wide operation.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false,
        "A record's timestamp is outside the range the broker accepts.";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not support the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false,
        "The request is not allowed at this point of the SASL exchange.";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false,
        "The broker does not support this version of the API.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false,
        "A topic with this name already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false,
        "The number of partitions is not valid.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false,
        "The replication factor is not valid for this cluster.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false,
        "The replica assignment is not valid.";
    InvalidConfig = 40, "INVALID_CONFIG", false,
        "The configuration is not valid.";
    NotController = 41, "NOT_CONTROLLER", true,
        "The broker is not the active controller.";
    InvalidRequest = 42, "INVALID_REQUEST", false,
        "The request is malformed or reached a broker that cannot understand it; the broker log has details.";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false,
        "The broker's message format version cannot serve this request.";
    PolicyViolation = 44, "POLICY_VIOLATION", false,
        "The request breaks a policy configured on the broker.";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received a producer sequence number out of order.";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker already holds a batch with this producer sequence number.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false,
        "The producer used an epoch older than the current one.";
    InvalidTxnState = 48, "INVALID_TXN_STATE", false,
        "The transactional operation is not allowed in the transaction's current state.";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false,
        "The producer id is not the one currently assigned to this transactional id.";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false,
        "The transaction timeout exceeds the maximum the broker allows.";
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true,
        "Another operation on the same transaction is still in progress.";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false,
        "The transaction coordinator that sent the marker is no longer the current one.";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false,
        "The client is not authorized to use this transactional id.";
    SecurityDisabled = 54, "SECURITY_DISABLED", false,
        "The security features this request needs are disabled.";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false,
        "The broker skipped this operation, typically because another one in the same batch failed.";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true,
        "The broker hit a disk error while accessing the log.";
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false,
        "The requested log directory is not configured on the broker.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false,
        "SASL authentication failed.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false,
        "The broker holds no state for this producer id, for example because all its records expired.";
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false,
        "A partition reassignment is in progress.";
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false,
        "Delegation tokens are not enabled on this cluster.";
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false,
        "The delegation token does not exist on the broker.";
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false,
        "The principal is neither the owner nor a renewer of the delegation token.";
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false,
        "Delegation token requests are not allowed over this kind of connection.";
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false,
        "The client is not authorized for this delegation token operation.";
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false,
        "The delegation token has expired.";
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false,
        "The principal type is not supported.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false,
        "The group still has members.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false,
        "The group does not exist.";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true,
        "The broker does not know this fetch session id.";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true,
        "The fetch session epoch does not match the one the broker expects.";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true,
        "The leader has no listener matching the one the metadata request arrived on.";
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false,
        "Topic deletion is disabled on this cluster.";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true,
        "The leader epoch in the request is older than the broker's.";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true,
        "The leader epoch in the request is newer than the broker's.";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "The client does not support the compression type the partition uses.";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false,
        "The broker epoch in the request is no longer current.";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true,
        "A new leader's high watermark has not caught up yet, so offsets cannot be served safely.";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false,
        "The member needs a member id from the coordinator before it can join the group.";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true,
        "The preferred leader is not available.";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false,
        "The group already has its maximum number of members.";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false,
        "Another member with the same group instance id has taken over this static membership.";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true,
        "No eligible leader is available for the partition.";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true,
        "The partition does not need a leader election.";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false,
        "No partition reassignment is in progress.";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false,
        "A topic's offsets cannot be deleted while the group is still subscribed to it.";
    InvalidRecord = 87, "INVALID_RECORD", false,
        "The broker rejected a record that failed its validation.";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true,
        "Offsets from an open transaction are still pending and must settle first.";
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true,
        "The request went over a throttling quota.";
    ProducerFenced = 90, "PRODUCER_FENCED", false,
        "A newer producer with the same transactional id has fenced this one.";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false,
        "The request refers to a resource that does not exist.";
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false,
        "The request refers to the same resource more than once.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false,
        "The credential does not meet the broker's acceptance criteria.";
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false,
        "The sender or receiver of a voter request is not one of the expected voters.";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false,
        "The update version is not valid.";
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false,
        "The finalized features could not be updated because of an unexpected error.";
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false,
        "The broker could not read back the request principal while forwarding the request.";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false,
        "The requested snapshot does not exist.";
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false,
        "The requested position is negative or past the end of the snapshot.";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true,
        "The broker does not host a topic with this id.";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false,
        "Another broker has already registered with this id.";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false,
        "The broker id has not been registered.";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true,
        "The topic id in the request does not match the one recorded in the log.";
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false,
        "The cluster id in the request does not match the broker's.";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false,
        "The transactional id does not exist.";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true,
        "The fetch session used topic ids inconsistently.";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false,
        "The proposed in-sync replica set contains a replica that is not eligible.";
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false,
        "The partition state was updated, but the partition now has a different leader.";
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false,
        "The requested offset is now held in tiered storage.";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false,
        "The member epoch was fenced; the member must release all its partitions and rejoin.";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false,
        "The instance id is still held by another member, which has to leave the group first.";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false,
        "The group does not support the assignor or the requested version range of it.";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false,
        "The member epoch is stale; the member must retry once a heartbeat has given it the current epoch.";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false,
        "The request reached an endpoint of the wrong type.";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false,
        "This endpoint type is not supported yet.";
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false,
        "The controller id is not known.";
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false,
        "The telemetry push used a subscription id that is unknown or outdated.";
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false,
        "The telemetry push is larger than the broker accepts.";
    InvalidRegistration = 119, "INVALID_REGISTRATION", false,
        "The controller considers the broker's registration invalid.";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false,
        "The transaction hit an error; aborting it lets the producer keep its transactional id.";
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false,
        "The record's delivery state does not allow this acknowledgement.";
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true,
        "The share session does not exist.";
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true,
        "The share session epoch is not valid.";
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false,
        "The share-group state epoch in the request does not match the share coordinator's.";
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false,
        "The voter key does not match the receiving replica's key.";
    DuplicateVoter = 126, "DUPLICATE_VOTER", false,
        "The voter is already in the voter set.";
    VoterNotFound = 127, "VOTER_NOT_FOUND", false,
        "The voter is not in the voter set.";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false,
        "The regular expression is not valid.";
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false,
        "The client's metadata is stale, so it should bootstrap again to get fresh metadata.";
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false,
        "The streams topology is not valid.";
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false,
        "The streams topology epoch is not valid.";
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false,
        "The streams topology epoch is older than the group's.";
    ShareSessionLimitReached = 133, "SHARE_SESSION_LIMIT_REACHED", true,
        "No new share session can be opened because the limit has been reached.";
    GroupDeletionFailed = 134, "GROUP_DELETION_FAILED", false,
        "The group could not be deleted; the per-group error message gives the reason.";
    StreamsTopologyDescriptionUpdateFailed = 135, "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED", false,
        "The broker could not apply the streams topology description update.";
}

impl ErrorCode {
    /// Whether this is `NONE`, the code for success.
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }

    /// `Ok(())` for `NONE`, otherwise `Err(self)`, so a response's error
    /// field can be checked with `?`.
    ///
    /// # Errors
    ///
    /// Returns the code itself when it is anything other than `NONE`.
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.name(), self.code())
    }
}

impl std::error::Error for ErrorCode {}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_code(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(error: ErrorCode) -> Self {
        error.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The lowest and highest codes in the table.
    const LOWEST: i16 = -1;
    const HIGHEST: i16 = 135;

    #[test]
    fn every_known_code_round_trips() {
        for &error in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::from_code(error.code()), error, "{error:?}");
            assert_eq!(ErrorCode::from(i16::from(error)), error);
            assert!(!matches!(error, ErrorCode::Unknown(_)));
        }
    }

    #[test]
    fn table_is_contiguous_from_minus_one_to_highest() {
        let codes: Vec<i16> = ErrorCode::KNOWN.iter().map(|e| e.code()).collect();
        let expected: Vec<i16> = (LOWEST..=HIGHEST).collect();
        assert_eq!(codes, expected);
        assert!(ErrorCode::KNOWN.len() > 120);
    }

    #[test]
    fn codes_are_unique() {
        let codes: HashSet<i16> = ErrorCode::KNOWN.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), ErrorCode::KNOWN.len());
    }

    #[test]
    fn names_are_unique_and_screaming_snake() {
        let names: HashSet<&str> = ErrorCode::KNOWN.iter().map(|e| e.name()).collect();
        assert_eq!(names.len(), ErrorCode::KNOWN.len());
        for &error in ErrorCode::KNOWN {
            let name = error.name();
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
    }

    /// Each name is the variant's name in SCREAMING_SNAKE case, so a typo in
    /// either column of the table shows up here.
    #[test]
    fn names_match_variant_names() {
        for &error in ErrorCode::KNOWN {
            let variant = format!("{error:?}");
            let mut snake = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_uppercase());
            }
            assert_eq!(snake, error.name());
        }
    }

    #[test]
    fn descriptions_are_single_sentences() {
        let mut seen = HashSet::new();
        for &error in ErrorCode::KNOWN {
            let text = error.description();
            assert!(text.ends_with('.'), "{error:?}: {text}");
            assert!(seen.insert(text), "duplicate description for {error:?}");
        }
    }

    #[test]
    fn from_code_is_total_and_preserves_every_value() {
        for code in i16::MIN..=i16::MAX {
            let error = ErrorCode::from_code(code);
            assert_eq!(error.code(), code);
            let known = (LOWEST..=HIGHEST).contains(&code);
            assert_eq!(!matches!(error, ErrorCode::Unknown(_)), known, "{code}");
        }
    }

    #[test]
    fn unknown_codes_are_preserved() {
        let error = ErrorCode::from_code(9999);
        assert_eq!(error, ErrorCode::Unknown(9999));
        assert_eq!(error.code(), 9999);
        assert_eq!(error.name(), "UNKNOWN");
        assert!(!error.is_retriable());
        assert!(!error.is_ok());
        assert_eq!(error.to_string(), "UNKNOWN (code 9999)");
        assert_eq!(ErrorCode::from_code(-2), ErrorCode::Unknown(-2));
        assert_eq!(
            ErrorCode::from_code(HIGHEST + 1),
            ErrorCode::Unknown(HIGHEST + 1)
        );
    }

    /// The table in KAFKA-FACTS.md: (code, name, retriable). Where the page
    /// names a code without a verdict, the Java client's one (not retriable)
    /// is asserted.
    #[test]
    fn kafka_facts_table() {
        let facts: &[(i16, &str, bool)] = &[
            (1, "OFFSET_OUT_OF_RANGE", false),
            (2, "CORRUPT_MESSAGE", true),
            (3, "UNKNOWN_TOPIC_OR_PARTITION", true),
            (5, "LEADER_NOT_AVAILABLE", true),
            (6, "NOT_LEADER_OR_FOLLOWER", true),
            (7, "REQUEST_TIMED_OUT", true),
            (10, "MESSAGE_TOO_LARGE", false),
            (13, "NETWORK_EXCEPTION", true),
            (14, "COORDINATOR_LOAD_IN_PROGRESS", true),
            (15, "COORDINATOR_NOT_AVAILABLE", true),
            (16, "NOT_COORDINATOR", true),
            (19, "NOT_ENOUGH_REPLICAS", true),
            (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true),
            (22, "ILLEGAL_GENERATION", false),
            (25, "UNKNOWN_MEMBER_ID", false),
            (27, "REBALANCE_IN_PROGRESS", false),
            (35, "UNSUPPORTED_VERSION", false),
            (36, "TOPIC_ALREADY_EXISTS", false),
            (45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false),
            (46, "DUPLICATE_SEQUENCE_NUMBER", false),
            (47, "INVALID_PRODUCER_EPOCH", false),
            (56, "KAFKA_STORAGE_ERROR", true),
            (59, "UNKNOWN_PRODUCER_ID", false),
            (68, "NON_EMPTY_GROUP", false),
            (69, "GROUP_ID_NOT_FOUND", false),
            (79, "MEMBER_ID_REQUIRED", false),
            (82, "FENCED_INSTANCE_ID", false),
        ];
        for &(code, name, retriable) in facts {
            let error = ErrorCode::from_code(code);
            assert_eq!(error.name(), name, "code {code}");
            assert_eq!(error.is_retriable(), retriable, "{name}");
        }
    }

    /// The complete retriable set, written out independently of the table:
    /// the codes whose Java exception extends `RetriableException`.
    #[test]
    fn retriable_set_matches_java() {
        let retriable: HashSet<i16> = [
            2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83,
            84, 88, 89, 100, 103, 106, 122, 123, 133,
        ]
        .into_iter()
        .collect();
        for &error in ErrorCode::KNOWN {
            assert_eq!(
                error.is_retriable(),
                retriable.contains(&error.code()),
                "{error:?}"
            );
        }
    }

    #[test]
    fn newer_codes_have_their_kafka_numbers() {
        let expected: &[(ErrorCode, i16)] = &[
            (ErrorCode::InconsistentVoterSet, 94),
            (ErrorCode::UnknownTopicId, 100),
            (ErrorCode::OffsetMovedToTieredStorage, 109),
            (ErrorCode::StaleMemberEpoch, 113),
            (ErrorCode::InvalidRegistration, 119),
            (ErrorCode::TransactionAbortable, 120),
            (ErrorCode::VoterNotFound, 127),
            (ErrorCode::RebootstrapRequired, 129),
            (ErrorCode::ShareSessionLimitReached, 133),
            (ErrorCode::StreamsTopologyDescriptionUpdateFailed, 135),
        ];
        for &(error, code) in expected {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn none_is_ok_and_everything_else_is_an_error() {
        assert!(ErrorCode::None.is_ok());
        assert_eq!(ErrorCode::None.into_result(), Ok(()));
        assert_eq!(ErrorCode::from_code(0), ErrorCode::None);
        for &error in ErrorCode::KNOWN {
            if error != ErrorCode::None {
                assert!(!error.is_ok());
                assert_eq!(error.into_result(), Err(error));
            }
        }
        assert_eq!(
            ErrorCode::Unknown(9999).into_result(),
            Err(ErrorCode::Unknown(9999))
        );
    }

    #[test]
    fn display_shows_name_and_code() {
        assert_eq!(
            ErrorCode::NotLeaderOrFollower.to_string(),
            "NOT_LEADER_OR_FOLLOWER (code 6)"
        );
        assert_eq!(
            ErrorCode::UnknownServerError.to_string(),
            "UNKNOWN_SERVER_ERROR (code -1)"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(ErrorCode::RequestTimedOut);
        assert_eq!(boxed.to_string(), "REQUEST_TIMED_OUT (code 7)");
    }
}
