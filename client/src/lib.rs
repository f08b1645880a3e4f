//! The cluster core that the ferrokafka producer, consumer and admin client
//! share: bootstrap, connections, version negotiation, metadata and retries.
//!
//! Not written yet; see issue 4.
