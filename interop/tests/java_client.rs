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
//! jar with `java`. Both are required: a machine without them fails the test
//! rather than skipping it. `FERROKAFKA_MVN` and `FERROKAFKA_JAVA` name other
//! executables; `FERROKAFKA_JAVA_SCENARIOS` (names separated by spaces) runs
//! only those scenarios.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrokafka_broker::Broker;

/// How long the whole Java program may run before the test kills it: the
/// program bounds each of its own waits, this only stops a hung JVM.
const RUN_DEADLINE: Duration = Duration::from_secs(900);

fn executable(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

/// Runs `command`, failing the test with a clear message when the program is
/// not installed.
fn spawn(command: &mut Command, what: &str) -> std::process::Child {
    match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "{what} is needed for the Java client interop test and was not found \
             ({:?}: {error}); install a JDK 17+ and Maven, or set FERROKAFKA_JAVA / \
             FERROKAFKA_MVN",
            command.get_program()
        ),
        Err(error) => panic!("starting {:?}: {error}", command.get_program()),
    }
}

/// Builds `interop/java` and returns the runnable jar.
fn build_jar() -> PathBuf {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("java");
    let started = Instant::now();
    let output = spawn(
        Command::new(executable("FERROKAFKA_MVN", "mvn"))
            .args(["-B", "-q", "-f"])
            .arg(project.join("pom.xml"))
            .arg("package")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "Maven (mvn)",
    )
    .wait_with_output()
    .unwrap();
    assert!(
        output.status.success(),
        "mvn package failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("mvn package took {:.1?}", started.elapsed());
    let jar = project
        .join("target")
        .join("ferrokafka-java-interop-jar-with-dependencies.jar");
    assert!(jar.is_file(), "mvn package did not make {jar:?}");
    jar
}

/// Runs the jar against `bootstrap`, echoing its output as it comes; returns
/// its stdout lines and whether it exited successfully.
fn run_jar(jar: &Path, bootstrap: &str) -> (Vec<String>, bool) {
    let started = Instant::now();
    let mut child = spawn(
        Command::new(executable("FERROKAFKA_JAVA", "java"))
            .arg("-jar")
            .arg(jar)
            .arg(bootstrap)
            .args(
                std::env::var("FERROKAFKA_JAVA_SCENARIOS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "Java (java)",
    );
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            println!("java: {line}");
            lines.push(line);
        }
        lines
    });
    let err = std::thread::spawn(move || {
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
    err.join().unwrap();
    println!("java ran for {:.1?}, {status}", started.elapsed());
    (lines, status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_scenarios_pass_against_the_bundled_broker() {
    let jar = tokio::task::spawn_blocking(build_jar).await.unwrap();
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    let (lines, success) = tokio::task::spawn_blocking(move || run_jar(&jar, &bootstrap))
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
    broker.shutdown().await;
}
