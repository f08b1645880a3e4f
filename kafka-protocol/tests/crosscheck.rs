//! Cross-check against an implementation nobody here wrote: the `kafka-protocol`
//! crate from crates.io, generated independently from the same Apache Kafka
//! specs.
//!
//! For every API key and version both crates support, a request and a response
//! filled with non-default values in every field are encoded by ferrokafka,
//! decoded by `kafka-protocol` (which must consume every byte), re-encoded by
//! it, and the bytes must be identical to ours; those bytes then decode with
//! ferrokafka back to the original values. So each side decodes what the other
//! encodes, and both agree on every field's position and width.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::generated::{RequestKind, ResponseKind};
use ferrokafka_protocol::{ApiKey, Decode, Encode, Message};
use kafka_protocol::messages as theirs;

/// Our versions of `api` that `kafka-protocol` also knows.
fn shared_versions(api: ApiKey) -> Option<(theirs::ApiKey, std::ops::RangeInclusive<i16>)> {
    let their_api = theirs::ApiKey::try_from(api.key()).ok()?;
    let ours = api.valid_versions();
    let theirs = their_api.valid_versions();
    let min = ours.min.max(theirs.min);
    let max = ours.max.min(theirs.max);
    (min <= max).then_some((their_api, min..=max))
}

/// Ours encodes a sample; theirs decodes every byte and re-encodes the same
/// bytes; ours decodes those back to the sample.
macro_rules! check_kind {
    ($api:expr, $their_api:expr, $version:expr, $ours:ident, $theirs:ty, $what:literal) => {{
        let (api, version) = ($api, $version);
        let ours = $ours::sample(api, version);
        let mut buf = BytesMut::new();
        ours.encode(&mut buf, version).unwrap();
        let ours_bytes = buf.freeze();
        let mut input = ours_bytes.clone();
        let decoded = <$theirs>::decode($their_api, &mut input, version).unwrap_or_else(|e| {
            panic!(
                "{api} v{version} {}: kafka-protocol cannot decode ours: {e}",
                $what
            )
        });
        assert!(
            input.is_empty(),
            "{api} v{version} {}: kafka-protocol left {} bytes",
            $what,
            input.len()
        );
        let mut again = BytesMut::new();
        decoded.encode(&mut again, version).unwrap();
        assert_eq!(
            again.clone().freeze(),
            ours_bytes,
            "{api} v{version} {} bytes differ",
            $what
        );
        let mut back = again.freeze();
        assert_eq!(
            $ours::decode(api, &mut back, version).unwrap(),
            ours,
            "{api} v{version} {}",
            $what
        );
    }};
}

#[test]
fn every_shared_api_and_version_agrees_byte_for_byte() {
    let mut apis = 0;
    let mut versions = 0;
    let mut missing = Vec::new();
    let mut unstable = Vec::new();
    for &api in ApiKey::ALL {
        let Some((their_api, range)) = shared_versions(api) else {
            missing.push(api.name());
            continue;
        };
        apis += 1;
        for version in range {
            // The specs mark some APIs' newest version unstable: Kafka may still
            // change it, and did between the spec releases the two crates use.
            if api.latest_version_unstable() && version == api.valid_versions().max {
                unstable.push(format!("{} v{version}", api.name()));
                continue;
            }
            versions += 1;
            check_kind!(
                api,
                their_api,
                version,
                RequestKind,
                theirs::RequestKind,
                "request"
            );
            check_kind!(
                api,
                their_api,
                version,
                ResponseKind,
                theirs::ResponseKind,
                "response"
            );
        }
    }
    println!(
        "cross-checked {apis} APIs, {versions} versions; not in kafka-protocol: {missing:?}; unstable, skipped: {unstable:?}"
    );
    assert!(apis >= 70, "only {apis} APIs shared with kafka-protocol");
}

/// Encodes ours, decodes theirs, re-encodes theirs, compares, decodes ours.
fn cross_check<
    O: Message,
    T: kafka_protocol::protocol::Message
        + kafka_protocol::protocol::Encodable
        + kafka_protocol::protocol::Decodable,
>(
    ours: &O,
    version: i16,
) {
    if version < T::VERSIONS.min || version > T::VERSIONS.max {
        return;
    }
    let mut buf = BytesMut::new();
    ours.encode(&mut buf, version).unwrap();
    let ours_bytes = buf.freeze();
    let mut input = ours_bytes.clone();
    let decoded = T::decode(&mut input, version).unwrap_or_else(|e| {
        panic!(
            "{} v{version}: kafka-protocol cannot decode ours: {e}",
            O::NAME
        )
    });
    assert!(
        input.is_empty(),
        "{} v{version}: kafka-protocol left bytes",
        O::NAME
    );
    let mut again = BytesMut::new();
    decoded.encode(&mut again, version).unwrap();
    let again: Bytes = again.freeze();
    assert_eq!(again, ours_bytes, "{} v{version} bytes differ", O::NAME);
    let mut back = again;
    assert_eq!(
        &O::decode(&mut back, version).unwrap(),
        ours,
        "{} v{version}",
        O::NAME
    );
}

#[test]
fn headers_and_embedded_structures_agree() {
    use ferrokafka_protocol::generated as ours;
    macro_rules! check {
        ($($ours:ident => $theirs:ty),* $(,)?) => {$(
            for version in ours::$ours::VERSIONS.min..=ours::$ours::VERSIONS.max {
                cross_check::<ours::$ours, $theirs>(&ours::$ours::sample(version), version);
            }
        )*};
    }
    check!(
        RequestHeader => theirs::RequestHeader,
        ResponseHeader => theirs::ResponseHeader,
        ConsumerProtocolSubscription => theirs::ConsumerProtocolSubscription,
        ConsumerProtocolAssignment => theirs::ConsumerProtocolAssignment,
        DefaultPrincipalData => theirs::DefaultPrincipalData,
        SnapshotHeaderRecord => theirs::SnapshotHeaderRecord,
        SnapshotFooterRecord => theirs::SnapshotFooterRecord,
    );
    // kafka-protocol 0.18 decodes LeaderChangeMessage's `Version` field into a
    // variable that shadows the schema version, then decodes the voters at the
    // field's value. Kafka writes the schema version into that field, so with
    // equal values both crates agree; ferrokafka keeps the two apart (see
    // `leader_change_keeps_its_version_field_apart`).
    for version in ours::LeaderChangeMessage::VERSIONS.min..=ours::LeaderChangeMessage::VERSIONS.max
    {
        let message = ours::LeaderChangeMessage {
            version,
            ..ours::LeaderChangeMessage::sample(version)
        };
        cross_check::<ours::LeaderChangeMessage, theirs::LeaderChangeMessage>(&message, version);
    }
}

#[test]
fn leader_change_keeps_its_version_field_apart() {
    use ferrokafka_protocol::generated::LeaderChangeMessage;
    let message = LeaderChangeMessage {
        version: 9,
        ..LeaderChangeMessage::sample(0)
    };
    let mut buf = BytesMut::new();
    message.encode(&mut buf, 0).unwrap();
    assert_eq!(
        LeaderChangeMessage::decode(&mut buf.freeze(), 0).unwrap(),
        message
    );
}
