//! `cargo run -p ferrokafka-examples --bin producer-service [-- --config FILE]`:
//! the HTTP producer service; see [`ferrokafka_examples::producer_service`]
//! and [`ferrokafka_examples::config`] for its settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrokafka_examples::cluster::{ClusterSource, exit_code, start_service};
use ferrokafka_examples::producer_service::{self, ProducerApp};
use ferrokafka_examples::shutdown_signal;

/// An HTTP service that publishes to Kafka: GET /send, POST /orders/purchase, GET /health.
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
    exit_code("producer-service", result)
}

async fn run(args: Args) -> ferrokafka_examples::Result<()> {
    let (config, source) = start_service(args.config.as_deref(), "consumer service").await?;
    // The port first (a clash fails at once), then the producer; "listening"
    // only once both are ready.
    let listener = producer_service::bind(&config.http_addr).await?;
    let app = ProducerApp::connect(&config).await?;
    let address = listener.local_addr()?;
    println!("producer-service listening on http://{address}  (Ctrl-C to stop)");
    println!("  curl 'http://{address}/send?topic=topic1&key=k&message=hi'");
    println!(
        "  curl -X POST http://{address}/orders/purchase -H 'content-type: application/json' \\\n       -d '{{\"id\":\"order-1\",\"product\":\"apples\",\"quantity\":3,\"price\":1.25,\"customer\":\"ada\"}}'"
    );
    let served = producer_service::serve(
        listener,
        producer_service::router(app.clone()),
        shutdown_signal(),
    )
    .await;
    app.close().await;
    if let ClusterSource::Embedded(broker) = source {
        broker.shutdown().await;
    }
    served?;
    println!("producer-service stopped (requests in flight answered, producer closed).");
    Ok(())
}
