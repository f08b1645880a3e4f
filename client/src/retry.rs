//! The one retry policy every ferrokafka client uses: given an error, fail,
//! back off and retry, refresh metadata and retry, or find the coordinator
//! again and retry. Retriability follows the Java client's classes (see
//! [`ErrorCode::is_retriable`]); the refresh and coordinator cases follow
//! `InvalidMetadataException` and the coordinator errors.

use ferrokafka_protocol::ErrorCode;

use crate::error::Error;

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Give up: retrying cannot help.
    Fail,
    /// Wait the retry backoff, then send again to the same target.
    Backoff,
    /// The metadata cache is stale: refresh it, then route and send again.
    RefreshMetadata,
    /// The coordinator moved or is unknown: look it up again, then send again.
    FindCoordinator,
}

/// Classifies a Kafka error code.
pub fn classify_code(code: ErrorCode) -> RetryAction {
    match code {
        ErrorCode::None => RetryAction::Fail,
        // The cache says the wrong broker leads, or does not know the
        // partition yet (Java's InvalidMetadataException family).
        ErrorCode::NotLeaderOrFollower
        | ErrorCode::UnknownTopicOrPartition
        | ErrorCode::LeaderNotAvailable
        | ErrorCode::FencedLeaderEpoch
        | ErrorCode::UnknownLeaderEpoch
        | ErrorCode::KafkaStorageError
        | ErrorCode::UnknownTopicId
        | ErrorCode::InconsistentTopicId
        | ErrorCode::NotController
        | ErrorCode::ReplicaNotAvailable => RetryAction::RefreshMetadata,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
            RetryAction::FindCoordinator
        }
        // A network error reported by the broker about another broker.
        ErrorCode::NetworkException => RetryAction::RefreshMetadata,
        code if code.is_retriable() => RetryAction::Backoff,
        _ => RetryAction::Fail,
    }
}

/// Classifies any client error.
pub fn classify(error: &Error) -> RetryAction {
    match error {
        Error::Kafka { code, .. } => classify_code(*code),
        // A lost connection or a timeout may mean the broker is gone: the
        // metadata may name a new leader.
        Error::Network { .. }
        | Error::Timeout { .. }
        | Error::LeaderUnknown { .. }
        | Error::UnknownNode(_) => RetryAction::RefreshMetadata,
        Error::NoBrokerAvailable { .. } => RetryAction::Backoff,
        Error::UnknownProperty(_)
        | Error::InvalidProperty { .. }
        | Error::Config(_)
        | Error::Protocol { .. }
        | Error::UnsupportedByBroker { .. }
        | Error::RetriesExhausted { .. }
        | Error::Closed => RetryAction::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::ApiKey;

    #[test]
    fn every_code_clients_meet_is_classified_as_the_java_client_does() {
        use RetryAction::*;
        let table = [
            (ErrorCode::OffsetOutOfRange, Fail),
            (ErrorCode::CorruptMessage, Backoff),
            (ErrorCode::UnknownTopicOrPartition, RefreshMetadata),
            (ErrorCode::LeaderNotAvailable, RefreshMetadata),
            (ErrorCode::NotLeaderOrFollower, RefreshMetadata),
            (ErrorCode::RequestTimedOut, Backoff),
            (ErrorCode::MessageTooLarge, Fail),
            (ErrorCode::NetworkException, RefreshMetadata),
            (ErrorCode::CoordinatorLoadInProgress, Backoff),
            (ErrorCode::CoordinatorNotAvailable, FindCoordinator),
            (ErrorCode::NotCoordinator, FindCoordinator),
            (ErrorCode::NotEnoughReplicas, Backoff),
            (ErrorCode::NotEnoughReplicasAfterAppend, Backoff),
            (ErrorCode::IllegalGeneration, Fail),
            (ErrorCode::UnknownMemberId, Fail),
            (ErrorCode::RebalanceInProgress, Fail),
            (ErrorCode::UnsupportedVersion, Fail),
            (ErrorCode::TopicAlreadyExists, Fail),
            (ErrorCode::OutOfOrderSequenceNumber, Fail),
            (ErrorCode::DuplicateSequenceNumber, Fail),
            (ErrorCode::InvalidProducerEpoch, Fail),
            (ErrorCode::KafkaStorageError, RefreshMetadata),
            (ErrorCode::UnknownProducerId, Fail),
            (ErrorCode::NonEmptyGroup, Fail),
            (ErrorCode::GroupIdNotFound, Fail),
            (ErrorCode::MemberIdRequired, Fail),
            (ErrorCode::FencedInstanceId, Fail),
            (ErrorCode::FencedLeaderEpoch, RefreshMetadata),
            (ErrorCode::UnknownServerError, Fail),
        ];
        for (code, action) in table {
            assert_eq!(classify_code(code), action, "{code}");
            let error = Error::kafka(code, ApiKey::Produce, Some(1), None);
            assert_eq!(classify(&error), action, "{code}");
            assert_eq!(error.is_retriable(), action != Fail, "{code}");
        }
    }

    #[test]
    fn every_retriable_code_is_retried_and_no_other() {
        for &code in ErrorCode::KNOWN {
            let action = classify_code(code);
            if code.is_retriable() {
                assert_ne!(action, RetryAction::Fail, "{code} is retriable in Java");
            } else {
                assert_eq!(action, RetryAction::Fail, "{code} is not retriable in Java");
            }
        }
    }

    #[test]
    fn transport_errors_refresh_metadata() {
        let network = Error::Network {
            broker: "b:1".into(),
            message: "reset".into(),
        };
        assert_eq!(classify(&network), RetryAction::RefreshMetadata);
        let closed = Error::Closed;
        assert_eq!(classify(&closed), RetryAction::Fail);
    }
}
