//! Workspace chores, run as `cargo xtask <command>`.
//!
//! - `codegen [--specs DIR] [--out DIR] [--check]`: reads Apache Kafka's JSON
//!   message specs (default `../shared/kafka-message-specs`) and writes the
//!   protocol codecs to `kafka-protocol/src/generated/`. With `--check` it
//!   writes nothing and fails if the committed code differs from what the
//!   specs produce.
//! - `kafka start|stop|kill|start-node|status`: a real Apache Kafka on demand
//!   (fetched from Maven Central into a cache, run as local JVMs); see
//!   [`kafka`].

mod codegen;
mod kafka;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => match run_codegen(args.get(1..).unwrap_or_default()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("codegen: {message}");
                ExitCode::FAILURE
            }
        },
        Some("kafka") => kafka::run(args.get(1..).unwrap_or_default()),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--specs DIR] [--out DIR] [--check]\n\
                 \x20      cargo xtask kafka start|stop|kill|start-node|status ...\n\n\
                 codegen  write kafka-protocol/src/generated/ from Kafka's JSON message specs\n\
                 \x20 --specs DIR  spec folder (default: ../shared/kafka-message-specs)\n\
                 \x20 --out DIR    output folder (default: kafka-protocol/src/generated)\n\
                 \x20 --check      write nothing; fail if the committed code is stale\n\n\
                 {}",
                kafka::USAGE
            );
            ExitCode::FAILURE
        }
    }
}

fn run_codegen(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let mut specs = root.join("../shared/kafka-message-specs");
    let mut out = root.join("kafka-protocol/src/generated");
    let mut check = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--specs" => specs = PathBuf::from(rest.next().ok_or("--specs needs a folder")?),
            "--out" => out = PathBuf::from(rest.next().ok_or("--out needs a folder")?),
            "--check" => check = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let files = codegen::generate(&specs)?;
    if check {
        let stale = codegen::stale_files(&out, &files)?;
        if stale.is_empty() {
            println!("codegen: {} files up to date", files.len());
            Ok(())
        } else {
            Err(format!(
                "generated code is stale; run `cargo xtask codegen`: {}",
                stale.join(", ")
            ))
        }
    } else {
        codegen::write(&out, &files)?;
        println!("codegen: wrote {} files to {}", files.len(), out.display());
        Ok(())
    }
}

/// The workspace root: the parent of this crate's manifest folder.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
