//! The state file (`target/kafka/state.json`): which cluster runs, where, with
//! which processes, so `status`, `stop`, `kill`, `start-node` and tests can
//! find it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The state file's name in the run directory.
pub(crate) const STATE_FILE: &str = "state.json";

/// A cluster started by `cargo xtask kafka start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClusterState {
    /// The Apache Kafka version, like `4.4.0`.
    pub(crate) version: String,
    /// The KRaft cluster id the storage was formatted with.
    pub(crate) cluster_id: String,
    /// The bootstrap servers, `127.0.0.1:PORT,...`.
    pub(crate) bootstrap: String,
    /// The run directory: node configs, data and logs.
    pub(crate) run_dir: PathBuf,
    /// The classpath folder (`libs/*`) in the cache.
    pub(crate) libs: PathBuf,
    /// Every node, by id.
    pub(crate) nodes: Vec<NodeState>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeState {
    /// The node id (1-based).
    pub(crate) id: u32,
    /// The JVM's process id when it was last started.
    pub(crate) pid: u32,
    /// The client (`PLAINTEXT`) port.
    pub(crate) broker_port: u16,
    /// The KRaft (`CONTROLLER`) port.
    pub(crate) controller_port: u16,
    /// The node's directory: `server.properties`, logging config, `data/`, logs.
    pub(crate) dir: PathBuf,
    /// Its `server.properties`.
    pub(crate) config: PathBuf,
    /// Its broker log (`server.log`).
    pub(crate) log: PathBuf,
}

impl ClusterState {
    /// Reads the state file in `run_dir`; `Ok(None)` if there is none.
    pub(crate) fn load(run_dir: &Path) -> Result<Option<Self>, String> {
        let path = run_dir.join(STATE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_json(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Writes the state file into the run directory (atomically: write, rename).
    pub(crate) fn save(&self) -> Result<(), String> {
        let path = self.run_dir.join(STATE_FILE);
        let temp = self.run_dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&temp, self.to_json()?)
            .and_then(|()| std::fs::rename(&temp, &path))
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// The state as pretty JSON.
    pub(crate) fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string())
    }

    /// Parses the state file's JSON.
    pub(crate) fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// The node with this id.
    pub(crate) fn node(&self, id: u32) -> Result<&NodeState, String> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| format!("the cluster has no node {id} (it has {})", self.nodes.len()))
    }

    /// The node with this id, to change.
    pub(crate) fn node_mut(&mut self, id: u32) -> Result<&mut NodeState, String> {
        let count = self.nodes.len();
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| format!("the cluster has no node {id} (it has {count})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterState {
        ClusterState {
            version: "4.4.0".into(),
            cluster_id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            bootstrap: "127.0.0.1:40001,127.0.0.1:40002".into(),
            run_dir: "/w/target/kafka".into(),
            libs: "/c/kafka/4.4.0/libs".into(),
            nodes: (1..=2)
                .map(|id| NodeState {
                    id,
                    pid: 100 + id,
                    broker_port: 40000 + id as u16,
                    controller_port: 41000 + id as u16,
                    dir: format!("/w/target/kafka/node-{id}").into(),
                    config: format!("/w/target/kafka/node-{id}/server.properties").into(),
                    log: format!("/w/target/kafka/node-{id}/server.log").into(),
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips_through_json() {
        let state = sample();
        let json = state.to_json().unwrap();
        assert!(json.contains("\"bootstrap\": \"127.0.0.1:40001,127.0.0.1:40002\""));
        assert_eq!(ClusterState::from_json(&json).unwrap(), state);
    }

    #[test]
    fn saves_and_loads_from_the_run_dir() {
        let dir = std::env::temp_dir().join(format!("xtask-kafka-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(ClusterState::load(&dir).unwrap(), None);
        let mut state = sample();
        state.run_dir = dir.clone();
        state.save().unwrap();
        assert_eq!(ClusterState::load(&dir).unwrap(), Some(state));
        std::fs::write(dir.join(STATE_FILE), "{").unwrap();
        assert!(ClusterState::load(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_nodes_by_id() {
        let mut state = sample();
        assert_eq!(state.node(2).unwrap().broker_port, 40002);
        assert!(state.node(3).is_err());
        state.node_mut(1).unwrap().pid = 7;
        assert_eq!(state.node(1).unwrap().pid, 7);
    }
}
