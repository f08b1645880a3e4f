//! The `ferrokafka-broker` binary: the bundled broker as a process, for
//! local development and for clients nobody here wrote. Serves until Ctrl-C
//! (or SIGTERM), then shuts down gracefully.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrokafka_broker::{Broker, BrokerBuilder, FlushPolicy};

/// A Kafka-compatible broker: one process, in memory unless --data-dir is
/// given, no replication.
#[derive(Debug, Parser)]
#[command(name = "ferrokafka-broker", version, about)]
struct Args {
    /// Address of the first node (host:port). With --nodes N, node i listens
    /// on port + i; port 0 picks free ports.
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "ADDR")]
    listen: String,

    /// Host name clients are told to connect to, if not the --listen host
    /// (Kafka's advertised.listeners); needed with --listen 0.0.0.0:PORT.
    #[arg(long, value_name = "HOST")]
    advertised_host: Option<String>,

    /// Number of broker ids to run, on consecutive ports; partition leaders
    /// are spread across them and node 0 coordinates consumer groups.
    #[arg(long, default_value_t = 1, value_name = "N")]
    nodes: i32,

    /// Partitions of automatically created topics (Kafka's num.partitions).
    #[arg(long, default_value_t = 1, value_name = "N")]
    default_partitions: i32,

    /// Do not create unknown topics on Metadata and Produce requests
    /// (Kafka's auto.create.topics.enable=false).
    #[arg(long)]
    no_auto_create_topics: bool,

    /// Persist logs, committed offsets and producer ids here, and recover
    /// them on start; without it everything is kept in memory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// When appends are forced to disk with --data-dir: after produce
    /// requests with acks=-1 (all), after every append, or never (the OS
    /// writes back when it likes).
    #[arg(long, value_enum, default_value_t = Flush::AcksAll, value_name = "WHEN")]
    flush: Flush,

    /// The largest request accepted, in bytes (Kafka's
    /// socket.request.max.bytes); a larger size prefix closes the connection.
    #[arg(long, default_value_t = ferrokafka_protocol::frame::DEFAULT_MAX_FRAME_SIZE, value_name = "BYTES")]
    max_request_bytes: usize,
}

/// `--flush` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Flush {
    /// fsync after a produce with acks=-1.
    AcksAll,
    /// fsync after every append.
    Always,
    /// Never fsync.
    Never,
}

impl From<Flush> for FlushPolicy {
    fn from(flush: Flush) -> Self {
        match flush {
            Flush::AcksAll => FlushPolicy::OnAcksAll,
            Flush::Always => FlushPolicy::Always,
            Flush::Never => FlushPolicy::Never,
        }
    }
}

fn main() -> ExitCode {
    // Logs go to stderr so that stdout carries only the addresses, for
    // scripts that start the broker and read where it listens.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ferrokafka-broker: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let builder = match Broker::builder().listen(&args.listen) {
        Ok(builder) => builder,
        Err(error) => {
            eprintln!("ferrokafka-broker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder: BrokerBuilder = builder
        .nodes(args.nodes)
        .default_partitions(args.default_partitions)
        .auto_create_topics(!args.no_auto_create_topics)
        .flush(args.flush.into())
        .max_frame_size(args.max_request_bytes);
    if let Some(host) = args.advertised_host {
        builder = builder.advertised_host(host);
    }
    if let Some(dir) = args.data_dir {
        builder = builder.data_dir(dir);
    }
    let broker = match builder.start().await {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("ferrokafka-broker: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Installed before the addresses are printed: whoever reads them may
    // interrupt at once, and an interrupt before the handler exists would
    // kill the process instead of stopping it gracefully.
    let stop_requested = match shutdown_signal() {
        Ok(signal) => signal,
        Err(error) => {
            eprintln!("ferrokafka-broker: cannot listen for Ctrl-C: {error}");
            broker.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    for (node, address) in broker.addresses().iter().enumerate() {
        println!("ferrokafka-broker node {node} listening on {address}");
    }
    println!("bootstrap.servers={}", broker.bootstrap_servers());
    stop_requested.await;
    tracing::info!("shutting down");
    broker.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what service managers
/// and `docker stop` send). The handlers are registered when this returns.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("ferrokafka-broker: cannot wait for Ctrl-C: {error}");
        }
    })
}
