//! The bundled Kafka-compatible broker.
//!
//! Not written yet; see issue 3.
