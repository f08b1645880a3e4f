//! One connection to one broker: many requests in flight, responses matched
//! by correlation id, a timeout per request, idle close, and ApiVersions
//! negotiation on connect.
//!
//! A writer task and a reader task own the two halves of the socket. They are
//! separate so that a large request being written can never wait on a
//! response that is waiting to be read (a broker answers in order and stops
//! reading while its answer does not fit the socket). When either side fails,
//! every request in flight fails with a retriable network error and the
//! connection is marked closed; the cluster core opens a new one.
//!
//! The byte stream comes from a [`Connector`], the seam where TLS and SASL
//! slot in later without touching anything above it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::generated::ApiVersionsRequest;
use ferrokafka_protocol::generated::ApiVersionsResponse;
use ferrokafka_protocol::{ApiKey, Decode, ErrorCode, Request, VersionRange, frame, header};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::metrics::ClientMetrics;

/// A bidirectional byte stream to a broker (TCP, later TLS).
pub trait BrokerStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> BrokerStream for T {}

/// A boxed future, for the [`Connector`] trait.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens byte streams to brokers. The default is [`TcpConnector`]; TLS and
/// SASL wrap it.
pub trait Connector: Send + Sync + 'static {
    /// Connects to `address` (`host:port`) within `timeout`.
    fn connect<'a>(
        &'a self,
        address: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, std::io::Result<Box<dyn BrokerStream>>>;
}

/// Plain TCP: resolves the host and tries every address it has, in order
/// (`client.dns.lookup=use_all_dns_ips`), with Nagle off.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(
        &'a self,
        address: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, std::io::Result<Box<dyn BrokerStream>>> {
        Box::pin(async move {
            let attempt = async {
                let mut last = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{address} resolved to nothing"),
                );
                for addr in tokio::net::lookup_host(address).await? {
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            return Ok(Box::new(stream) as Box<dyn BrokerStream>);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connecting to {address} took over {} ms",
                        timeout.as_millis()
                    ),
                )),
            }
        })
    }
}

/// What the writer task sends and how the caller hears back.
struct Outgoing {
    correlation_id: i32,
    frame: Bytes,
    reply: Reply,
}

enum Reply {
    /// Deliver the response payload (after the size prefix).
    Response(oneshot::Sender<Result<Bytes>>),
    /// No response will come (Produce with acks=0): report the write.
    Written(oneshot::Sender<Result<Bytes>>),
}

/// State shared by the handle and its two tasks.
struct Shared {
    address: String,
    pending: Mutex<HashMap<i32, oneshot::Sender<Result<Bytes>>>>,
    closed: AtomicBool,
    close_signal: Notify,
    /// Milliseconds since `started` of the last byte in or out.
    last_activity_ms: AtomicU64,
    started: Instant,
    metrics: Arc<ClientMetrics>,
}

impl Shared {
    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_activity_ms.store(now, Ordering::Relaxed);
    }

    /// Marks the connection closed and fails everything in flight.
    fn close(&self, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.close_signal.notify_waiters();
        let pending: Vec<_> = match self.pending.lock() {
            Ok(mut map) => map.drain().map(|(_, tx)| tx).collect(),
            Err(_) => Vec::new(),
        };
        for tx in pending {
            let _ = tx.send(Err(Error::Network {
                broker: self.address.clone(),
                message: reason.to_string(),
            }));
        }
        tracing::debug!(broker = %self.address, reason, "connection closed");
    }
}

/// Aborts a task when dropped, so no task outlives its connection handle.
struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The version ranges a broker announced in ApiVersions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerApiVersions {
    ranges: HashMap<i16, VersionRange>,
}

impl BrokerApiVersions {
    /// From an ApiVersions response.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        BrokerApiVersions {
            ranges: response
                .api_keys
                .iter()
                .map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version)))
                .collect(),
        }
    }

    /// The broker's range for `api`, if it supports it at all.
    pub fn range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(&api.key()).copied()
    }

    /// The highest version both this client (`ours`) and the broker speak.
    pub fn pick(&self, api: ApiKey, ours: VersionRange) -> Option<i16> {
        self.range(api)?.intersect(&ours).map(|r| r.max)
    }
}

/// How a connection is opened.
pub struct ConnectOptions<'a> {
    /// Where to.
    pub address: &'a str,
    /// Sent in every request header.
    pub client_id: &'a str,
    /// `socket.connection.setup.timeout.ms` for this attempt.
    pub connect_timeout: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `connections.max.idle.ms`.
    pub max_idle: Duration,
    /// Largest response frame accepted.
    pub max_frame_size: usize,
}

/// A live connection to one broker. Dropping it closes the socket.
pub struct BrokerConnection {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    next_correlation_id: AtomicI32,
    client_id: String,
    request_timeout: Duration,
    versions: BrokerApiVersions,
    _writer: TaskGuard,
    _reader: TaskGuard,
}

impl std::fmt::Debug for BrokerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConnection")
            .field("address", &self.shared.address)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The ApiVersions version this client asks with first (the newest it knows).
const API_VERSIONS_MAX: i16 = ApiKey::ApiVersions.valid_versions().max;

impl BrokerConnection {
    /// Connects, starts the reader and writer tasks, and negotiates versions.
    pub async fn open(
        connector: &dyn Connector,
        options: ConnectOptions<'_>,
        metrics: Arc<ClientMetrics>,
    ) -> Result<BrokerConnection> {
        let address = options.address.to_string();
        let stream = connector
            .connect(&address, options.connect_timeout)
            .await
            .map_err(|e| Error::Network {
                broker: address.clone(),
                message: e.to_string(),
            })?;
        let (read_half, write_half) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            address: address.clone(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            close_signal: Notify::new(),
            last_activity_ms: AtomicU64::new(0),
            started: Instant::now(),
            metrics,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(shared.clone(), write_half, rx));
        let reader = tokio::spawn(read_loop(
            shared.clone(),
            read_half,
            options.max_frame_size,
            options.max_idle,
        ));
        let mut connection = BrokerConnection {
            shared,
            outgoing: tx,
            next_correlation_id: AtomicI32::new(0),
            client_id: options.client_id.to_string(),
            request_timeout: options.request_timeout,
            versions: BrokerApiVersions::default(),
            _writer: TaskGuard(writer),
            _reader: TaskGuard(reader),
        };
        connection.versions = connection.negotiate().await?;
        Ok(connection)
    }

    /// ApiVersions at the newest version; if the broker does not know it, it
    /// answers in v0 with its ranges, and we ask again at the newest
    /// version it lists (as the Java client does).
    async fn negotiate(&self) -> Result<BrokerApiVersions> {
        let request = ApiVersionsRequest {
            client_software_name: "ferrokafka".to_string(),
            client_software_version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        };
        let mut version = API_VERSIONS_MAX;
        for _ in 0..2 {
            let payload = self
                .round_trip(ApiKey::ApiVersions, version, &request)
                .await?;
            let response =
                decode_api_versions(payload, version).map_err(|source| Error::Protocol {
                    broker: self.shared.address.clone(),
                    source,
                })?;
            if response.error_code == ErrorCode::UnsupportedVersion {
                let broker = BrokerApiVersions::from_response(&response);
                match broker.pick(ApiKey::ApiVersions, ApiKey::ApiVersions.valid_versions()) {
                    Some(v) if v != version => {
                        version = v;
                        continue;
                    }
                    _ => {
                        return Err(Error::UnsupportedByBroker {
                            api: ApiKey::ApiVersions,
                            broker: self.shared.address.clone(),
                        });
                    }
                }
            }
            if response.error_code != ErrorCode::None {
                return Err(Error::kafka(
                    response.error_code,
                    ApiKey::ApiVersions,
                    None,
                    None,
                ));
            }
            tracing::debug!(broker = %self.shared.address, version, apis = response.api_keys.len(), "negotiated API versions");
            return Ok(BrokerApiVersions::from_response(&response));
        }
        Err(Error::UnsupportedByBroker {
            api: ApiKey::ApiVersions,
            broker: self.shared.address.clone(),
        })
    }

    /// The broker's address.
    pub fn address(&self) -> &str {
        &self.shared.address
    }

    /// Whether the connection has failed or closed (it will not recover).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Closes the connection, failing requests in flight.
    pub fn close(&self) {
        self.shared.close("closed by the client");
    }

    /// What the broker announced.
    pub fn api_versions(&self) -> &BrokerApiVersions {
        &self.versions
    }

    /// The version `R` goes out at: the highest both sides speak.
    pub fn version_for<R: Request>(&self) -> Result<i16> {
        self.versions
            .pick(R::API_KEY, R::VERSIONS)
            .ok_or_else(|| Error::UnsupportedByBroker {
                api: R::API_KEY,
                broker: self.shared.address.clone(),
            })
    }

    /// Sends `request` at the negotiated version and decodes the response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response> {
        let version = self.version_for::<R>()?;
        self.send_at(request, version).await
    }

    /// Sends `request` at `version` and decodes the response.
    pub async fn send_at<R: Request>(&self, request: &R, version: i16) -> Result<R::Response> {
        let payload = self.round_trip(R::API_KEY, version, request).await?;
        header::decode_response::<R>(payload, version)
            .map(|(_, body)| body)
            .map_err(|source| Error::Protocol {
                broker: self.shared.address.clone(),
                source,
            })
    }

    /// Sends a request for which the broker sends no response (Produce with
    /// acks=0); returns once it is written.
    pub async fn send_without_response<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        let (correlation_id, frame) = self.encode(version, request)?;
        let (tx, rx) = oneshot::channel();
        self.submit(Outgoing {
            correlation_id,
            frame,
            reply: Reply::Written(tx),
        })?;
        self.await_reply(R::API_KEY, rx).await.map(|_| ())
    }

    /// Encodes `request` at `version` and queues it on the connection now,
    /// returning a future of the response that does not borrow the
    /// connection. Requests queued by successive calls are written in call
    /// order however their futures are later spawned or polled, which is
    /// what a pipelining caller that must keep order needs (an idempotent
    /// producer's Produce requests carry sequence numbers the broker checks
    /// in order). Timeouts and errors behave as in [`BrokerConnection::send_at`].
    pub fn send_queued<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<impl Future<Output = Result<R::Response>> + Send + 'static>
    where
        R::Response: Send + 'static,
    {
        let (correlation_id, frame) = self.encode(version, request)?;
        let (tx, rx) = oneshot::channel();
        self.submit(Outgoing {
            correlation_id,
            frame,
            reply: Reply::Response(tx),
        })?;
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let shared = self.shared.clone();
        let timeout = self.request_timeout;
        Ok(async move {
            let reply = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(Error::Network {
                    broker: shared.address.clone(),
                    message: "connection closed".into(),
                }),
                Err(_) => {
                    // As in `await_reply`: the connection's state is unknown.
                    shared.close("request timed out");
                    Err(Error::Timeout {
                        api: R::API_KEY,
                        broker: shared.address.clone(),
                        after: timeout,
                    })
                }
            };
            let payload = match reply {
                Ok(payload) => payload,
                Err(e) => {
                    if let Ok(mut pending) = shared.pending.lock() {
                        pending.remove(&correlation_id);
                    }
                    shared.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            };
            header::decode_response::<R>(payload, version)
                .map(|(_, body)| body)
                .map_err(|source| Error::Protocol {
                    broker: shared.address.clone(),
                    source,
                })
        })
    }

    fn encode<R: Request>(&self, version: i16, request: &R) -> Result<(i32, Bytes)> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed) & i32::MAX;
        let mut buf = BytesMut::new();
        frame::write_frame(&mut buf, |b| {
            header::encode_request(b, version, correlation_id, Some(&self.client_id), request)
        })
        .map_err(|source| Error::Protocol {
            broker: self.shared.address.clone(),
            source,
        })?;
        Ok((correlation_id, buf.freeze()))
    }

    fn submit(&self, outgoing: Outgoing) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Network {
                broker: self.shared.address.clone(),
                message: "connection closed".into(),
            });
        }
        self.outgoing.send(outgoing).map_err(|_| Error::Network {
            broker: self.shared.address.clone(),
            message: "connection closed".into(),
        })
    }

    async fn round_trip<R: Request>(
        &self,
        api: ApiKey,
        version: i16,
        request: &R,
    ) -> Result<Bytes> {
        let span = tracing::debug_span!("kafka_request", api = api.name(), version, broker = %self.shared.address);
        let _entered = span.enter();
        let started = Instant::now();
        let (correlation_id, frame) = self.encode(version, request)?;
        let (tx, rx) = oneshot::channel();
        self.submit(Outgoing {
            correlation_id,
            frame,
            reply: Reply::Response(tx),
        })?;
        let result = self.await_reply(api, rx).await;
        if result.is_err() {
            if let Ok(mut pending) = self.shared.pending.lock() {
                pending.remove(&correlation_id);
            }
            self.shared.metrics.errors.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(
            correlation_id,
            latency_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "response"
        );
        result
    }

    async fn await_reply(
        &self,
        api: ApiKey,
        rx: oneshot::Receiver<Result<Bytes>>,
    ) -> Result<Bytes> {
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Network {
                broker: self.shared.address.clone(),
                message: "connection closed".into(),
            }),
            Err(_) => {
                // A request that timed out leaves the connection in an unknown
                // state; like the Java client, close it and reconnect later.
                self.shared.close("request timed out");
                Err(Error::Timeout {
                    api,
                    broker: self.shared.address.clone(),
                    after: self.request_timeout,
                })
            }
        }
    }
}

impl Drop for BrokerConnection {
    fn drop(&mut self) {
        self.shared.close("connection dropped");
    }
}

/// An ApiVersions response at `version`, or in v0 when the broker did not
/// understand our version (it answers with a v0 body then).
fn decode_api_versions(
    payload: Bytes,
    version: i16,
) -> ferrokafka_protocol::Result<ApiVersionsResponse> {
    let mut body = payload.clone();
    // ApiVersions responses always use response header v0: the correlation id.
    ferrokafka_protocol::primitives::get_i32(&mut body, "ResponseHeader.CorrelationId")?;
    let mut attempt = body.clone();
    match ApiVersionsResponse::decode(&mut attempt, version) {
        Ok(response) if response.error_code != ErrorCode::UnsupportedVersion => Ok(response),
        first => {
            let mut v0 = body;
            match ApiVersionsResponse::decode(&mut v0, 0) {
                Ok(response) => Ok(response),
                Err(e) => first.and(Err(e)),
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    loop {
        let outgoing = tokio::select! {
            next = rx.recv() => match next {
                Some(outgoing) => outgoing,
                None => break,
            },
            _ = shared.close_signal.notified() => break,
        };
        if shared.closed.load(Ordering::Acquire) {
            fail(&shared, outgoing.reply);
            break;
        }
        let written_reply = match outgoing.reply {
            Reply::Response(tx) => {
                match shared.pending.lock() {
                    Ok(mut pending) => {
                        pending.insert(outgoing.correlation_id, tx);
                    }
                    Err(_) => break,
                }
                None
            }
            Reply::Written(tx) => Some(tx),
        };
        let result = writer.write_all(&outgoing.frame).await;
        shared.touch();
        shared
            .metrics
            .bytes_sent
            .fetch_add(outgoing.frame.len() as u64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                if let Some(tx) = written_reply {
                    let _ = tx.send(Ok(Bytes::new()));
                }
            }
            Err(e) => {
                if let Some(tx) = written_reply {
                    let _ = tx.send(Err(Error::Network {
                        broker: shared.address.clone(),
                        message: e.to_string(),
                    }));
                }
                shared.close(&format!("write failed: {e}"));
                break;
            }
        }
    }
    let _ = writer.shutdown().await;
    // Anything still queued fails.
    rx.close();
    while let Ok(outgoing) = rx.try_recv() {
        fail(&shared, outgoing.reply);
    }
}

fn fail(shared: &Shared, reply: Reply) {
    let tx = match reply {
        Reply::Response(tx) | Reply::Written(tx) => tx,
    };
    let _ = tx.send(Err(Error::Network {
        broker: shared.address.clone(),
        message: "connection closed".into(),
    }));
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: R,
    max_frame_size: usize,
    max_idle: Duration,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        // Deliver every complete frame already buffered.
        loop {
            match frame::split_frame(&mut buf, max_frame_size) {
                Ok(Some(payload)) => deliver(&shared, payload),
                Ok(None) => break,
                Err(e) => {
                    shared.close(&format!("bad frame from broker: {e}"));
                    return;
                }
            }
        }
        let idle_deadline = {
            let last = Duration::from_millis(shared.last_activity_ms.load(Ordering::Relaxed));
            tokio::time::Instant::from_std(shared.started + last + max_idle)
        };
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => {
                    shared.close("broker closed the connection");
                    return;
                }
                Ok(n) => {
                    shared.touch();
                    shared.metrics.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    shared.close(&format!("read failed: {e}"));
                    return;
                }
            },
            _ = tokio::time::sleep_until(idle_deadline) => {
                let idle = shared.pending.lock().map(|p| p.is_empty()).unwrap_or(true);
                let last = Duration::from_millis(shared.last_activity_ms.load(Ordering::Relaxed));
                if idle && shared.started.elapsed() >= last + max_idle {
                    shared.close("idle for connections.max.idle.ms");
                    return;
                }
            }
            _ = shared.close_signal.notified() => return,
        }
    }
}

fn deliver(shared: &Shared, payload: Bytes) {
    let Some(&[a, b, c, d]) = payload.get(..4) else {
        shared.close("response shorter than a correlation id");
        return;
    };
    let correlation_id = i32::from_be_bytes([a, b, c, d]);
    let waiter = shared
        .pending
        .lock()
        .ok()
        .and_then(|mut p| p.remove(&correlation_id));
    match waiter {
        Some(tx) => {
            let _ = tx.send(Ok(payload));
        }
        // The request timed out and was abandoned; its late answer is dropped.
        None => {
            tracing::debug!(broker = %shared.address, correlation_id, "response to an abandoned request")
        }
    }
}
