//! A host process for the crash tests. `start DB N` starts N timer runs and
//! N activity runs, prints `READY` once every run is mid-timer or
//! mid-activity, and waits to be killed. `resume DB N` opens the same store,
//! prints what it recovered, waits for every run and prints each outcome as
//! a JSON line. `chain DB N` starts a workflow that continues as new N
//! times and one that signals another workflow N times, prints `READY` once
//! both are under way, and waits to be killed; `resume-chain DB N` prints
//! how many open runs it took over, waits for the three workflows and
//! prints their outcomes as JSON lines. `family DB N` starts N parents,
//! each awaiting a child that calls an activity many times, prints `READY`
//! once a quarter of the children have reported back, and waits to be
//! killed; `resume-family DB N` prints how many open runs it took over and
//! each parent's outcome.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use keel_host::history::Event;
use keel_host::{ActivityContext, ActivityError, Host, StartWorkflow};
use keel_tests::{activities, guests, id, test_config};

/// How long each timer run sleeps, ms; long enough to be killed mid-timer.
const TIMER_MS: u64 = 3_000;
/// How long each activity attempt takes; long enough to be killed mid-call.
const ACTIVITY: Duration = Duration::from_millis(1_500);

/// Activities each child of the `family` mode calls, one after another.
const FAMILY_STEPS: u64 = 40;

/// Activity attempts started in this process.
static STARTED: AtomicUsize = AtomicUsize::new(0);

async fn host(db: &PathBuf) -> anyhow::Result<Host> {
    let mut activities = activities();
    activities.register_async("greet", |_ctx: ActivityContext, name: String| async move {
        STARTED.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(ACTIVITY).await;
        Ok::<_, ActivityError>(format!("Hello, {name}!"))
    });
    Ok(Host::builder()
        .sqlite(db)
        .config(test_config())
        .activities(activities)
        .build()
        .await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    keel_tests::init_logs();
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, db, n] = args.as_slice() else {
        bail!("usage: keel-crash-host MODE DB N (see the module docs)");
    };
    let db = PathBuf::from(db);
    let n: usize = n.parse().context("N must be a number")?;
    let host = host(&db).await?;
    match mode.as_str() {
        "start" => {
            host.deploy(std::fs::read(guests::KITCHEN_SINK)?).await?;
            host.deploy(std::fs::read(guests::HELLO)?).await?;
            for i in 0..n {
                host.start(StartWorkflow::new(
                    &format!("timer-{i}"),
                    "timers",
                    &TIMER_MS,
                )?)
                .await?;
                host.start(StartWorkflow::new(
                    &format!("hello-{i}"),
                    "hello",
                    &format!("run {i}"),
                )?)
                .await?;
            }
            for i in 0..n {
                let wf = id(&format!("timer-{i}"));
                while host.history(&wf).await?.len() < 3 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            while STARTED.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            println!("READY");
            tokio::time::sleep(Duration::from_secs(3_600)).await;
        }
        "resume" => {
            let recovered = host.recovered();
            println!(
                "recovered {} {} {}",
                recovered.runs, recovered.timers, recovered.activities
            );
            for i in 0..n {
                for wf in [format!("timer-{i}"), format!("hello-{i}")] {
                    let outcome = host.result(&id(&wf)).await?;
                    println!("{}", serde_json::json!({"id": wf, "outcome": outcome}));
                }
            }
        }
        "chain" => {
            host.deploy(std::fs::read(guests::KITCHEN_SINK)?).await?;
            host.start(StartWorkflow::new(
                "loop",
                "looping",
                &(0, n, false, false),
            )?)
            .await?;
            host.start(StartWorkflow::new("target", "signals", &())?)
                .await?;
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            host.start(StartWorkflow::new(
                "notifier",
                "notify",
                &("target", items, "nobody-to-cancel"),
            )?)
            .await?;
            // Under way: the chain has moved on and signals have arrived.
            let first = host.describe(&id("loop")).await?.run.run_id;
            loop {
                let moved_on = host.describe(&id("loop")).await?.run.run_id != first;
                let signals = host
                    .history(&id("target"))
                    .await?
                    .iter()
                    .filter(|e| matches!(e.event, Event::SignalReceived(_)))
                    .count();
                if moved_on && signals >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            println!("READY");
            tokio::time::sleep(Duration::from_secs(3_600)).await;
        }
        "resume-chain" => {
            println!("recovered {}", host.recovered().runs);
            for wf in ["loop", "target", "notifier"] {
                let outcome = host.result(&id(wf)).await?;
                println!("{}", serde_json::json!({"id": wf, "outcome": outcome}));
            }
        }
        "family" => {
            host.deploy(std::fs::read(guests::KITCHEN_SINK)?).await?;
            for i in 0..n {
                let input = ("await", "sequence", FAMILY_STEPS, "terminate");
                host.start(StartWorkflow::new(
                    &format!("parent-{i}"),
                    "parent",
                    &input,
                )?)
                .await?;
            }
            // Under way: some children have reported to their parents,
            // others are running.
            loop {
                let mut reported = 0;
                for i in 0..n {
                    let history = host.history(&id(&format!("parent-{i}"))).await?;
                    if history
                        .iter()
                        .any(|e| matches!(e.event, Event::ChildClosed(_)))
                    {
                        reported += 1;
                    }
                }
                if reported >= n / 4 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            println!("READY");
            tokio::time::sleep(Duration::from_secs(3_600)).await;
        }
        "resume-family" => {
            println!("recovered {}", host.recovered().runs);
            for i in 0..n {
                let wf = format!("parent-{i}");
                let outcome = host.result(&id(&wf)).await?;
                println!("{}", serde_json::json!({"id": wf, "outcome": outcome}));
            }
        }
        other => bail!(
            "unknown mode {other:?}; use start, resume, chain, resume-chain, family or \
             resume-family"
        ),
    }
    Ok(())
}
