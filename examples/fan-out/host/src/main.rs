//! Runs the fan-out workflow on the embedded SQLite store: one run schedules
//! `N` `square` activities at once and sums their results. Prints the sum,
//! how many activities the history records and the wall time taken. Usage:
//! `example-fan-out [N]` (default 20; store file: `$KEEL_DB`, default
//! `keel-fan-out.db`).

use anyhow::Context;
use keel_host::clock::{Clock, SystemClock};
use keel_host::history::Event;
use keel_host::{Activities, ActivityContext, ActivityError, Host, StartWorkflow};

/// The workflow component, built from `examples/fan-out/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_FAN_OUT_WORKFLOW"));

/// The `square` activity: `i * i`, failing (for good) on overflow.
async fn square(_ctx: ActivityContext, i: u64) -> Result<u64, ActivityError> {
    i.checked_mul(i)
        .ok_or_else(|| ActivityError::non_retryable("Overflow", format!("{i} squared overflows")))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let n: u32 = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .with_context(|| format!("N must be a u32, not {arg:?}"))?,
        None => 20,
    };
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-fan-out.db".into());

    let mut activities = Activities::new();
    activities.register_async("square", square);
    let host = Host::builder()
        .sqlite(&db)
        .activities(activities)
        .build()
        .await?;
    host.deploy(COMPONENT.to_vec()).await?;

    let started_ms = SystemClock.now_ms();
    let start = StartWorkflow::new(&format!("fan-out-{}", std::process::id()), "fan-out", &n)?;
    let run = host.start(start.clone()).await?;
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
