//! Apache Kafka's broker from Maven Central, by `mvn`, into a cache outside
//! the repository: `$FERROKAFKA_CACHE/kafka/<version>/libs` (default
//! `$XDG_CACHE_HOME/ferrokafka` or `~/.cache/ferrokafka`). A version whose
//! `libs` folder exists is reused without touching the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::args::Version;
use super::config;

/// The environment variable that moves the cache.
pub(crate) const CACHE_ENV: &str = "FERROKAFKA_CACHE";

/// The cache root: `$FERROKAFKA_CACHE`, else `$XDG_CACHE_HOME/ferrokafka`,
/// else `$HOME/.cache/ferrokafka`.
pub(crate) fn cache_root() -> Result<PathBuf, String> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var(CACHE_ENV) {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(dir.join("ferrokafka"));
    }
    var("HOME")
        .map(|home| home.join(".cache").join("ferrokafka"))
        .ok_or_else(|| format!("no cache folder: set {CACHE_ENV} (or HOME)"))
}

/// The classpath folder for `version`, fetching it first if it is not cached.
///
/// The jars land in a scratch folder that is renamed to `libs` only once
/// complete, so an interrupted fetch is never mistaken for a cached one and
/// two fetches at once do not mix.
pub(crate) fn ensure_libs(cache: &Path, version: Version) -> Result<PathBuf, String> {
    let dir = cache.join("kafka").join(version.to_string());
    let libs = dir.join("libs");
    if libs.is_dir() {
        return Ok(libs);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let pom = dir.join("pom.xml");
    std::fs::write(&pom, config::pom(version))
        .map_err(|e| format!("writing {}: {e}", pom.display()))?;
    let scratch = dir.join(format!("libs.partial-{}", std::process::id()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(|e| format!("removing {}: {e}", scratch.display()))?;
    }
    eprintln!(
        "kafka: fetching org.apache.kafka:kafka_2.13:{version} and its runtime dependencies \
         from Maven Central into {}",
        libs.display()
    );
    let result = fetch_into(&pom, &scratch, version);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    match std::fs::rename(&scratch, &libs) {
        Ok(()) => Ok(libs),
        // Another fetch finished first: use its jars.
        Err(_) if libs.is_dir() => {
            let _ = std::fs::remove_dir_all(&scratch);
            Ok(libs)
        }
        Err(e) => Err(format!("renaming {} to libs: {e}", scratch.display())),
    }
}

/// Runs Maven: the pom's runtime dependencies, then (Kafka 4) Log4j 2 and
/// its SLF4J binding.
fn fetch_into(pom: &Path, out: &Path, version: Version) -> Result<(), String> {
    let out_arg = format!("-DoutputDirectory={}", out.display());
    mvn(
        pom,
        &[
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            &out_arg,
        ],
    )
    .map_err(|e| {
        format!("{e}\n(does Maven Central have org.apache.kafka:kafka_2.13:{version}?)")
    })?;
    let names = jar_names(out)?;
    let broker = format!("kafka_2.13-{version}.jar");
    if !names.contains(&broker) {
        return Err(format!("Maven fetched no {broker} into {}", out.display()));
    }
    if version.major >= 4 {
        // Kafka 4 logs through Log4j 2, but not every release's pom brings it
        // (4.0.x names only slf4j-api): take the Log4j version Kafka resolved,
        // else the one Kafka 4.0's distribution ships.
        let log4j = config::log4j_core_version(names.iter().map(String::as_str))
            .unwrap_or_else(|| config::DEFAULT_LOG4J.to_string());
        let logging_pom = pom.with_file_name("logging-pom.xml");
        std::fs::write(&logging_pom, config::logging_pom(version, &log4j))
            .map_err(|e| format!("writing {}: {e}", logging_pom.display()))?;
        mvn(
            &logging_pom,
            &[
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                &out_arg,
            ],
        )?;
    }
    Ok(())
}

/// `mvn -q -B -f POM ARGS...`; its output is shown only if it fails (stdout
/// is for the bootstrap address).
fn mvn(pom: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new("mvn")
        .args(["-q", "-B", "-f"])
        .arg(pom)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running mvn (is Maven installed and on PATH?): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mvn {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The file names in a folder.
fn jar_names(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}
