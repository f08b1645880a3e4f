//! Side-by-side benchmarks of ferrokafka against other Kafka implementations.
//!
//! `cargo run --release -p ferrokafka-bench -- <subcommand> [options]`, where
//! `help` lists the subcommands. Each one measures ferrokafka and the other
//! implementation in the same process run, on the same input, and prints the
//! figures and their ratio; nothing here asserts on timings.
//!
//! A subcommand is a module with a `run` function taking the command line
//! after its name and a `USAGE` text, listed in [`SUBCOMMANDS`]. Timing
//! (warm-up, rounds, median) lives in [`harness`] and option parsing in
//! [`args`], so later benchmarks share them.

mod args;
mod broker;
mod codec;
mod consumer;
mod harness;
mod producer;

use std::process::ExitCode;

use args::Args;

/// The error every benchmark returns: anything printable.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A result with [`BoxError`].
pub(crate) type Result<T, E = BoxError> = std::result::Result<T, E>;

/// One benchmark program.
struct Subcommand {
    /// The name typed on the command line.
    name: &'static str,
    /// One line for the subcommand list.
    about: &'static str,
    /// The options it takes, for `<name> --help`.
    usage: &'static str,
    /// Runs it with the arguments after its name.
    run: fn(Args) -> Result<()>,
    /// Left out of `help`: an internal step another subcommand runs (in a
    /// child process of this binary).
    hidden: bool,
}

/// Every benchmark, in the order `help` lists them.
const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "codec",
        about: "encode and decode a 1 MiB record batch: ferrokafka-protocol vs kafka-protocol (crates.io)",
        usage: codec::USAGE,
        run: codec::run,
        hidden: false,
    },
    Subcommand {
        name: "broker",
        about: "librdkafka producing into and consuming from the bundled broker: rates and CPU, broker vs client",
        usage: broker::USAGE,
        run: broker::run,
        hidden: false,
    },
    Subcommand {
        name: "producer",
        about: "ferrokafka's producer vs librdkafka's into the bundled broker: msgs/s, MB/s, CPU per record, peak memory",
        usage: producer::USAGE,
        run: producer::run,
        hidden: false,
    },
    Subcommand {
        name: "consumer",
        about: "ferrokafka's consumer vs librdkafka's from the bundled broker: msgs/s, MB/s, CPU per record, peak memory, end-to-end latency",
        usage: consumer::USAGE,
        run: consumer::run,
        hidden: false,
    },
    Subcommand {
        name: "consumer-case",
        about: "internal: one client's run of one `consumer` case, in a child process",
        usage: consumer::CASE_USAGE,
        run: consumer::run_case_child,
        hidden: true,
    },
    Subcommand {
        name: "producer-case",
        about: "internal: one client's run of one `producer` case, in a child process",
        usage: producer::CASE_USAGE,
        run: producer::run_case_child,
        hidden: true,
    },
];

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches to the subcommand named first on the command line.
fn run(mut argv: Vec<String>) -> Result<()> {
    if argv.is_empty() {
        print_help();
        return Err("no subcommand given".into());
    }
    let name = argv.remove(0);
    if matches!(name.as_str(), "help" | "--help" | "-h") {
        print_help();
        return Ok(());
    }
    let Some(subcommand) = SUBCOMMANDS.iter().find(|sub| sub.name == name) else {
        print_help();
        return Err(format!("unknown subcommand `{name}`").into());
    };
    let mut args = Args::new(argv);
    if args.flag("--help") || args.flag("-h") {
        println!(
            "ferrokafka-bench {}: {}\n\n{}",
            subcommand.name, subcommand.about, subcommand.usage
        );
        return Ok(());
    }
    (subcommand.run)(args)
}

/// Prints the list of subcommands.
fn print_help() {
    println!("usage: cargo run --release -p ferrokafka-bench -- <subcommand> [options]\n");
    println!("subcommands (each takes --help):");
    for subcommand in SUBCOMMANDS.iter().filter(|sub| !sub.hidden) {
        println!("  {:<8} {}", subcommand.name, subcommand.about);
    }
}
