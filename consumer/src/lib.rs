//! The ferrokafka poll-based consumer and consumer-group member.
//!
//! Not written yet; see issue 6.
