//! The ferrokafka admin client.
//!
//! Not written yet; see issue 7.
