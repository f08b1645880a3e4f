//! The `ferrokafka-broker` binary: starts as documented, prints where it
//! listens, serves, and stops cleanly on SIGINT (what Ctrl-C sends).

// Helpers outside #[test] functions may fail loudly too: a failure is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::process::{Command, Stdio};

use common::*;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::MetadataResponse;
use tokio::io::{AsyncBufReadExt, BufReader};

#[cfg(unix)]
#[tokio::test]
async fn the_binary_serves_until_interrupted() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferrokafka-broker"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--nodes",
            "2",
            "--default-partitions",
            "4",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut bootstrap = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(servers) = line.strip_prefix("bootstrap.servers=") {
            bootstrap = Some(servers.to_owned());
            break;
        }
    }
    let bootstrap = bootstrap.expect("the binary printed its addresses");
    let first = bootstrap.split(',').next().unwrap().to_owned();
    let mut client = TestClient::connect(first).await;
    let metadata: MetadataResponse = client.send(12, &metadata_for(&["from-binary"])).await;
    assert_eq!(metadata.brokers.len(), 2);
    assert_eq!(metadata.topics[0].partitions.len(), 4);
    assert_eq!(metadata.topics[0].error_code, ErrorCode::None);
    let pid = child.id().unwrap().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().await.unwrap();
    assert!(exit.success(), "{exit:?}");
}
