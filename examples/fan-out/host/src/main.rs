//! The fan-out example's host, in two modes:
//!
//! - `example-fan-out [N]` runs the fan-out workflow on the embedded SQLite
//!   store: one run schedules `N` `square` activities at once and sums their
//!   results. Prints the sum, how many activities the history records and
//!   the wall time taken (`N` defaults to 20; store file: `$KEEL_DB`,
//!   default `keel-fan-out.db`).
//! - `example-fan-out server --db keel.db --listen 127.0.0.1:7233` serves
//!   the gRPC API with this example's component deployed and its `square`
//!   activity registered, until SIGINT or SIGTERM; drive it with `keel`
//!   (e.g. `keel workflow start fan-out --id f1 --input 20`).

use clap::{Parser, Subcommand};
use keel_host::cli::ServerArgs;
use keel_host::clock::{Clock, SystemClock};
use keel_host::history::Event;
use keel_host::{Activities, ActivityContext, ActivityError, Host, StartWorkflow};

/// The workflow component, built from `examples/fan-out/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_FAN_OUT_WORKFLOW"));

/// Runs the fan-out workflow, `N` concurrent `square` activities summed, on
/// the embedded SQLite store (store file: `$KEEL_DB`, default
/// `keel-fan-out.db`), or serves it over gRPC with `server`.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// How many `square` activities the run schedules at once.
    #[arg(default_value_t = 20)]
    n: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The modes other than the demo.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API with this example's component deployed and its
    /// `square` activity registered, until SIGINT or SIGTERM; drive it with
    /// `keel`.
    Server(ServerArgs),
}

/// The `square` activity: `i * i`, failing (for good) on overflow.
async fn square(_ctx: ActivityContext, i: u64) -> Result<u64, ActivityError> {
    i.checked_mul(i)
        .ok_or_else(|| ActivityError::non_retryable("Overflow", format!("{i} squared overflows")))
}

/// The activities the fan-out workflow calls.
fn activities() -> Activities {
    let mut activities = Activities::new();
    activities.register_async("square", square);
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
        None => demo(cli.n).await,
    }
}

/// Runs one fan-out of `n` squares and prints the sum, the activity counts
/// and the wall time.
async fn demo(n: u32) -> anyhow::Result<()> {
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-fan-out.db".into());

    let host = Host::builder()
        .sqlite(&db)
        .activities(activities())
        .build()
        .await?;
    host.deploy(COMPONENT.to_vec()).await?;

    let started_ms = SystemClock.now_ms();
    let start = StartWorkflow::new(&format!("fan-out-{}", std::process::id()), "fan-out", &n)?;
    let run = host.start(start.clone()).await?.run_id;
    println!("started {} as {run} with n={n}", start.workflow_id);
    let sum: u64 = host.result(&start.workflow_id).await?.into_result()?;
    let elapsed_ms = SystemClock.now_ms().saturating_sub(started_ms);
    println!("result: sum of i*i for i in 0..{n} = {sum}");

    let history = host.history(&start.workflow_id).await?;
    let count = |pick: fn(&Event) -> bool| history.iter().filter(|e| pick(&e.event)).count();
    let scheduled = count(|e| matches!(e, Event::ActivityScheduled(_)));
    let completed = count(|e| matches!(e, Event::ActivityCompleted(_)));
    println!(
        "history: {} events, {scheduled} ActivityScheduled, {completed} ActivityCompleted",
        history.len()
    );
    println!("wall time from start to result: {elapsed_ms} ms");
    Ok(())
}
