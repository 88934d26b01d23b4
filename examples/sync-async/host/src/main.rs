//! The sync-async example's host, in two modes:
//!
//! - `example-sync-async [TEXT]` runs the sync-async workflow on the
//!   embedded SQLite store: an async activity (`fetch_length`, which awaits
//!   "I/O" on the tokio runtime) runs next to a blocking one
//!   (`compute_digest`, CPU-bound work that the host runs on its bounded
//!   pool of blocking threads, so it never stalls the event loop) (store
//!   file: `$KEEL_DB`, default `keel-sync-async.db`; blocking pool size:
//!   `$KEEL_BLOCKING_THREADS`, default 4).
//! - `example-sync-async server --db keel.db --listen 127.0.0.1:7233`
//!   serves the gRPC API with this example's component deployed and its
//!   `fetch_length` and `compute_digest` activities registered, until
//!   SIGINT or SIGTERM; drive it with `keel` (e.g. `keel workflow start
//!   sync-async --id s1 --input '"some text"'`; pool size:
//!   `--blocking-threads`).

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use keel_host::cli::ServerArgs;
use keel_host::clock::{Clock, SystemClock};
use keel_host::{Activities, ActivityContext, ActivityError, Host, HostConfig, StartWorkflow};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The workflow component, built from `examples/sync-async/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_SYNC_ASYNC_WORKFLOW"));

/// Runs the sync-async workflow, an async activity next to a blocking one on
/// the bounded pool, on the embedded SQLite store (store file: `$KEEL_DB`,
/// default `keel-sync-async.db`; blocking pool size:
/// `$KEEL_BLOCKING_THREADS`, default 4), or serves it over gRPC with
/// `server`.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// The text whose length and digest the activities compute.
    #[arg(default_value = "Keel runs durable workflows")]
    text: String,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The modes other than the demo.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API with this example's component deployed and its
    /// `fetch_length` and `compute_digest` activities registered, until
    /// SIGINT or SIGTERM; drive it with `keel`.
    Server(ServerArgs),
}

/// The workflow's result.
#[derive(Debug, Deserialize)]
struct Report {
    /// The text's length in bytes, from `fetch_length`.
    length: u64,
    /// The text's hex SHA-256, from `compute_digest`.
    digest: String,
}

/// The async `fetch_length` activity: the text's length in bytes, after a
/// short non-blocking sleep that stands for I/O.
async fn fetch_length(_ctx: ActivityContext, text: String) -> Result<u64, ActivityError> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    u64::try_from(text.len()).map_err(|e| ActivityError::non_retryable("TooLong", e.to_string()))
}

/// The blocking `compute_digest` activity: the text's hex SHA-256, with a
/// thread sleep that stands for CPU-bound or blocking work.
fn compute_digest(ctx: ActivityContext, text: String) -> Result<String, ActivityError> {
    std::thread::sleep(Duration::from_millis(100));
    if ctx.is_cancelled() {
        return Err(ActivityError::cancelled());
    }
    Ok(format!("{:x}", Sha256::digest(text.as_bytes())))
}

/// The blocking pool size from `$KEEL_BLOCKING_THREADS` (default 4).
fn blocking_threads() -> anyhow::Result<usize> {
    let Ok(value) = std::env::var("KEEL_BLOCKING_THREADS") else {
        return Ok(4);
    };
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => anyhow::bail!("KEEL_BLOCKING_THREADS must be a positive integer, not {value:?}"),
    }
}

/// The activities the sync-async workflow calls.
fn activities() -> Activities {
    let mut activities = Activities::new();
    activities
        .register_async("fetch_length", fetch_length)
        .register_blocking("compute_digest", compute_digest);
    activities
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    keel_host::cli::init_logs();
    match cli.command {
        Some(Command::Server(args)) => {
            keel_host::cli::serve(args, activities(), &[COMPONENT]).await?;
            Ok(())
        }
        None => demo(&cli.text).await,
    }
}

/// Runs the workflow on `text` and prints its report and timing.
async fn demo(text: &str) -> anyhow::Result<()> {
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-sync-async.db".into());
    let threads = blocking_threads()?;

    let host = Host::builder()
        .sqlite(&db)
        .config(HostConfig {
            blocking_threads: threads,
            ..Default::default()
        })
        .activities(activities())
        .build()
        .await?;
    host.deploy(COMPONENT.to_vec()).await?;

    let started_ms = SystemClock.now_ms();
    let start = StartWorkflow::new(
        &format!("sync-async-{}", std::process::id()),
        "sync-async",
        text,
    )?;
    let run = host.start(start.clone()).await?.run_id;
    println!("started {} as {run} with text {text:?}", start.workflow_id);
    let report: Report = host
        .result(&start.workflow_id)
        .await?
        .into_result()
        .context("the sync-async run did not complete")?;
    println!("result: length={} digest={}", report.length, report.digest);
    println!(
        "compute_digest (blocking) ran on the host's bounded pool of {threads} blocking \
         thread(s) while fetch_length (async) ran on the tokio runtime, concurrently; \
         the run took {} ms",
        SystemClock.now_ms().saturating_sub(started_ms)
    );
    Ok(())
}
