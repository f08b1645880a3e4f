//! One client connection: frames in, responses out, in order.
//!
//! A reader task splits size-prefixed frames off the socket (refusing a
//! size prefix over the configured maximum before allocating for it) and
//! queues them, so the client can pipeline while the connection task
//! handles requests one at a time, in arrival order, and writes each answer
//! before taking the next request. Handling in order is what keeps an
//! idempotent producer's in-flight batches in sequence; Kafka does the same
//! per connection.
//!
//! What Kafka does with a request it cannot serve, this does too: an
//! ApiVersions request at an unknown version gets a v0 answer with
//! UNSUPPORTED_VERSION and the supported ranges (header v0, so any client can
//! read it); any other unknown API or version, a request that does not
//! parse, or a frame that is not Kafka at all closes this connection and
//! nothing else. Nothing read off the socket can panic the broker.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::frame;
use ferrokafka_protocol::generated::{ApiVersionsResponse, RequestKind, ResponseKind};
use ferrokafka_protocol::header::{decode_request, encode_response_kind, peek_request_api};
use ferrokafka_protocol::{ApiKey, Encode, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::apis;
use crate::cluster::Cluster;
use crate::faults::{FaultAction, SeenRequest};
use crate::handlers::{self, PartitionFault, Reply, RequestContext};

/// Requests read ahead of the one being handled: enough for a producer's 5
/// in-flight batches and a consumer's pipelined fetches, small enough that a
/// client flooding the connection is held back by TCP.
const READ_AHEAD: usize = 32;

/// What the reader hands the connection task.
enum Inbound {
    Request(Bytes),
    /// The stream is not Kafka framing (negative or oversized size prefix).
    BadFrame(ferrokafka_protocol::ProtocolError),
}

/// What to do after a request.
enum Outcome {
    Write(BytesMut),
    Nothing,
    Close,
}

/// Aborts the reader task when the connection ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves one connection until the client closes it, it misbehaves, or the
/// node stops.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    cluster: Arc<Cluster>,
    node: i32,
    stopped: watch::Receiver<bool>,
) {
    let peer = stream.peer_addr().ok();
    let span = tracing::debug_span!("connection", node, ?peer);
    serve(stream, cluster, node, stopped, peer)
        .instrument(span)
        .await;
}

async fn serve(
    stream: TcpStream,
    cluster: Arc<Cluster>,
    node: i32,
    mut stopped: watch::Receiver<bool>,
    peer: Option<std::net::SocketAddr>,
) {
    // Kafka's form of a client's host: `/<ip>`.
    let client_host: Arc<str> = peer
        .map(|p| format!("/{}", p.ip()))
        .unwrap_or_default()
        .into();
    let (read_half, mut write_half) = stream.into_split();
    let (inbound_tx, mut inbound) = mpsc::channel(READ_AHEAD);
    let _reader = AbortOnDrop(tokio::spawn(read_frames(
        read_half,
        inbound_tx,
        cluster.config.max_frame_size,
    )));
    loop {
        let next = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            next = inbound.recv() => next,
        };
        let payload = match next {
            None => break,
            Some(Inbound::BadFrame(error)) => {
                tracing::warn!(node, ?peer, %error, "closing a connection that sent a bad frame");
                break;
            }
            Some(Inbound::Request(payload)) => payload,
        };
        match handle_request(payload, &cluster, node, &stopped, &client_host).await {
            Outcome::Write(response) => {
                if let Err(error) = write_half.write_all(&response).await {
                    tracing::debug!(node, ?peer, %error, "write failed");
                    break;
                }
            }
            Outcome::Nothing => {}
            Outcome::Close => break,
        }
    }
    let _ = write_half.shutdown().await;
}

async fn read_frames(
    mut read_half: OwnedReadHalf,
    inbound: mpsc::Sender<Inbound>,
    max_frame_size: usize,
) {
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    loop {
        loop {
            match frame::split_frame(&mut buffer, max_frame_size) {
                Ok(Some(payload)) => {
                    if inbound.send(Inbound::Request(payload)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    let _ = inbound.send(Inbound::BadFrame(error)).await;
                    return;
                }
            }
        }
        // Frames are checked against the maximum before their bytes arrive;
        // reading in bounded steps keeps a liar's size prefix from costing
        // memory it never sends.
        buffer.reserve(64 * 1024);
        match read_half.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The correlation id at bytes 4..8 of any request header version.
fn correlation_id(payload: &Bytes) -> Option<i32> {
    let bytes: [u8; 4] = payload.get(4..8)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

fn encode(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Option<BytesMut> {
    let mut out = BytesMut::new();
    let result = frame::write_frame(&mut out, |buf| {
        encode_response_kind(buf, api, version, correlation_id, |buf| {
            response.encode(buf, version)
        })
    });
    match result {
        Ok(()) => Some(out),
        Err(error) => {
            // A handler filled a field this version cannot carry: a broker
            // bug. Closing tells the client something is wrong without
            // sending it bytes it would misread.
            tracing::error!(api = api.name(), version, %error, "cannot encode a response");
            None
        }
    }
}

/// The answer to an ApiVersions request at a version the broker does not
/// know: a v0 body with UNSUPPORTED_VERSION and the supported ranges.
fn unsupported_api_versions(correlation_id: i32) -> Option<BytesMut> {
    let response = ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion,
        api_keys: handlers::api_versions::supported_api_list(),
        ..ApiVersionsResponse::default()
    };
    let mut out = BytesMut::new();
    frame::write_frame(&mut out, |buf| {
        encode_response_kind(buf, ApiKey::ApiVersions, 0, correlation_id, |buf| {
            response.encode(buf, 0)
        })
    })
    .ok()?;
    Some(out)
}

async fn handle_request(
    payload: Bytes,
    cluster: &Arc<Cluster>,
    node: i32,
    stopped: &watch::Receiver<bool>,
    client_host: &Arc<str>,
) -> Outcome {
    let (Ok((key, version)), Some(correlation_id)) =
        (peek_request_api(&payload), correlation_id(&payload))
    else {
        tracing::warn!(
            node,
            "closing a connection whose request is too short for a header"
        );
        return Outcome::Close;
    };
    if !apis::is_supported(key, version) {
        if key == ApiKey::ApiVersions.key() {
            return unsupported_api_versions(correlation_id).map_or(Outcome::Close, Outcome::Write);
        }
        tracing::warn!(
            node,
            key,
            version,
            "closing a connection that sent an unsupported API or version"
        );
        return Outcome::Close;
    }
    let (header, request) = match decode_request(payload) {
        Ok(decoded) => decoded,
        Err(error) => {
            tracing::warn!(node, key, version, %error, "closing a connection that sent a malformed request");
            return Outcome::Close;
        }
    };
    let api = request.api_key();
    if cluster.faults.is_recording() {
        cluster.faults.record(SeenRequest {
            node,
            api,
            version,
            header: header.clone(),
            request: request.clone(),
        });
    }
    let fault = cluster.faults.take(api, node, &request, &|id| {
        cluster.topic_by_id(id).map(|t| t.name)
    });
    // A failure scoped to one partition of a partition-wise API fails that
    // partition only; everything else fails the whole request.
    let (fault, partition_fault) = match fault {
        Some((FaultAction::Fail(code), Some((topic, partition))))
            if matches!(api, ApiKey::Produce | ApiKey::Fetch | ApiKey::ListOffsets) =>
        {
            (
                None,
                Some(PartitionFault {
                    topic,
                    partition,
                    code,
                }),
            )
        }
        other => (other.map(|(action, _)| action), None),
    };
    let context = RequestContext {
        cluster: Arc::clone(cluster),
        node,
        version,
        header,
        stopped: stopped.clone(),
        partition_fault,
        client_host: Arc::clone(client_host),
    };
    let mut respond = true;
    let mut close_after = false;
    let reply = match fault {
        // An acks=0 producer reads no response; a failure closes the
        // connection instead, as a real acks=0 failure does.
        Some(FaultAction::Fail(_)) if matches!(&request, RequestKind::Produce(p) if p.acks == 0) => {
            Reply::Close
        }
        Some(FaultAction::Fail(code)) => match handlers::error_response(&request, version, code) {
            Some(response) => Reply::Respond(response),
            None => Reply::Close,
        },
        Some(FaultAction::DropBeforeApply) => return Outcome::Close,
        other => {
            match other {
                Some(FaultAction::Delay(delay)) => tokio::time::sleep(delay).await,
                Some(FaultAction::DropAfterApply) => close_after = true,
                Some(FaultAction::NoResponse) => respond = false,
                _ => {}
            }
            handlers::handle(&context, request).await
        }
    };
    if close_after {
        return Outcome::Close;
    }
    match reply {
        Reply::Respond(response) if respond => {
            encode(api, version, correlation_id, &response).map_or(Outcome::Close, Outcome::Write)
        }
        Reply::Respond(_) | Reply::Silent => Outcome::Nothing,
        Reply::Close => Outcome::Close,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_api_versions_answer_is_a_v0_body() {
        let out = unsupported_api_versions(7).unwrap();
        let mut payload = Bytes::from(out.to_vec()).split_off(4);
        let header = ferrokafka_protocol::header::decode_response_header(
            &mut payload,
            ApiKey::ApiVersions,
            0,
        )
        .unwrap();
        assert_eq!(header.correlation_id, 7);
        let body: ApiVersionsResponse =
            ferrokafka_protocol::codec::decode_exact(payload, 0).unwrap();
        assert_eq!(body.error_code, ErrorCode::UnsupportedVersion);
        assert_eq!(body.api_keys.len(), apis::SUPPORTED_APIS.len());
    }
}
