//! The JVMs: starting a node detached, telling whether it still runs, and
//! signalling it. Signals go through `kill(1)` (the workspace forbids
//! `unsafe`, so no `libc::kill`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::state::NodeState;

/// The environment variable whose whitespace-separated words are appended to
/// every broker JVM's options (say `-Xmx1g` to override the heap).
pub(crate) const JAVA_OPTS_ENV: &str = "FERROKAFKA_KAFKA_JAVA_OPTS";

/// Heap and GC per broker: bounded so three nodes fit beside builds.
const BROKER_JVM: &[&str] = &[
    "-Xmx512m",
    "-Xms256m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
];

/// Heap for the one-shot `StorageTool format`.
const TOOL_JVM: &[&str] = &[
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
];

/// `$JAVA_HOME/bin/java`, else `java` from PATH.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join("bin").join("java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// The classpath: every jar in `libs` (Java expands the `*` itself).
fn classpath(libs: &Path) -> String {
    format!("{}/*", libs.display())
}

/// Starts `kafka.tools.StorageTool format` for one node, its output in
/// `format.log` in the node directory.
pub(crate) fn spawn_format(
    libs: &Path,
    node: &NodeState,
    cluster_id: &str,
    logging: &[String],
) -> Result<Child, String> {
    let log = open_log(&node.dir.join("format.log"))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    Command::new(java())
        .args(TOOL_JVM)
        .args(logging)
        .arg("-cp")
        .arg(classpath(libs))
        .args(["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c"])
        .arg(&node.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("running java (is a JDK 17+ on PATH or JAVA_HOME?): {e}"))
}

/// Starts a broker JVM in its own process group (so a Ctrl-C aimed at the
/// xtask does not reach it), detached from our stdio: its stdout and stderr
/// go to `stdout.log` in the node directory, its log to `server.log`.
pub(crate) fn spawn_broker(
    libs: &Path,
    node: &NodeState,
    logging: &[String],
) -> Result<Child, String> {
    use std::os::unix::process::CommandExt as _;
    let log = open_log(&node.dir.join("stdout.log"))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let extra: Vec<String> = std::env::var(JAVA_OPTS_ENV)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    Command::new(java())
        .args(BROKER_JVM)
        .args(logging)
        .arg(format!("-Dkafka.logs.dir={}", node.dir.display()))
        .args(extra)
        .arg("-cp")
        .arg(classpath(libs))
        .arg("kafka.Kafka")
        .arg(&node.config)
        .current_dir(&node.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("running java (is a JDK 17+ on PATH or JAVA_HOME?): {e}"))
}

/// A log file, appended to (a restarted node keeps its earlier output).
fn open_log(path: &Path) -> Result<File, String> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

/// Whether `node`'s JVM runs: its pid is alive (not a zombie) and its command
/// line names this node's `server.properties`, so a reused pid never counts.
pub(crate) fn is_running(node: &NodeState) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{}", node.pid));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z" | "X") | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let config = node.config.to_string_lossy();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.iter().any(|a| a == "kafka.Kafka") && args.iter().any(|a| *a == *config)
}

/// Sends `signal` (`TERM`, `KILL`) to the node's JVM if it runs.
pub(crate) fn signal(node: &NodeState, signal: &str) -> Result<(), String> {
    if !is_running(node) {
        return Ok(());
    }
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(node.pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("running kill: {e}"))?;
    if status.success() || !is_running(node) {
        Ok(())
    } else {
        Err(format!("kill -{signal} {} failed: {status}", node.pid))
    }
}

/// Waits until none of `nodes` runs; returns those still running at the deadline.
pub(crate) fn wait_exit<'a>(nodes: &[&'a NodeState], timeout: Duration) -> Vec<&'a NodeState> {
    let deadline = Instant::now() + timeout;
    loop {
        let left: Vec<&NodeState> = nodes.iter().copied().filter(|n| is_running(n)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SIGTERM the nodes, wait up to `timeout`, then SIGKILL whatever still runs.
/// Returns how many needed SIGKILL.
pub(crate) fn stop(nodes: &[&NodeState], timeout: Duration) -> Result<usize, String> {
    for node in nodes {
        signal(node, "TERM")?;
    }
    let stubborn = wait_exit(nodes, timeout);
    kill(&stubborn)?;
    Ok(stubborn.len())
}

/// SIGKILL the nodes and wait (a few seconds at most) until they are gone.
pub(crate) fn kill(nodes: &[&NodeState]) -> Result<(), String> {
    for node in nodes {
        signal(node, "KILL")?;
    }
    let left = wait_exit(nodes, Duration::from_secs(10));
    if left.is_empty() {
        Ok(())
    } else {
        let pids: Vec<String> = left.iter().map(|n| n.pid.to_string()).collect();
        Err(format!(
            "still running after SIGKILL: pid {}",
            pids.join(", ")
        ))
    }
}

/// The last `lines` lines of a file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all.get(start..).unwrap_or_default().join("\n")
}
