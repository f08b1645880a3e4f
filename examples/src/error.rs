//! [`ExampleError`]: everything the quickstart and the services can fail
//! with, composed from the client crates' errors so that a binary can print
//! one clear message and exit non-zero.

/// Why an example or service failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExampleError {
    /// The service configuration (file, environment or flags) is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A socket or file could not be used.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An address to listen on is taken by another process.
    #[error("address in use: {0}")]
    AddressInUse(String),
    /// The embedded broker did not start.
    #[error("embedded broker: {0}")]
    Broker(#[from] ferrokafka_broker::BrokerError),
    /// The producer refused or lost a record.
    #[error("producer: {0}")]
    Producer(#[from] ferrokafka_producer::Error),
    /// The consumer failed.
    #[error("consumer: {0}")]
    Consumer(#[from] ferrokafka_consumer::Error),
    /// The admin client failed.
    #[error("admin: {0}")]
    Admin(#[from] ferrokafka_admin::AdminError),
    /// The cluster client failed.
    #[error("client: {0}")]
    Client(#[from] ferrokafka_client::Error),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A listener container failed to start or stop.
    #[error("listener container: {0}")]
    Listener(String),
}

/// Result alias for the examples.
pub type Result<T, E = ExampleError> = std::result::Result<T, E>;
