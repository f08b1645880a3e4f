#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The README's tour of the crates shows the same code as the doc tests of
//! `examples/src/lib.rs`, which the compiler checks: if either changes
//! alone, this fails.

use std::path::Path;

/// The fenced blocks opening with `fence` in `text`, lines as written.
fn blocks(text: &str, fence: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end() == fence => current = Some(Vec::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => out.push(current.take().unwrap()),
            Some(block) => block.push(line.to_owned()),
        }
    }
    out
}

#[test]
fn readme_tour_matches_the_compiled_snippets() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let tour_start = readme
        .find("## A tour of the crates")
        .expect("README has a tour");
    let tour = &readme[tour_start..];
    let tour = &tour[..tour[3..].find("\n## ").map_or(tour.len(), |i| i + 3)];
    let from_readme = blocks(tour, "```rust");

    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let from_lib: Vec<Vec<String>> = blocks(&docs, "```no_run")
        .into_iter()
        .map(|block| {
            block
                .into_iter()
                .filter(|l| !(l.starts_with("# ") || l == "#"))
                .collect()
        })
        .collect();

    assert!(from_readme.len() >= 3, "{from_readme:?}");
    assert_eq!(from_readme, from_lib);
}

#[test]
fn readme_keeps_the_commands_ci_and_newcomers_use() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let quickstart = readme
        .find("cargo run -p ferrokafka-examples --bin quickstart")
        .unwrap();
    let tests = readme.find("\ncargo test --workspace\n").unwrap();
    assert!(quickstart < tests, "the quickstart command comes first");
}
