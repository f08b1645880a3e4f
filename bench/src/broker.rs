//! The `broker` benchmark: librdkafka producing into and consuming from the
//! bundled broker, with the CPU time of each side.
//!
//! The broker runs in this process on its own tokio multi-thread runtime,
//! whose threads are named `fk-broker`. librdkafka (through the `rdkafka`
//! crate, built from its bundled sources) names its threads `rdk:main`,
//! `rdk:broker0` and so on. Every other thread of the process, chiefly the
//! driver thread that calls `send` and `poll`, counts as the client's too.
//!
//! Each case creates a topic, then measures two phases:
//!
//! - **produce**: a `BaseProducer` (`linger.ms` 5, default batch sizes) sends
//!   `--records` unkeyed records of `--value-size` bytes as fast as it can,
//!   retrying a send on a full local queue, and flushes. Every delivery
//!   report must be a success.
//! - **consume**: a `BaseConsumer` assigned every partition from the
//!   beginning (a `group.id` is set, but no group is joined and nothing is
//!   committed) polls until it has read as many records as were produced.
//!   With librdkafka's defaults the consumer stops fetching a partition for
//!   `fetch.queue.backoff.ms` (1 s) whenever its local queue holds more than
//!   `queued.min.messages` or `queued.max.messages.kbytes`, so the consume
//!   rate includes such idle spells, which cost neither side CPU;
//!   `--consumer-config fetch.queue.backoff.ms=10` takes them out.
//!
//! A phase's CPU time per thread is utime + stime from
//! `/proc/self/task/<tid>/stat`, read before and after the phase; the
//! clients are created and connected before the first reading, so their
//! start-up is not counted. Those times are sampled at each clock tick, so
//! the table adds a `sched s` column: the time on a CPU the scheduler
//! counted exactly, from `/proc/self/task/<tid>/schedstat`, as a check on
//! small figures. The figures to look at are the broker's CPU
//! seconds next to the client's (librdkafka plus driver): the goal of the
//! bundled broker is to spend less than the client for the same records.
//!
//! Correctness is checked on every run: each value carries its record's
//! index, and the consumer must see every index exactly once, with the
//! right value size; the partitions' watermarks must add up to the count
//! produced. Any difference is an error (and a non-zero exit).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ferrokafka_broker::{Broker, BrokerHandle};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Result;
use crate::args::Args;

/// Options of the `broker` subcommand.
pub(crate) const USAGE: &str = "\
usage: cargo run --release -p ferrokafka-bench -- broker [options]

Starts the bundled broker in this process (one node, its own tokio runtime
with threads named fk-broker), has librdkafka produce the records into a
topic and read them back, and prints records/s, MB/s and the CPU seconds of
the broker's threads next to those of the client (librdkafka's rdk:*
threads plus the benchmark's driver thread), for each phase of each case.

cases: `acks=1` (no compression), `acks=all` (no compression), `acks=1 lz4`

options:
  --records <N>         records per case (default 1000000)
  --value-size <B>      bytes per record value, at least 8 (default 100)
  --partitions <P>      partitions of each case's topic (default 8)
  --broker-threads <T>  worker threads of the broker's runtime (default: one
                        per CPU, tokio's default)
  --only <TEXT>         run only the cases whose name contains TEXT, e.g.
                        `acks=all`, `lz4`
  --producer-config <K=V,...>
                        extra librdkafka producer settings, comma-separated,
                        e.g. `batch.size=1000000,linger.ms=20` (they override
                        the case's settings)
  --consumer-config <K=V,...>
                        extra librdkafka consumer settings, comma-separated,
                        e.g. `fetch.queue.backoff.ms=10`
  --threads             also print every thread's CPU time per phase";

/// The value size the issue asks for.
const DEFAULT_VALUE_SIZE: usize = 100;
/// A megabyte, for MB/s.
const MB: f64 = 1e6;
/// How long any one wait (connect, flush, a consumer with no progress) may
/// take before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(120);
/// Sends between two non-blocking polls for delivery reports.
const POLL_EVERY: u64 = 1024;

/// One producer configuration to measure.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// How the case is named on the command line and in the output.
    name: &'static str,
    /// The topic name's suffix (no `=` or spaces).
    slug: &'static str,
    /// librdkafka's `acks`.
    acks: &'static str,
    /// librdkafka's `compression.type`.
    compression: &'static str,
}

/// Every case, in the order they run.
const CASES: &[Case] = &[
    Case {
        name: "acks=1",
        slug: "acks1-none",
        acks: "1",
        compression: "none",
    },
    Case {
        name: "acks=all",
        slug: "acksall-none",
        acks: "all",
        compression: "none",
    },
    Case {
        name: "acks=1 lz4",
        slug: "acks1-lz4",
        acks: "1",
        compression: "lz4",
    },
];

/// The settings every case shares.
#[derive(Debug, Clone)]
struct Settings {
    records: u64,
    value_size: usize,
    partitions: i32,
    print_threads: bool,
    /// `--producer-config`, as (key, value) pairs.
    producer_config: Vec<(String, String)>,
    /// `--consumer-config`, as (key, value) pairs.
    consumer_config: Vec<(String, String)>,
    /// Clock ticks per second of `/proc` CPU times.
    ticks_per_second: f64,
}

/// Runs the benchmark.
pub(crate) fn run(mut args: Args) -> Result<()> {
    let records = args.value::<u64>("--records")?.unwrap_or(1_000_000);
    let value_size = args
        .value::<usize>("--value-size")?
        .unwrap_or(DEFAULT_VALUE_SIZE);
    let partitions = args.value::<i32>("--partitions")?.unwrap_or(8);
    let broker_threads = args.value::<usize>("--broker-threads")?;
    let only = args.value::<String>("--only")?;
    let print_threads = args.flag("--threads");
    let producer_config = client_settings(args.value::<String>("--producer-config")?)?;
    let consumer_config = client_settings(args.value::<String>("--consumer-config")?)?;
    args.finish()?;
    if records == 0 {
        return Err("--records must be at least 1".into());
    }
    if value_size < 8 {
        return Err("--value-size must be at least 8 (the record index)".into());
    }
    if partitions < 1 {
        return Err("--partitions must be at least 1".into());
    }
    if broker_threads == Some(0) {
        return Err("--broker-threads must be at least 1".into());
    }
    let cases: Vec<Case> = CASES
        .iter()
        .filter(|case| only.as_deref().is_none_or(|text| case.name.contains(text)))
        .copied()
        .collect();
    if cases.is_empty() {
        return Err(format!("no case matches --only {only:?}").into());
    }
    let settings = Settings {
        records,
        value_size,
        partitions,
        print_threads,
        producer_config,
        consumer_config,
        ticks_per_second: clock_ticks_per_second(),
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
        "client: librdkafka {} (rdkafka crate, bundled build); {} CPU(s); clock {} ticks/s; load average {}",
        rdkafka::util::get_rdkafka_version().1,
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        settings.ticks_per_second,
        load_average()
    );
    println!(
        "workload: {records} records of {value_size} bytes per case, {partitions} partitions, linger.ms=5"
    );
    for (side, extra) in [
        ("producer", &settings.producer_config),
        ("consumer", &settings.consumer_config),
    ] {
        if !extra.is_empty() {
            let shown: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("extra {side} settings: {}", shown.join(", "));
        }
    }

    let mut summaries = Vec::new();
    let mut outcome = Ok(());
    for case in &cases {
        match run_case(&broker, &bootstrap, case, &settings) {
            Ok(lines) => summaries.extend(lines),
            Err(error) => {
                outcome = Err(format!("case {}: {error}", case.name).into());
                break;
            }
        }
    }
    runtime.block_on(broker.shutdown());
    runtime.shutdown_timeout(Duration::from_secs(5));

    if !summaries.is_empty() {
        println!("\nsummary (goal: broker CPU < client CPU, ratio = broker / client < 1):");
        for line in &summaries {
            println!("{line}");
        }
    }
    outcome
}

/// Runs one case's produce and consume phases; returns its summary lines.
fn run_case(
    broker: &BrokerHandle,
    bootstrap: &str,
    case: &Case,
    settings: &Settings,
) -> Result<Vec<String>> {
    let topic = format!("bench-{}", case.slug);
    broker.create_topic(&topic, settings.partitions)?;
    println!(
        "\n== case {}: acks={}, compression={}, topic {topic} ==",
        case.name, case.acks, case.compression
    );

    let produce = produce_phase(bootstrap, &topic, case, settings)?;
    let consume = consume_phase(bootstrap, &topic, settings)?;

    println!(
        "{:<8} {:>10} {:>8} {:>8}",
        "phase", "records/s", "MB/s", "wall s"
    );
    for (name, phase) in [("produce", &produce), ("consume", &consume)] {
        println!(
            "{name:<8} {:>10} {:>8.1} {:>8.3}",
            human_rate(phase.records_per_second(settings.records)),
            phase.megabytes_per_second(settings.records, settings.value_size),
            phase.wall.as_secs_f64()
        );
    }
    println!(
        "\n{:<8} {:<11} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "phase", "CPU of", "threads", "user s", "sys s", "total s", "% of wall", "sched s"
    );
    for (name, phase) in [("produce", &produce), ("consume", &consume)] {
        print!("{}", phase.cpu_table(name, settings));
    }
    if settings.print_threads {
        for (name, phase) in [("produce", &produce), ("consume", &consume)] {
            print!("{}", phase.thread_table(name, settings));
        }
    }

    let mut lines = Vec::new();
    for (name, phase) in [("produce", &produce), ("consume", &consume)] {
        let broker_cpu = phase.seconds(Role::Broker, settings);
        let client_cpu =
            phase.seconds(Role::Librdkafka, settings) + phase.seconds(Role::Driver, settings);
        let ratio = if client_cpu > 0.0 {
            format!("{:.2}", broker_cpu / client_cpu)
        } else {
            "n/a".to_owned()
        };
        let verdict = if broker_cpu < client_cpu {
            ""
        } else {
            "  <-- broker used more CPU than the client"
        };
        let broker_sched = phase.on_cpu_seconds(Role::Broker);
        let client_sched =
            phase.on_cpu_seconds(Role::Librdkafka) + phase.on_cpu_seconds(Role::Driver);
        let sched_ratio = if client_sched > 0.0 {
            format!("{:.2}", broker_sched / client_sched)
        } else {
            "n/a".to_owned()
        };
        let line = format!(
            "broker {name} [{}]: librdkafka {} rec/s, {:.1} MB/s; CPU broker {broker_cpu:.2} s vs client {client_cpu:.2} s (ratio {ratio}); sched {broker_sched:.3} s vs {client_sched:.3} s (ratio {sched_ratio}){verdict}",
            case.name,
            human_rate(phase.records_per_second(settings.records)),
            phase.megabytes_per_second(settings.records, settings.value_size),
        );
        println!("{line}");
        lines.push(line);
    }
    Ok(lines)
}

/// The librdkafka settings both clients share.
pub(crate) fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    config
}

/// Splits `key=value,key=value` into pairs.
fn client_settings(text: Option<String>) -> Result<Vec<(String, String)>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            item.split_once('=')
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                .ok_or_else(|| format!("client setting {item:?} is not key=value").into())
        })
        .collect()
}

/// Applies `extra` settings on top of `config`.
fn with_extra(mut config: ClientConfig, extra: &[(String, String)]) -> ClientConfig {
    for (key, value) in extra {
        config.set(key, value);
    }
    config
}

/// Counts the producer's delivery reports.
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

/// Produces the records; returns the phase's measurements.
fn produce_phase(bootstrap: &str, topic: &str, case: &Case, settings: &Settings) -> Result<Phase> {
    let mut config = base_config(bootstrap);
    config
        .set("acks", case.acks)
        .set("compression.type", case.compression)
        .set("linger.ms", "5")
        .set("enable.idempotence", "false");
    let producer: BaseProducer<DeliveryCounter> = with_extra(config, &settings.producer_config)
        .create_with_context(DeliveryCounter::default())?;
    // Connect and learn the partitions' leader before measuring.
    producer.client().fetch_metadata(Some(topic), DEADLINE)?;

    let mut value = record_value(settings.value_size);
    let start = Snapshot::take()?;
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
                Err((error, _)) => return Err(format!("send record {index}: {error}").into()),
            }
        }
        if index % POLL_EVERY == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(DEADLINE)?;
    let counter = producer.context();
    let waited = Instant::now();
    while counter.delivered.load(Ordering::Relaxed) + counter.failed.load(Ordering::Relaxed)
        < settings.records
    {
        if waited.elapsed() > DEADLINE {
            break;
        }
        producer.poll(Duration::from_millis(10));
    }
    let wall = started.elapsed();
    let end = Snapshot::take()?;

    let delivered = counter.delivered.load(Ordering::Relaxed);
    let failed = counter.failed.load(Ordering::Relaxed);
    if failed > 0 || delivered != settings.records {
        let first = counter
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        return Err(format!(
            "produced {} records: {delivered} delivered, {failed} failed (first error: {first})",
            settings.records
        )
        .into());
    }
    Ok(Phase::new(wall, &start, &end))
}

/// A value of `size` bytes: 8 bytes for the record index, then text.
pub(crate) fn record_value(size: usize) -> Vec<u8> {
    const FILLER: &[u8] =
        b"{\"service\":\"orders\",\"event\":\"created\",\"amount\":1234,\"currency\":\"EUR\"} ";
    let mut value = vec![0_u8; 8];
    value.extend(FILLER.iter().copied().cycle().take(size.saturating_sub(8)));
    value
}

/// Reads every record back; returns the phase's measurements.
fn consume_phase(bootstrap: &str, topic: &str, settings: &Settings) -> Result<Phase> {
    let mut config = base_config(bootstrap);
    config
        .set("group.id", "ferrokafka-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    let consumer: BaseConsumer = with_extra(config, &settings.consumer_config).create()?;
    consumer.fetch_metadata(Some(topic), DEADLINE)?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..settings.partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }

    let records = usize::try_from(settings.records)?;
    let mut seen = vec![false; records];
    let mut count: u64 = 0;
    let mut duplicates: u64 = 0;
    let start = Snapshot::take()?;
    let started = Instant::now();
    consumer.assign(&assignment)?;
    // Progress is checked only when a poll comes back empty, so that the
    // loop does not read the clock for every record.
    let mut last_progress = Instant::now();
    let mut count_at_last_progress: u64 = 0;
    while count < settings.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let payload = message.payload().unwrap_or_default();
                if payload.len() != settings.value_size {
                    return Err(format!(
                        "partition {} offset {}: value of {} bytes, not {}",
                        message.partition(),
                        message.offset(),
                        payload.len(),
                        settings.value_size
                    )
                    .into());
                }
                let index = payload
                    .get(..8)
                    .and_then(|prefix| <[u8; 8]>::try_from(prefix).ok())
                    .map(u64::from_be_bytes)
                    .and_then(|index| usize::try_from(index).ok())
                    .ok_or("a value without a record index")?;
                let slot = seen
                    .get_mut(index)
                    .ok_or_else(|| format!("record index {index} out of range"))?;
                if *slot {
                    duplicates += 1;
                }
                *slot = true;
                count += 1;
            }
            Some(Err(error)) => return Err(format!("consume: {error}").into()),
            None if count != count_at_last_progress => {
                count_at_last_progress = count;
                last_progress = Instant::now();
            }
            None if last_progress.elapsed() > DEADLINE => {
                return Err(format!(
                    "consumer read {count} of {} records, then nothing for {} s",
                    settings.records,
                    DEADLINE.as_secs()
                )
                .into());
            }
            None => {}
        }
    }
    let wall = started.elapsed();
    let end = Snapshot::take()?;

    // Checks outside the measured time: nothing left over, nothing missing,
    // nothing twice, and the broker's watermarks agree.
    let mut extra: u64 = 0;
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(500) {
        if let Some(result) = consumer.poll(Duration::from_millis(100)) {
            result?;
            extra += 1;
        }
    }
    let missing = seen.iter().filter(|seen| !**seen).count();
    let mut stored: i64 = 0;
    for partition in 0..settings.partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, DEADLINE)?;
        stored += high - low;
    }
    if extra > 0 || missing > 0 || duplicates > 0 || u64::try_from(stored).ok() != Some(count) {
        return Err(format!(
            "consumer read {} records ({duplicates} duplicates, {missing} missing, {extra} more after the count); the partitions hold {stored}",
            count + extra
        )
        .into());
    }
    println!(
        "verified: {count} records read back, each index exactly once, watermarks add up to {stored}"
    );
    Ok(Phase::new(wall, &start, &end))
}

/// Whose a thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The broker's runtime: `fk-broker*`.
    Broker,
    /// librdkafka's threads: `rdk:*`.
    Librdkafka,
    /// Everything else: the benchmark's driver thread and any helper.
    Driver,
}

impl Role {
    /// The role of a thread named `name`.
    fn of(name: &str) -> Self {
        if name.starts_with("fk-broker") {
            Self::Broker
        } else if name.starts_with("rdk:") {
            Self::Librdkafka
        } else {
            Self::Driver
        }
    }

    /// Its label in the tables.
    fn label(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::Librdkafka => "librdkafka",
            Self::Driver => "driver",
        }
    }
}

/// One thread's name and CPU time, in clock ticks.
#[derive(Debug, Clone)]
struct ThreadCpu {
    name: String,
    user: u64,
    system: u64,
    /// Time on a CPU in nanoseconds from `schedstat`, which the scheduler
    /// counts exactly (the ticks are sampled); 0 where the kernel has none.
    on_cpu_ns: u64,
}

/// The CPU time of every thread of the process, and of the process.
#[derive(Debug, Clone)]
struct Snapshot {
    threads: HashMap<u32, ThreadCpu>,
    process: (u64, u64),
}

impl Snapshot {
    /// Reads `/proc/self/task/*/{stat,comm}` and `/proc/self/stat`.
    fn take() -> Result<Self> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            // A thread may exit between the listing and the reads.
            let (Ok(stat), Ok(comm)) = (
                std::fs::read_to_string(entry.path().join("stat")),
                std::fs::read_to_string(entry.path().join("comm")),
            ) else {
                continue;
            };
            let (user, system) = parse_cpu_ticks(&stat)?;
            let on_cpu_ns = std::fs::read_to_string(entry.path().join("schedstat"))
                .ok()
                .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
            threads.insert(
                tid,
                ThreadCpu {
                    name: comm.trim_end().to_owned(),
                    user,
                    system,
                    on_cpu_ns,
                },
            );
        }
        let process = parse_cpu_ticks(&std::fs::read_to_string("/proc/self/stat")?)?;
        Ok(Self { threads, process })
    }
}

/// utime and stime (fields 14 and 15) of a `/proc/.../stat` line. The
/// second field, the command name in parentheses, may hold spaces, so the
/// fields are counted from the last `)`.
pub(crate) fn parse_cpu_ticks(stat: &str) -> Result<(u64, u64)> {
    let after_name = stat
        .rfind(')')
        .and_then(|end| stat.get(end + 1..))
        .ok_or("a /proc stat line without a command name")?;
    // After the name come field 3 (state), 4, ...: utime is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let user = fields.next().ok_or("stat line too short")?.parse::<u64>()?;
    let system = fields.next().ok_or("stat line too short")?.parse::<u64>()?;
    Ok((user, system))
}

/// Clock ticks per second of `/proc` CPU times, from `getconf CLK_TCK`;
/// 100 (what Linux uses everywhere) if that fails.
pub(crate) fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// The 1-minute load average, to judge how busy the machine was.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// One thread's CPU time during a phase.
#[derive(Debug, Clone)]
struct ThreadDelta {
    tid: u32,
    name: String,
    role: Role,
    user: u64,
    system: u64,
    on_cpu_ns: u64,
}

/// What one phase measured.
#[derive(Debug, Clone)]
struct Phase {
    wall: Duration,
    threads: Vec<ThreadDelta>,
    /// Threads alive at the start but gone at the end: their time is lost.
    vanished: usize,
    process_ticks: u64,
}

impl Phase {
    /// The difference between two snapshots around a phase that took `wall`.
    fn new(wall: Duration, start: &Snapshot, end: &Snapshot) -> Self {
        let mut threads: Vec<ThreadDelta> = end
            .threads
            .iter()
            .map(|(tid, after)| {
                let (user, system, on_cpu_ns) =
                    start.threads.get(tid).map_or((0, 0, 0), |before| {
                        (before.user, before.system, before.on_cpu_ns)
                    });
                ThreadDelta {
                    tid: *tid,
                    name: after.name.clone(),
                    role: Role::of(&after.name),
                    user: after.user.saturating_sub(user),
                    system: after.system.saturating_sub(system),
                    on_cpu_ns: after.on_cpu_ns.saturating_sub(on_cpu_ns),
                }
            })
            .collect();
        threads.sort_by_key(|thread| (thread.role.label(), thread.tid));
        let vanished = start
            .threads
            .keys()
            .filter(|tid| !end.threads.contains_key(tid))
            .count();
        let process_ticks =
            (end.process.0 + end.process.1).saturating_sub(start.process.0 + start.process.1);
        Self {
            wall,
            threads,
            vanished,
            process_ticks,
        }
    }

    fn records_per_second(&self, records: u64) -> f64 {
        records as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn megabytes_per_second(&self, records: u64, value_size: usize) -> f64 {
        self.records_per_second(records) * value_size as f64 / MB
    }

    /// (threads, user ticks, system ticks, on-CPU ns) of one role.
    fn totals(&self, role: Role) -> (usize, u64, u64, u64) {
        self.threads
            .iter()
            .filter(|thread| thread.role == role)
            .fold((0, 0, 0, 0), |(count, user, system, on_cpu), thread| {
                (
                    count + 1,
                    user + thread.user,
                    system + thread.system,
                    on_cpu + thread.on_cpu_ns,
                )
            })
    }

    /// CPU seconds of one role.
    fn seconds(&self, role: Role, settings: &Settings) -> f64 {
        let (_, user, system, _) = self.totals(role);
        (user + system) as f64 / settings.ticks_per_second
    }

    /// Seconds on a CPU of one role, from `schedstat`.
    fn on_cpu_seconds(&self, role: Role) -> f64 {
        let (_, _, _, on_cpu_ns) = self.totals(role);
        on_cpu_ns as f64 / 1e9
    }

    /// The rows of the CPU table for this phase.
    fn cpu_table(&self, name: &str, settings: &Settings) -> String {
        let ticks = settings.ticks_per_second;
        let wall = self.wall.as_secs_f64().max(1e-9);
        let mut out = String::new();
        for role in [Role::Broker, Role::Librdkafka, Role::Driver] {
            let (count, user, system, on_cpu_ns) = self.totals(role);
            let total = (user + system) as f64 / ticks;
            let _ = writeln!(
                out,
                "{name:<8} {:<11} {count:>7} {:>8.2} {:>8.2} {total:>8.2} {:>8.0}% {:>9.3}",
                role.label(),
                user as f64 / ticks,
                system as f64 / ticks,
                100.0 * total / wall,
                on_cpu_ns as f64 / 1e9
            );
        }
        let process = self.process_ticks as f64 / ticks;
        let _ = writeln!(
            out,
            "{name:<8} {:<11} {:>7} {:>8} {:>8} {process:>8.2} {:>8.0}%{}",
            "process",
            self.threads.len(),
            "",
            "",
            100.0 * process / wall,
            if self.vanished > 0 {
                format!("  ({} thread(s) exited during the phase)", self.vanished)
            } else {
                String::new()
            }
        );
        out
    }

    /// Every thread that used CPU in this phase.
    fn thread_table(&self, name: &str, settings: &Settings) -> String {
        let ticks = settings.ticks_per_second;
        let mut out = format!("\n{name}: threads that used CPU\n");
        for thread in self
            .threads
            .iter()
            .filter(|thread| thread.user + thread.system > 0 || thread.on_cpu_ns >= 1_000_000)
        {
            let _ = writeln!(
                out,
                "  {:>7} {:<16} {:<11} user {:>6.2} s  sys {:>6.2} s  sched {:>7.3} s",
                thread.tid,
                thread.name,
                thread.role.label(),
                thread.user as f64 / ticks,
                thread.system as f64 / ticks,
                thread.on_cpu_ns as f64 / 1e9
            );
        }
        out
    }
}

/// `812k` or `1.23M`: a rate in a few digits.
pub(crate) fn human_rate(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.0}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_a_name_with_spaces() -> Result<()> {
        let stat = "1234 (rdk:broker 0) S 1 2 3 4 5 6 7 8 9 10 111 222 13 14 15";
        assert_eq!(parse_cpu_ticks(stat)?, (111, 222));
        Ok(())
    }

    #[test]
    fn reads_its_own_threads() -> Result<()> {
        let snapshot = Snapshot::take()?;
        assert!(!snapshot.threads.is_empty());
        Ok(())
    }

    #[test]
    fn classifies_threads() {
        assert_eq!(Role::of("fk-broker"), Role::Broker);
        assert_eq!(Role::of("rdk:broker0"), Role::Librdkafka);
        assert_eq!(Role::of("rdk:main"), Role::Librdkafka);
        assert_eq!(Role::of("ferrokafka-benc"), Role::Driver);
    }

    #[test]
    fn values_carry_their_size() {
        assert_eq!(record_value(100).len(), 100);
        assert_eq!(record_value(8).len(), 8);
    }
}
