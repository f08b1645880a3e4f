//! The per-broker sinks (franz-go's): one task per broker that the sender
//! hands that broker's Produce requests to, in order.
//!
//! A sink queues its requests on the broker connection in the order it got
//! them (the broker checks idempotent sequences in arrival order), keeps
//! them on one connection while any is pending (see `run_sink`), and
//! reports each outcome back to the sender, which alone decides what
//! becomes of the batches. A sink is owned by the sender: dropping its
//! [`Sink`] aborts the task.

use std::sync::Arc;

use ferrokafka_client::Client;
use ferrokafka_client::connection::BrokerConnection;
use ferrokafka_protocol::ApiKey;
use ferrokafka_protocol::generated::{ProduceRequest, ProduceResponse};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::BoxFuture;
use crate::config::Acks;

/// A Produce request on its way to a sink.
pub(super) struct SinkRequest {
    pub(super) id: u64,
    pub(super) request: ProduceRequest,
    /// How many of this sink's requests the sender had seen fail without
    /// an answer when it made this one (see `run_sink`).
    pub(super) failures_seen: u64,
}

/// What came back for one request: the response (`None` with acks=0), or
/// why there is none.
pub(super) struct RequestOutcome {
    pub(super) id: u64,
    pub(super) result: std::result::Result<Option<ProduceResponse>, ferrokafka_client::Error>,
}

/// A broker's sink task and its queue.
pub(super) struct Sink {
    pub(super) requests: mpsc::UnboundedSender<SinkRequest>,
    pub(super) task: JoinHandle<()>,
    /// Its requests that failed without an answer, as far as the sender
    /// has handled their outcomes.
    pub(super) failures_seen: u64,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends a broker's Produce requests in the order they come, each queued on
/// the connection before the next, and reports every outcome.
pub(super) async fn run_sink(
    client: Client,
    node: i32,
    acks: Acks,
    mut requests: mpsc::UnboundedReceiver<SinkRequest>,
    outcomes: mpsc::UnboundedSender<RequestOutcome>,
) {
    // A partition's batches must reach the broker in sequence order, on
    // one connection: a later batch that went out on a new connection
    // while an earlier one died with the old could be stored first (a
    // broker with no state for the producer takes any sequence), and the
    // earlier one would then be lost or refused. So requests stay on the
    // connection of those still pending, and fail unsent when it is gone,
    // or when the sender made them before it heard of a failure; they are
    // retried in order.
    let mut pending: JoinSet<RequestOutcome> = JoinSet::new();
    let mut current: Option<Arc<BrokerConnection>> = None;
    let mut failures_sent: u64 = 0;
    let forward = |outcome: RequestOutcome, failures_sent: &mut u64| {
        if outcome.result.is_err() {
            *failures_sent = failures_sent.saturating_add(1);
        }
        let _ = outcomes.send(outcome);
    };
    loop {
        tokio::select! {
            next = requests.recv() => {
                let Some(SinkRequest { id, request, failures_seen }) = next else { break };
                let unsent = |message: &str| RequestOutcome {
                    id,
                    result: Err(ferrokafka_client::Error::Network {
                        broker: node.to_string(),
                        message: message.into(),
                    }),
                };
                if failures_seen < failures_sent {
                    forward(unsent("an earlier request to the broker failed"), &mut failures_sent);
                    continue;
                }
                let connection = match (&current, pending.is_empty()) {
                    (Some(connection), false) if connection.is_closed() => {
                        forward(unsent("connection closed"), &mut failures_sent);
                        continue;
                    }
                    (Some(connection), false) => connection.clone(),
                    _ => match client.node_connection(node).await {
                        Ok(connection) => connection,
                        Err(error) => {
                            forward(RequestOutcome { id, result: Err(error) }, &mut failures_sent);
                            continue;
                        }
                    },
                };
                current = Some(connection.clone());
                match submit(connection, acks, request) {
                    Ok(response) => {
                        pending.spawn(async move {
                            RequestOutcome { id, result: response.await }
                        });
                    }
                    Err(error) => {
                        forward(RequestOutcome { id, result: Err(error) }, &mut failures_sent);
                    }
                }
            }
            Some(done) = pending.join_next(), if !pending.is_empty() => {
                // Request tasks neither panic nor get aborted while the sink
                // lives; a lost outcome would leave its batches in flight.
                if let Ok(outcome) = done {
                    forward(outcome, &mut failures_sent);
                }
            }
        }
    }
}

type ResponseFuture =
    BoxFuture<std::result::Result<Option<ProduceResponse>, ferrokafka_client::Error>>;

/// Queues one Produce request on `connection` and returns the future of
/// its response.
fn submit(
    connection: Arc<BrokerConnection>,
    acks: Acks,
    request: ProduceRequest,
) -> std::result::Result<ResponseFuture, ferrokafka_client::Error> {
    let version = connection.version_for::<ProduceRequest>()?;
    // Record batches (magic 2) need Produce v3 or later.
    if version < 3 {
        return Err(ferrokafka_client::Error::UnsupportedByBroker {
            api: ApiKey::Produce,
            broker: connection.address().to_string(),
        });
    }
    if acks == Acks::None {
        return Ok(Box::pin(async move {
            connection
                .send_without_response(&request, version)
                .await
                .map(|()| None)
        }));
    }
    let response = connection.send_queued(&request, version)?;
    Ok(Box::pin(async move { response.await.map(Some) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_broker::{Broker, FaultAction, FaultRule};
    use ferrokafka_client::ClientConfig;
    use ferrokafka_protocol::ErrorCode;
    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
    use ferrokafka_protocol::records::RecordBatchBuilder;

    fn produce(value: &str) -> ProduceRequest {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let mut builder = RecordBatchBuilder::new(Compression::None);
        // A current timestamp: retention would remove a record from 1970.
        let timestamp = i64::try_from(now.as_millis()).unwrap();
        builder
            .append(timestamp, None, Some(value.as_bytes()), &[])
            .unwrap();
        ProduceRequest {
            acks: 1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "ordered".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(builder.build().unwrap()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// The sink's ordering rule: a request the sender made before it heard
    /// of an earlier failure is not sent (it would go out on a new
    /// connection ahead of the retry of the one that failed); one made
    /// after is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_made_before_a_failure_was_heard_of_fails_unsent() {
        let broker = Broker::builder().start().await.unwrap();
        broker.create_topic("ordered", 1).unwrap();
        let config = ClientConfig::builder()
            .bootstrap_servers([broker.bootstrap_address()])
            .build()
            .unwrap();
        let client = Client::connect(config).await.unwrap();
        let (requests, receiver) = mpsc::unbounded_channel();
        let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();
        let sink = tokio::spawn(run_sink(client, 0, Acks::Leader, receiver, outcomes_tx));
        let send = |id: u64, value: &str, failures_seen: u64| {
            requests
                .send(SinkRequest {
                    id,
                    request: produce(value),
                    failures_seen,
                })
                .unwrap();
        };

        broker.inject_fault(FaultRule::new(
            ApiKey::Produce,
            FaultAction::DropBeforeApply,
        ));
        send(1, "dropped", 0);
        let first = outcomes.recv().await.unwrap();
        assert_eq!(first.id, 1);
        assert!(first.result.is_err());
        // Made while the sender had not yet seen that failure.
        send(2, "early", 0);
        let second = outcomes.recv().await.unwrap();
        assert_eq!(second.id, 2);
        assert!(second.result.is_err());
        // Made after it saw both: sent on a new connection and stored.
        send(3, "after", 2);
        let third = outcomes.recv().await.unwrap();
        assert_eq!(third.id, 3);
        let response = third.result.unwrap().unwrap();
        assert_eq!(
            response.responses[0].partition_responses[0].error_code,
            ErrorCode::None
        );
        assert_eq!(broker.offsets("ordered", 0), Some((0, 1)));
        drop(requests);
        sink.await.unwrap();
        broker.shutdown().await;
    }
}
