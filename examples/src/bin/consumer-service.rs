//! `cargo run -p ferrokafka-examples --bin consumer-service [-- --config FILE]`:
//! the listener service; see [`ferrokafka_examples::consumer_service`] and
//! [`ferrokafka_examples::config`] for its settings.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrokafka_examples::cluster::{ClusterSource, exit_code, start_service};
use ferrokafka_examples::{consumer_service, shutdown_signal};

/// Listener containers per group and topic, and an order relay to a webhook.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration file (else $FERROKAFKA_CONFIG, else defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    ferrokafka_examples::init_tracing();
    let args = Args::parse();
    let result = run(args).await;
    exit_code("consumer-service", result)
}

async fn run(args: Args) -> ferrokafka_examples::Result<()> {
    let (config, source) = start_service(args.config.as_deref(), "producer service").await?;
    let service = consumer_service::start(&config).await?;
    match &config.webhook_url {
        Some(url) => println!("Orders from '{}' are POSTed to {url}.", config.orders_topic),
        None => println!(
            "No webhook_url configured: orders from '{}' are only logged.",
            config.orders_topic
        ),
    }
    println!("consumer-service running (Ctrl-C to stop); set RUST_LOG=debug for more detail.");
    shutdown_signal().await;
    let report = service.stop(Duration::from_secs(30)).await;
    if let ClusterSource::Embedded(broker) = source {
        broker.shutdown().await;
    }
    println!("consumer-service stopped: {report}.");
    Ok(())
}
