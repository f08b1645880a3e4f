//! Interoperability tests live in `tests/`: librdkafka, a Kafka client nobody
//! here wrote, against the bundled broker and the ferrokafka clients.
