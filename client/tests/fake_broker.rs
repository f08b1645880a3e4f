//! The connection layer and the cluster core against a scriptable fake
//! broker: version negotiation (including the v0 fallback), bootstrap past a
//! dead address, correlation-id matching of out-of-order responses, dropped
//! connections, timeouts, unsupported APIs and coalesced metadata refreshes.
//! The fake speaks the real protocol through the protocol crate, on port 0.

// Test support code may unwrap and index: a failure there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use ferrokafka_client::{Client, ClientConfig, Error, RetryAction, Target, classify};
use ferrokafka_protocol::generated::api_versions_response::ApiVersion;
use ferrokafka_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use ferrokafka_protocol::generated::{
    ApiVersionsResponse, ListGroupsRequest, MetadataResponse, RequestHeader, RequestKind,
    ResponseKind,
};
use ferrokafka_protocol::{ApiKey, ErrorCode, frame, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Notify;

/// What the fake does with one request.
enum Action {
    Respond(ResponseKind),
    /// Answer at a given version (for the ApiVersions v0 fallback).
    RespondAt(ResponseKind, i16),
    /// Answer once `release` is notified, letting later requests overtake it.
    Hold(ResponseKind, Arc<Notify>),
    /// Answer, then notify `written` once the answer is on the wire.
    RespondThen(ResponseKind, Arc<Notify>),
    /// Close the connection without answering.
    Drop,
    /// Never answer.
    Ignore,
}

type Handler = Arc<dyn Fn(&RequestHeader, &RequestKind) -> Action + Send + Sync>;

struct FakeBroker {
    address: String,
    seen: Arc<Mutex<Vec<RequestHeader>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeBroker {
    async fn start(handler: Handler) -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let seen = seen2.clone();
                tokio::spawn(serve(socket, handler, seen));
            }
        });
        FakeBroker {
            address,
            seen,
            _task: task,
        }
    }

    fn requests(&self, api: ApiKey) -> Vec<RequestHeader> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.request_api_key == api.key())
            .cloned()
            .collect()
    }
}

async fn serve(
    socket: tokio::net::TcpStream,
    handler: Handler,
    seen: Arc<Mutex<Vec<RequestHeader>>>,
) {
    let (mut reader, writer) = socket.into_split();
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    let mut buf = BytesMut::new();
    loop {
        while let Some(payload) = frame::split_frame(&mut buf, 1 << 20).unwrap() {
            let (head, body) = header::decode_request(payload).unwrap();
            seen.lock().unwrap().push(head.clone());
            let api = ApiKey::try_from(head.request_api_key).unwrap();
            let version = head.request_api_version;
            let (response, version, release, written) = match handler(&head, &body) {
                Action::Respond(r) => (r, version, None, None),
                Action::RespondAt(r, v) => (r, v, None, None),
                Action::Hold(r, release) => (r, version, Some(release), None),
                Action::RespondThen(r, written) => (r, version, None, Some(written)),
                Action::Drop => return,
                Action::Ignore => continue,
            };
            let writer = writer.clone();
            let correlation_id = head.correlation_id;
            tokio::spawn(async move {
                if let Some(release) = release {
                    release.notified().await;
                }
                let mut out = BytesMut::new();
                frame::write_frame(&mut out, |b| {
                    header::encode_response_kind(
                        b,
                        api,
                        head.request_api_version,
                        correlation_id,
                        |b| response.encode(b, version),
                    )
                })
                .unwrap();
                let _ = writer.lock().await.write_all(&out).await;
                if let Some(written) = written {
                    written.notify_one();
                }
            });
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn api_versions(ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse {
        api_keys: ranges
            .iter()
            .map(|&(api, min, max)| ApiVersion {
                api_key: api.key(),
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn metadata(address: &str, topics: &[&str]) -> MetadataResponse {
    let (host, port) = address.rsplit_once(':').unwrap();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: host.into(),
            port: port.parse().unwrap(),
            ..Default::default()
        }],
        controller_id: 1,
        cluster_id: Some("fake".into()),
        topics: topics
            .iter()
            .map(|t| MetadataResponseTopic {
                name: Some((*t).into()),
                partitions: vec![MetadataResponsePartition {
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 0,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A fake that answers ApiVersions and Metadata like a one-node cluster, and
/// hands everything else to `rest`.
async fn cluster(
    ranges: Vec<(ApiKey, i16, i16)>,
    rest: impl Fn(&RequestHeader, &RequestKind) -> Action + Send + Sync + 'static,
) -> FakeBroker {
    let address = Arc::new(Mutex::new(String::new()));
    let addr2 = address.clone();
    let broker = FakeBroker::start(Arc::new(move |head, body| match body {
        RequestKind::ApiVersions(_) => {
            Action::Respond(ResponseKind::ApiVersions(api_versions(&ranges)))
        }
        RequestKind::Metadata(req) => {
            let names: Vec<String> = req
                .topics
                .iter()
                .flatten()
                .filter_map(|t| t.name.clone())
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            Action::Respond(ResponseKind::Metadata(metadata(
                &addr2.lock().unwrap(),
                &refs,
            )))
        }
        _ => rest(head, body),
    }))
    .await;
    *address.lock().unwrap() = broker.address.clone();
    broker
}

fn config(bootstrap: &[&str]) -> ClientConfig {
    ClientConfig::builder()
        .bootstrap_servers(bootstrap.iter().copied())
        .request_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .build()
        .unwrap()
}

const COMMON: [(ApiKey, i16, i16); 3] = [
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::Metadata, 0, 9),
    (ApiKey::ListGroups, 0, 5),
];

#[tokio::test]
async fn requests_go_out_at_the_highest_common_version() {
    let broker = cluster(COMMON.to_vec(), |_, _| Action::Ignore).await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    assert_eq!(
        broker.requests(ApiKey::ApiVersions)[0].request_api_version,
        4
    );
    // The fake caps Metadata at v9 although the client speaks v12.
    assert!(
        broker
            .requests(ApiKey::Metadata)
            .iter()
            .all(|h| h.request_api_version == 9)
    );
    assert_eq!(client.metadata().cluster_id.as_deref(), Some("fake"));
    assert_eq!(client.metadata().controller_id, 1);
}

#[tokio::test]
async fn api_versions_falls_back_when_the_broker_answers_in_v0() {
    let ranges = vec![(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)];
    let address = Arc::new(Mutex::new(String::new()));
    let addr2 = address.clone();
    let broker = FakeBroker::start(Arc::new(move |head, body| match body {
        RequestKind::ApiVersions(_) if head.request_api_version > 2 => {
            // What Kafka does for a version it does not know: a v0 body with
            // UNSUPPORTED_VERSION and its ranges.
            let mut response =
                api_versions(&[(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)]);
            response.error_code = ErrorCode::UnsupportedVersion;
            Action::RespondAt(ResponseKind::ApiVersions(response), 0)
        }
        RequestKind::ApiVersions(_) => {
            Action::Respond(ResponseKind::ApiVersions(api_versions(&ranges)))
        }
        RequestKind::Metadata(_) => Action::Respond(ResponseKind::Metadata(metadata(
            &addr2.lock().unwrap(),
            &[],
        ))),
        _ => Action::Ignore,
    }))
    .await;
    *address.lock().unwrap() = broker.address.clone();
    Client::connect(config(&[&broker.address])).await.unwrap();
    let versions: Vec<i16> = broker
        .requests(ApiKey::ApiVersions)
        .iter()
        .map(|h| h.request_api_version)
        .collect();
    assert_eq!(versions, vec![4, 2]);
}

#[tokio::test]
async fn bootstrap_skips_an_unreachable_address() {
    let broker = cluster(COMMON.to_vec(), |_, _| Action::Ignore).await;
    // A socket bound but never listening, kept for the whole test: a
    // connection to its port is refused, and no other test can take it.
    let refusing = TcpSocket::new_v4().unwrap();
    refusing.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = refusing.local_addr().unwrap().to_string();
    let client = Client::connect(config(&[&dead, &broker.address]))
        .await
        .unwrap();
    assert_eq!(client.metadata().brokers.len(), 1);

    let err = Client::connect(config(&[&dead])).await.unwrap_err();
    let Error::NoBrokerAvailable { tried, last } = &err else {
        panic!("{err}");
    };
    assert_eq!(tried, &vec![dead.clone()], "{err}");
    assert!(last.to_lowercase().contains("refused"), "{err}");
    drop(refusing);
}

#[tokio::test]
async fn out_of_order_responses_reach_their_requests() {
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    // The first request's arrival lets the second be sent; the second's
    // answer, once written, releases the first's: the answers go out in
    // the opposite order to the requests, whatever the scheduling.
    let first_received = Arc::new(Notify::new());
    let second_answered = Arc::new(Notify::new());
    let (first_received2, second_answered2) = (first_received.clone(), second_answered.clone());
    let broker = cluster(COMMON.to_vec(), move |_, body| match body {
        RequestKind::ListGroups(_) => {
            let n = calls2.fetch_add(1, Ordering::SeqCst);
            let response =
                ResponseKind::ListGroups(ferrokafka_protocol::generated::ListGroupsResponse {
                    throttle_time_ms: n as i32,
                    ..Default::default()
                });
            if n == 0 {
                first_received2.notify_one();
                Action::Hold(response, second_answered2.clone())
            } else {
                Action::RespondThen(response, second_answered2.clone())
            }
        }
        _ => Action::Ignore,
    })
    .await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    let request = ListGroupsRequest::default();
    let node = Target::Node(1);
    let first = client.send(&request, &node);
    let second = async {
        first_received.notified().await;
        client
            .send(&ListGroupsRequest::default(), &Target::Node(1))
            .await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap().throttle_time_ms, 0);
    assert_eq!(b.unwrap().throttle_time_ms, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_dropped_connection_fails_the_request_retriably_and_reconnects() {
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let broker = cluster(COMMON.to_vec(), move |_, body| match body {
        RequestKind::ListGroups(_) if calls2.fetch_add(1, Ordering::SeqCst) == 0 => Action::Drop,
        RequestKind::ListGroups(_) => Action::Respond(ResponseKind::ListGroups(Default::default())),
        _ => Action::Ignore,
    })
    .await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    let err = client
        .send(&ListGroupsRequest::default(), &Target::Node(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert_eq!(classify(&err), RetryAction::RefreshMetadata);
    // The retrying send reconnects and succeeds.
    client
        .send_with_retry(
            &ListGroupsRequest::default(),
            &Target::Node(1),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(client.metrics().reconnects >= 1);
}

#[tokio::test]
async fn a_request_without_an_answer_times_out() {
    let broker = cluster(COMMON.to_vec(), |_, _| Action::Ignore).await;
    let mut cfg = config(&[&broker.address]);
    cfg.request_timeout = Duration::from_millis(200);
    let client = Client::connect(cfg).await.unwrap();
    let err = client
        .send(&ListGroupsRequest::default(), &Target::Node(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                api: ApiKey::ListGroups,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retriable());
}

#[tokio::test]
async fn an_api_the_broker_lacks_is_a_clear_error() {
    let broker = cluster(
        vec![(ApiKey::ApiVersions, 0, 4), (ApiKey::Metadata, 0, 12)],
        |_, _| Action::Ignore,
    )
    .await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    let err = client
        .send(&ListGroupsRequest::default(), &Target::Node(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedByBroker {
                api: ApiKey::ListGroups,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ListGroups"), "{err}");
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn concurrent_refreshes_are_coalesced() {
    let broker = cluster(COMMON.to_vec(), |_, _| Action::Ignore).await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    let before = broker.requests(ApiKey::Metadata).len();
    let refreshes: Vec<_> = (0..20).map(|_| client.refresh_metadata()).collect();
    for result in futures_join_all(refreshes).await {
        result.unwrap();
    }
    // All twenty are polled before the first can finish: the first sends,
    // the rest wait on it and see the generation it bumped.
    let sent = broker.requests(ApiKey::Metadata).len() - before;
    assert_eq!(sent, 1, "metadata requests for 20 concurrent refreshes");
}

#[tokio::test]
async fn leaders_come_from_metadata() {
    let broker = cluster(COMMON.to_vec(), |_, _| Action::Ignore).await;
    let client = Client::connect(config(&[&broker.address])).await.unwrap();
    let leader = client
        .resolve(&Target::Leader {
            topic: "orders".into(),
            partition: 0,
        })
        .await
        .unwrap();
    assert_eq!(leader, Some(1));
    assert_eq!(client.metadata().partition_count("orders"), Some(1));
    let sent = broker.requests(ApiKey::Metadata);
    assert!(sent.len() >= 2, "the unknown topic triggers a refresh");
}

/// Polls every future concurrently until all are done (a tiny join_all, to
/// avoid a dependency).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::new();
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}
