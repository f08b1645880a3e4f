//! The `cargo xtask kafka ...` command line: parsing only, no effects.

use std::fmt;
use std::time::Duration;

/// The Kafka version `start` runs when `--version` is not given.
pub(crate) const DEFAULT_VERSION: Version = Version {
    major: 4,
    minor: 4,
    patch: 0,
};

/// How long `start` waits for the cluster to answer when `--timeout` is not given.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long `stop` waits after SIGTERM before SIGKILL when `--timeout` is not given.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The most nodes `start --nodes` accepts (every node is a controller voter).
const MAX_NODES: u32 = 5;

/// An Apache Kafka release number, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    /// The major number: 3 or 4.
    pub(crate) major: u32,
    /// The minor number.
    pub(crate) minor: u32,
    /// The patch number.
    pub(crate) patch: u32,
}

impl Version {
    /// Parses `4.4.0`; only digits and two dots, so it is safe to paste into a pom.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("--version wants major.minor.patch, like 4.4.0; got {text:?}");
        let mut parts = text.split('.');
        let mut next = || -> Result<u32, String> {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let version = Version {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        if version.major < 3 || (version.major == 3 && version.minor < 3) {
            return Err(format!(
                "Kafka {version} has no KRaft mode fit for production; use 3.9.x or 4.x"
            ));
        }
        Ok(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One `cargo xtask kafka` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Fetch (once), configure, format and start a cluster; print its bootstrap.
    Start {
        /// How many combined broker+controller nodes.
        nodes: u32,
        /// Which Kafka release.
        version: Version,
        /// How long to wait for every broker to be listed by every node.
        timeout: Duration,
    },
    /// Stop the whole cluster (and remove its data unless `keep`), or one node.
    Stop {
        /// One node to stop, keeping its data; `None` stops them all.
        node: Option<u32>,
        /// Keep the run directory (data and logs) after stopping every node.
        keep: bool,
        /// How long to wait after SIGTERM before SIGKILL.
        timeout: Duration,
    },
    /// SIGKILL one node (or all), keeping the data.
    Kill {
        /// The node to kill; `None` kills them all.
        node: Option<u32>,
    },
    /// Start a stopped or killed node again on its old data and ports.
    StartNode {
        /// The node's id (1-based).
        node: u32,
        /// How long to wait for it to answer.
        timeout: Duration,
    },
    /// Say what runs and where.
    Status,
}

/// The usage text for `cargo xtask kafka`.
pub(crate) const USAGE: &str = "\
kafka start [--nodes 1|3] [--version 4.4.0] [--timeout SECS]
                 fetch Apache Kafka from Maven Central (once, into the cache), start a
                 KRaft cluster of combined broker+controller nodes on free loopback ports,
                 wait until it answers, print its bootstrap servers as the last line
kafka stop [--node N] [--keep] [--timeout SECS]
                 SIGTERM (SIGKILL after the timeout, default 30 s); without --node stop
                 every node and remove the run's data (--keep leaves it); with --node
                 stop that node only and keep its data for start-node
kafka kill [--node N]
                 SIGKILL one node (or all), keeping the data
kafka start-node N [--timeout SECS]
                 start a stopped or killed node again on its data and ports
kafka status     what runs and where (exit 1 when no node runs)";

/// Parses the arguments after `kafka`.
pub(crate) fn parse(args: &[String]) -> Result<Command, String> {
    let (name, rest) = args
        .split_first()
        .ok_or("which kafka command? start, stop, kill, start-node or status")?;
    let mut rest = rest.iter().map(String::as_str);
    match name.as_str() {
        "start" => {
            let mut nodes = 1;
            let mut version = DEFAULT_VERSION;
            let mut timeout = DEFAULT_START_TIMEOUT;
            while let Some(arg) = rest.next() {
                match arg {
                    "--nodes" => nodes = parse_nodes(rest.next())?,
                    "--version" => {
                        version = Version::parse(rest.next().ok_or("--version needs a value")?)?;
                    }
                    "--timeout" => timeout = parse_seconds(rest.next())?,
                    other => return Err(format!("start: unknown argument {other:?}")),
                }
            }
            Ok(Command::Start {
                nodes,
                version,
                timeout,
            })
        }
        "stop" => {
            let mut node = None;
            let mut keep = false;
            let mut timeout = DEFAULT_STOP_TIMEOUT;
            while let Some(arg) = rest.next() {
                match arg {
                    "--node" => node = Some(parse_node_id(rest.next())?),
                    "--keep" => keep = true,
                    "--timeout" => timeout = parse_seconds(rest.next())?,
                    other => return Err(format!("stop: unknown argument {other:?}")),
                }
            }
            Ok(Command::Stop {
                node,
                keep,
                timeout,
            })
        }
        "kill" => {
            let mut node = None;
            while let Some(arg) = rest.next() {
                match arg {
                    "--node" => node = Some(parse_node_id(rest.next())?),
                    other => return Err(format!("kill: unknown argument {other:?}")),
                }
            }
            Ok(Command::Kill { node })
        }
        "start-node" => {
            let mut node = None;
            let mut timeout = DEFAULT_START_TIMEOUT;
            while let Some(arg) = rest.next() {
                match arg {
                    "--timeout" => timeout = parse_seconds(rest.next())?,
                    "--node" => node = Some(parse_node_id(rest.next())?),
                    id if node.is_none() && !id.starts_with('-') => {
                        node = Some(parse_node_id(Some(id))?);
                    }
                    other => return Err(format!("start-node: unknown argument {other:?}")),
                }
            }
            let node = node.ok_or("start-node needs a node id, like `start-node 2`")?;
            Ok(Command::StartNode { node, timeout })
        }
        "status" => match rest.next() {
            None => Ok(Command::Status),
            Some(other) => Err(format!("status: unknown argument {other:?}")),
        },
        other => Err(format!(
            "unknown kafka command {other:?}: start, stop, kill, start-node or status"
        )),
    }
}

/// `--nodes N`: 1 to [`MAX_NODES`].
fn parse_nodes(value: Option<&str>) -> Result<u32, String> {
    let value = value.ok_or("--nodes needs a count, 1 or 3")?;
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_NODES).contains(&n) => Ok(n),
        _ => Err(format!(
            "--nodes wants 1 to {MAX_NODES} (1 or 3 are the usual); got {value:?}"
        )),
    }
}

/// A node id: 1-based, at most [`MAX_NODES`].
fn parse_node_id(value: Option<&str>) -> Result<u32, String> {
    let value = value.ok_or("--node needs a node id, like 2")?;
    match value.parse::<u32>() {
        Ok(n) if (1..=MAX_NODES).contains(&n) => Ok(n),
        _ => Err(format!("node ids run from 1 to {MAX_NODES}; got {value:?}")),
    }
}

/// `--timeout SECS`.
fn parse_seconds(value: Option<&str>) -> Result<Duration, String> {
    let value = value.ok_or("--timeout needs seconds")?;
    value
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("--timeout wants whole seconds; got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn start_defaults_to_one_node_of_the_pinned_version() {
        assert_eq!(
            parse(&args("start")),
            Ok(Command::Start {
                nodes: 1,
                version: DEFAULT_VERSION,
                timeout: DEFAULT_START_TIMEOUT
            })
        );
        assert_eq!(DEFAULT_VERSION.to_string(), "4.4.0");
    }

    #[test]
    fn start_takes_nodes_version_and_timeout() {
        assert_eq!(
            parse(&args("start --nodes 3 --version 3.9.1 --timeout 60")),
            Ok(Command::Start {
                nodes: 3,
                version: Version {
                    major: 3,
                    minor: 9,
                    patch: 1
                },
                timeout: Duration::from_secs(60)
            })
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&args("start --nodes 0")).is_err());
        assert!(parse(&args("start --nodes 9")).is_err());
        assert!(parse(&args("start --nodes")).is_err());
        assert!(parse(&args("start --version 4.4")).is_err());
        assert!(parse(&args("start --version 4.4.0.1")).is_err());
        assert!(parse(&args("start --version 4.4.x")).is_err());
        assert!(parse(&args("start --version 4.4.0</version>")).is_err());
        assert!(parse(&args("start --version 2.8.0")).is_err());
        assert!(parse(&args("start --bogus")).is_err());
        assert!(parse(&args("stop --node x")).is_err());
        assert!(parse(&args("status now")).is_err());
        assert!(parse(&args("restart")).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn stop_kill_and_start_node() {
        assert_eq!(
            parse(&args("stop")),
            Ok(Command::Stop {
                node: None,
                keep: false,
                timeout: DEFAULT_STOP_TIMEOUT
            })
        );
        assert_eq!(
            parse(&args("stop --node 2 --timeout 5")),
            Ok(Command::Stop {
                node: Some(2),
                keep: false,
                timeout: Duration::from_secs(5)
            })
        );
        assert_eq!(
            parse(&args("stop --keep")),
            Ok(Command::Stop {
                node: None,
                keep: true,
                timeout: DEFAULT_STOP_TIMEOUT
            })
        );
        assert_eq!(
            parse(&args("kill --node 3")),
            Ok(Command::Kill { node: Some(3) })
        );
        assert_eq!(parse(&args("kill")), Ok(Command::Kill { node: None }));
        assert_eq!(
            parse(&args("start-node 2")),
            Ok(Command::StartNode {
                node: 2,
                timeout: DEFAULT_START_TIMEOUT
            })
        );
        assert_eq!(
            parse(&args("start-node --node 1 --timeout 9")),
            Ok(Command::StartNode {
                node: 1,
                timeout: Duration::from_secs(9)
            })
        );
        assert!(parse(&args("start-node")).is_err());
        assert_eq!(parse(&args("status")), Ok(Command::Status));
    }
}
