//! The producer service: an axum HTTP front to a [`Producer`], like the
//! Spring Boot app with a `KafkaTemplate` behind a `@RestController`.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /send?topic=T&key=K&message=M` | sends ten records `M 0`..`M 9` (key `K` if given) to `T`; answers where each landed |
//! | `POST /orders/purchase` | validates a JSON [`Order`], publishes it as JSON to `kafka-market` keyed by its id; answers `{topic, partition, offset}` |
//! | `GET /health` | `{"status": "UP"}`, or a 503 `{"status": "DOWN", "error": "..."}` while the cluster does not answer |
//!
//! Every error is JSON `{"error": "..."}`: bad input is a 400 (an unknown
//! query parameter too, named), a wrong method a 405 (with `Allow`), an
//! order body over [`ORDER_BODY_LIMIT`] a 413, a URI over
//! [`MAX_URI_BYTES`] a 414, headers over [`MAX_HEADER_BYTES`] a 431; a
//! broker refusing a record
//! is a 502, a cluster that cannot be reached (or a producer shutting down)
//! a 503, both with the producer's message. [`router`] builds the routes on
//! a [`ProducerApp`]; [`serve`] runs them on a listener until a shutdown
//! future completes; [`run`] and [`start`] also flush and close the
//! producer when the server stops.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrokafka_producer::{
    JsonSerializer, Producer, ProducerRecord, StringSerializer, TypedProducer,
};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{ServiceConfig, ValueFormat};
use crate::error::{ExampleError, Result};
use crate::health::{ClusterState, ClusterWatch, PROBE_INTERVAL};
use crate::logfmt::{error_chain, show_text};
use crate::order::Order;

/// How many records one `/send` publishes.
pub const SEND_COUNT: usize = 10;

/// How long closing the producer may take when the service stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest `POST /orders/purchase` body accepted (64 KiB); a larger one
/// is a 413.
pub const ORDER_BODY_LIMIT: usize = 64 * 1024;

/// The longest request URI accepted (8 KiB); a longer one is a 414.
/// (Beyond hyper's own limit, 64 KiB, hyper answers 414 without a body.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes accepted (16 KiB, names and values); more is a
/// 431. (Beyond hyper's own limits, about 400 KiB or 100 headers, hyper
/// answers 431 without a body.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The query parameters of `/send`.
const SEND_PARAMS: [&str; 3] = ["topic", "key", "message"];

/// The service's shared state: the producer and how to use it.
#[derive(Clone)]
pub struct ProducerApp {
    inner: Arc<AppInner>,
}

struct AppInner {
    producer: Producer,
    orders: TypedProducer<StringSerializer, JsonSerializer<Order>>,
    orders_topic: String,
    value_format: ValueFormat,
    cluster: Option<ClusterWatch>,
}

impl std::fmt::Debug for ProducerApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerApp")
            .field("producer", &self.inner.producer)
            .field("orders_topic", &self.inner.orders_topic)
            .finish()
    }
}

impl ProducerApp {
    /// Connects the producer `config` describes (its bootstrap servers must
    /// be set) and starts watching the cluster (for `/health`, and a WARN
    /// in the log while it does not answer).
    pub async fn connect(config: &ServiceConfig) -> Result<ProducerApp> {
        let producer_config = config.producer_config()?;
        let producer = Producer::connect(producer_config).await?;
        let cluster = ClusterWatch::start(config.client_config()?, PROBE_INTERVAL).await?;
        if let ClusterState::Down { error } = cluster.state() {
            tracing::warn!(%error, "the Kafka cluster is unreachable");
        }
        let mut app = Self::with_producer(producer, config);
        if let Some(inner) = Arc::get_mut(&mut app.inner) {
            inner.cluster = Some(cluster);
        }
        Ok(app)
    }

    /// Wraps an existing producer (without a cluster watch: `/health` then
    /// says UP while the service runs).
    pub fn with_producer(producer: Producer, config: &ServiceConfig) -> ProducerApp {
        let orders = TypedProducer::new(producer.clone(), StringSerializer, JsonSerializer::new());
        ProducerApp {
            inner: Arc::new(AppInner {
                producer,
                orders,
                orders_topic: config.orders_topic.clone(),
                value_format: config.value_serializer,
                cluster: None,
            }),
        }
    }

    /// The cluster watch, if the app has one.
    pub fn cluster(&self) -> Option<&ClusterWatch> {
        self.inner.cluster.as_ref()
    }

    /// The producer.
    pub fn producer(&self) -> &Producer {
        &self.inner.producer
    }

    /// Sends what is still buffered and closes the producer.
    pub async fn close(&self) {
        self.inner.producer.flush().await;
        self.inner.producer.close(CLOSE_TIMEOUT).await;
    }
}

/// The routes of the service.
pub fn router(app: ProducerApp) -> Router {
    Router::new()
        .route("/send", get(send))
        .route(
            "/orders/purchase",
            post(purchase).layer(DefaultBodyLimit::max(ORDER_BODY_LIMIT)),
        )
        .route("/health", get(health))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(json_errors))
        .with_state(app)
}

/// The methods each route takes (the `Allow` of its 405).
const ROUTES: [(&str, &str); 3] = [
    ("/send", "GET,HEAD"),
    ("/orders/purchase", "POST"),
    ("/health", "GET,HEAD"),
];

/// Gives the error answers axum makes itself (405, and any other without a
/// body) the `{"error": "..."}` body of the others; a 405 names the
/// methods the route takes, in the message and in `Allow`.
async fn json_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri_len = request.uri().to_string().len();
    if uri_len > MAX_URI_BYTES {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "the request's URI has {uri_len} bytes, over the limit of {MAX_URI_BYTES}"
            ),
        }
        .into_response();
    }
    let header_len: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_len > MAX_HEADER_BYTES {
        return ApiError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "the request's headers have {header_len} bytes, over the limit of {MAX_HEADER_BYTES}"
            ),
        }
        .into_response();
    }
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = ROUTES
            .iter()
            .find(|(route, _)| *route == path)
            .map_or("", |(_, allow)| allow);
        if !allow.is_empty() {
            parts
                .headers
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        format!("method not allowed on {path}; it takes {allow}")
    } else {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_ascii_lowercase()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "error": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets the requests in flight finish.
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Binds the HTTP listener on `address` (`http_addr`); an address taken
/// by another process is an [`ExampleError::AddressInUse`] naming the
/// setting to change.
pub async fn bind(address: &str) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            ExampleError::AddressInUse(format!(
                "cannot listen on {address} (http_addr): another process listens there; \
                 set FERROKAFKA_HTTP_ADDR to another address, e.g. 127.0.0.1:8081"
            ))
        } else {
            ExampleError::Config(format!("cannot listen on {address} (http_addr): {e}"))
        }
    })
}

/// Runs the service on `listener` until `shutdown` completes; then flushes
/// and closes the producer.
pub async fn run<F>(config: &ServiceConfig, listener: TcpListener, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = ProducerApp::connect(config).await?;
    let served = serve(listener, router(app.clone()), shutdown).await;
    app.close().await;
    served
}

/// A producer service running in the background (for tests and embedding).
#[derive(Debug)]
pub struct ProducerServiceHandle {
    address: SocketAddr,
    app: ProducerApp,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl ProducerServiceHandle {
    /// Where the HTTP server listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The service's base URL, `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The service's producer.
    pub fn producer(&self) -> &Producer {
        self.app.producer()
    }

    /// Stops accepting, finishes the requests in flight, flushes and closes
    /// the producer.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let served = match (&mut self.task).await {
            Ok(result) => result,
            Err(error) => Err(ExampleError::Io(std::io::Error::other(error))),
        };
        self.app.close().await;
        served
    }
}

impl Drop for ProducerServiceHandle {
    /// A handle dropped without [`ProducerServiceHandle::stop`] stops the
    /// server at once (the producer closes when its last clone goes).
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the service on `listener` in the background.
pub async fn start(config: &ServiceConfig, listener: TcpListener) -> Result<ProducerServiceHandle> {
    let address = listener.local_addr()?;
    let app = ProducerApp::connect(config).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router(app.clone()), async move {
        let _ = rx.await;
    }));
    Ok(ProducerServiceHandle {
        address,
        app,
        shutdown: Some(tx),
        task,
    })
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<ferrokafka_producer::Error> for ApiError {
    fn from(error: ferrokafka_producer::Error) -> ApiError {
        use ferrokafka_producer::Error as E;
        let status = match &error {
            // The broker answered, and said no.
            E::Kafka { .. } => StatusCode::BAD_GATEWAY,
            // The request itself cannot be published.
            E::RecordTooLarge { .. } | E::InvalidPartition { .. } | E::Serialization(_) => {
                StatusCode::BAD_REQUEST
            }
            // No answer in time, no connection, or shutting down.
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let message = error_chain(&error);
        tracing::warn!(error = %message, %status, "publishing failed");
        ApiError { status, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

/// The query of `/send`.
#[derive(Debug, Deserialize)]
pub struct SendParams {
    /// The topic.
    pub topic: Option<String>,
    /// The key of every record (none if absent).
    pub key: Option<String>,
    /// The message; the records are `message 0`..`message 9`.
    pub message: Option<String>,
}

/// Where one record landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// The answer of `/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The topic.
    pub topic: String,
    /// The key, if one was given.
    pub key: Option<String>,
    /// Each record's value and where it landed, in sending order.
    pub records: Vec<SentRecord>,
}

/// One record of a `/send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    /// The value sent (before serialization).
    pub value: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or
/// `..`.
fn check_topic(topic: &str) -> Result<(), String> {
    let legal = topic
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if topic.is_empty() || topic.len() > 249 || !legal || topic == "." || topic == ".." {
        return Err(format!(
            "invalid topic name {topic:?}: use 1 to 249 of letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Reads `/send`'s query: the known parameters, an error naming any other.
fn send_params(pairs: Vec<(String, String)>) -> Result<SendParams, ApiError> {
    let mut unknown: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| !SEND_PARAMS.contains(&name.as_str()))
        .map(|(name, _)| format!("'{name}'"))
        .collect();
    unknown.dedup();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "unknown query parameter{} {}; /send takes topic, key and message",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        )));
    }
    let mut params = SendParams {
        topic: None,
        key: None,
        message: None,
    };
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "topic" => &mut params.topic,
            "key" => &mut params.key,
            _ => &mut params.message,
        };
        if slot.is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter '{name}' given twice"
            )));
        }
        *slot = Some(value);
    }
    Ok(params)
}

async fn send(
    State(app): State<ProducerApp>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SendResponse>, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let params = send_params(pairs)?;
    let topic = params
        .topic
        .ok_or_else(|| ApiError::bad_request("missing query parameter 'topic'"))?;
    check_topic(&topic).map_err(ApiError::bad_request)?;
    let message = params
        .message
        .ok_or_else(|| ApiError::bad_request("missing query parameter 'message'"))?;
    let key = params.key.filter(|k| !k.is_empty());

    let mut deliveries = Vec::with_capacity(SEND_COUNT);
    for i in 0..SEND_COUNT {
        let value = format!("{message} {i}");
        let bytes = match app.inner.value_format {
            ValueFormat::String => bytes::Bytes::from(value.clone()),
            ValueFormat::Json => serde_json::to_vec(&value)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
                .into(),
        };
        let mut record = ProducerRecord::new(topic.clone()).value(bytes);
        if let Some(key) = &key {
            record = record.key(key.clone());
        }
        deliveries.push((value, app.inner.producer.send(record).await?));
    }
    let mut records = Vec::with_capacity(SEND_COUNT);
    for (value, delivery) in deliveries {
        let metadata = delivery.await?;
        records.push(SentRecord {
            value,
            partition: metadata.partition,
            offset: metadata.offset,
        });
    }
    tracing::info!(%topic, key = %show_text(key.as_deref()), value = %show_text(Some(&message)), count = records.len(), "sent");
    Ok(Json(SendResponse {
        topic,
        key,
        records,
    }))
}

async fn purchase(
    State(app): State<ProducerApp>,
    body: Result<Json<Order>, JsonRejection>,
) -> Result<Json<Delivered>, ApiError> {
    let Json(order) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("the order is larger than the limit of {ORDER_BODY_LIMIT} bytes"),
            }
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    order.validate().map_err(ApiError::bad_request)?;
    let topic = &app.inner.orders_topic;
    let metadata = app
        .inner
        .orders
        .send(topic, Some(order.id.as_str()), &order)
        .await?
        .await?;
    tracing::info!(order = %order.id, %topic, partition = metadata.partition, offset = metadata.offset, "order published");
    Ok(Json(Delivered {
        topic: topic.clone(),
        partition: metadata.partition,
        offset: metadata.offset,
    }))
}

async fn health(State(app): State<ProducerApp>) -> Response {
    match app.cluster().map(ClusterWatch::state) {
        Some(ClusterState::Down { error }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "DOWN", "error": error })),
        )
            .into_response(),
        _ => Json(serde_json::json!({ "status": "UP" })).into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such route; try GET /send, POST /orders/purchase or GET /health".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(check_topic("topic1").is_ok());
        assert!(check_topic("a.b_c-D").is_ok());
        assert!(check_topic("").is_err());
        assert!(check_topic("..").is_err());
        assert!(check_topic("no spaces").is_err());
        assert!(check_topic(&"x".repeat(250)).is_err());
    }
}
