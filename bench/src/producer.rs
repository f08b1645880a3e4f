//! The `producer` benchmark: ferrokafka's producer next to librdkafka's,
//! one after the other, against the same in-process bundled broker.
//!
//! The parent process starts the broker on its own tokio runtime (threads
//! named `fk-broker`, as in the `broker` benchmark) and, for each case and
//! client, creates a fresh topic and runs that client in a child process:
//! this same binary, started through [`std::env::current_exe`] with the
//! hidden `producer-case` subcommand. Every thread of the child is the
//! client's (its library threads plus the driver that calls `send`), so the
//! child's CPU time is the client's with no broker thread to subtract, and
//! its `VmHWM` (peak resident memory, which `/proc` only reports per
//! process) is that one case's peak.
//!
//! In the child, the client connects and learns the topic's partitions
//! before anything is measured; the measured phase runs from the first
//! `send` to the last delivery report, and its CPU time is the process's
//! utime + stime from `/proc/self/stat` (which keeps the time of threads
//! that exited) read before and after it.
//!
//! - **ferrokafka**: a multi-thread tokio runtime (one worker per CPU,
//!   threads named `fk-client`); a task calls `Producer::send` for every
//!   record and keeps at most `--window` delivery futures, awaiting the
//!   oldest when the window is full, so that what the records occupy is the
//!   producer's buffer (`buffer.memory`) rather than the benchmark's; then
//!   `flush` and the remaining futures. Every future must resolve to `Ok`.
//!   Each record is a fresh `Bytes` value (the application's allocation,
//!   as for a real producer) and a clone of the topic's shared
//!   `TopicName` (a reference count, as an application holding the name
//!   once would send).
//! - **librdkafka** (the `rdkafka` crate, bundled build): a `BaseProducer`
//!   polled from the driver thread every 1024 sends (and on a full local
//!   queue), then a zero-timeout `flush` and 1 ms polls until every
//!   delivery report is in (the crate's `flush` with a timeout waits in
//!   whole 100 ms polls, which would add up to 100 ms to each run); every
//!   delivery report must be a success.
//!
//! Both use `linger.ms` 5 and their own default batch sizes (ferrokafka and
//! Java: `batch.size` 16384 bytes; librdkafka: `batch.size` 1000000 bytes
//! and `batch.num.messages` 10000), and leave `enable.idempotence` at its
//! default: ferrokafka follows Kafka 4.x (idempotent with `acks=all`, and
//! silently not with `acks=1`), librdkafka is never idempotent unless told.
//! The `idem` column says which ran idempotently.
//!
//! After each run the parent checks that the partitions' high watermarks of
//! the fresh topic add up to exactly `--records` (ListOffsets through a
//! librdkafka client); any difference, or any failed delivery, is an error
//! and a non-zero exit.
//!
//! Built with `--release`, ferrokafka gets the workspace's release profile
//! (thin LTO, which inlines the per-record path across its crates: about 8%
//! of `send`'s time); librdkafka is its bundled C build at its own `-O2`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future as _;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::Broker;
use ferrokafka_producer::{
    Acks, Compression, DeliveryFuture, ProducerConfig, ProducerRecord, TopicName,
};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

use crate::Result;
use crate::args::Args;
use crate::broker::{
    base_config, clock_ticks_per_second, human_rate, load_average, parse_cpu_ticks, record_value,
};
use crate::harness::ChildResult;

/// Options of the `producer` subcommand.
pub(crate) const USAGE: &str = "\
usage: cargo run --release -p ferrokafka-bench -- producer [options]

Starts the bundled broker in this process (one node, its own tokio runtime
with threads named fk-broker) and, for each case, runs ferrokafka's producer
and then librdkafka's, each in a child process of this binary, sending the
records into a fresh topic. Prints msgs/s, MB/s, the client process's CPU
seconds per million records, its peak resident memory, and the ratios
ferrokafka / librdkafka. The last line is the headline case (acks=1,
8 partitions, no compression).

cases: acks=1 and acks=all, 1 and 8 partitions, no compression and lz4;
linger.ms=5, default batch sizes, default idempotence of each client

options:
  --records <N>         records per case and client (default 1000000)
  --value-size <B>      bytes per record value, at least 8 (default 100)
  --window <W>          ferrokafka: the most delivery futures the driver
                        holds before awaiting the oldest (default 100000)
  --rounds <R>          runs of each client per case, alternating which goes
                        first; each client's figures are its median run by
                        wall time (default 5)
  --only <TEXT>         run only the cases whose name contains TEXT, e.g.
                        `acks=all`, `p=8`, `lz4`
  --broker-threads <T>  worker threads of the broker's runtime (default: one
                        per CPU, tokio's default)";

/// Usage of the hidden `producer-case` subcommand.
pub(crate) const CASE_USAGE: &str = "\
usage: ferrokafka-bench producer-case --client <ferrokafka|librdkafka>
         --bootstrap <HOST:PORT> --topic <T> --acks <1|all>
         --compression <none|lz4> --records <N> --value-size <B> --window <W>

Internal: one client's run of one case, started by `producer` in a child
process; prints one `producer-case:` line of key=value figures.";

/// The value size the issue asks for.
const DEFAULT_VALUE_SIZE: usize = 100;
/// ferrokafka's default window of delivery futures: librdkafka's default
/// bound on the records its producer holds (`queue.buffering.max.messages`,
/// 100000), so both clients may have as many records outstanding. A
/// future is 24 bytes and shares its batch's result, so the window costs
/// about 3 MiB; a window of 10000 made the driver wait for deliveries
/// (up to a third of its time with acks=all) while the producer's buffer
/// had room.
const DEFAULT_WINDOW: usize = 100_000;
/// Runs of each client per case by default: on the 2-CPU machine a
/// client's runs fall in two modes about 10% apart (how the scheduler
/// shares the CPUs between the client's threads and the broker's), and
/// the median of 5 lands in the common one far more often than that of 3.
const DEFAULT_ROUNDS: u32 = 5;
/// A megabyte, for MB/s.
const MB: f64 = 1e6;
/// A mebibyte in KiB, for memory.
const MIB_IN_KIB: f64 = 1024.0;
/// How long any one wait (connect, flush, a delivery) may take before the
/// benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(120);
/// librdkafka: sends between two non-blocking polls for delivery reports.
const POLL_EVERY: u64 = 1024;
/// How the child's figures line starts.
const RESULT_PREFIX: &str = "producer-case:";

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

/// One configuration to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Case {
    /// `acks`: "1" or "all".
    acks: &'static str,
    /// Partitions of the topic.
    partitions: i32,
    /// `compression.type`: "none" or "lz4".
    compression: &'static str,
}

impl Case {
    /// Every case, in the order they run.
    fn all() -> Vec<Case> {
        let mut cases = Vec::new();
        for acks in ["1", "all"] {
            for partitions in [1, 8] {
                for compression in ["none", "lz4"] {
                    cases.push(Case {
                        acks,
                        partitions,
                        compression,
                    });
                }
            }
        }
        cases
    }

    /// The case the last line reports.
    fn is_headline(&self) -> bool {
        self.acks == "1" && self.partitions == 8 && self.compression == "none"
    }

    /// How the case is named in the output and by `--only`.
    fn name(&self) -> String {
        format!(
            "acks={} p={} {}",
            self.acks, self.partitions, self.compression
        )
    }

    /// A topic-name fragment (no `=` or spaces).
    fn slug(&self) -> String {
        format!(
            "acks{}-p{}-{}",
            self.acks, self.partitions, self.compression
        )
    }
}

/// What one child run measured.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    /// Records delivered successfully.
    delivered: u64,
    /// Wall time of the measured phase.
    wall_s: f64,
    /// CPU seconds (user + system) of the child process in that phase.
    cpu_s: f64,
    /// Resident memory before the client was created, in KiB.
    baseline_kib: u64,
    /// Peak resident memory of the child (`VmHWM`), in KiB.
    peak_kib: u64,
    /// Whether the producer ran idempotently.
    idempotent: bool,
}

impl Outcome {
    /// The `producer-case:` line the child prints.
    fn to_line(&self) -> String {
        format!(
            "{RESULT_PREFIX} delivered={} wall_s={} cpu_s={} baseline_kib={} peak_kib={} idempotent={}",
            self.delivered,
            self.wall_s,
            self.cpu_s,
            self.baseline_kib,
            self.peak_kib,
            self.idempotent
        )
    }

    /// Reads the `producer-case:` line from a child's output.
    fn from_output(stdout: &str) -> Result<Self> {
        let result = ChildResult::parse(stdout, RESULT_PREFIX)?;
        Ok(Outcome {
            delivered: result.get("delivered")?,
            wall_s: result.get("wall_s")?,
            cpu_s: result.get("cpu_s")?,
            baseline_kib: result.get("baseline_kib")?,
            peak_kib: result.get("peak_kib")?,
            idempotent: result.get("idempotent")?,
        })
    }

    fn records_per_second(&self, records: u64) -> f64 {
        records as f64 / self.wall_s.max(1e-9)
    }

    fn megabytes_per_second(&self, records: u64, value_size: usize) -> f64 {
        self.records_per_second(records) * value_size as f64 / MB
    }

    /// CPU seconds per million records.
    fn cpu_per_million(&self, records: u64) -> f64 {
        self.cpu_s * 1e6 / records.max(1) as f64
    }

    fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / MIB_IN_KIB
    }

    /// Peak memory above the child's memory before the client existed.
    fn growth_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / MIB_IN_KIB
    }
}

/// The settings every case shares.
#[derive(Debug, Clone)]
struct Settings {
    records: u64,
    value_size: usize,
    window: usize,
    /// Runs of each client per case; the median is reported.
    rounds: u32,
}

/// Runs the benchmark.
pub(crate) fn run(mut args: Args) -> Result<()> {
    let records = args.value::<u64>("--records")?.unwrap_or(1_000_000);
    let value_size = args
        .value::<usize>("--value-size")?
        .unwrap_or(DEFAULT_VALUE_SIZE);
    let window = args.value::<usize>("--window")?.unwrap_or(DEFAULT_WINDOW);
    let rounds = args.value::<u32>("--rounds")?.unwrap_or(DEFAULT_ROUNDS);
    let only = args.value::<String>("--only")?;
    let broker_threads = args.value::<usize>("--broker-threads")?;
    args.finish()?;
    if records == 0 {
        return Err("--records must be at least 1".into());
    }
    if value_size < 8 {
        return Err("--value-size must be at least 8 (the record index)".into());
    }
    if window == 0 {
        return Err("--window must be at least 1".into());
    }
    if rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if broker_threads == Some(0) {
        return Err("--broker-threads must be at least 1".into());
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
    let settings = Settings {
        records,
        value_size,
        window,
        rounds,
    };

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.thread_name("fk-broker").enable_all();
    if let Some(threads) = broker_threads {
        builder.worker_threads(threads);
    }
    let runtime = builder.build()?;
    let broker = runtime.block_on(Broker::builder().nodes(1).start())?;
    let bootstrap = broker.bootstrap_address();

    println!(
        "broker: in-process, 1 node at {bootstrap}, {} runtime worker thread(s) named fk-broker",
        broker_threads.map_or_else(|| "default (one per CPU)".to_owned(), |t| t.to_string())
    );
    println!(
        "clients: each run in a child process; ferrokafka-producer (tokio, one worker per CPU, window {window} futures) and librdkafka {} (rdkafka crate, bundled build, BaseProducer); {} CPU(s); load average {}",
        rdkafka::util::get_rdkafka_version().1,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load_average()
    );
    println!(
        "workload: {records} records of {value_size} bytes per case and client; linger.ms=5; batch.size default (ferrokafka 16384 B, librdkafka 1000000 B / 10000 msgs); enable.idempotence default (ferrokafka: on with acks=all, off with acks=1; librdkafka: off)"
    );
    println!(
        "CPU = the client process's user + system seconds while producing; peak = its VmHWM, +MiB = VmHWM minus RSS before the client existed"
    );

    // A librdkafka client of the parent's, for the watermark checks.
    let checker: BaseConsumer = base_config(&bootstrap).create()?;
    let mut summaries = Vec::new();
    let mut headline = None;
    let mut outcome: Result<()> = Ok(());
    for case in &cases {
        match run_case(&broker, &checker, &bootstrap, case, &settings) {
            Ok((ferrokafka, librdkafka)) => {
                let line = summary_line(case, &ferrokafka, &librdkafka, &settings);
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
    drop(checker);
    runtime.block_on(broker.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(5));
    outcome?;

    println!(
        "\nsummary (ratio = ferrokafka / librdkafka; goal: msgs/s ratio >= 1.5, CPU/rec ratio <= 1):"
    );
    for line in &summaries {
        println!("{line}");
    }
    if let Some((ferrokafka, librdkafka)) = headline {
        let fk = ferrokafka.records_per_second(records);
        let rdk = librdkafka.records_per_second(records);
        println!(
            "producer: ferrokafka {fk:.0} msg/s, librdkafka {rdk:.0} msg/s, ratio {:.2}",
            fk / rdk.max(1e-9)
        );
    } else {
        println!(
            "producer: headline case (acks=1 p=8 none) not run; --only {}",
            only.unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs one case with both clients, each in a fresh topic, and checks the
/// watermarks after each.
fn run_case(
    broker: &ferrokafka_broker::BrokerHandle,
    checker: &BaseConsumer,
    bootstrap: &str,
    case: &Case,
    settings: &Settings,
) -> Result<(Outcome, Outcome)> {
    println!(
        "\n== case {}: acks={}, {} partition(s), compression={} ==",
        case.name(),
        case.acks,
        case.partitions,
        case.compression
    );
    println!(
        "{:<11} {:>9} {:>7} {:>7} {:>7} {:>9} {:>8} {:>7} {:>5}",
        "client", "msgs/s", "MB/s", "wall s", "CPU s", "CPU s/M", "peak MiB", "+MiB", "idem"
    );
    // Each round runs both clients, alternating which goes first (a
    // machine that warms up or slows down over a case favours neither);
    // each client's figure is its median round by wall time.
    let (mut ferrokafka_runs, mut librdkafka_runs) = (Vec::new(), Vec::new());
    for round in 0..settings.rounds {
        let mut order = Client::ALL;
        if round % 2 == 1 {
            order.reverse();
        }
        for client in order {
            let topic = format!("bench-producer-{}-{}-r{round}", client.name(), case.slug());
            let outcome = run_verified(broker, checker, bootstrap, &topic, client, case, settings)?;
            match client {
                Client::Ferrokafka => ferrokafka_runs.push(outcome),
                Client::Librdkafka => librdkafka_runs.push(outcome),
            }
        }
    }
    println!(
        "verified: each run's topic holds exactly {} records (sum of high watermarks)",
        settings.records
    );
    match (
        median_by_wall(ferrokafka_runs),
        median_by_wall(librdkafka_runs),
    ) {
        (Some(ferrokafka), Some(librdkafka)) => {
            if settings.rounds > 1 {
                println!("median of {} rounds:", settings.rounds);
                println!("{}", client_row(Client::Ferrokafka, &ferrokafka, settings));
                println!("{}", client_row(Client::Librdkafka, &librdkafka, settings));
            }
            Ok((ferrokafka, librdkafka))
        }
        _ => Err("a client did not run".into()),
    }
}

/// The run with the median wall time (the slower middle one of an even
/// count).
fn median_by_wall(mut runs: Vec<Outcome>) -> Option<Outcome> {
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let middle = runs.len() / 2;
    runs.into_iter().nth(middle)
}

/// One client's run of a case into the fresh topic `topic`, checked: every
/// record delivered, and the topic holding exactly that many.
fn run_verified(
    broker: &ferrokafka_broker::BrokerHandle,
    checker: &BaseConsumer,
    bootstrap: &str,
    topic: &str,
    client: Client,
    case: &Case,
    settings: &Settings,
) -> Result<Outcome> {
    broker.create_topic(topic, case.partitions)?;
    let before = CpuSample::now()?;
    let outcome = run_child(client, bootstrap, topic, case, settings)?;
    let during = CpuSample::now()?.since(&before);
    if outcome.delivered != settings.records {
        return Err(format!(
            "{}: {} of {} records delivered",
            client.name(),
            outcome.delivered,
            settings.records
        )
        .into());
    }
    let stored = stored_records(checker, topic, case.partitions)?;
    if stored != settings.records {
        return Err(format!(
            "{}: the partitions of {topic} hold {stored} records, not {}",
            client.name(),
            settings.records
        )
        .into());
    }
    println!("{}", client_row(client, &outcome, settings));
    println!("{}", during.describe(settings.records));
    // Checked: its records need not stay. A broker holding every run's
    // records (100 MB a million) grew slower from run to run.
    broker.delete_topic(topic);
    Ok(outcome)
}

/// CPU time of this process (the broker's, as the parent only waits for
/// its child) and of the whole machine, read from `/proc`.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    /// utime + stime of this process, in clock ticks.
    process: u64,
    /// Busy ticks of all CPUs (`/proc/stat`: all but idle and iowait).
    machine_busy: u64,
    /// All ticks of all CPUs.
    machine_total: u64,
    /// When it was taken.
    at: Instant,
}

impl CpuSample {
    fn now() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let (machine_busy, machine_total) = parse_machine_ticks(&stat)?;
        Ok(CpuSample {
            process: process_ticks()?,
            machine_busy,
            machine_total,
            at: Instant::now(),
        })
    }

    /// What happened between `earlier` and this sample.
    fn since(&self, earlier: &CpuSample) -> CpuDelta {
        CpuDelta {
            process: self.process.saturating_sub(earlier.process),
            machine_busy: self.machine_busy.saturating_sub(earlier.machine_busy),
            machine_total: self.machine_total.saturating_sub(earlier.machine_total),
            wall: self.at.saturating_duration_since(earlier.at),
        }
    }
}

/// CPU used during one child's run (its start-up included).
#[derive(Debug, Clone, Copy)]
struct CpuDelta {
    process: u64,
    machine_busy: u64,
    machine_total: u64,
    wall: Duration,
}

impl CpuDelta {
    /// The line printed under a client's row.
    fn describe(&self, records: u64) -> String {
        let ticks_per_second = clock_ticks_per_second();
        let broker_s = self.process as f64 / ticks_per_second;
        let wall_s = self.wall.as_secs_f64().max(1e-9);
        let busy = self.machine_busy as f64 / self.machine_total.max(1) as f64;
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        format!(
            "            broker (this process) over the whole child run: CPU {broker_s:.2} s in {wall_s:.2} s ({:.2} cores), {:.3} s/M rec; machine {:.0}% busy of {cpus} CPU(s)",
            broker_s / wall_s,
            broker_s * 1e6 / records.max(1) as f64,
            busy * 100.0
        )
    }
}

/// Busy and total ticks of all CPUs from a `/proc/stat` text (its `cpu`
/// line: user nice system idle iowait irq softirq steal ...).
fn parse_machine_ticks(stat: &str) -> Result<(u64, u64)> {
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .ok_or("no cpu line in /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?;
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// One client's row of a case's table.
fn client_row(client: Client, outcome: &Outcome, settings: &Settings) -> String {
    format!(
        "{:<11} {:>9} {:>7.1} {:>7.3} {:>7.2} {:>9.3} {:>8.1} {:>7.1} {:>5}",
        client.name(),
        human_rate(outcome.records_per_second(settings.records)),
        outcome.megabytes_per_second(settings.records, settings.value_size),
        outcome.wall_s,
        outcome.cpu_s,
        outcome.cpu_per_million(settings.records),
        outcome.peak_mib(),
        outcome.growth_mib(),
        if outcome.idempotent { "yes" } else { "no" }
    )
}

/// A case's summary: both clients' figures and the ratios.
fn summary_line(
    case: &Case,
    ferrokafka: &Outcome,
    librdkafka: &Outcome,
    settings: &Settings,
) -> String {
    let records = settings.records;
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "n/a".to_owned()
        }
    };
    let fk_rate = ferrokafka.records_per_second(records);
    let rdk_rate = librdkafka.records_per_second(records);
    let fk_cpu = ferrokafka.cpu_per_million(records);
    let rdk_cpu = librdkafka.cpu_per_million(records);
    let mut line = String::new();
    let _ = write!(
        line,
        "[{:<17}] msgs/s {:>6} vs {:>6} (ratio {}), MB/s {:.1} vs {:.1}, CPU s/M rec {:.3} vs {:.3} (ratio {}), peak MiB {:.1} vs {:.1} (ratio {})",
        case.name(),
        human_rate(fk_rate),
        human_rate(rdk_rate),
        ratio(fk_rate, rdk_rate),
        ferrokafka.megabytes_per_second(records, settings.value_size),
        librdkafka.megabytes_per_second(records, settings.value_size),
        fk_cpu,
        rdk_cpu,
        ratio(fk_cpu, rdk_cpu),
        ferrokafka.peak_mib(),
        librdkafka.peak_mib(),
        ratio(ferrokafka.peak_mib(), librdkafka.peak_mib()),
    );
    line
}

/// Runs one client's case in a child process and reads its figures.
fn run_child(
    client: Client,
    bootstrap: &str,
    topic: &str,
    case: &Case,
    settings: &Settings,
) -> Result<Outcome> {
    let output = Command::new(std::env::current_exe()?)
        .arg("producer-case")
        .args(["--client", client.name()])
        .args(["--bootstrap", bootstrap])
        .args(["--topic", topic])
        .args(["--acks", case.acks])
        .args(["--compression", case.compression])
        .args(["--records", &settings.records.to_string()])
        .args(["--value-size", &settings.value_size.to_string()])
        .args(["--window", &settings.window.to_string()])
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

/// The records a fresh topic holds: the sum of its partitions' high
/// watermarks (ListOffsets).
fn stored_records(checker: &BaseConsumer, topic: &str, partitions: i32) -> Result<u64> {
    let mut stored: i64 = 0;
    for partition in 0..partitions {
        let (low, high) = checker.fetch_watermarks(topic, partition, DEADLINE)?;
        stored += high - low;
    }
    Ok(u64::try_from(stored)?)
}

/// The settings of one child run.
#[derive(Debug, Clone)]
struct ChildSettings {
    client: Client,
    bootstrap: String,
    topic: String,
    acks: String,
    compression: String,
    records: u64,
    value_size: usize,
    window: usize,
}

/// The hidden `producer-case` subcommand: one client's run of one case, in
/// a child process; prints its [`Outcome`] line.
pub(crate) fn run_case_child(mut args: Args) -> Result<()> {
    let baseline_kib = status_kib("VmRSS")?;
    let required = |value: Option<String>, name: &str| -> Result<String> {
        value.ok_or_else(|| format!("{name} is required").into())
    };
    let client = Client::parse(&required(args.value("--client")?, "--client")?)?;
    let settings = ChildSettings {
        client,
        bootstrap: required(args.value("--bootstrap")?, "--bootstrap")?,
        topic: required(args.value("--topic")?, "--topic")?,
        acks: required(args.value("--acks")?, "--acks")?,
        compression: required(args.value("--compression")?, "--compression")?,
        records: args.value("--records")?.unwrap_or(1_000_000),
        value_size: args.value("--value-size")?.unwrap_or(DEFAULT_VALUE_SIZE),
        window: args.value("--window")?.unwrap_or(DEFAULT_WINDOW).max(1),
    };
    args.finish()?;
    let ticks_per_second = clock_ticks_per_second();
    let measured = match settings.client {
        Client::Ferrokafka => run_ferrokafka(&settings)?,
        Client::Librdkafka => run_librdkafka(&settings)?,
    };
    let outcome = Outcome {
        delivered: measured.delivered,
        wall_s: measured.wall.as_secs_f64(),
        cpu_s: measured.cpu_ticks as f64 / ticks_per_second,
        baseline_kib,
        peak_kib: status_kib("VmHWM")?,
        idempotent: measured.idempotent,
    };
    println!("{}", outcome.to_line());
    Ok(())
}

/// What a client's measured phase gave.
#[derive(Debug, Clone, Copy)]
struct Measured {
    delivered: u64,
    wall: Duration,
    cpu_ticks: u64,
    idempotent: bool,
}

/// utime + stime of this process so far, in clock ticks.
fn process_ticks() -> Result<u64> {
    let (user, system) = parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat")?)?;
    Ok(user + system)
}

/// A `/proc/self/status` figure in KiB, e.g. `VmHWM` or `VmRSS`.
fn status_kib(name: &str) -> Result<u64> {
    parse_status_kib(&std::fs::read_to_string("/proc/self/status")?, name)
}

/// The value of `name:   1234 kB` in a `/proc/.../status` text.
fn parse_status_kib(status: &str, name: &str) -> Result<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("no {name} in /proc/self/status"))?
        .parse::<u64>()
        .map_err(|error| format!("{name}: {error}").into())
}

/// ferrokafka's run: connect, then drive the sends from a tokio task with a
/// bounded window of delivery futures.
fn run_ferrokafka(settings: &ChildSettings) -> Result<Measured> {
    let acks = match settings.acks.as_str() {
        "1" => Acks::Leader,
        "all" => Acks::All,
        other => return Err(format!("--acks {other}: expected 1 or all").into()),
    };
    let compression = match settings.compression.as_str() {
        "none" => Compression::None,
        "lz4" => Compression::Lz4,
        other => return Err(format!("--compression {other}: expected none or lz4").into()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("fk-client")
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = ProducerConfig::builder()
            .bootstrap_servers([settings.bootstrap.clone()])
            .acks(acks)
            .linger(Duration::from_millis(5))
            .compression_type(compression)
            .build()?;
        let producer = ferrokafka_producer::Producer::connect(config).await?;
        // Learn the partitions and their leader before measuring.
        producer
            .client()
            .metadata_for(&[settings.topic.as_str()])
            .await?;
        let idempotent = producer.config().idempotence_enabled();

        let cpu_before = process_ticks()?;
        let started = Instant::now();
        let driver = tokio::spawn(drive_ferrokafka(
            producer.clone(),
            TopicName::new(&settings.topic),
            settings.records,
            settings.value_size,
            settings.window,
        ));
        let delivered = tokio::time::timeout(DEADLINE * 2, driver)
            .await
            .map_err(|_| "ferrokafka: the run took longer than its deadline")???;
        let wall = started.elapsed();
        let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);
        let m = producer.metrics();
        eprintln!(
            "            ferrokafka metrics: {} requests ({:.0}/s), {} batches ({:.2}/request), {:.0} records and {:.0} bytes per batch, batch queue time avg {:.2} ms max {:.2} ms, request latency avg {:.2} ms max {:.2} ms",
            m.request_total,
            m.request_total as f64 / wall.as_secs_f64().max(1e-9),
            m.batch_total,
            m.batch_total as f64 / m.request_total.max(1) as f64,
            m.records_per_batch_avg,
            m.batch_size_avg,
            m.record_queue_time_avg_ms,
            m.record_queue_time_max_ms,
            m.request_latency_avg_ms,
            m.request_latency_max_ms
        );
        producer.close(Duration::from_secs(5)).await;
        Ok(Measured {
            delivered,
            wall,
            cpu_ticks,
            idempotent,
        })
    })
}

/// Sends `records` records, holding at most `window` delivery futures;
/// returns how many were delivered, or the first failure.
async fn drive_ferrokafka(
    producer: ferrokafka_producer::Producer,
    topic: TopicName,
    records: u64,
    value_size: usize,
    window: usize,
) -> Result<u64> {
    let mut value = record_value(value_size);
    let mut pending: VecDeque<(u64, DeliveryFuture)> = VecDeque::with_capacity(window);
    let mut delivered: u64 = 0;
    let settle = |index: u64, result: ferrokafka_producer::Result<_>| -> Result<()> {
        result
            .map(drop)
            .map_err(|error| format!("ferrokafka: record {index} failed: {error}").into())
    };
    // Time spent awaiting the oldest future with the window full: how long
    // this task waited for the producer rather than calling `send`.
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut waits: u64 = 0;
    for index in 0..records {
        if pending.len() >= window
            && let Some((oldest, future)) = pending.pop_front()
        {
            // Timed only when the first poll finds it pending, so that the
            // common case costs no clock read.
            let mut future = future;
            let mut pending_since = None;
            let mut polled = false;
            let result = std::future::poll_fn(|cx| {
                let poll = std::pin::Pin::new(&mut future).poll(cx);
                if !polled && poll.is_pending() {
                    pending_since = Some(Instant::now());
                }
                polled = true;
                poll
            })
            .await;
            if let Some(at) = pending_since {
                waited += at.elapsed();
                waits += 1;
            }
            settle(oldest, result)?;
            delivered += 1;
        }
        if let Some(prefix) = value.get_mut(..8) {
            prefix.copy_from_slice(&index.to_be_bytes());
        }
        let record = ProducerRecord {
            topic: topic.clone(),
            value: Some(Bytes::copy_from_slice(&value)),
            ..Default::default()
        };
        let future = producer
            .send(record)
            .await
            .map_err(|error| format!("ferrokafka: send of record {index}: {error}"))?;
        pending.push_back((index, future));
    }
    let sending = started.elapsed();
    eprintln!(
        "            ferrokafka driver: {:.3} s sending, of which {:.3} s in {waits} waits for a full window's oldest future",
        sending.as_secs_f64(),
        waited.as_secs_f64()
    );
    producer.flush().await;
    for (index, future) in pending {
        settle(index, future.await)?;
        delivered += 1;
    }
    Ok(delivered)
}

/// Counts librdkafka's delivery reports.
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

/// librdkafka's run: a polled `BaseProducer`, as in the `broker` benchmark.
fn run_librdkafka(settings: &ChildSettings) -> Result<Measured> {
    let mut config: ClientConfig = base_config(&settings.bootstrap);
    config
        .set("acks", &settings.acks)
        .set("compression.type", &settings.compression)
        .set("linger.ms", "5");
    let producer: BaseProducer<DeliveryCounter> =
        config.create_with_context(DeliveryCounter::default())?;
    // Connect and learn the partitions' leader before measuring.
    producer
        .client()
        .fetch_metadata(Some(&settings.topic), DEADLINE)?;
    let idempotent = config
        .get("enable.idempotence")
        .is_some_and(|value| value == "true");

    let topic = settings.topic.as_str();
    let mut value = record_value(settings.value_size);
    let cpu_before = process_ticks()?;
    let started = Instant::now();
    for index in 0..settings.records {
        if let Some(prefix) = value.get_mut(..8) {
            prefix.copy_from_slice(&index.to_be_bytes());
        }
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(value.as_slice())) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    return Err(format!("librdkafka: send of record {index}: {error}").into());
                }
            }
        }
        if index % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    // Not `flush(DEADLINE)`: the rdkafka crate's `flush` waits in
    // `poll(100 ms)` slices, and its `poll` always waits out its whole
    // timeout, which would add up to 100 ms to every run. A zero-timeout
    // flush sends what lingers at once; then 1 ms polls collect the reports.
    match producer.flush(Duration::ZERO) {
        Ok(()) | Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
        Err(error) => return Err(format!("librdkafka: flush: {error}").into()),
    }
    let counter = producer.context();
    let waited = Instant::now();
    while counter.delivered.load(Ordering::Relaxed) + counter.failed.load(Ordering::Relaxed)
        < settings.records
        && waited.elapsed() < DEADLINE
    {
        producer.poll(Duration::from_millis(1));
    }
    let wall = started.elapsed();
    let cpu_ticks = process_ticks()?.saturating_sub(cpu_before);

    let failed = counter.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = counter
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        return Err(format!("librdkafka: {failed} records failed (first error: {first})").into());
    }
    Ok(Measured {
        delivered: counter.delivered.load(Ordering::Relaxed),
        wall,
        cpu_ticks,
        idempotent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_line_round_trips() -> Result<()> {
        let outcome = Outcome {
            delivered: 1000,
            wall_s: 0.25,
            cpu_s: 0.5,
            baseline_kib: 4096,
            peak_kib: 65536,
            idempotent: true,
        };
        let stdout = format!("noise\n{}\n", outcome.to_line());
        assert_eq!(Outcome::from_output(&stdout)?, outcome);
        assert!(Outcome::from_output("nothing here").is_err());
        Ok(())
    }

    #[test]
    fn cases_cover_the_issue_and_one_headline() {
        let cases = Case::all();
        assert_eq!(cases.len(), 8);
        assert_eq!(cases.iter().filter(|case| case.is_headline()).count(), 1);
    }

    #[test]
    fn parses_status_figures() -> Result<()> {
        let status = "Name:\tx\nVmHWM:\t  123456 kB\nVmRSS:\t   23456 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM")?, 123_456);
        assert_eq!(parse_status_kib(status, "VmRSS")?, 23_456);
        assert!(parse_status_kib(status, "VmPeak").is_err());
        let stat = "cpu  10 1 5 100 4 1 1 0 0 0\ncpu0 5 0 2 50 2 0 0 0 0 0\n";
        assert_eq!(parse_machine_ticks(stat)?, (18, 122));
        assert!(parse_machine_ticks("intr 1").is_err());
        assert!(status_kib("VmHWM")? > 0);
        Ok(())
    }

    #[test]
    fn names_clients() -> Result<()> {
        for client in Client::ALL {
            assert_eq!(Client::parse(client.name())?, client);
        }
        assert!(Client::parse("java").is_err());
        Ok(())
    }
}
