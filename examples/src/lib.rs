//! Spring-style example services and the quickstart: what a Spring for
//! Apache Kafka user looks for, written with ferrokafka.
//!
//! - [`quickstart`]: the README's first command, the whole tour in one run on
//!   the bundled broker (`cargo run -p ferrokafka-examples --bin quickstart`).
//! - [`producer_service`]: an axum HTTP service publishing records and JSON
//!   [`order::Order`]s (the `KafkaTemplate` behind a `@RestController`).
//! - [`consumer_service`]: listener containers per group and topic (the
//!   `@KafkaListener` methods), and a relay that forwards orders to a
//!   webhook with retries and a dead-letter topic.
//! - [`config`]: the services' TOML file and environment overrides;
//!   [`cluster`]: the embedded broker and topic creation they share;
//!   [`health`]: the cluster watch behind `/health` and the log's
//!   "unreachable"/"reachable again"; [`logfmt`]: how errors, keys and
//!   values are written to the log; [`order`]: the JSON order; [`error`]:
//!   the error type.
//!
//! The snippets of the README's tour of the crates are below, compiled as
//! doc tests so that they cannot rot.
//!
//! Send with a future, and with a callback:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
//!
//! let config = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("linger.ms", "5"),
//! ])?;
//! let producer = Producer::connect(config).await?;
//!
//! // `send` returns once the record is buffered; the future, once it is stored.
//! let delivery = producer
//!     .send(ProducerRecord::new("greetings").key("key-1").value("hello"))
//!     .await?;
//! let metadata = delivery.await?;
//! println!("stored at {}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
//!
//! // Or be called back (on the producer's task: keep it short).
//! producer
//!     .send_with_callback(
//!         ProducerRecord::new("greetings").value("hello again"),
//!         |result| match result {
//!             Ok(metadata) => println!("stored at offset {}", metadata.offset),
//!             Err(error) => eprintln!("not stored: {error}"),
//!         },
//!     )
//!     .await?;
//! producer.close(Duration::from_secs(5)).await; // delivers what is buffered
//! # Ok(())
//! # }
//! ```
//!
//! A poll loop with manual commits:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokafka_consumer::{Consumer, ConsumerConfig};
//!
//! let config = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "greeters"),
//!     ("auto.offset.reset", "earliest"),
//!     ("enable.auto.commit", "false"),
//! ])?;
//! let mut consumer = Consumer::connect(config).await?;
//! consumer.subscribe(["greetings"])?;
//! for _ in 0..100 {
//!     let records = consumer.poll(Duration::from_millis(500)).await?;
//!     for record in &records {
//!         println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//!     }
//!     if !records.is_empty() {
//!         consumer.commit().await?; // the positions after the records just processed
//!     }
//! }
//! consumer.close(Duration::from_secs(5)).await; // leaves the group
//! # Ok(())
//! # }
//! ```
//!
//! Consume, transform and produce exactly once:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokafka_consumer::{Consumer, ConsumerConfig};
//! use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
//!
//! // Exactly once from "orders" to "invoices": the output records and the
//! // input offsets commit together, or not at all.
//! let producer = Producer::connect(ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("transactional.id", "invoicer-1"),
//! ])?)
//! .await?;
//! producer.init_transactions().await?; // fences an older "invoicer-1"
//! let mut consumer = Consumer::connect(ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "invoicer"),
//!     ("enable.auto.commit", "false"),
//!     ("isolation.level", "read_committed"),
//! ])?)
//! .await?;
//! consumer.subscribe(["orders"])?;
//! loop {
//!     let records = consumer.poll(Duration::from_millis(500)).await?;
//!     if records.is_empty() {
//!         continue;
//!     }
//!     producer.begin_transaction()?;
//!     let mut offsets = Vec::new();
//!     for record in &records {
//!         // commit_transaction reports a record that failed.
//!         let _delivery = producer
//!             .send(ProducerRecord::new("invoices").value(record.value.clone().unwrap_or_default()))
//!             .await?;
//!         offsets.push((record.topic.as_str(), record.partition, record.offset + 1));
//!     }
//!     if let Some(group) = consumer.group_metadata() {
//!         producer.send_offsets_to_transaction(&offsets, &group).await?;
//!     }
//!     if let Err(error) = producer.commit_transaction().await {
//!         eprintln!("rolled back: {error}");
//!         producer.abort_transaction().await?; // then rewind and redo, or restart
//!     }
//! }
//! # }
//! ```
//!
//! Create a topic:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrokafka_admin::{Admin, CreateTopicsOptions, NewTopic};
//! use ferrokafka_client::ClientConfig;
//!
//! let admin = Admin::connect(ClientConfig::from_properties([(
//!     "bootstrap.servers",
//!     "localhost:9092",
//! )])?)
//! .await?;
//! let topic = NewTopic::new("greetings", 3, 1).config("retention.ms", "86400000");
//! for (name, result) in admin.create_topics(vec![topic], CreateTopicsOptions::default()).await? {
//!     println!("{name}: {result:?}");
//! }
//! admin.close();
//! # Ok(())
//! # }
//! ```
//!
//! A listener container with retries and a dead-letter topic:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokafka_consumer::{ConsumerConfig, TypedRecord};
//! use ferrokafka_listener::{
//!     DeadLetterRecoverer, DefaultErrorHandler, FixedBackOff, ListenerContainer, ListenerError,
//!     json_listener,
//! };
//! use ferrokafka_producer::{Producer, ProducerConfig};
//!
//! #[derive(serde::Deserialize)]
//! struct Order { id: String, quantity: u32 }
//!
//! let producer = Producer::connect(ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//! ])?)
//! .await?;
//! let config = ConsumerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "order-handlers"),
//! ])?;
//! let container = ListenerContainer::builder(config)
//!     .topics(["orders"])
//!     .error_handler(
//!         // 3 attempts in all, 100 ms apart, then to "orders-dlt".
//!         DefaultErrorHandler::new(FixedBackOff::new(Duration::from_millis(100), 3))
//!             .with_recoverer(DeadLetterRecoverer::new(producer.clone())),
//!     )
//!     .start(json_listener(|record: TypedRecord<Option<String>, Order>| async move {
//!         if record.value.quantity == 0 {
//!             return Err(ListenerError::from(format!("order {} is empty", record.value.id)));
//!         }
//!         Ok(())
//!     }))
//!     .await?;
//! // ...
//! container.stop(Duration::from_secs(10)).await; // finishes in-flight records, commits
//! # Ok(())
//! # }
//! ```

pub mod cluster;
pub mod config;
pub mod consumer_service;
pub mod error;
pub mod health;
pub mod logfmt;
pub mod order;
pub mod producer_service;
pub mod quickstart;

pub use config::ServiceConfig;
pub use error::{ExampleError, Result};
pub use order::Order;

/// Completes on Ctrl-C or (on Unix) SIGTERM: the binaries' shutdown signal.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Logs to stderr with `RUST_LOG` (default `info`), for the binaries; in
/// colour only when stderr is a terminal (no escape codes in a file).
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
