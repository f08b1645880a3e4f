//! The files a cluster needs, as text: each node's `server.properties`, its
//! logging configuration, and the pom that fetches the broker from Maven
//! Central. Pure functions, so the tests can read them.

use std::fmt::Write as _;
use std::path::Path;

use super::args::Version;

/// One node's place in the cluster: its id and its two loopback ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodePorts {
    /// The node id (1-based), also its broker id and controller voter id.
    pub(crate) id: u32,
    /// The `PLAINTEXT` listener clients use.
    pub(crate) broker_port: u16,
    /// The `CONTROLLER` listener the KRaft quorum uses.
    pub(crate) controller_port: u16,
}

/// The static quorum: `1@127.0.0.1:PORT,2@127.0.0.1:PORT,...`.
///
/// A static voter set (`controller.quorum.voters`) works the same on 3.9 and
/// every 4.x, needs no `--standalone` / `--initial-controllers` at format time,
/// and suits a cluster whose membership never changes.
pub(crate) fn quorum_voters(nodes: &[NodePorts]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// The bootstrap servers: every node's broker listener.
pub(crate) fn bootstrap(nodes: &[NodePorts]) -> String {
    nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.broker_port))
        .collect::<Vec<_>>()
        .join(",")
}

/// A node's `server.properties`: combined broker+controller on loopback, with
/// replication defaults that suit the cluster size.
pub(crate) fn server_properties(
    version: Version,
    node: NodePorts,
    all: &[NodePorts],
    log_dir: &Path,
) -> String {
    let count = all.len();
    // Internal topics replicate to every node up to three; with three or more
    // nodes a write needs two in sync, so one node may fail without loss.
    let replication = count.clamp(1, 3);
    let min_isr = if count >= 3 { 2 } else { 1 };
    let mut out = String::new();
    let mut line = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{key}={value}");
    };
    line("process.roles", &"broker,controller");
    line("node.id", &node.id);
    line("controller.quorum.voters", &quorum_voters(all));
    line(
        "listeners",
        &format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            node.broker_port, node.controller_port
        ),
    );
    line(
        "advertised.listeners",
        &format!("PLAINTEXT://127.0.0.1:{}", node.broker_port),
    );
    line(
        "listener.security.protocol.map",
        &"PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    );
    line("controller.listener.names", &"CONTROLLER");
    line("inter.broker.listener.name", &"PLAINTEXT");
    line("log.dirs", &log_dir.display());
    line("num.partitions", &1);
    line("default.replication.factor", &replication);
    line("offsets.topic.replication.factor", &replication);
    line("transaction.state.log.replication.factor", &replication);
    line("transaction.state.log.min.isr", &min_isr);
    if version.major >= 4 {
        line(
            "share.coordinator.state.topic.replication.factor",
            &replication,
        );
        line("share.coordinator.state.topic.min.isr", &min_isr);
    }
    line("group.initial.rebalance.delay.ms", &0);
    // auto.create.topics.enable stays at Kafka's default (true).
    out
}

/// The logging configuration that sends everything to `log_file`.
///
/// Kafka 4 logs through Log4j 2 (properties format, which needs no YAML
/// parser); Kafka 3 through reload4j (Log4j 1.x).
pub(crate) fn logging_config(version: Version, log_file: &Path) -> LoggingConfig {
    let file = log_file.display();
    if version.major >= 4 {
        LoggingConfig {
            file_name: "log4j2.properties",
            text: format!(
                "status = warn\n\
                 appender.file.type = File\n\
                 appender.file.name = file\n\
                 appender.file.fileName = {file}\n\
                 appender.file.layout.type = PatternLayout\n\
                 appender.file.layout.pattern = [%d] %p %m (%c)%n\n\
                 rootLogger.level = INFO\n\
                 rootLogger.appenderRef.file.ref = file\n\
                 logger.request.name = kafka.request.logger\n\
                 logger.request.level = WARN\n"
            ),
            java_option: "-Dlog4j2.configurationFile=",
        }
    } else {
        LoggingConfig {
            file_name: "log4j.properties",
            text: format!(
                "log4j.rootLogger=INFO, file\n\
                 log4j.appender.file=org.apache.log4j.FileAppender\n\
                 log4j.appender.file.File={file}\n\
                 log4j.appender.file.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n\
                 log4j.logger.kafka.request.logger=WARN\n"
            ),
            java_option: "-Dlog4j.configuration=file:",
        }
    }
}

/// A logging configuration file and how to point the JVM at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoggingConfig {
    /// The file's name in the node directory.
    pub(crate) file_name: &'static str,
    /// Its contents.
    pub(crate) text: String,
    /// The JVM option, to be followed by the file's path.
    pub(crate) java_option: &'static str,
}

/// The pom whose runtime dependencies are the broker's classpath: the
/// `kafka_2.13` artifact (broker, controller and `StorageTool`) and, for
/// Kafka 3, the reload4j logging backend its distribution ships. Kafka 4's
/// Log4j 2 backend comes afterwards, from [`logging_pom`].
pub(crate) fn pom(version: Version) -> String {
    let mut deps = format!(
        "    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>\
         <version>{version}</version></dependency>\n"
    );
    if version.major < 4 {
        deps.push_str(
            "    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId>\
             <version>1.2.25</version></dependency>\n\
             \x20   <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>\
             <version>1.7.36</version></dependency>\n",
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Written by `cargo xtask kafka start`: Apache Kafka {version}'s broker and its runtime dependencies. -->\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n\
         \x20 <modelVersion>4.0.0</modelVersion>\n\
         \x20 <groupId>dev.ferrokafka.xtask</groupId>\n\
         \x20 <artifactId>kafka-broker-libs</artifactId>\n\
         \x20 <version>{version}</version>\n\
         \x20 <packaging>pom</packaging>\n\
         \x20 <dependencies>\n{deps}  </dependencies>\n\
         </project>\n"
    )
}

/// The Log4j 2 version fetched for a Kafka 4 release whose pom brings none
/// (4.0.x): the one Kafka 4.0's distribution ships.
pub(crate) const DEFAULT_LOG4J: &str = "2.24.3";

/// The pom for Kafka 4's logging backend: Log4j 2 (API and core) and its
/// SLF4J 1.x binding, all at `log4j` (the version Kafka itself resolved, when
/// it resolves one). The binding's own slf4j-api is left out: Kafka brings its
/// own.
pub(crate) fn logging_pom(version: Version, log4j: &str) -> String {
    let dep = |artifact: &str, exclusions: &str| {
        format!(
            "    <dependency><groupId>org.apache.logging.log4j</groupId>\
             <artifactId>{artifact}</artifactId><version>{log4j}</version>{exclusions}</dependency>\n"
        )
    };
    let deps = [
        dep("log4j-api", ""),
        dep("log4j-core", ""),
        dep(
            "log4j-slf4j-impl",
            "<exclusions><exclusion><groupId>org.slf4j</groupId>\
             <artifactId>slf4j-api</artifactId></exclusion></exclusions>",
        ),
    ]
    .concat();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!-- Written by `cargo xtask kafka start`: the logging backend for Apache Kafka {version}. -->\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n\
         \x20 <modelVersion>4.0.0</modelVersion>\n\
         \x20 <groupId>dev.ferrokafka.xtask</groupId>\n\
         \x20 <artifactId>kafka-broker-logging</artifactId>\n\
         \x20 <version>{version}</version>\n\
         \x20 <packaging>pom</packaging>\n\
         \x20 <dependencies>\n{deps}  </dependencies>\n\
         </project>\n"
    )
}

/// The Log4j 2 version among the fetched jars (`log4j-core-2.25.5.jar` gives
/// `2.25.5`), if any.
pub(crate) fn log4j_core_version<'a>(
    jar_names: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    jar_names.into_iter().find_map(|name| {
        let version = name.strip_prefix("log4j-core-")?.strip_suffix(".jar")?;
        let plain = version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        (plain && !version.is_empty()).then(|| version.to_string())
    })
}

/// A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22
/// characters), as `kafka-storage random-uuid` prints. Like Kafka's
/// `Uuid.randomUuid`, it never starts with `-`: the storage tool would take
/// such an id for an option ("--cluster-id: expected one argument"), so bytes
/// that would give one have their top bit cleared (`-` becomes `e`).
pub(crate) fn cluster_id(mut bytes: [u8; 16]) -> String {
    if let Some(first) = bytes.first_mut().filter(|b| **b >> 2 == 62) {
        *first &= 0x7f;
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits: u32 = 0;
    let mut held = 0;
    let mut out = String::with_capacity(22);
    let mut push = |index: u32| {
        if let Some(&c) = ALPHABET.get(index as usize) {
            out.push(char::from(c));
        }
    };
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        held += 8;
        while held >= 6 {
            held -= 6;
            push((bits >> held) & 0x3f);
        }
    }
    if held > 0 {
        push((bits << (6 - held)) & 0x3f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const V44: Version = Version {
        major: 4,
        minor: 4,
        patch: 0,
    };
    const V39: Version = Version {
        major: 3,
        minor: 9,
        patch: 1,
    };

    fn three() -> Vec<NodePorts> {
        (1..=3)
            .map(|id| NodePorts {
                id,
                broker_port: 40000 + id as u16,
                controller_port: 41000 + id as u16,
            })
            .collect()
    }

    fn props(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'a>(props: &'a [(String, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn three_nodes_share_a_three_voter_quorum_and_replicate_three_ways() {
        let nodes = three();
        let dir = PathBuf::from("/run/node-2/data");
        let text = server_properties(V44, nodes[1], &nodes, &dir);
        let p = props(&text);
        assert_eq!(get(&p, "process.roles"), Some("broker,controller"));
        assert_eq!(get(&p, "node.id"), Some("2"));
        assert_eq!(
            get(&p, "controller.quorum.voters"),
            Some("1@127.0.0.1:41001,2@127.0.0.1:41002,3@127.0.0.1:41003")
        );
        assert_eq!(
            get(&p, "listeners"),
            Some("PLAINTEXT://127.0.0.1:40002,CONTROLLER://127.0.0.1:41002")
        );
        assert_eq!(
            get(&p, "advertised.listeners"),
            Some("PLAINTEXT://127.0.0.1:40002")
        );
        assert_eq!(get(&p, "log.dirs"), Some("/run/node-2/data"));
        assert_eq!(get(&p, "offsets.topic.replication.factor"), Some("3"));
        assert_eq!(
            get(&p, "transaction.state.log.replication.factor"),
            Some("3")
        );
        assert_eq!(get(&p, "transaction.state.log.min.isr"), Some("2"));
        assert_eq!(get(&p, "default.replication.factor"), Some("3"));
        assert_eq!(get(&p, "group.initial.rebalance.delay.ms"), Some("0"));
        assert_eq!(get(&p, "auto.create.topics.enable"), None);
        assert_eq!(
            get(&p, "share.coordinator.state.topic.replication.factor"),
            Some("3")
        );
        assert_eq!(
            bootstrap(&nodes),
            "127.0.0.1:40001,127.0.0.1:40002,127.0.0.1:40003"
        );
    }

    #[test]
    fn one_node_replicates_once() {
        let nodes = vec![NodePorts {
            id: 1,
            broker_port: 9092,
            controller_port: 9093,
        }];
        let p = props(&server_properties(V39, nodes[0], &nodes, Path::new("/d")));
        assert_eq!(
            get(&p, "controller.quorum.voters"),
            Some("1@127.0.0.1:9093")
        );
        assert_eq!(get(&p, "offsets.topic.replication.factor"), Some("1"));
        assert_eq!(get(&p, "transaction.state.log.min.isr"), Some("1"));
        assert_eq!(get(&p, "default.replication.factor"), Some("1"));
        // Kafka 3.9 has no share groups: no share.* keys for it.
        assert!(p.iter().all(|(k, _)| !k.starts_with("share.")));
    }

    #[test]
    fn logging_follows_the_major_version() {
        let four = logging_config(V44, Path::new("/n/server.log"));
        assert_eq!(four.file_name, "log4j2.properties");
        assert!(four.text.contains("appender.file.fileName = /n/server.log"));
        let three = logging_config(V39, Path::new("/n/server.log"));
        assert_eq!(three.file_name, "log4j.properties");
        assert!(
            three
                .text
                .contains("log4j.appender.file.File=/n/server.log")
        );
    }

    #[test]
    fn the_pom_names_the_broker_and_kafka_3s_logging_backend() {
        let four = pom(V44);
        assert!(four.contains("<artifactId>kafka_2.13</artifactId><version>4.4.0</version>"));
        assert!(!four.contains("reload4j"));
        let three = pom(V39);
        assert!(three.contains("<artifactId>kafka_2.13</artifactId><version>3.9.1</version>"));
        assert!(three.contains("<artifactId>slf4j-reload4j</artifactId>"));
    }

    #[test]
    fn the_logging_pom_pins_one_log4j_version() {
        let text = logging_pom(V44, "2.25.5");
        for artifact in ["log4j-api", "log4j-core", "log4j-slf4j-impl"] {
            assert!(text.contains(&format!(
                "<artifactId>{artifact}</artifactId><version>2.25.5</version>"
            )));
        }
        assert!(text.contains("<artifactId>slf4j-api</artifactId></exclusion>"));
    }

    #[test]
    fn log4j_version_is_read_from_the_jar_names() {
        let jars = [
            "kafka_2.13-4.4.0.jar",
            "log4j-api-2.25.5.jar",
            "log4j-core-2.25.5.jar",
        ];
        assert_eq!(log4j_core_version(jars), Some("2.25.5".to_string()));
        assert_eq!(log4j_core_version(["slf4j-api-1.7.36.jar"]), None);
        assert_eq!(log4j_core_version(["log4j-core-<x>.jar"]), None);
    }

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        assert_eq!(cluster_id([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(cluster_id([0xff; 16]), "_____________________w");
        // 0xf8 starts with the six bits of '-', which the storage tool
        // would read as an option.
        assert_eq!(cluster_id([0xf8; 16]), "ePj4-Pj4-Pj4-Pj4-Pj4-A");
        for first in 0..=255u8 {
            let mut bytes = [0x5a; 16];
            bytes[0] = first;
            assert!(!cluster_id(bytes).starts_with('-'), "{first:#x}");
        }
        // Kafka's own example id decodes from these bytes.
        let id = cluster_id([
            0x34, 0x90, 0x7d, 0x3b, 0x3e, 0x7a, 0x4b, 0x46, 0x8f, 0x2c, 0x12, 0x6e, 0x95, 0x62,
            0xbd, 0x7a,
        ]);
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
