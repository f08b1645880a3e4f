//! Benchmarks; see `cargo run --release -p ferrokafka-bench -- --help`.
fn main() {}
