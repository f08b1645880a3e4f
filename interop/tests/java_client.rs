//! The reference Java client (`org.apache.kafka:kafka-clients`) against the
//! bundled ferrokafka broker, started in-process on port 0.
//!
//! The Java side is the Maven project `interop/java`: one program that drives
//! the broker the way Java services do (an idempotent and a transactional
//! `KafkaProducer` in every codec, `KafkaConsumer` groups with the range and
//! cooperative-sticky assignors, the `Admin` client, consume-transform-produce
//! with `sendOffsetsToTransaction`), asserts what it reads back, and prints
//! `PASS name` or `FAIL name: reason` per scenario and `N passed, M failed`.
//!
//! The test builds it with `mvn -B -q package` (the first run fetches the
//! client and the Maven plugins from Maven Central into `~/.m2`) and runs the
//! jar with `java`, against a one-node and a three-node broker, and once with
//! faults injected (responses lost after the broker applied the request). Both are required: a machine without them fails the test
//! rather than skipping it. `FERROKAFKA_MVN` and `FERROKAFKA_JAVA` name other
//! executables; `FERROKAFKA_JAVA_SCENARIOS` (names separated by spaces) runs
//! only those scenarios.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_broker::{Broker, BrokerHandle, FaultAction, FaultRule};
use ferrokafka_interop::java::{jar, java, spawn};
use ferrokafka_protocol::{ApiKey, ErrorCode};

/// How long the whole Java program may run before the test kills it: the
/// program bounds each of its own waits, this only stops a hung JVM.
const RUN_DEADLINE: Duration = Duration::from_secs(900);

/// What the harness does when a scenario prints `ACTION what`: `Ok` is
/// answered `done` on the program's stdin, `Err` with its message.
type Actions<'a> = dyn Fn(&str) -> Result<(), String> + Send + Sync + 'a;

/// Runs the jar against `bootstrap` (all scenarios when `scenarios` is
/// empty), echoing its output as it comes and carrying out the actions it
/// asks for; returns its stdout lines and whether it exited successfully.
/// One JVM runs at a time: the tests of this file share a small machine with
/// the broker they test.
fn run_jar(bootstrap: &str, scenarios: &[&str], actions: &Actions<'_>) -> (Vec<String>, bool) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let jar = jar();
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let started = Instant::now();
    let chosen: Vec<String> = if scenarios.is_empty() {
        std::env::var("FERROKAFKA_JAVA_SCENARIOS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    } else {
        scenarios.iter().map(|s| (*s).to_owned()).collect()
    };
    let mut child = spawn(
        java()
            .arg("-jar")
            .arg(jar)
            .arg(bootstrap)
            .args(&chosen)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "Java (java)",
    );
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::scope(|scope| {
        let out = scope.spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                println!("java: {line}");
                if let Some(what) = line.strip_prefix("ACTION ") {
                    let answer = match actions(what) {
                        Ok(()) => "done".to_owned(),
                        Err(error) => error.replace('\n', " "),
                    };
                    println!("harness: {what}: {answer}");
                    // A program that already gave up is not an error here.
                    let _ = writeln!(stdin, "{answer}").and_then(|()| stdin.flush());
                }
                lines.push(line);
            }
            lines
        });
        scope.spawn(move || {
            for line in BufReader::new(stderr).lines() {
                eprintln!("java stderr: {}", line.unwrap());
            }
        });
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the Java program ran longer than {RUN_DEADLINE:?} and was killed");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let lines = out.join().unwrap();
        println!("java ran for {:.1?}, {status}", started.elapsed());
        (lines, status.success())
    })
}

/// Runs the Java scenarios against the broker at `bootstrap` and fails the
/// test unless every one passed.
async fn assert_scenarios_pass(
    bootstrap: String,
    scenarios: &'static [&'static str],
    actions: Box<Actions<'static>>,
) {
    let (lines, success) =
        tokio::task::spawn_blocking(move || run_jar(&bootstrap, scenarios, &*actions))
            .await
            .unwrap();
    let failures: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
    let summary = lines.last().map(String::as_str).unwrap_or_default();
    assert!(
        failures.is_empty() && summary.ends_with(" 0 failed") && success,
        "the Java client disagrees with the bundled broker: {failures:#?}\nsummary: {summary:?}"
    );
    assert!(
        !summary.starts_with("0 passed"),
        "no scenario ran: {summary:?}"
    );
}

/// Runs the Java scenarios against `broker`, carrying out their actions on it.
async fn assert_pass_against(broker: &Arc<BrokerHandle>, scenarios: &'static [&'static str]) {
    let target = Arc::clone(broker);
    let runtime = tokio::runtime::Handle::current();
    assert_scenarios_pass(
        broker.bootstrap_address(),
        scenarios,
        Box::new(move |what| act(&target, &runtime, what)),
    )
    .await;
}

/// Carries out an action a harnessed scenario asks for:
/// `move-leaders-and-coordinator TOPIC PARTITIONS` moves each partition's
/// leader and the coordinator to the next node; `bounce-node NODE` stops a
/// node and restarts it a second later.
fn act(broker: &BrokerHandle, runtime: &tokio::runtime::Handle, what: &str) -> Result<(), String> {
    let words: Vec<&str> = what.split_whitespace().collect();
    let nodes = i32::try_from(broker.addresses().len()).unwrap();
    let number = |word: &str| word.parse::<i32>().map_err(|e| format!("{word}: {e}"));
    match words.as_slice() {
        ["move-leaders-and-coordinator", topic, partitions] => {
            for partition in 0..number(partitions)? {
                let (leader, _) = broker
                    .leader_of(topic, partition)
                    .ok_or_else(|| format!("no leader for {topic}-{partition}"))?;
                broker
                    .move_leader(topic, partition, (leader + 1) % nodes)
                    .map_err(|e| e.to_string())?;
            }
            let coordinator = broker.config().group_coordinator_node;
            broker
                .move_coordinator((coordinator + 1) % nodes)
                .map_err(|e| e.to_string())
        }
        ["bounce-node", node] => {
            let node = number(node)?;
            runtime.block_on(async {
                broker.stop_node(node).await.map_err(|e| e.to_string())?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                broker.restart_node(node).await.map_err(|e| e.to_string())
            })
        }
        _ => Err(format!("unknown action {what:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_scenarios_pass_against_one_node() {
    let broker = Arc::new(Broker::builder().start().await.unwrap());
    assert_pass_against(&broker, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_scenarios_pass_against_three_nodes() {
    let broker = Arc::new(Broker::builder().nodes(3).start().await.unwrap());
    assert_pass_against(&broker, &[]).await;
}

/// The producer, transactions and a group under lost responses: each of
/// these APIs has its first requests applied by the broker and their
/// connection closed before the answer, so the Java client retries what
/// already happened, and Kafka's answers to a retry (a duplicate batch's
/// original offset, a repeated EndTxn, AddPartitionsToTxn or
/// TxnOffsetCommit) are what keep its results exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_scenarios_pass_when_responses_are_lost() {
    let broker = Arc::new(Broker::builder().start().await.unwrap());
    let lost = [
        (ApiKey::Produce, 3),
        (ApiKey::InitProducerId, 1),
        (ApiKey::AddPartitionsToTxn, 1),
        (ApiKey::AddOffsetsToTxn, 1),
        (ApiKey::TxnOffsetCommit, 1),
        (ApiKey::EndTxn, 2),
        (ApiKey::OffsetCommit, 1),
        (ApiKey::JoinGroup, 1),
        (ApiKey::SyncGroup, 1),
    ];
    for (api, times) in lost {
        broker.inject_fault(FaultRule::new(api, FaultAction::DropAfterApply).times(times));
    }
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Produce,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .times(2),
    );
    assert_pass_against(
        &broker,
        &[
            "idempotent_producer_lz4",
            "transactional_commit_and_abort",
            "consume_transform_produce",
            "group_range_assignor",
        ],
    )
    .await;
    let fired = broker.faults_fired();
    for (api, times) in lost {
        let count = fired
            .iter()
            .filter(|fault| fault.api == api && fault.action == FaultAction::DropAfterApply)
            .count();
        assert_eq!(count, times as usize, "lost {api:?} responses: {fired:#?}");
    }
}

/// Leaders and the coordinator move, and a node stops and restarts, while a
/// Java group member, an idempotent producer and a transactional producer
/// are busy (the scenario asks for each change when it is ready for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_rides_out_leader_moves_and_a_node_restart() {
    let broker = Arc::new(Broker::builder().nodes(3).start().await.unwrap());
    assert_pass_against(&broker, &["cluster_changes_under_load"]).await;
}

/// The broker stops and a new one starts from the same data directory on
/// the same port while a Java idempotent producer and group member are
/// connected: the producer's sequence goes on (producer state rebuilt from
/// the log), the group's committed offsets are still there, nothing is lost
/// or written twice; and the member's commit right after the restart is
/// accepted, because the group (generation, members, assignments) is kept
/// as Kafka keeps it in `__consumer_offsets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_resumes_when_the_broker_restarts_from_its_data_dir() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("java-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let broker = Broker::builder().data_dir(&dir).start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    let slot = Arc::new(Mutex::new(Some(broker)));
    let runtime = tokio::runtime::Handle::current();
    let restart = {
        let (slot, dir, address) = (Arc::clone(&slot), dir.clone(), bootstrap.clone());
        move |what: &str| {
            if what != "restart-broker" {
                return Err(format!("unknown action {what:?}"));
            }
            let mut slot = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let old = slot.take().ok_or("no broker running")?;
            runtime.block_on(async {
                old.shutdown().await;
                let new = Broker::builder()
                    .listen(&address)
                    .map_err(|e| e.to_string())?
                    .data_dir(&dir)
                    .start()
                    .await
                    .map_err(|e| e.to_string())?;
                *slot = Some(new);
                Ok(())
            })
        }
    };
    assert_scenarios_pass(bootstrap, &["restart_from_data_dir"], Box::new(restart)).await;
    let broker = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(broker) = broker {
        broker.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
