//! `cargo xtask kafka ...`: a real Apache Kafka on demand.
//!
//! `start` fetches the broker from Maven Central once (see [`fetch`]), writes
//! a KRaft configuration per node (see [`config`]) into the run directory
//! (`target/kafka/`, or `$FERROKAFKA_KAFKA_RUN_DIR`), formats each node's
//! storage with Kafka's `StorageTool`, starts the JVMs detached, waits until
//! every node lists every broker in a Metadata response (see [`wire`]), and
//! prints the bootstrap servers as its last line of stdout. The state file
//! (see [`state`]) records ports and pids for `status`, `stop`, `kill` and
//! `start-node`.

mod args;
mod config;
mod fetch;
mod process;
mod state;
mod wire;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode};
use std::time::{Duration, Instant};

use args::{Command, Version};
use config::NodePorts;
use state::{ClusterState, NodeState};

/// The environment variable that moves the run directory.
const RUN_DIR_ENV: &str = "FERROKAFKA_KAFKA_RUN_DIR";

/// The usage text, for the xtask's own usage.
pub(crate) const USAGE: &str = args::USAGE;

/// Runs `cargo xtask kafka ARGS...`.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let result = args::parse(args).and_then(|command| {
        let run_dir = run_dir();
        match command {
            Command::Start {
                nodes,
                version,
                timeout,
            } => start(&run_dir, nodes, version, timeout),
            Command::Stop {
                node: None,
                keep,
                timeout,
            } => stop_all(&run_dir, keep, timeout),
            Command::Stop {
                node: Some(id),
                timeout,
                ..
            } => stop_node(&run_dir, id, timeout),
            Command::Kill { node } => kill(&run_dir, node),
            Command::StartNode { node, timeout } => start_node(&run_dir, node, timeout),
            Command::Status => status(&run_dir),
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kafka: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `$FERROKAFKA_KAFKA_RUN_DIR`, else `target/kafka` in the workspace.
fn run_dir() -> PathBuf {
    std::env::var_os(RUN_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target").join("kafka"))
}

/// `start`: a fresh cluster, or the running one if it is what was asked for.
fn start(
    run_dir: &Path,
    nodes: u32,
    version: Version,
    timeout: Duration,
) -> Result<ExitCode, String> {
    let began = Instant::now();
    if let Some(old) = ClusterState::load(run_dir)? {
        let running: Vec<&NodeState> = old
            .nodes
            .iter()
            .filter(|n| process::is_running(n))
            .collect();
        if !running.is_empty() {
            let same = old.version == version.to_string() && old.nodes.len() == nodes as usize;
            if same && running.len() == old.nodes.len() && cluster_answers(&old) {
                eprintln!(
                    "kafka: Apache Kafka {} ({}) already runs; reusing it",
                    old.version,
                    plural(old.nodes.len(), "node")
                );
                println!("{}", old.bootstrap);
                return Ok(ExitCode::SUCCESS);
            }
            return Err(format!(
                "a cluster (Apache Kafka {}, {} of {} running) already runs from {}; \
                 `cargo xtask kafka stop` first (or set {RUN_DIR_ENV} for a second one)",
                old.version,
                running.len(),
                plural(old.nodes.len(), "node"),
                run_dir.display()
            ));
        }
        eprintln!(
            "kafka: removing the stopped cluster in {}",
            run_dir.display()
        );
    }
    remove_run_dir(run_dir)?;

    let cache = fetch::cache_root()?;
    let fetch_began = Instant::now();
    let libs = fetch::ensure_libs(&cache, version)?;
    let fetched = fetch_began.elapsed();

    std::fs::create_dir_all(run_dir).map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    let ports = free_ports(nodes)?;
    let cluster_id = config::cluster_id(random_bytes()?);
    let mut state = ClusterState {
        version: version.to_string(),
        cluster_id: cluster_id.clone(),
        bootstrap: config::bootstrap(&ports),
        run_dir: run_dir.to_path_buf(),
        libs: libs.clone(),
        nodes: Vec::new(),
    };
    for port in &ports {
        let dir = run_dir.join(format!("node-{}", port.id));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        let node = NodeState {
            id: port.id,
            pid: 0,
            broker_port: port.broker_port,
            controller_port: port.controller_port,
            config: dir.join("server.properties"),
            log: dir.join("server.log"),
            dir,
        };
        write(
            &node.config,
            &config::server_properties(version, *port, &ports, &data),
        )?;
        let logging = config::logging_config(version, &node.log);
        write(&node.dir.join(logging.file_name), &logging.text)?;
        state.nodes.push(node);
    }

    // Format every node's storage (in parallel: each is a JVM start).
    let format_began = Instant::now();
    let mut formats = Vec::new();
    for node in &state.nodes {
        let logging = logging_options(version, node);
        formats.push((
            node,
            process::spawn_format(&libs, node, &cluster_id, &logging)?,
        ));
    }
    for (node, mut child) in formats {
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            let log = node.dir.join("format.log");
            return Err(format!(
                "StorageTool format failed for node {} ({status}); {}:\n{}",
                node.id,
                log.display(),
                process::tail(&log, 20)
            ));
        }
    }
    let formatted = format_began.elapsed();

    // Start the JVMs; record their pids before waiting, so `stop` finds them
    // whatever happens next.
    let mut children = Vec::new();
    for node in &mut state.nodes {
        let logging = logging_options(version, node);
        let child = process::spawn_broker(&libs, node, &logging)?;
        node.pid = child.id();
        children.push(child);
    }
    state.save()?;
    eprintln!(
        "kafka: starting {} of Apache Kafka {version} (cluster id {cluster_id}) in {}",
        plural(nodes as usize, "node"),
        run_dir.display()
    );

    let expected: Vec<u32> = state.nodes.iter().map(|n| n.id).collect();
    let targets: Vec<&NodeState> = state.nodes.iter().collect();
    if let Err(e) = wait_ready(&targets, &expected, &mut children, timeout) {
        let all: Vec<&NodeState> = state.nodes.iter().collect();
        let _ = process::kill(&all);
        return Err(format!(
            "{e}\n(the JVMs are stopped; logs stay in {} until the next start or \
             `cargo xtask kafka stop`)",
            run_dir.display()
        ));
    }
    eprintln!(
        "kafka: up in {:.1} s (fetch/cache {:.1} s, format {:.1} s); state in {}",
        began.elapsed().as_secs_f64(),
        fetched.as_secs_f64(),
        formatted.as_secs_f64(),
        run_dir.join(state::STATE_FILE).display()
    );
    println!("{}", state.bootstrap);
    Ok(ExitCode::SUCCESS)
}

/// The JVM options pointing a node at its logging configuration.
fn logging_options(version: Version, node: &NodeState) -> Vec<String> {
    let logging = config::logging_config(version, &node.log);
    vec![format!(
        "{}{}",
        logging.java_option,
        node.dir.join(logging.file_name).display()
    )]
}

/// Waits until each of `targets` answers a Metadata request listing every
/// broker in `expected`, failing early if a JVM we started exits.
fn wait_ready(
    targets: &[&NodeState],
    expected: &[u32],
    children: &mut [Child],
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer yet");
    loop {
        for (child, node) in children.iter_mut().zip(targets) {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "node {} exited ({status}) while starting; {}:\n{}\n{}:\n{}",
                    node.id,
                    node.log.display(),
                    process::tail(&node.log, 30),
                    node.dir.join("stdout.log").display(),
                    process::tail(&node.dir.join("stdout.log"), 10)
                ));
            }
        }
        let mut ready = true;
        for node in targets {
            match node_lists(node, expected) {
                Ok(()) => {}
                Err(e) => {
                    last = format!("node {}: {e}", node.id);
                    ready = false;
                    break;
                }
            }
        }
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the cluster did not answer within {} s ({last})",
                timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether `node` answers Metadata listing every broker id in `expected`.
fn node_lists(node: &NodeState, expected: &[u32]) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], node.broker_port));
    let brokers = wire::brokers(addr, Duration::from_secs(2))?;
    let missing: Vec<u32> = expected
        .iter()
        .copied()
        .filter(|id| {
            !brokers
                .iter()
                .any(|b| i64::from(b.node_id) == i64::from(*id))
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "lists brokers {:?}, not yet {missing:?}",
            broker_ids(&brokers)
        ))
    }
}

/// The ids in a broker list, sorted.
fn broker_ids(brokers: &[wire::Broker]) -> Vec<i32> {
    let mut ids: Vec<i32> = brokers.iter().map(|b| b.node_id).collect();
    ids.sort_unstable();
    ids
}

/// Whether every node of a running cluster lists every broker.
fn cluster_answers(state: &ClusterState) -> bool {
    let expected: Vec<u32> = state.nodes.iter().map(|n| n.id).collect();
    state.nodes.iter().all(|n| node_lists(n, &expected).is_ok())
}

/// `stop`: every node, then the run directory (unless `keep`).
fn stop_all(run_dir: &Path, keep: bool, timeout: Duration) -> Result<ExitCode, String> {
    let Some(state) = ClusterState::load(run_dir)? else {
        eprintln!("kafka: no cluster in {}", run_dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    let began = Instant::now();
    let nodes: Vec<&NodeState> = state.nodes.iter().collect();
    let running = nodes.iter().filter(|n| process::is_running(n)).count();
    let killed = process::stop(&nodes, timeout)?;
    if keep {
        eprintln!("kafka: data and logs kept in {}", run_dir.display());
    } else {
        remove_run_dir(run_dir)?;
    }
    eprintln!(
        "kafka: stopped {} in {:.1} s{}",
        plural(running, "node"),
        began.elapsed().as_secs_f64(),
        if killed > 0 {
            format!(" ({killed} needed SIGKILL after {} s)", timeout.as_secs())
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `stop --node N`: that node only; its data stays for `start-node`.
fn stop_node(run_dir: &Path, id: u32, timeout: Duration) -> Result<ExitCode, String> {
    let state = load_required(run_dir)?;
    let node = state.node(id)?;
    let began = Instant::now();
    let killed = process::stop(&[node], timeout)?;
    eprintln!(
        "kafka: node {id} stopped in {:.1} s{}",
        began.elapsed().as_secs_f64(),
        if killed > 0 { " (needed SIGKILL)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `kill [--node N]`: SIGKILL, data kept.
fn kill(run_dir: &Path, id: Option<u32>) -> Result<ExitCode, String> {
    let state = load_required(run_dir)?;
    let nodes: Vec<&NodeState> = match id {
        Some(id) => vec![state.node(id)?],
        None => state.nodes.iter().collect(),
    };
    process::kill(&nodes)?;
    let ids: Vec<String> = nodes.iter().map(|n| n.id.to_string()).collect();
    eprintln!("kafka: killed node {} (SIGKILL)", ids.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// `start-node N`: the node again, on its data and ports.
fn start_node(run_dir: &Path, id: u32, timeout: Duration) -> Result<ExitCode, String> {
    let mut state = load_required(run_dir)?;
    let version = Version::parse(&state.version)?;
    let node = state.node(id)?;
    if process::is_running(node) {
        return Err(format!("node {id} already runs (pid {})", node.pid));
    }
    let began = Instant::now();
    let logging = logging_options(version, node);
    let mut child = process::spawn_broker(&state.libs, node, &logging)?;
    state.node_mut(id)?.pid = child.id();
    state.save()?;
    let node = state.node(id)?;
    wait_ready(&[node], &[id], std::slice::from_mut(&mut child), timeout)?;
    eprintln!(
        "kafka: node {id} up again in {:.1} s (pid {})",
        began.elapsed().as_secs_f64(),
        node.pid
    );
    println!("{}", state.bootstrap);
    Ok(ExitCode::SUCCESS)
}

/// `status`: the cluster, each node, and what each node's Metadata lists.
fn status(run_dir: &Path) -> Result<ExitCode, String> {
    let Some(state) = ClusterState::load(run_dir)? else {
        println!(
            "no cluster (no {} in {})",
            state::STATE_FILE,
            run_dir.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "Apache Kafka {}, {}, cluster id {}",
        state.version,
        plural(state.nodes.len(), "node"),
        state.cluster_id
    );
    println!("bootstrap: {}", state.bootstrap);
    println!("run dir:   {}", state.run_dir.display());
    println!("libs:      {}", state.libs.display());
    let mut running = 0;
    for node in &state.nodes {
        let what = if process::is_running(node) {
            running += 1;
            let addr = SocketAddr::from(([127, 0, 0, 1], node.broker_port));
            match wire::brokers(addr, Duration::from_secs(2)) {
                Ok(brokers) => format!(
                    "running (pid {}), lists brokers {:?}",
                    node.pid,
                    broker_ids(&brokers)
                ),
                Err(e) => format!("running (pid {}), not answering: {e}", node.pid),
            }
        } else {
            "stopped".to_string()
        };
        println!(
            "node {}: {what}; broker 127.0.0.1:{}, controller 127.0.0.1:{}, log {}",
            node.id,
            node.broker_port,
            node.controller_port,
            node.log.display()
        );
    }
    Ok(if running > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The state file, or an error saying no cluster was started.
fn load_required(run_dir: &Path) -> Result<ClusterState, String> {
    ClusterState::load(run_dir)?.ok_or_else(|| {
        format!(
            "no cluster in {} (start one with `cargo xtask kafka start`)",
            run_dir.display()
        )
    })
}

/// Removes the run directory, refusing anything that is not one (a
/// mis-set `FERROKAFKA_KAFKA_RUN_DIR` must not cost a home folder).
fn remove_run_dir(run_dir: &Path) -> Result<(), String> {
    if !run_dir.exists() {
        return Ok(());
    }
    let ours = std::fs::read_dir(run_dir)
        .map_err(|e| format!("reading {}: {e}", run_dir.display()))?
        .filter_map(Result::ok)
        .all(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("node-") || name.starts_with(state::STATE_FILE)
        });
    if !ours {
        return Err(format!(
            "{} holds files `cargo xtask kafka` did not write; not removing it",
            run_dir.display()
        ));
    }
    std::fs::remove_dir_all(run_dir).map_err(|e| format!("removing {}: {e}", run_dir.display()))
}

/// `1 node`, `3 nodes`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Writes a file, with the path in any error.
fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `count` nodes' worth of free loopback ports (a broker and a controller
/// port each), all bound at once so they differ, then released for Kafka.
fn free_ports(count: u32) -> Result<Vec<NodePorts>, String> {
    let bind = || -> Result<(TcpListener, u16), String> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        Ok((listener, port))
    };
    let mut held = Vec::new();
    let mut nodes = Vec::new();
    for id in 1..=count {
        let (broker, broker_port) = bind()?;
        let (controller, controller_port) = bind()?;
        held.push(broker);
        held.push(controller);
        nodes.push(NodePorts {
            id,
            broker_port,
            controller_port,
        });
    }
    drop(held);
    Ok(nodes)
}

/// 16 bytes from the kernel's random source.
fn random_bytes() -> Result<[u8; 16], String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let nodes = free_ports(3).unwrap();
        let mut ports: Vec<u16> = nodes
            .iter()
            .flat_map(|n| [n.broker_port, n.controller_port])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 6);
        assert_eq!(
            nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn refuses_to_remove_a_folder_it_did_not_write() {
        let dir = std::env::temp_dir().join(format!("xtask-kafka-rundir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("node-1")).unwrap();
        std::fs::write(dir.join("state.json"), "{}").unwrap();
        std::fs::write(dir.join("precious.txt"), "x").unwrap();
        assert!(remove_run_dir(&dir).is_err());
        assert!(dir.join("precious.txt").exists());
        std::fs::remove_file(dir.join("precious.txt")).unwrap();
        remove_run_dir(&dir).unwrap();
        assert!(!dir.exists());
    }
}
