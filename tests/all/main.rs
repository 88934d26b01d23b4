//! Keel's end-to-end tests: real components on a real host and SQLite store.

mod api;
mod boundaries;
mod cancellation;
mod children;
mod cli;
mod crash;
mod deployments;
mod errors;
mod examples;
mod external;
mod hostile;
mod lifecycle;
mod limits;
mod memory;
mod races;
mod replay;
mod reset;
mod retries;
mod sandbox;
mod sdk;
mod security;
mod time;
mod upgrades;
mod workflow_retries;

/// Every component the build script produces is used by some test.
#[test]
fn every_guest_has_a_test() {
    let sources: String = [
        "api",
        "boundaries",
        "cancellation",
        "cli",
        "crash",
        "deployments",
        "errors",
        "examples",
        "external",
        "hostile",
        "lifecycle",
        "memory",
        "races",
        "replay",
        "reset",
        "sandbox",
        "sdk",
        "upgrades",
    ]
    .iter()
    .map(|m| std::fs::read_to_string(format!("{}/all/{m}.rs", env!("CARGO_MANIFEST_DIR"))).unwrap())
    .collect();
    let consts = include_str!(concat!(env!("OUT_DIR"), "/guests.rs"));
    for line in consts.lines().filter_map(|l| l.strip_prefix("pub const ")) {
        let name = line.split(':').next().unwrap();
        assert!(
            sources.contains(&format!("guests::{name}")),
            "no test uses guests::{name}"
        );
    }
}
