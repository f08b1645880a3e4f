//! What every example does before its real work: find a cluster (the one
//! configured, or an embedded [`ferrokafka_broker`] started in-process, as
//! Spring's `@EmbeddedKafka` does) and create the topics it needs when they
//! are missing (Spring's `NewTopic` beans, through the admin client).

use ferrokafka_admin::{Admin, CreateTopicsOptions, NewTopic};
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::ClientConfig;
use ferrokafka_protocol::ErrorCode;

use std::path::Path;
use std::process::ExitCode;

use crate::config::ServiceConfig;
use crate::error::Result;

/// The address the service binaries try first for an embedded broker:
/// Kafka's usual port, so that the other service, the quickstart and any
/// Kafka tool can join it with `FERROKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092`
/// (or `--bootstrap`).
pub const PREFERRED_EMBEDDED_ADDRESS: &str = "127.0.0.1:9092";

/// Starts an embedded broker listening on `preferred` if that address is
/// free, else on an ephemeral port of 127.0.0.1.
pub async fn start_embedded_broker(preferred: Option<&str>) -> Result<BrokerHandle> {
    if let Some(address) = preferred {
        match Broker::builder().listen(address)?.start().await {
            Ok(broker) => return Ok(broker),
            Err(error) => {
                tracing::info!(%address, %error, "preferred broker address unavailable; using an ephemeral port");
            }
        }
    }
    Ok(Broker::builder().start().await?)
}

/// Makes sure `config` names a cluster: when it has no bootstrap servers,
/// starts an embedded broker (on `preferred` if free), points `config` at
/// it and returns its handle, which must be kept alive as long as the
/// service runs.
pub async fn ensure_cluster(
    config: &mut ServiceConfig,
    preferred: Option<&str>,
) -> Result<Option<BrokerHandle>> {
    if config.bootstrap_servers.is_some() {
        return Ok(None);
    }
    let broker = start_embedded_broker(preferred).await?;
    let bootstrap = broker.bootstrap_servers();
    tracing::info!(%bootstrap, "no bootstrap servers configured: started an embedded broker");
    config.bootstrap_servers = Some(bootstrap);
    Ok(Some(broker))
}

/// Creates each topic unless it exists. Returns the names of those
/// created; any other failure is an error.
pub async fn ensure_topics(config: ClientConfig, topics: Vec<NewTopic>) -> Result<Vec<String>> {
    let admin = Admin::connect(config).await?;
    let outcome = admin
        .create_topics(topics, CreateTopicsOptions::default())
        .await;
    admin.close();
    let mut created = Vec::new();
    for (name, result) in outcome? {
        match result {
            Ok(_) => created.push(name),
            Err(error) if error.code() == Some(ErrorCode::TopicAlreadyExists) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(created)
}

/// How a service binary starts: loads its configuration (`path`, else
/// `$FERROKAFKA_CONFIG`, else defaults) and finds its cluster (an embedded
/// broker on [`PREFERRED_EMBEDDED_ADDRESS`] when none is configured),
/// telling the user which, and how `other_service` can join an embedded
/// one. Keep the returned broker handle alive while the service runs.
pub async fn start_service(
    path: Option<&Path>,
    other_service: &str,
) -> Result<(ServiceConfig, Option<BrokerHandle>)> {
    let mut config = ServiceConfig::load(path)?;
    let broker = ensure_cluster(&mut config, Some(PREFERRED_EMBEDDED_ADDRESS)).await?;
    let bootstrap = config.bootstrap_servers.clone().unwrap_or_default();
    if broker.is_some() {
        println!("Started an embedded Kafka broker at {bootstrap}.");
        println!("  Point the {other_service} at it: FERROKAFKA_BOOTSTRAP_SERVERS={bootstrap}");
    } else {
        println!("Using the Kafka cluster at {bootstrap}.");
    }
    Ok((config, broker))
}

/// A service binary's exit: 0, or 1 with `name` and the error on stderr.
pub fn exit_code(name: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name} failed: {error}");
            ExitCode::FAILURE
        }
    }
}
