#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The quickstart's main logic, run as a library function: on its own
//! embedded broker, and twice against an existing (in-process) cluster,
//! where each run's groups must read exactly that run's ten records.

use std::time::Duration;

use ferrokafka_broker::Broker;
use ferrokafka_examples::ExampleError;
use ferrokafka_examples::quickstart::{self, GROUPS, KEY, QuickstartOptions, RECORDS};

/// An address that refuses connections for as long as the returned socket
/// lives: bound but never listening, so no other test can take its port in
/// the meantime (as it could a port freed by dropping a listener).
fn refusing_address() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    (socket, address)
}

fn options(bootstrap: Option<String>) -> QuickstartOptions {
    QuickstartOptions {
        bootstrap,
        timeout: Duration::from_secs(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_on_its_embedded_broker() {
    let mut lines = Vec::new();
    let mut say = |line: &str| lines.push(line.to_owned());
    let report = quickstart::run(options(None), &mut say).await.unwrap();

    assert!(report.embedded);
    assert_eq!(report.sent.len(), RECORDS);
    for (i, record) in report.sent.iter().enumerate() {
        assert_eq!(record.key.as_deref(), Some(KEY));
        assert_eq!(record.value.as_deref(), Some(format!("hello {i}").as_str()));
        assert_eq!(record.partition, 0);
        assert_eq!(record.offset, i as i64);
    }
    for group in GROUPS {
        assert_eq!(report.received[group], report.sent, "{group}");
    }
    assert!(report.every_group_got_everything());
    let text = lines.join("\n");
    assert!(text.contains("group_a"), "{text}");
    assert!(text.contains("group_b"), "{text}");
    assert!(text.contains("partition 0 offset 9"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_against_an_existing_cluster_reads_only_its_own_records() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let mut say = |_: &str| {};

    let first = quickstart::run(options(Some(bootstrap.clone())), &mut say)
        .await
        .unwrap();
    assert!(!first.embedded);
    assert!(first.every_group_got_everything());

    let second = quickstart::run(options(Some(bootstrap)), &mut say)
        .await
        .unwrap();
    assert!(second.every_group_got_everything());
    let offsets: Vec<i64> = second.sent.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (10..20).collect::<Vec<_>>());
    assert_eq!(broker.offsets("test-topic", 0), Some((0, 20)));
    broker.shutdown().await;
}

#[tokio::test]
async fn quickstart_gives_up_on_an_unreachable_cluster() {
    let (_refusing, address) = refusing_address();
    let mut say = |_: &str| {};
    let options = QuickstartOptions {
        bootstrap: Some(address.clone()),
        timeout: Duration::from_secs(3),
    };
    let error = quickstart::run(options, &mut say).await.unwrap_err();
    // Refused at once, not a timeout: the message says which address was
    // tried and that nothing answered there.
    assert!(matches!(error, ExampleError::Admin(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("admin: no bootstrap broker reachable"),
        "{message}"
    );
    assert!(message.contains(&format!("[\"{address}\"]")), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
}

#[test]
fn the_quickstart_binary_exits_zero_and_tells_what_happened() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .args(["--timeout-secs", "30"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[group_a] received partition 0 offset 9"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[group_b] received partition 0 offset 9"),
        "{stdout}"
    );
    assert!(
        stdout.contains("both groups received all 10 records"),
        "{stdout}"
    );
}

#[test]
fn the_quickstart_binary_fails_clearly_without_a_cluster() {
    let (_refusing, address) = refusing_address();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .args(["--bootstrap", &address, "--timeout-secs", "5"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("quickstart failed: admin: no bootstrap broker reachable"),
        "{stderr}"
    );
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
}
