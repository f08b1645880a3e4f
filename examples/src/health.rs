//! [`ClusterWatch`]: whether the Kafka cluster answers, probed in the
//! background (a DescribeCluster request every [`PROBE_INTERVAL`]) so that
//! a service says so when its cluster goes away and when it is back, and
//! its `/health` can tell.
//!
//! The watch logs a WARN with the cause when the cluster stops answering
//! and an INFO when it answers again.

use std::sync::Arc;
use std::time::Duration;

use ferrokafka_admin::{Admin, DescribeClusterOptions};
use ferrokafka_client::ClientConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::Result;
use crate::logfmt::error_chain;

/// How often the cluster is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long one probe may take before the cluster counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the last probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    /// Not probed yet.
    Unknown,
    /// The cluster answered.
    Up,
    /// The cluster did not answer.
    Down {
        /// Why, with its causes.
        error: String,
    },
}

impl ClusterState {
    /// Whether the cluster answered the last probe.
    pub fn is_up(&self) -> bool {
        matches!(self, ClusterState::Up)
    }
}

/// Probes the cluster in the background until dropped.
#[derive(Debug, Clone)]
pub struct ClusterWatch {
    state: watch::Receiver<ClusterState>,
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ClusterWatch {
    /// Connects an admin client with `config` and probes every `interval`;
    /// returns after the first probe (so [`ClusterWatch::state`] is known).
    pub async fn start(config: ClientConfig, interval: Duration) -> Result<ClusterWatch> {
        let bootstrap = config.bootstrap_servers.clone();
        let admin = Admin::connect(config).await?;
        let (tx, rx) = watch::channel(ClusterState::Unknown);
        let first = probe(&admin, &bootstrap).await;
        tx.send_replace(first);
        let task = tokio::spawn(async move {
            let mut next = Instant::now() + interval;
            loop {
                tokio::time::sleep_until(next).await;
                next = Instant::now() + interval;
                let now = probe(&admin, &bootstrap).await;
                let before = tx.send_replace(now.clone());
                match (&before, &now) {
                    (ClusterState::Down { .. }, ClusterState::Up) => {
                        tracing::info!("the Kafka cluster is reachable again");
                    }
                    (ClusterState::Up | ClusterState::Unknown, ClusterState::Down { error }) => {
                        tracing::warn!(%error, "the Kafka cluster is unreachable");
                    }
                    _ => {}
                }
                if tx.is_closed() {
                    break;
                }
            }
            admin.close();
        });
        Ok(ClusterWatch {
            state: rx,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    /// What the last probe found.
    pub fn state(&self) -> ClusterState {
        self.state.borrow().clone()
    }

    /// Waits until `done` holds for the state, for at most `timeout`;
    /// returns the state then, or the last one seen as the error.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&ClusterState) -> bool,
    ) -> std::result::Result<ClusterState, ClusterState> {
        let mut state = self.state.clone();
        match tokio::time::timeout(timeout, state.wait_for(|s| done(s))).await {
            Ok(Ok(found)) => Ok(found.clone()),
            _ => Err(self.state()),
        }
    }
}

async fn probe(admin: &Admin, bootstrap: &[String]) -> ClusterState {
    let options = DescribeClusterOptions::default().timeout(PROBE_TIMEOUT);
    let error = match tokio::time::timeout(
        PROBE_TIMEOUT + Duration::from_millis(500),
        admin.describe_cluster(options),
    )
    .await
    {
        Ok(Ok(_)) => return ClusterState::Up,
        Ok(Err(error)) => error_chain(&error),
        Err(_) => format!("no answer to DescribeCluster within {PROBE_TIMEOUT:?}"),
    };
    // The admin client's retries end in a timeout; name what a connection
    // to each bootstrap server meets ("Connection refused").
    let mut causes = Vec::new();
    for address in bootstrap {
        let connect = tokio::net::TcpStream::connect(address.as_str());
        match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => causes.push(format!("{address}: {e}")),
            Err(_) => causes.push(format!("{address}: no TCP connection within 1s")),
        }
    }
    ClusterState::Down {
        error: if causes.is_empty() {
            error
        } else {
            format!("{error} ({})", causes.join("; "))
        },
    }
}
