//! Interoperability tests live in `tests/`: librdkafka, kafka-python and the
//! Java client (built and run through [`java`]), Kafka clients nobody here
//! wrote, against the bundled broker and the ferrokafka clients; and the
//! user-facing scenarios (`tests/cluster_*.rs`) that run against a real
//! Apache Kafka when `FERROKAFKA_TEST_BOOTSTRAP` names one and against the
//! bundled broker otherwise, through [`cluster`].

pub mod cluster;
pub mod java;

pub use cluster::{TestCluster, unique, wait_for};
