//! The producer service: an axum HTTP front to a [`Producer`], like the
//! Spring Boot app with a `KafkaTemplate` behind a `@RestController`.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /send?topic=T&key=K&message=M` | sends ten records `M 0`..`M 9` (key `K` if given) to `T`; answers where each landed |
//! | `POST /orders/purchase` | validates a JSON [`Order`], publishes it as JSON to `kafka-market` keyed by its id; answers `{topic, partition, offset}` |
//! | `GET /health` | `{"status": "UP"}` |
//!
//! Bad input is a 400 with `{"error": "..."}`; a broker refusing a record
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
use axum::extract::{Query, State};
use axum::http::StatusCode;
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
use crate::order::Order;

/// How many records one `/send` publishes.
pub const SEND_COUNT: usize = 10;

/// How long closing the producer may take when the service stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// be set).
    pub async fn connect(config: &ServiceConfig) -> Result<ProducerApp> {
        let producer = Producer::connect(config.producer_config()?).await?;
        Ok(Self::with_producer(producer, config))
    }

    /// Wraps an existing producer.
    pub fn with_producer(producer: Producer, config: &ServiceConfig) -> ProducerApp {
        let orders = TypedProducer::new(producer.clone(), StringSerializer, JsonSerializer::new());
        ProducerApp {
            inner: Arc::new(AppInner {
                producer,
                orders,
                orders_topic: config.orders_topic.clone(),
                value_format: config.value_serializer,
            }),
        }
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
        .route("/orders/purchase", post(purchase))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(app)
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
        tracing::warn!(%error, %status, "publishing failed");
        ApiError {
            status,
            message: error.to_string(),
        }
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

async fn send(
    State(app): State<ProducerApp>,
    query: Result<Query<SendParams>, QueryRejection>,
) -> Result<Json<SendResponse>, ApiError> {
    let Query(params) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
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
    tracing::info!(%topic, key = key.as_deref().unwrap_or(""), count = records.len(), "sent");
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
    let Json(order) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
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

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "UP" }))
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
