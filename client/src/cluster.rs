//! [`Client`]: one cluster handle per client instance, shared by clones.
//!
//! It bootstraps from any reachable address, keeps one connection per broker
//! (opened lazily, reopened with exponential backoff after failures), keeps
//! the metadata cache fresh (on age, on demand, after stale-metadata errors,
//! with concurrent refreshes coalesced into one request), looks up group and
//! transaction coordinators, and routes each request to its [`Target`].
//! Producer, consumer and admin client all sit on it; none of them opens a
//! socket of its own.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ferrokafka_protocol::generated::find_coordinator_request::FindCoordinatorRequest;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{MetadataRequest, MetadataResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode, Request};

use crate::backoff::{ExponentialBackOff, XorShift};
use crate::config::ClientConfig;
use crate::connection::{BrokerConnection, ConnectOptions, Connector, TcpConnector};
use crate::error::{Error, Result};
use crate::metadata::{BrokerInfo, ClusterMetadata, LeaderHint};
use crate::metrics::{ClientMetrics, MetricsSnapshot};
use crate::retry::{RetryAction, classify};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Any broker (the least loaded is not tracked yet: the first connected).
    AnyBroker,
    /// A specific broker id.
    Node(i32),
    /// The leader of a partition.
    Leader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The active controller (admin requests).
    Controller,
    /// The coordinator of a consumer group.
    GroupCoordinator(String),
    /// The coordinator of a transactional id.
    TransactionCoordinator(String),
}

/// Which kind of coordinator FindCoordinator looks for (its `key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatorType {
    /// A consumer group's (key type 0).
    Group,
    /// A transactional id's (key type 1).
    Transaction,
}

impl CoordinatorType {
    fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// The largest response frame a client accepts (fetch responses are bounded
/// by `fetch.max.bytes`, 50 MiB by default, plus overhead).
const MAX_RESPONSE_FRAME: usize = 128 * 1024 * 1024;

/// Bootstrap connections are keyed by negative ids, as the Java client does,
/// until metadata names the brokers.
fn bootstrap_key(index: usize) -> i32 {
    -1 - i32::try_from(index).unwrap_or(i32::MAX - 1)
}

/// Coordinator connections are keyed apart from the data connection to the
/// same broker (see [`Client::coordinator_connection`]).
fn coordinator_key(node_id: i32) -> i32 {
    i32::MAX.saturating_sub(node_id.max(0))
}

/// Per-broker connection state: the live connection, and how often connecting
/// failed (for the reconnect backoff).
#[derive(Default)]
struct NodeSlot {
    connection: Option<Arc<BrokerConnection>>,
    failures: u32,
    retry_at: Option<Instant>,
    connected_before: bool,
}

struct Inner {
    config: ClientConfig,
    connector: Arc<dyn Connector>,
    slots: Mutex<HashMap<i32, Arc<tokio::sync::Mutex<NodeSlot>>>>,
    metadata: RwLock<Arc<ClusterMetadata>>,
    /// Topics whose metadata the clients asked for; refreshed together.
    interest: Mutex<BTreeSet<String>>,
    /// Serializes refreshes; the counter tells a waiter whether one finished
    /// while it waited (then it does not send another).
    refresh: tokio::sync::Mutex<()>,
    refresh_generation: AtomicU64,
    /// Counts every replacement of the snapshot: refreshes and leader
    /// hints (which are not refreshes: a caller waiting for one still
    /// sends its own).
    snapshot_generation: AtomicU64,
    coordinators: Mutex<HashMap<(CoordinatorType, String), i32>>,
    rng: Mutex<XorShift>,
    metrics: Arc<ClientMetrics>,
    closed: AtomicBool,
}

/// A handle to a Kafka cluster; clones share connections and metadata.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("bootstrap_servers", &self.inner.config.bootstrap_servers)
            .finish()
    }
}

impl Client {
    /// Connects to the cluster over TCP and fetches the initial metadata.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        Client::connect_with(config, Arc::new(TcpConnector)).await
    }

    /// Like [`Client::connect`], with a custom [`Connector`] (TLS, SASL, tests).
    pub async fn connect_with(
        config: ClientConfig,
        connector: Arc<dyn Connector>,
    ) -> Result<Client> {
        config.validate()?;
        let client = Client {
            inner: Arc::new(Inner {
                config,
                connector,
                slots: Mutex::new(HashMap::new()),
                metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
                interest: Mutex::new(BTreeSet::new()),
                refresh: tokio::sync::Mutex::new(()),
                refresh_generation: AtomicU64::new(0),
                snapshot_generation: AtomicU64::new(0),
                coordinators: Mutex::new(HashMap::new()),
                rng: Mutex::new(XorShift::from_entropy()),
                metrics: Arc::new(ClientMetrics::default()),
                closed: AtomicBool::new(false),
            }),
        };
        client.refresh_metadata().await?;
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A number that changes whenever the metadata snapshot is replaced: a
    /// cheap check (one atomic load) for callers that cache what they derive
    /// from [`Client::metadata`]. Read it before the snapshot; then a cache
    /// labelled with it is at worst rebuilt once too often, never stale.
    pub fn metadata_generation(&self) -> u64 {
        self.inner.snapshot_generation.load(Ordering::Acquire)
    }

    /// The current metadata snapshot.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner
            .metadata
            .read()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Counters of requests, errors, reconnects and bytes.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Closes every connection; later requests fail with [`Error::Closed`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let slots: Vec<_> = self
            .inner
            .slots
            .lock()
            .map(|mut s| s.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        for slot in slots {
            if let Ok(mut slot) = slot.try_lock() {
                if let Some(conn) = slot.connection.take() {
                    conn.close();
                }
            }
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    // ---------------------------------------------------------------------
    // Metadata
    // ---------------------------------------------------------------------

    /// Adds topics to the set this client keeps metadata for, and returns a
    /// snapshot that knows them (refreshing if any is missing).
    pub async fn metadata_for(&self, topics: &[&str]) -> Result<Arc<ClusterMetadata>> {
        let mut added = false;
        if let Ok(mut interest) = self.inner.interest.lock() {
            for topic in topics {
                added |= interest.insert((*topic).to_string());
            }
        }
        let current = self.metadata();
        let missing = topics.iter().any(|t| current.topic(t).is_none());
        if added || missing || self.is_stale(&current) {
            self.refresh_metadata().await?;
        }
        Ok(self.metadata())
    }

    fn is_stale(&self, metadata: &ClusterMetadata) -> bool {
        metadata.fetched_at.elapsed() >= self.inner.config.metadata_max_age
    }

    /// Refreshes the metadata of every topic of interest (or of the cluster's
    /// brokers only, when there are none). Concurrent callers share one
    /// request: whoever waits while another refresh runs returns with its result.
    pub async fn refresh_metadata(&self) -> Result<()> {
        self.ensure_open()?;
        let seen = self.inner.refresh_generation.load(Ordering::Acquire);
        let _guard = self.inner.refresh.lock().await;
        if self.inner.refresh_generation.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        let topics: Vec<String> = self
            .inner
            .interest
            .lock()
            .map(|i| i.iter().cloned().collect())
            .unwrap_or_default();
        let request = MetadataRequest {
            topics: Some(
                topics
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: self.inner.config.allow_auto_create_topics,
            ..Default::default()
        };
        let response: MetadataResponse = self.send_to_any(&request).await?;
        let previous = self.metadata();
        let fresh = ClusterMetadata::from_response(&response, Some(&previous));
        if let Ok(mut slot) = self.inner.metadata.write() {
            *slot = Arc::new(fresh);
        }
        self.inner.refresh_generation.fetch_add(1, Ordering::AcqRel);
        self.inner
            .snapshot_generation
            .fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Takes leaders that brokers named in error responses (KIP-951) into
    /// the metadata cache at once, without a Metadata request; returns the
    /// partitions whose leader changed (see
    /// [`ClusterMetadata::with_leader_hints`] for which hints count).
    pub fn apply_leader_hints(
        &self,
        hints: &[LeaderHint],
        brokers: &[BrokerInfo],
    ) -> Vec<(String, i32)> {
        if hints.is_empty() {
            return Vec::new();
        }
        let Ok(mut slot) = self.inner.metadata.write() else {
            return Vec::new();
        };
        // Under the write lock, so a refresh finishing meanwhile is not
        // overwritten with an older view.
        let Some((next, applied)) = slot.with_leader_hints(hints, brokers) else {
            return Vec::new();
        };
        *slot = Arc::new(next);
        drop(slot);
        self.inner
            .snapshot_generation
            .fetch_add(1, Ordering::AcqRel);
        applied
    }

    /// Sends to any broker: a connected one if there is one, else the known
    /// brokers and the bootstrap addresses in turn.
    async fn send_to_any<R: Request>(&self, request: &R) -> Result<R::Response> {
        let mut tried = Vec::new();
        let mut last = None;
        for (key, address) in self.any_broker_candidates() {
            match self.connection(key, &address).await {
                Ok(conn) => match conn.send(request).await {
                    Ok(response) => return Ok(response),
                    Err(e) if classify(&e) == RetryAction::Fail => return Err(e),
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
            tried.push(address);
        }
        Err(Error::NoBrokerAvailable {
            tried,
            last: last
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no addresses".into()),
        })
    }

    /// Connected brokers first, then the rest of the metadata's brokers, then
    /// the bootstrap list.
    fn any_broker_candidates(&self) -> Vec<(i32, String)> {
        let metadata = self.metadata();
        let connected: BTreeSet<i32> = self
            .inner
            .slots
            .lock()
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default();
        let mut brokers: Vec<(i32, String)> = metadata
            .brokers
            .values()
            .map(|b| (b.node_id, b.address()))
            .collect();
        brokers.sort_by_key(|(id, _)| (!connected.contains(id), *id));
        let bootstrap = self
            .inner
            .config
            .bootstrap_servers
            .iter()
            .enumerate()
            .map(|(i, address)| (bootstrap_key(i), address.clone()));
        brokers.into_iter().chain(bootstrap).collect()
    }

    // ---------------------------------------------------------------------
    // Connections
    // ---------------------------------------------------------------------

    /// The live connection to a broker, opening one if needed; reconnects back
    /// off exponentially (with jitter) after failures.
    async fn connection(&self, key: i32, address: &str) -> Result<Arc<BrokerConnection>> {
        self.ensure_open()?;
        let slot = {
            let mut slots = self.inner.slots.lock().map_err(|_| Error::Closed)?;
            slots.entry(key).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = &slot.connection {
            if !conn.is_closed() && conn.address() == address {
                return Ok(conn.clone());
            }
        }
        slot.connection = None;
        if let Some(retry_at) = slot.retry_at {
            let now = Instant::now();
            if retry_at > now {
                tokio::time::sleep(retry_at - now).await;
            }
        }
        let config = &self.inner.config;
        let connect_timeout = ExponentialBackOff::new(
            config.socket_connection_setup_timeout,
            config.socket_connection_setup_timeout_max,
        )
        .base(slot.failures);
        let opened = BrokerConnection::open(
            self.inner.connector.as_ref(),
            ConnectOptions {
                address,
                client_id: &config.client_id,
                connect_timeout,
                request_timeout: config.request_timeout,
                max_idle: config.connections_max_idle,
                max_frame_size: MAX_RESPONSE_FRAME,
            },
            self.inner.metrics.clone(),
        )
        .await;
        match opened {
            Ok(conn) => {
                if slot.connected_before {
                    self.inner
                        .metrics
                        .reconnects
                        .fetch_add(1, Ordering::Relaxed);
                }
                slot.connected_before = true;
                slot.failures = 0;
                slot.retry_at = None;
                let conn = Arc::new(conn);
                slot.connection = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let backoff =
                    ExponentialBackOff::new(config.reconnect_backoff, config.reconnect_backoff_max);
                let wait = match self.inner.rng.lock() {
                    Ok(mut rng) => backoff.backoff(slot.failures, &mut *rng),
                    Err(_) => backoff.base(slot.failures),
                };
                slot.failures = slot.failures.saturating_add(1);
                slot.retry_at = Some(Instant::now() + wait);
                tracing::debug!(broker = address, error = %e, backoff_ms = wait.as_millis() as u64, "connect failed");
                Err(e)
            }
        }
    }

    /// The connection to broker `node_id`.
    pub async fn node_connection(&self, node_id: i32) -> Result<Arc<BrokerConnection>> {
        let address = self.node_address(node_id).await?;
        self.connection(node_id, &address).await
    }

    /// A second connection to broker `node_id`, for the requests it serves
    /// as a group or transaction coordinator. A broker handles one request
    /// per connection at a time, so on the data connection a heartbeat or
    /// commit would wait behind a fetch that long-polls for
    /// `fetch.max.wait.ms`; the Java client keeps coordinator traffic apart
    /// the same way (and keys it the same way, `i32::MAX - node_id`).
    pub async fn coordinator_connection(&self, node_id: i32) -> Result<Arc<BrokerConnection>> {
        let address = self.node_address(node_id).await?;
        self.connection(coordinator_key(node_id), &address).await
    }

    /// The address of broker `node_id`, refreshing the metadata once if it
    /// does not know the broker.
    async fn node_address(&self, node_id: i32) -> Result<String> {
        let address = match self.metadata().brokers.get(&node_id) {
            Some(broker) => broker.address(),
            None => {
                self.refresh_metadata().await?;
                self.metadata()
                    .brokers
                    .get(&node_id)
                    .map(|b| b.address())
                    .ok_or(Error::UnknownNode(node_id))?
            }
        };
        Ok(address)
    }

    // ---------------------------------------------------------------------
    // Routing
    // ---------------------------------------------------------------------

    /// The broker id a target resolves to now (looking up leaders and
    /// coordinators as needed).
    pub async fn resolve(&self, target: &Target) -> Result<Option<i32>> {
        match target {
            Target::AnyBroker => Ok(None),
            Target::Node(id) => Ok(Some(*id)),
            Target::Leader { topic, partition } => {
                let metadata = self.metadata_for(&[topic.as_str()]).await?;
                match metadata.leader(topic, *partition) {
                    Some(leader) => Ok(Some(leader)),
                    None => {
                        if let Some(t) = metadata.topic(topic) {
                            if t.error != ErrorCode::None {
                                return Err(Error::kafka(t.error, ApiKey::Metadata, None, None));
                            }
                        }
                        Err(Error::LeaderUnknown {
                            topic: topic.clone(),
                            partition: *partition,
                        })
                    }
                }
            }
            Target::Controller => {
                let metadata = self.metadata();
                Ok((metadata.controller_id >= 0).then_some(metadata.controller_id))
            }
            Target::GroupCoordinator(group) => self
                .find_coordinator(CoordinatorType::Group, group)
                .await
                .map(Some),
            Target::TransactionCoordinator(id) => self
                .find_coordinator(CoordinatorType::Transaction, id)
                .await
                .map(Some),
        }
    }

    /// The coordinator of a group or transactional id, from the cache or by
    /// FindCoordinator.
    pub async fn find_coordinator(&self, kind: CoordinatorType, key: &str) -> Result<i32> {
        let cache_key = (kind, key.to_string());
        if let Some(&node) = self
            .inner
            .coordinators
            .lock()
            .ok()
            .and_then(|c| c.get(&cache_key).copied())
            .as_ref()
        {
            return Ok(node);
        }
        let request = FindCoordinatorRequest {
            key: key.to_string(),
            key_type: kind.key_type(),
            coordinator_keys: vec![key.to_string()],
            ..Default::default()
        };
        // v0-3 carry one key in `key`; v4+ a list in `coordinator_keys`. Each
        // version refuses the other field unless it is empty, so send only the
        // one the negotiated version carries.
        let conn = self.any_connection().await?;
        let version = conn.version_for::<FindCoordinatorRequest>()?;
        let request = if version >= 4 {
            FindCoordinatorRequest {
                key: String::new(),
                ..request
            }
        } else {
            FindCoordinatorRequest {
                coordinator_keys: Vec::new(),
                ..request
            }
        };
        let response = conn.send_at(&request, version).await?;
        let (code, message, node) = if version >= 4 {
            match response.coordinators.first() {
                Some(c) => (c.error_code, c.error_message.clone(), c.node_id),
                None => (ErrorCode::CoordinatorNotAvailable, None, -1),
            }
        } else {
            (
                response.error_code,
                response.error_message.clone(),
                response.node_id,
            )
        };
        if code != ErrorCode::None {
            return Err(Error::kafka(code, ApiKey::FindCoordinator, None, message));
        }
        if let Ok(mut cache) = self.inner.coordinators.lock() {
            cache.insert(cache_key, node);
        }
        Ok(node)
    }

    /// Forgets a cached coordinator (after NOT_COORDINATOR or
    /// COORDINATOR_NOT_AVAILABLE).
    pub fn invalidate_coordinator(&self, kind: CoordinatorType, key: &str) {
        if let Ok(mut cache) = self.inner.coordinators.lock() {
            cache.remove(&(kind, key.to_string()));
        }
    }

    async fn any_connection(&self) -> Result<Arc<BrokerConnection>> {
        let mut last = None;
        for (key, address) in self.any_broker_candidates() {
            match self.connection(key, &address).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::NoBrokerAvailable {
            tried: Vec::new(),
            last: "no addresses".into(),
        }))
    }

    /// Sends one request to its target, once: routing may refresh metadata
    /// or look up a coordinator, but a failed send is not retried.
    pub async fn send<R: Request>(&self, request: &R, target: &Target) -> Result<R::Response> {
        self.ensure_open()?;
        let coordinator = matches!(
            target,
            Target::GroupCoordinator(_) | Target::TransactionCoordinator(_)
        );
        match self.resolve(target).await? {
            None => self.any_connection().await?.send(request).await,
            Some(node) if coordinator => {
                self.coordinator_connection(node).await?.send(request).await
            }
            Some(node) => self.node_connection(node).await?.send(request).await,
        }
    }

    /// Sends with the retry policy: stale metadata is refreshed, coordinators
    /// looked up again, and transient errors backed off (exponentially, with
    /// jitter), until `timeout` passes. Transport and routing errors are
    /// retried; error codes inside a response are not looked at (see
    /// [`Client::send_with_retry_checked`]).
    pub async fn send_with_retry<R: Request>(
        &self,
        request: &R,
        target: &Target,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.send_with_retry_checked(request, target, timeout, |_| None)
            .await
    }

    /// Like [`Client::send_with_retry`], and a response for which
    /// `response_error` names an error code goes through the same policy:
    /// NOT_LEADER_OR_FOLLOWER refreshes metadata and resends to the new
    /// leader, NOT_COORDINATOR finds the coordinator again, and so on. A
    /// non-retriable code is returned as [`Error::Kafka`].
    pub async fn send_with_retry_checked<R: Request>(
        &self,
        request: &R,
        target: &Target,
        timeout: Duration,
        response_error: impl Fn(&R::Response) -> Option<ErrorCode>,
    ) -> Result<R::Response> {
        let deadline = Instant::now() + timeout;
        let backoff = ExponentialBackOff::new(
            self.inner.config.retry_backoff,
            self.inner.config.retry_backoff_max,
        );
        let mut attempt = 0u32;
        loop {
            let error = match self.send(request, target).await {
                Ok(response) => match response_error(&response) {
                    None | Some(ErrorCode::None) => return Ok(response),
                    Some(code) => Error::kafka(code, R::API_KEY, None, None),
                },
                Err(e) => e,
            };
            attempt += 1;
            let action = classify(&error);
            if action == RetryAction::Fail || Instant::now() >= deadline {
                return Err(if attempt > 1 {
                    Error::RetriesExhausted {
                        attempts: attempt,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            }
            tracing::debug!(%error, ?action, attempt, "retrying");
            match action {
                RetryAction::RefreshMetadata => {
                    // A failed refresh is retried on the next round.
                    let _ = self.refresh_metadata().await;
                }
                RetryAction::FindCoordinator => match target {
                    Target::GroupCoordinator(g) => {
                        self.invalidate_coordinator(CoordinatorType::Group, g)
                    }
                    Target::TransactionCoordinator(t) => {
                        self.invalidate_coordinator(CoordinatorType::Transaction, t)
                    }
                    _ => {}
                },
                RetryAction::Backoff | RetryAction::Fail => {}
            }
            let wait = match self.inner.rng.lock() {
                Ok(mut rng) => backoff.backoff(attempt - 1, &mut *rng),
                Err(_) => backoff.base(attempt - 1),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            tokio::time::sleep(wait.min(remaining)).await;
        }
    }
}
