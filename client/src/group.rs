//! [`ConsumerGroupMetadata`]: a consumer group member's identity, which the
//! consumer hands out and a transactional producer sends with the offsets it
//! commits (Java's `ConsumerGroupMetadata`). It lives in the core because
//! both the consumer and the producer speak it, and neither depends on the
//! other.

/// A consumer group member's identity as a transaction commits offsets for
/// it: the generation and member id let the group coordinator fence a
/// zombie that lost its partitions (KIP-447).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerGroupMetadata {
    /// `group.id`.
    pub group_id: String,
    /// The group generation, -1 when unknown (no fencing by generation).
    pub generation_id: i32,
    /// The member id, empty when unknown.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// A group known by its id only (generation -1, no member).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}
