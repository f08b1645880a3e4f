//! The ferrokafka batching producer.
//!
//! Not written yet; see issue 5.
