//! The `consumer` benchmark: ferrokafka's consumer next to librdkafka's,
//! reading the same preloaded topic from the same in-process bundled broker,
//! then an end-to-end latency run of each client at a fixed offered load.
//!
//! As in the `producer` benchmark, the parent process starts the broker on
//! its own tokio runtime (threads named `fk-broker`) and runs every client
//! measurement in a child process (this binary, hidden `consumer-case`
//! subcommand), so the child's CPU time (utime + stime from
//! `/proc/self/stat`) and peak resident memory (`VmHWM`) are the client's
//! alone.
//!
//! **Throughput.** For each case (1 and 8 partitions, no compression and
//! lz4) the parent preloads a fresh topic with `--records` records of
//! `--value-size` bytes through a librdkafka producer (Java-like batches:
//! `batch.size` 16384, `linger.ms` 5, so both consumers see the batch sizes
//! a Java producer writes), then each client's child assigns every
//! partition from the beginning (no group, nothing committed) and polls
//! until it has seen every record. Each value carries its record's index;
//! the child checks every index arrives exactly once. The measured phase
//! runs from `assign` to the last record.
//!
//! - **ferrokafka**: `Consumer::poll(100 ms)` on the thread that drives a
//!   multi-thread tokio runtime (one worker per CPU, threads `fk-client`),
//!   default fetch settings (`fetch.max.wait.ms` 500, `max.poll.records`
//!   500, `max.partition.fetch.bytes` 1 MiB).
//! - **librdkafka**: a `BaseConsumer` polled with a 100 ms timeout, one
//!   message per call, default fetch settings except
//!   `fetch.queue.backoff.ms` (see [`RDKAFKA_FETCH_QUEUE_BACKOFF_MS`]):
//!   its 1000 ms default idles a partition whenever the local queue is
//!   over `queued.min.messages`, which a preloaded topic always triggers.
//!
//! **Latency.** Each client's child produces with its own producer into a
//! fresh 8-partition topic at `--latency-rate` records/s (default 20,000)
//! for `--latency-seconds` and consumes with its own consumer. Record `i`
//! is due at `start + i / rate`; its value carries that scheduled time,
//! and its latency is the poll time minus the scheduled time, so a stall
//! of the producer side counts against the client (no coordinated
//! omission). The sender thread wakes every 100 µs and sends what is due.
//! Producers use their defaults (ferrokafka: idempotent, acks=all,
//! `linger.ms` 5; librdkafka 2.x: acks=all, `linger.ms` 5).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::Broker;
use ferrokafka_consumer::{ConsumerConfig, OffsetReset, TopicPartition};
use ferrokafka_producer::{ProducerConfig, ProducerRecord, TopicName};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message as _};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::Result;
use crate::args::Args;
use crate::broker::{
    base_config, clock_ticks_per_second, human_rate, load_average, parse_cpu_ticks, record_value,
};
use crate::harness::ChildResult;

/// Options of the `consumer` subcommand.
pub(crate) const USAGE: &str = "\
usage: cargo run --release -p ferrokafka-bench -- consumer [options]

Starts the bundled broker in this process (one node) and, for each case,
preloads a fresh topic and reads it back with ferrokafka's consumer and then
librdkafka's, each in a child process of this binary. Prints msgs/s, MB/s,
the client process's CPU seconds per million records, its peak resident
memory and the ratios ferrokafka / librdkafka; then end-to-end latency
(p50/p99/p99.9) of each client producing and consuming at a fixed rate.
The last line is the headline case (8 partitions, no compression).

cases: 1 and 8 partitions, no compression and lz4

options:
  --records <N>            records per case (default 1000000)
  --value-size <B>         bytes per record value, at least 16 (default 100)
  --only <TEXT>            run only the throughput cases whose name contains
                           TEXT, e.g. `p=8`, `lz4`
  --latency-seconds <S>    length of each latency run (default 5; 0 skips it)
  --latency-rate <R>       offered load of the latency runs (default 20000)
  --fetch-max-wait-ms <MS> both consumers' fetch.max.wait.ms (librdkafka:
                           fetch.wait.max.ms) in the throughput cases
                           (default 500, both clients' default)
  --rounds <R>             runs of each client per case, alternating which
                           goes first; the median (by wall time) is
                           reported (default 3)
  --quick                  smoke run: 50000 records, 1 round, 1 s latency
                           runs";

/// Usage of the hidden `consumer-case` subcommand.
pub(crate) const CASE_USAGE: &str = "\
usage: ferrokafka-bench consumer-case --mode <throughput|latency>
         --client <ferrokafka|librdkafka> --bootstrap <HOST:PORT> --topic <T>
         --partitions <P> --records <N> --value-size <B>
         [--rate <R>] [--fetch-max-wait-ms <MS>]

Internal: one client's run of one `consumer` case, in a child process;
prints one `consumer-case:` line of key=value figures. With RUST_LOG set,
ferrokafka's tracing goes to stderr.";

/// librdkafka's `fetch.queue.backoff.ms` in this benchmark (default 1000):
/// how long a partition's fetcher idles once the local queue holds more
/// than `queued.min.messages` (100000) or `queued.max.messages.kbytes`.
/// 1 ms keeps it fetching as soon as the application drains the queue.
const RDKAFKA_FETCH_QUEUE_BACKOFF_MS: &str = "1";
/// The value size the issue asks for.
const DEFAULT_VALUE_SIZE: usize = 100;
/// Records per case by default.
const DEFAULT_RECORDS: u64 = 1_000_000;
/// A megabyte, for MB/s.
const MB: f64 = 1e6;
/// A mebibyte in KiB, for memory.
const MIB_IN_KIB: f64 = 1024.0;
/// How long any one wait (connect, preload, a silent consumer) may take.
const DEADLINE: Duration = Duration::from_secs(120);
/// How the child's figures line starts.
const RESULT_PREFIX: &str = "consumer-case:";
/// The poll timeout both clients use.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// The latency sender's wake-up interval.
const SEND_TICK: Duration = Duration::from_micros(100);
/// Records sent (and awaited) before the latency schedule starts, so that
/// connections, metadata and the first fetch are not part of it.
const WARMUP_RECORDS: u64 = 200;
/// A value's scheduled-time field for warm-up records.
const WARMUP_MARK: u64 = u64::MAX;

/// The two clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Ferrokafka,
    Librdkafka,
}

impl Client {
    /// Both, in the order they run.
    const ALL: [Client; 2] = [Client::Ferrokafka, Client::Librdkafka];

    /// The name on the command line and in the output.
    fn name(self) -> &'static str {
        match self {
            Client::Ferrokafka => "ferrokafka",
            Client::Librdkafka => "librdkafka",
        }
    }

    /// The client named `name`.
    fn parse(name: &str) -> Result<Self> {
        Client::ALL
            .into_iter()
            .find(|client| client.name() == name)
            .ok_or_else(|| format!("unknown client {name:?}").into())
    }
}

/// One throughput configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    partitions: i32,
    /// `compression.type` of the preloaded batches: "none" or "lz4".
    compression: &'static str,
}

impl Case {
    /// Every case, in the order they run.
    fn all() -> Vec<Case> {
        let mut cases = Vec::new();
        for partitions in [1, 8] {
            for compression in ["none", "lz4"] {
                cases.push(Case {
                    partitions,
                    compression,
                });
            }
        }
        cases
    }

    fn is_headline(&self) -> bool {
        self.partitions == 8 && self.compression == "none"
    }

    fn name(&self) -> String {
        format!("p={} {}", self.partitions, self.compression)
    }

    fn slug(&self) -> String {
        format!("p{}-{}", self.partitions, self.compression)
    }
}

/// What one child run measured, as `key=value` fields.
#[derive(Debug, Clone, PartialEq, Default)]
struct Outcome {
    /// Records consumed in the measured phase.
    consumed: u64,
    wall_s: f64,
    cpu_s: f64,
    /// Resident memory before the client was created, in KiB.
    baseline_kib: u64,
    /// Peak resident memory (`VmHWM`), in KiB.
    peak_kib: u64,
    /// Latency runs: percentiles in microseconds.
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

impl Outcome {
    fn to_line(&self) -> String {
        format!(
            "{RESULT_PREFIX} consumed={} wall_s={} cpu_s={} baseline_kib={} peak_kib={} p50_us={} p99_us={} p999_us={} max_us={}",
            self.consumed,
            self.wall_s,
            self.cpu_s,
            self.baseline_kib,
            self.peak_kib,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us
        )
    }

    fn from_output(stdout: &str) -> Result<Self> {
        let result = ChildResult::parse(stdout, RESULT_PREFIX)?;
        Ok(Outcome {
            consumed: result.get("consumed")?,
            wall_s: result.get("wall_s")?,
            cpu_s: result.get("cpu_s")?,
            baseline_kib: result.get("baseline_kib")?,
            peak_kib: result.get("peak_kib")?,
            p50_us: result.get("p50_us")?,
            p99_us: result.get("p99_us")?,
            p999_us: result.get("p999_us")?,
            max_us: result.get("max_us")?,
        })
    }

    fn records_per_second(&self) -> f64 {
        self.consumed as f64 / self.wall_s.max(1e-9)
    }

    fn megabytes_per_second(&self, value_size: usize) -> f64 {
        self.records_per_second() * value_size as f64 / MB
    }

    fn cpu_per_million(&self) -> f64 {
        self.cpu_s * 1e6 / self.consumed.max(1) as f64
    }

    fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / MIB_IN_KIB
    }

    fn growth_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / MIB_IN_KIB
    }
}

/// Runs the benchmark.
pub(crate) fn run(mut args: Args) -> Result<()> {
    let quick = args.flag("--quick");
    let records =
        args.value::<u64>("--records")?
            .unwrap_or(if quick { 50_000 } else { DEFAULT_RECORDS });
    let value_size = args
        .value::<usize>("--value-size")?
        .unwrap_or(DEFAULT_VALUE_SIZE);
    let only = args.value::<String>("--only")?;
    let latency_seconds =
        args.value::<f64>("--latency-seconds")?
            .unwrap_or(if quick { 1.0 } else { 5.0 });
    let latency_rate = args.value::<u64>("--latency-rate")?.unwrap_or(20_000);
    let fetch_max_wait_ms = args.value::<u64>("--fetch-max-wait-ms")?.unwrap_or(500);
    let rounds = args
        .value::<u32>("--rounds")?
        .unwrap_or(if quick { 1 } else { 3 });
    args.finish()?;
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if records == 0 {
        return Err("--records must be at least 1".into());
    }
    if value_size < 16 {
        return Err("--value-size must be at least 16 (index and timestamp)".into());
    }
    if !(latency_seconds.is_finite() && latency_seconds >= 0.0) || latency_rate == 0 {
        return Err("--latency-seconds must be >= 0 and --latency-rate >= 1".into());
    }
    let cases: Vec<Case> = Case::all()
        .into_iter()
        .filter(|case| {
            only.as_deref()
                .is_none_or(|text| case.name().contains(text))
        })
        .collect();
    if cases.is_empty() {
        return Err(format!("no case matches --only {only:?}").into());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("fk-broker")
        .enable_all()
        .build()?;
    let broker = runtime.block_on(Broker::builder().nodes(1).start())?;
    let bootstrap = broker.bootstrap_address();
    println!(
        "broker: in-process, 1 node at {bootstrap}, runtime worker threads named fk-broker (one per CPU)"
    );
    println!(
        "clients: each run in a child process; ferrokafka-consumer (tokio, one worker per CPU, poll(100 ms)) and librdkafka {} (rdkafka crate, bundled build, BaseConsumer, poll(100 ms)); {} CPU(s); load average {}",
        rdkafka::util::get_rdkafka_version().1,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load_average()
    );
    println!(
        "workload: {records} records of {value_size} bytes per case, preloaded by librdkafka with batch.size=16384 linger.ms=5 (Java-like batches); both consumers assign every partition from the beginning, no group"
    );
    println!(
        "settings: fetch.max.wait.ms {fetch_max_wait_ms} (librdkafka fetch.wait.max.ms), otherwise default fetch settings for both (fetch.min.bytes 1); librdkafka fetch.queue.backoff.ms={RDKAFKA_FETCH_QUEUE_BACKOFF_MS} (default 1000 would idle it whenever its queue holds over queued.min.messages)"
    );
    println!(
        "CPU = the client process's user + system seconds while consuming; peak = its VmHWM, +MiB = VmHWM minus RSS before the client existed; each figure is the median of {rounds} round(s)"
    );

    let mut summaries = Vec::new();
    let mut headline = None;
    let mut latency_lines = Vec::new();
    let mut outcome: Result<()> = Ok(());
    for case in &cases {
        match run_case(
            &broker,
            &bootstrap,
            case,
            records,
            value_size,
            fetch_max_wait_ms,
            rounds,
        ) {
            Ok((ferrokafka, librdkafka)) => {
                let line = summary_line(case, &ferrokafka, &librdkafka, value_size);
                println!("{line}");
                summaries.push(line);
                if case.is_headline() {
                    headline = Some((ferrokafka, librdkafka));
                }
            }
            Err(error) => {
                outcome = Err(format!("case {}: {error}", case.name()).into());
                break;
            }
        }
    }
    if outcome.is_ok() && latency_seconds > 0.0 {
        match run_latency(&broker, &bootstrap, latency_rate, latency_seconds) {
            Ok(lines) => latency_lines = lines,
            Err(error) => outcome = Err(format!("latency: {error}").into()),
        }
    }
    runtime.block_on(broker.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome?;

    println!("\nsummary (ratio = ferrokafka / librdkafka; goal: msgs/s ratio >= 1.5):");
    for line in summaries.iter().chain(&latency_lines) {
        println!("{line}");
    }
    if let Some((ferrokafka, librdkafka)) = headline {
        let fk = ferrokafka.records_per_second();
        let rdk = librdkafka.records_per_second();
        println!(
            "consumer: ferrokafka {fk:.0} msg/s, librdkafka {rdk:.0} msg/s, ratio {:.2}",
            fk / rdk.max(1e-9)
        );
    } else {
        println!(
            "consumer: headline case (p=8 none) not run; --only {}",
            only.unwrap_or_default()
        );
    }
    Ok(())
}

/// Preloads a fresh topic for `case`, then reads it with both clients.
fn run_case(
    broker: &ferrokafka_broker::BrokerHandle,
    bootstrap: &str,
    case: &Case,
    records: u64,
    value_size: usize,
    fetch_max_wait_ms: u64,
    rounds: u32,
) -> Result<(Outcome, Outcome)> {
    println!(
        "\n== case {}: {} partition(s), compression={} ==",
        case.name(),
        case.partitions,
        case.compression
    );
    let topic = format!("bench-consumer-{}", case.slug());
    broker.create_topic(&topic, case.partitions)?;
    let preload_started = Instant::now();
    preload(bootstrap, &topic, case.compression, records, value_size)?;
    println!(
        "preloaded {records} records in {:.2} s",
        preload_started.elapsed().as_secs_f64()
    );
    println!(
        "{:<11} {:>9} {:>7} {:>7} {:>7} {:>9} {:>8} {:>7}",
        "client", "msgs/s", "MB/s", "wall s", "CPU s", "CPU s/M", "peak MiB", "+MiB"
    );
    // Each round runs both clients, alternating which goes first; a
    // client's figure is its median round (by wall time).
    let mut runs: [Vec<Outcome>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            Client::ALL
        } else {
            [Client::Librdkafka, Client::Ferrokafka]
        };
        for client in order {
            let outcome = run_child(
                client,
                &[
                    ("--mode", "throughput".to_owned()),
                    ("--bootstrap", bootstrap.to_owned()),
                    ("--topic", topic.clone()),
                    ("--partitions", case.partitions.to_string()),
                    ("--records", records.to_string()),
                    ("--value-size", value_size.to_string()),
                    ("--fetch-max-wait-ms", fetch_max_wait_ms.to_string()),
                ],
            )?;
            if outcome.consumed != records {
                return Err(format!(
                    "{}: consumed {} of {records} records",
                    client.name(),
                    outcome.consumed
                )
                .into());
            }
            let slot = usize::from(client == Client::Librdkafka);
            if let Some(list) = runs.get_mut(slot) {
                list.push(outcome);
            }
        }
    }
    let [mut ferrokafka, mut librdkafka] = runs;
    let mut medians = Vec::new();
    for (client, list) in Client::ALL
        .into_iter()
        .zip([&mut ferrokafka, &mut librdkafka])
    {
        list.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
        let walls: Vec<String> = list.iter().map(|o| format!("{:.3}", o.wall_s)).collect();
        let median = list
            .get(list.len() / 2)
            .cloned()
            .ok_or("a client did not run")?;
        println!(
            "{:<11} {:>9} {:>7.1} {:>7.3} {:>7.2} {:>9.3} {:>8.1} {:>7.1}   rounds' wall s: {}",
            client.name(),
            human_rate(median.records_per_second()),
            median.megabytes_per_second(value_size),
            median.wall_s,
            median.cpu_s,
            median.cpu_per_million(),
            median.peak_mib(),
            median.growth_mib(),
            walls.join(" ")
        );
        medians.push(median);
    }
    println!("verified: each client read every record index exactly once in every round");
    let mut medians = medians.into_iter();
    match (medians.next(), medians.next()) {
        (Some(ferrokafka), Some(librdkafka)) => Ok((ferrokafka, librdkafka)),
        _ => Err("a client did not run".into()),
    }
}

/// Both clients' latency runs; returns their summary lines.
fn run_latency(
    broker: &ferrokafka_broker::BrokerHandle,
    bootstrap: &str,
    rate: u64,
    seconds: f64,
) -> Result<Vec<String>> {
    let partitions = 8;
    println!(
        "\n== latency: {rate} msg/s offered for {seconds} s, {partitions} partitions, each client producing and consuming; latency = poll time - scheduled send time =="
    );
    println!(
        "{:<11} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "client", "records", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let mut lines = Vec::new();
    for client in Client::ALL {
        let topic = format!("bench-consumer-latency-{}", client.name());
        broker.create_topic(&topic, partitions)?;
        let records = (rate as f64 * seconds).ceil() as u64;
        let outcome = run_child(
            client,
            &[
                ("--mode", "latency".to_owned()),
                ("--bootstrap", bootstrap.to_owned()),
                ("--topic", topic),
                ("--partitions", partitions.to_string()),
                ("--records", records.to_string()),
                ("--value-size", DEFAULT_VALUE_SIZE.to_string()),
                ("--rate", rate.to_string()),
            ],
        )?;
        if outcome.consumed != records {
            return Err(format!(
                "{}: consumed {} of {records} records",
                client.name(),
                outcome.consumed
            )
            .into());
        }
        let ms = |us: f64| us / 1000.0;
        println!(
            "{:<11} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            client.name(),
            outcome.consumed,
            ms(outcome.p50_us),
            ms(outcome.p99_us),
            ms(outcome.p999_us),
            ms(outcome.max_us)
        );
        lines.push(format!(
            "[latency {:<10}] {rate} msg/s: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            client.name(),
            ms(outcome.p50_us),
            ms(outcome.p99_us),
            ms(outcome.p999_us),
            ms(outcome.max_us)
        ));
    }
    Ok(lines)
}

/// A case's summary: both clients' figures and the ratios.
fn summary_line(
    case: &Case,
    ferrokafka: &Outcome,
    librdkafka: &Outcome,
    value_size: usize,
) -> String {
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "n/a".to_owned()
        }
    };
    let fk_rate = ferrokafka.records_per_second();
    let rdk_rate = librdkafka.records_per_second();
    let mut line = String::new();
    let _ = write!(
        line,
        "[{:<17}] msgs/s {:>6} vs {:>6} (ratio {}), MB/s {:.1} vs {:.1}, CPU s/M rec {:.3} vs {:.3} (ratio {}), peak MiB {:.1} vs {:.1} (ratio {})",
        case.name(),
        human_rate(fk_rate),
        human_rate(rdk_rate),
        ratio(fk_rate, rdk_rate),
        ferrokafka.megabytes_per_second(value_size),
        librdkafka.megabytes_per_second(value_size),
        ferrokafka.cpu_per_million(),
        librdkafka.cpu_per_million(),
        ratio(ferrokafka.cpu_per_million(), librdkafka.cpu_per_million()),
        ferrokafka.peak_mib(),
        librdkafka.peak_mib(),
        ratio(ferrokafka.peak_mib(), librdkafka.peak_mib()),
    );
    line
}

/// Runs one client's case in a child process and reads its figures.
fn run_child(client: Client, options: &[(&str, String)]) -> Result<Outcome> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("consumer-case")
        .args(["--client", client.name()]);
    for (name, value) in options {
        command.arg(name).arg(value);
    }
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{} child failed ({}): {}",
            client.name(),
            output.status,
            stdout.trim()
        )
        .into());
    }
    Outcome::from_output(&stdout)
}

/// Counts a librdkafka producer's delivery reports.
#[derive(Debug, Default)]
struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self
                    .first_error
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

impl DeliveryCounter {
    /// Fails on any failed delivery.
    fn check(&self) -> Result<()> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        Err(format!("{failed} records failed (first error: {first})").into())
    }
}

/// Writes `records` records (value: 8-byte index, then filler) into
/// `topic` with librdkafka, Java-like batches, and waits for every report.
fn preload(
    bootstrap: &str,
    topic: &str,
    compression: &str,
    records: u64,
    value_size: usize,
) -> Result<()> {
    let mut config = base_config(bootstrap);
    config
        .set("acks", "1")
        .set("compression.type", compression)
        .set("linger.ms", "5")
        .set("batch.size", "16384")
        .set("queue.buffering.max.messages", "1000000")
        .set("enable.idempotence", "false");
    let producer: BaseProducer<DeliveryCounter> =
        config.create_with_context(DeliveryCounter::default())?;
    producer.client().fetch_metadata(Some(topic), DEADLINE)?;
    let mut value = record_value(value_size);
    for index in 0..records {
        if let Some(prefix) = value.get_mut(..8) {
            prefix.copy_from_slice(&index.to_be_bytes());
        }
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(value.as_slice())) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(format!("preload record {index}: {error}").into()),
            }
        }
        if index % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    match producer.flush(Duration::ZERO) {
        Ok(()) | Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
        Err(error) => return Err(format!("preload flush: {error}").into()),
    }
    let counter = producer.context();
    let waited = Instant::now();
    while counter.delivered.load(Ordering::Relaxed) + counter.failed.load(Ordering::Relaxed)
        < records
    {
        if waited.elapsed() > DEADLINE {
            return Err("preload: delivery reports did not arrive in time".into());
        }
        producer.poll(Duration::from_millis(1));
    }
    counter.check()
}

/// The settings of one child run.
#[derive(Debug, Clone)]
struct ChildSettings {
    client: Client,
    latency: bool,
    bootstrap: String,
    topic: String,
    partitions: i32,
    records: u64,
    value_size: usize,
    rate: u64,
    fetch_max_wait_ms: u64,
}

/// The hidden `consumer-case` subcommand.
pub(crate) fn run_case_child(mut args: Args) -> Result<()> {
    let baseline_kib = status_kib("VmRSS")?;
    // Diagnostics only: `RUST_LOG=ferrokafka_consumer=debug` and the like.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let required = |value: Option<String>, name: &str| -> Result<String> {
        value.ok_or_else(|| format!("{name} is required").into())
    };
    let mode = required(args.value("--mode")?, "--mode")?;
    let latency = match mode.as_str() {
        "throughput" => false,
        "latency" => true,
        other => return Err(format!("--mode {other}: expected throughput or latency").into()),
    };
    let settings = ChildSettings {
        client: Client::parse(&required(args.value("--client")?, "--client")?)?,
        latency,
        bootstrap: required(args.value("--bootstrap")?, "--bootstrap")?,
        topic: required(args.value("--topic")?, "--topic")?,
        partitions: args.value("--partitions")?.unwrap_or(1),
        records: args.value("--records")?.unwrap_or(DEFAULT_RECORDS),
        value_size: args.value("--value-size")?.unwrap_or(DEFAULT_VALUE_SIZE),
        rate: args.value("--rate")?.unwrap_or(20_000).max(1),
        fetch_max_wait_ms: args.value("--fetch-max-wait-ms")?.unwrap_or(500),
    };
    args.finish()?;
    let ticks_per_second = clock_ticks_per_second();
    let measured = match (settings.client, settings.latency) {
        (Client::Ferrokafka, false) => ferrokafka_throughput(&settings)?,
        (Client::Librdkafka, false) => librdkafka_throughput(&settings)?,
        (Client::Ferrokafka, true) => ferrokafka_latency(&settings)?,
        (Client::Librdkafka, true) => librdkafka_latency(&settings)?,
    };
    let (p50_us, p99_us, p999_us, max_us) = percentiles(measured.latencies_ns);
    let outcome = Outcome {
        consumed: measured.consumed,
        wall_s: measured.wall.as_secs_f64(),
        cpu_s: measured.cpu_ticks as f64 / ticks_per_second,
        baseline_kib,
        peak_kib: status_kib("VmHWM")?,
        p50_us,
        p99_us,
        p999_us,
        max_us,
    };
    println!("{}", outcome.to_line());
    Ok(())
}

/// What a child's measured phase gave.
#[derive(Debug, Clone, Default)]
struct Measured {
    consumed: u64,
    wall: Duration,
    cpu_ticks: u64,
    /// Latency runs: one latency per scheduled record, in nanoseconds.
    latencies_ns: Vec<u64>,
}

/// p50, p99, p99.9 and max of `latencies` in microseconds (nearest rank).
fn percentiles(mut latencies: Vec<u64>) -> (f64, f64, f64, f64) {
    if latencies.is_empty() {
        return (0.0, 0.0, 0.0, 0.0);
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies.get(rank - 1).copied().unwrap_or_default() as f64 / 1000.0
    };
    (at(0.50), at(0.99), at(0.999), at(1.0))
}

/// utime + stime of this process so far, in clock ticks.
fn process_ticks() -> Result<u64> {
    let (user, system) = parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat")?)?;
    Ok(user + system)
}

/// A `/proc/self/status` figure in KiB, e.g. `VmHWM` or `VmRSS`.
fn status_kib(name: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("no {name} in /proc/self/status"))?
        .parse::<u64>()
        .map_err(|error| format!("{name}: {error}").into())
}

/// Tracks which record indexes arrived: each exactly once.
struct Seen {
    seen: Vec<bool>,
    count: u64,
    value_size: usize,
}

impl Seen {
    fn new(records: u64, value_size: usize) -> Result<Self> {
        Ok(Self {
            seen: vec![false; usize::try_from(records)?],
            count: 0,
            value_size,
        })
    }

    /// Records one value; an error for a wrong size, a bad or repeated index.
    fn record(&mut self, value: &[u8]) -> Result<()> {
        if value.len() != self.value_size {
            return Err(
                format!("a value of {} bytes, not {}", value.len(), self.value_size).into(),
            );
        }
        let index = read_u64(value, 0).ok_or("a value without a record index")?;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|index| self.seen.get_mut(index))
            .ok_or_else(|| format!("record index {index} out of range"))?;
        if *slot {
            return Err(format!("record index {index} read twice").into());
        }
        *slot = true;
        self.count += 1;
        Ok(())
    }

    fn complete(&self) -> bool {
        self.count == self.seen.len() as u64
    }
}

/// The big-endian u64 at `at` in `value`.
fn read_u64(value: &[u8], at: usize) -> Option<u64> {
    value
        .get(at..at + 8)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
}

fn fk_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_name("fk-client")
        .enable_all()
        .build()?)
}

fn fk_consumer_config(bootstrap: &str, fetch_max_wait_ms: u64) -> Result<ConsumerConfig> {
    Ok(ConsumerConfig::builder()
        .bootstrap_servers([bootstrap.to_owned()])
        .fetch_max_wait(Duration::from_millis(fetch_max_wait_ms))
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .build()?)
}

fn all_partitions(topic: &str, partitions: i32) -> Vec<TopicPartition> {
    (0..partitions)
        .map(|partition| TopicPartition::new(topic, partition))
        .collect()
}

/// ferrokafka's throughput run.
fn ferrokafka_throughput(settings: &ChildSettings) -> Result<Measured> {
    let runtime = fk_runtime()?;
    runtime.block_on(async {
        let mut consumer = ferrokafka_consumer::Consumer::connect(fk_consumer_config(
            &settings.bootstrap,
            settings.fetch_max_wait_ms,
        )?)
        .await?;
        consumer
            .client()
            .metadata_for(&[settings.topic.as_str()])
            .await?;
        let mut seen = Seen::new(settings.records, settings.value_size)?;
        let cpu_before = process_ticks()?;
        let started = Instant::now();
        consumer.assign(all_partitions(&settings.topic, settings.partitions))?;
        let mut last_progress = Instant::now();
        while !seen.complete() {
            let records = consumer.poll(POLL_TIMEOUT).await?;
            if records.is_empty() {
                if last_progress.elapsed() > DEADLINE {
                    return Err(format!(
                        "ferrokafka: read {} records, then nothing for {} s",
                        seen.count,
                        DEADLINE.as_secs()
                    )
                    .into());
                }
                continue;
            }
            last_progress = Instant::now();
            for record in &records {
                seen.record(record.value.as_deref().unwrap_or_default())?;
            }
        }
        let wall = started.elapsed();
        let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);
        consumer.close(Duration::from_secs(5)).await;
        Ok(Measured {
            consumed: seen.count,
            wall,
            cpu_ticks,
            latencies_ns: Vec::new(),
        })
    })
}

fn rdkafka_consumer(bootstrap: &str, fetch_max_wait_ms: u64) -> Result<BaseConsumer> {
    let mut config: ClientConfig = base_config(bootstrap);
    config
        .set("group.id", "ferrokafka-bench-consumer")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_max_wait_ms.to_string())
        .set("fetch.queue.backoff.ms", RDKAFKA_FETCH_QUEUE_BACKOFF_MS);
    Ok(config.create()?)
}

fn rdkafka_assignment(topic: &str, partitions: i32) -> Result<TopicPartitionList> {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    Ok(assignment)
}

/// librdkafka's throughput run.
fn librdkafka_throughput(settings: &ChildSettings) -> Result<Measured> {
    let consumer = rdkafka_consumer(&settings.bootstrap, settings.fetch_max_wait_ms)?;
    consumer.fetch_metadata(Some(&settings.topic), DEADLINE)?;
    let assignment = rdkafka_assignment(&settings.topic, settings.partitions)?;
    let mut seen = Seen::new(settings.records, settings.value_size)?;
    let cpu_before = process_ticks()?;
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let mut last_progress = Instant::now();
    while !seen.complete() {
        match consumer.poll(POLL_TIMEOUT) {
            Some(Ok(message)) => {
                seen.record(message.payload().unwrap_or_default())?;
            }
            Some(Err(error)) => return Err(format!("librdkafka: {error}").into()),
            None => {
                if last_progress.elapsed() > DEADLINE {
                    return Err(format!(
                        "librdkafka: read {} records, then nothing for {} s",
                        seen.count,
                        DEADLINE.as_secs()
                    )
                    .into());
                }
                continue;
            }
        }
        // Cheap enough per record next to a poll call.
        last_progress = Instant::now();
    }
    let wall = started.elapsed();
    let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);
    Ok(Measured {
        consumed: seen.count,
        wall,
        cpu_ticks,
        latencies_ns: Vec::new(),
    })
}

/// A latency-run value: scheduled time (ns since the run's start, or
/// [`WARMUP_MARK`]), then the index, then filler.
fn latency_value(template: &mut [u8], scheduled_ns: u64, index: u64) -> Bytes {
    if let Some(field) = template.get_mut(..8) {
        field.copy_from_slice(&scheduled_ns.to_be_bytes());
    }
    if let Some(field) = template.get_mut(8..16) {
        field.copy_from_slice(&index.to_be_bytes());
    }
    Bytes::copy_from_slice(template)
}

/// Collects latencies on the consumer side.
struct LatencySink {
    start: Instant,
    latencies_ns: Vec<u64>,
    warmup_seen: u64,
    seen: Seen,
}

impl LatencySink {
    fn new(start: Instant, records: u64) -> Result<Self> {
        Ok(Self {
            start,
            latencies_ns: Vec::with_capacity(usize::try_from(records)?),
            warmup_seen: 0,
            // The index check only needs the first 16 bytes' layout.
            seen: Seen::new(records, DEFAULT_VALUE_SIZE)?,
        })
    }

    fn record(&mut self, value: &[u8], now: Instant) -> Result<()> {
        let scheduled = read_u64(value, 0).ok_or("a value without a scheduled time")?;
        if scheduled == WARMUP_MARK {
            self.warmup_seen += 1;
            return Ok(());
        }
        let index = read_u64(value, 8).ok_or("a value without an index")?;
        // Reuse the exactly-once check on the index.
        let mut probe = [0_u8; DEFAULT_VALUE_SIZE];
        probe[..8].copy_from_slice(&index.to_be_bytes());
        self.seen.record(&probe)?;
        let at = now.saturating_duration_since(self.start).as_nanos();
        self.latencies_ns.push(
            u64::try_from(at)
                .unwrap_or(u64::MAX)
                .saturating_sub(scheduled),
        );
        Ok(())
    }
}

/// Sends `records` records on the schedule from a plain thread, calling
/// `send(value)` for each; returns when all are sent or `stop` is set.
fn run_schedule(
    start: Instant,
    rate: u64,
    records: u64,
    stop: &AtomicBool,
    mut send: impl FnMut(Bytes) -> Result<()>,
) -> Result<()> {
    let mut template = record_value(DEFAULT_VALUE_SIZE);
    let mut next: u64 = 0;
    let interval_ns = 1e9 / rate as f64;
    while next < records && !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed().as_nanos();
        while next < records {
            let due = (next as f64 * interval_ns) as u128;
            if due > elapsed {
                break;
            }
            send(latency_value(
                &mut template,
                u64::try_from(due).unwrap_or(u64::MAX),
                next,
            ))?;
            next += 1;
        }
        std::thread::sleep(SEND_TICK);
    }
    Ok(())
}

/// ferrokafka's latency run: its producer on a sender thread, its consumer
/// polling on the runtime.
fn ferrokafka_latency(settings: &ChildSettings) -> Result<Measured> {
    let runtime = fk_runtime()?;
    let handle = runtime.handle().clone();
    runtime.block_on(async {
        let producer = ferrokafka_producer::Producer::connect(
            ProducerConfig::builder()
                .bootstrap_servers([settings.bootstrap.clone()])
                .build()?,
        )
        .await?;
        producer
            .client()
            .metadata_for(&[settings.topic.as_str()])
            .await?;
        let mut consumer = ferrokafka_consumer::Consumer::connect(fk_consumer_config(
            &settings.bootstrap,
            settings.fetch_max_wait_ms,
        )?)
        .await?;
        consumer.assign(all_partitions(&settings.topic, settings.partitions))?;
        let failures = Arc::new(AtomicU64::new(0));

        // Warm-up: records the consumer must see before the schedule starts.
        let mut template = record_value(DEFAULT_VALUE_SIZE);
        let mut warmup = Vec::new();
        for index in 0..WARMUP_RECORDS {
            let record = ProducerRecord {
                topic: settings.topic.as_str().into(),
                value: Some(latency_value(&mut template, WARMUP_MARK, index)),
                ..Default::default()
            };
            warmup.push(producer.send(record).await?);
        }
        for delivery in warmup {
            delivery.await?;
        }
        let start = Instant::now();
        let mut sink = LatencySink::new(start, settings.records)?;
        let warmup_deadline = Instant::now() + DEADLINE;
        while sink.warmup_seen < WARMUP_RECORDS {
            if Instant::now() > warmup_deadline {
                return Err("ferrokafka: warm-up records did not arrive".into());
            }
            for record in consumer.poll(POLL_TIMEOUT).await? {
                sink.record(record.value.as_deref().unwrap_or_default(), Instant::now())?;
            }
        }

        let start = Instant::now();
        sink.start = start;
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let producer = producer.clone();
            let topic = TopicName::new(&settings.topic);
            let failures = Arc::clone(&failures);
            let stop = Arc::clone(&stop);
            let (rate, records) = (settings.rate, settings.records);
            std::thread::Builder::new()
                .name("fk-sender".into())
                .spawn(move || -> Result<()> {
                    run_schedule(start, rate, records, &stop, |value| {
                        let record = ProducerRecord {
                            topic: topic.clone(),
                            value: Some(value),
                            ..Default::default()
                        };
                        let delivery = handle.block_on(producer.send(record))?;
                        let failures = Arc::clone(&failures);
                        handle.spawn(async move {
                            if delivery.await.is_err() {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        Ok(())
                    })
                })?
        };
        let cpu_before = process_ticks()?;
        let mut last_progress = Instant::now();
        let mut outcome: Result<()> = Ok(());
        while !sink.seen.complete() {
            let records = match consumer.poll(POLL_TIMEOUT).await {
                Ok(records) => records,
                Err(error) => {
                    outcome = Err(error.into());
                    break;
                }
            };
            let now = Instant::now();
            if records.is_empty() {
                if last_progress.elapsed() > DEADLINE || failures.load(Ordering::Relaxed) > 0 {
                    outcome = Err(format!(
                        "ferrokafka: {} of {} records arrived ({} deliveries failed)",
                        sink.seen.count,
                        settings.records,
                        failures.load(Ordering::Relaxed)
                    )
                    .into());
                    break;
                }
                continue;
            }
            last_progress = now;
            for record in &records {
                if let Err(error) = sink.record(record.value.as_deref().unwrap_or_default(), now) {
                    outcome = Err(error);
                    break;
                }
            }
            if outcome.is_err() {
                break;
            }
        }
        let wall = start.elapsed();
        let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);
        stop.store(true, Ordering::Relaxed);
        let sent = tokio::task::spawn_blocking(move || sender.join())
            .await?
            .map_err(|_| "the sender thread panicked")?;
        outcome?;
        sent?;
        consumer.close(Duration::from_secs(5)).await;
        producer.close(Duration::from_secs(5)).await;
        Ok(Measured {
            consumed: sink.seen.count,
            wall,
            cpu_ticks,
            latencies_ns: sink.latencies_ns,
        })
    })
}

/// librdkafka's latency run: a `BaseProducer` on a sender thread (polled
/// by a second thread for delivery reports), a `BaseConsumer` polled here.
fn librdkafka_latency(settings: &ChildSettings) -> Result<Measured> {
    let producer: Arc<BaseProducer<DeliveryCounter>> =
        Arc::new(base_config(&settings.bootstrap).create_with_context(DeliveryCounter::default())?);
    producer
        .client()
        .fetch_metadata(Some(&settings.topic), DEADLINE)?;
    let consumer = rdkafka_consumer(&settings.bootstrap, settings.fetch_max_wait_ms)?;
    consumer.assign(&rdkafka_assignment(&settings.topic, settings.partitions)?)?;
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let producer = Arc::clone(&producer);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("rdk-reports".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    producer.poll(Duration::from_millis(10));
                }
            })?
    };
    let send = |value: &[u8]| -> Result<()> {
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(&settings.topic).payload(value)) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => return Err(format!("librdkafka: send: {error}").into()),
            }
        }
    };
    let result = (|| -> Result<Measured> {
        let mut template = record_value(DEFAULT_VALUE_SIZE);
        for index in 0..WARMUP_RECORDS {
            send(&latency_value(&mut template, WARMUP_MARK, index))?;
        }
        let mut sink = LatencySink::new(Instant::now(), settings.records)?;
        let warmup_deadline = Instant::now() + DEADLINE;
        while sink.warmup_seen < WARMUP_RECORDS {
            if Instant::now() > warmup_deadline {
                return Err("librdkafka: warm-up records did not arrive".into());
            }
            if let Some(message) = consumer.poll(POLL_TIMEOUT) {
                sink.record(message?.payload().unwrap_or_default(), Instant::now())?;
            }
        }
        let start = Instant::now();
        sink.start = start;
        let sender_stop = AtomicBool::new(false);
        let cpu_before = process_ticks()?;
        std::thread::scope(|scope| -> Result<Measured> {
            let sender = scope.spawn(|| {
                run_schedule(
                    start,
                    settings.rate,
                    settings.records,
                    &sender_stop,
                    |value| send(&value),
                )
            });
            let mut last_progress = Instant::now();
            let mut outcome: Result<()> = Ok(());
            while !sink.seen.complete() {
                match consumer.poll(POLL_TIMEOUT) {
                    Some(Ok(message)) => {
                        let now = Instant::now();
                        last_progress = now;
                        if let Err(error) = sink.record(message.payload().unwrap_or_default(), now)
                        {
                            outcome = Err(error);
                            break;
                        }
                    }
                    Some(Err(error)) => {
                        outcome = Err(format!("librdkafka: {error}").into());
                        break;
                    }
                    None => {
                        let failed = producer.context().failed.load(Ordering::Relaxed);
                        if last_progress.elapsed() > DEADLINE || failed > 0 {
                            outcome = Err(format!(
                                "librdkafka: {} of {} records arrived ({failed} deliveries failed)",
                                sink.seen.count, settings.records
                            )
                            .into());
                            break;
                        }
                    }
                }
            }
            let wall = start.elapsed();
            let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);
            sender_stop.store(true, Ordering::Relaxed);
            let sent = sender.join().map_err(|_| "the sender thread panicked")?;
            outcome?;
            sent?;
            Ok(Measured {
                consumed: sink.seen.count,
                wall,
                cpu_ticks,
                latencies_ns: std::mem::take(&mut sink.latencies_ns),
            })
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = reporter.join();
    let measured = result?;
    producer.context().check()?;
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_line_round_trips() -> Result<()> {
        let outcome = Outcome {
            consumed: 1000,
            wall_s: 0.25,
            cpu_s: 0.5,
            baseline_kib: 4096,
            peak_kib: 65536,
            p50_us: 1.5,
            p99_us: 20.0,
            p999_us: 100.0,
            max_us: 200.0,
        };
        let stdout = format!("noise\n{}\n", outcome.to_line());
        assert_eq!(Outcome::from_output(&stdout)?, outcome);
        assert!(Outcome::from_output("nothing here").is_err());
        Ok(())
    }

    #[test]
    fn cases_cover_the_issue_and_one_headline() {
        let cases = Case::all();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases.iter().filter(|case| case.is_headline()).count(), 1);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let latencies: Vec<u64> = (1..=1000).map(|i| i * 1000).collect();
        assert_eq!(percentiles(latencies), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(percentiles(Vec::new()), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn seen_counts_each_index_once() -> Result<()> {
        let mut seen = Seen::new(2, 16)?;
        let mut value = [0_u8; 16];
        seen.record(&value)?;
        assert!(seen.record(&value).is_err());
        value[7] = 1;
        seen.record(&value)?;
        assert!(seen.complete());
        value[7] = 2;
        assert!(seen.record(&value).is_err());
        assert!(seen.record(&[0_u8; 8]).is_err());
        Ok(())
    }

    #[test]
    fn latency_values_carry_schedule_and_index() {
        let mut template = record_value(DEFAULT_VALUE_SIZE);
        let value = latency_value(&mut template, 1234, 7);
        assert_eq!(value.len(), DEFAULT_VALUE_SIZE);
        assert_eq!(read_u64(&value, 0), Some(1234));
        assert_eq!(read_u64(&value, 8), Some(7));
    }
}
