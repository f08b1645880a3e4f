//! What every example does before its real work: find a cluster (the one
//! configured, or an embedded [`ferrokafka_broker`] started in-process, as
//! Spring's `@EmbeddedKafka` does) and create the topics it needs when they
//! are missing (Spring's `NewTopic` beans, through the admin client).

use ferrokafka_admin::{Admin, CreateTopicsOptions, NewTopic};
use ferrokafka_broker::{Broker, BrokerError, BrokerHandle};
use ferrokafka_client::ClientConfig;
use ferrokafka_protocol::ErrorCode;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::ServiceConfig;
use crate::error::{ExampleError, Result};
use crate::logfmt::error_chain;

/// The address the service binaries try first for an embedded broker:
/// Kafka's usual port, so that the other service, the quickstart and any
/// Kafka tool can join it with `FERROKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092`
/// (or `--bootstrap`).
pub const PREFERRED_EMBEDDED_ADDRESS: &str = "127.0.0.1:9092";

/// How long the broker found on the preferred address has to answer a
/// Metadata request before it counts as "not a Kafka broker".
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a service's cluster came from.
#[derive(Debug)]
pub enum ClusterSource {
    /// `bootstrap_servers` was configured.
    Configured,
    /// An embedded broker was started in this process (keep the handle
    /// alive while the service runs).
    Embedded(BrokerHandle),
    /// The preferred address was taken by a Kafka broker already (another
    /// service's embedded broker, say), which this service joined.
    Joined(String),
}

/// Starts an embedded broker listening on `preferred` if that address is
/// free, else on an ephemeral port of 127.0.0.1. A `preferred` address
/// already taken is not worked around: [`ensure_cluster`] decides.
pub async fn start_embedded_broker(preferred: Option<&str>) -> Result<BrokerHandle> {
    if let Some(address) = preferred {
        match Broker::builder().listen(address)?.start().await {
            Ok(broker) => return Ok(broker),
            Err(error) => {
                tracing::info!(%address, error = %error_chain(&error), "preferred broker address unavailable; using an ephemeral port");
            }
        }
    }
    Ok(Broker::builder().start().await?)
}

/// Whether a Kafka broker answers a Metadata request at `address` within
/// [`PROBE_TIMEOUT`]; the error says what happened instead.
pub async fn probe_kafka(address: &str) -> std::result::Result<(), String> {
    let config = ClientConfig::from_properties([("bootstrap.servers", address)])
        .map_err(|e| error_chain(&e))?;
    match tokio::time::timeout(PROBE_TIMEOUT, Admin::connect(config)).await {
        Ok(Ok(admin)) => {
            admin.close();
            Ok(())
        }
        Ok(Err(error)) => Err(error_chain(&error)),
        Err(_) => Err(format!(
            "no answer to a Kafka Metadata request within {PROBE_TIMEOUT:?}"
        )),
    }
}

/// Makes sure `config` names a cluster. When it has no bootstrap servers:
/// with a `preferred` address free, starts an embedded broker there; with
/// it taken by a Kafka broker (one answering Metadata), joins that one;
/// with it taken by something else, fails with a hint to set
/// `FERROKAFKA_BOOTSTRAP_SERVERS`. Without `preferred`, starts an embedded
/// broker on an ephemeral port. Points `config` at the cluster chosen.
pub async fn ensure_cluster(
    config: &mut ServiceConfig,
    preferred: Option<&str>,
) -> Result<ClusterSource> {
    if config.bootstrap_servers.is_some() {
        return Ok(ClusterSource::Configured);
    }
    let broker = match preferred {
        None => Broker::builder().start().await?,
        Some(address) => match Broker::builder().listen(address)?.start().await {
            Ok(broker) => broker,
            Err(BrokerError::Bind { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                return match probe_kafka(address).await {
                    Ok(()) => {
                        tracing::info!(%address, "a Kafka broker already listens on the preferred address: using it");
                        config.bootstrap_servers = Some(address.to_owned());
                        Ok(ClusterSource::Joined(address.to_owned()))
                    }
                    Err(why) => Err(ExampleError::AddressInUse(format!(
                        "{address} is taken by something that is not a Kafka broker ({why}); \
                         set FERROKAFKA_BOOTSTRAP_SERVERS to your cluster, or free {address} \
                         for the embedded broker"
                    ))),
                };
            }
            Err(error) => {
                tracing::info!(%address, error = %error_chain(&error), "preferred broker address unavailable; using an ephemeral port");
                Broker::builder().start().await?
            }
        },
    };
    let bootstrap = broker.bootstrap_servers();
    tracing::info!(%bootstrap, "no bootstrap servers configured: started an embedded broker");
    config.bootstrap_servers = Some(bootstrap);
    Ok(ClusterSource::Embedded(broker))
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
/// `$FERROKAFKA_CONFIG`, else defaults) and finds its cluster (see
/// [`ensure_cluster`], with [`PREFERRED_EMBEDDED_ADDRESS`]), telling the
/// user which, and how `other_service` can join an embedded one. Keep the
/// returned source (its broker handle) alive while the service runs.
pub async fn start_service(
    path: Option<&Path>,
    other_service: &str,
) -> Result<(ServiceConfig, ClusterSource)> {
    start_service_with(path, other_service, PREFERRED_EMBEDDED_ADDRESS).await
}

/// [`start_service`] with another preferred embedded-broker address.
pub async fn start_service_with(
    path: Option<&Path>,
    other_service: &str,
    preferred: &str,
) -> Result<(ServiceConfig, ClusterSource)> {
    let mut config = ServiceConfig::load(path)?;
    let source = ensure_cluster(&mut config, Some(preferred)).await?;
    let bootstrap = config.bootstrap_servers.clone().unwrap_or_default();
    match &source {
        ClusterSource::Embedded(_) => {
            println!("Started an embedded Kafka broker at {bootstrap}.");
            println!("  Point the {other_service} at it: FERROKAFKA_BOOTSTRAP_SERVERS={bootstrap}");
        }
        ClusterSource::Joined(address) => {
            println!(
                "A Kafka broker already listens on {address}: using it (no embedded broker started)."
            );
        }
        ClusterSource::Configured => println!("Using the Kafka cluster at {bootstrap}."),
    }
    Ok((config, source))
}

/// A service binary's exit: 0, or 1 with `name` and the error (with its
/// causes) on stderr.
pub fn exit_code(name: &str, result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name} failed: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}
