//! `cargo run -p ferrokafka-examples --bin quickstart [-- --bootstrap HOST:PORT]`:
//! produce ten records and read them with two consumer groups, narrated;
//! see [`ferrokafka_examples::quickstart`].

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrokafka_examples::quickstart::{self, QuickstartOptions};

/// The ferrokafka quickstart: a topic, ten records, two consumer groups.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Use this Kafka cluster (`host:port[,host:port...]`) instead of
    /// starting the bundled broker in-process.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // Client logs only when asked for (RUST_LOG=info); the narrative is on stdout.
    if std::env::var_os("RUST_LOG").is_some() {
        ferrokafka_examples::init_tracing();
    }
    let options = QuickstartOptions {
        bootstrap: args.bootstrap,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let mut say = |line: &str| println!("{line}");
    match quickstart::run(options, &mut say).await {
        Ok(report) if report.every_group_got_everything() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("quickstart failed: a group did not receive every record in order");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("quickstart failed: {error}");
            ExitCode::FAILURE
        }
    }
}
