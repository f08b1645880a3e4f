//! Spring-style example services and the quickstart.
//!
//! Not written yet; see issue 8.
