//! Test guest: workflows that probe what a careless or hostile workflow can
//! do to the host and what races can do to the semantics. Each type's doc
//! says what it does; the tests in `hostile.rs` and `races.rs` say what must
//! happen.

use std::collections::HashMap;
use std::time::Duration;

use keel_sdk::{
    ActivityOptions, CancellationType, Handlers, Result, RetryPolicy, Workflow, WorkflowContext,
};

fn options() -> ActivityOptions {
    ActivityOptions::default().start_to_close(Duration::from_secs(5))
}

/// `thread-sleep`: blocks in `std::thread::sleep` for the input's
/// milliseconds instead of awaiting a durable timer.
#[derive(Default)]
pub struct ThreadSleep;

impl Workflow for ThreadSleep {
    const NAME: &'static str = "thread-sleep";
    type Input = u64;
    type Output = String;

    async fn run(_ctx: WorkflowContext<Self>, ms: u64) -> Result<String> {
        std::thread::sleep(Duration::from_millis(ms));
        Ok("slept".into())
    }
}

/// `nan-backoff`: schedules `greet` with a retry backoff coefficient of NaN.
#[derive(Default)]
pub struct NanBackoff;

impl Workflow for NanBackoff {
    const NAME: &'static str = "nan-backoff";
    type Input = ();
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        let retry = RetryPolicy {
            backoff_coefficient: f64::NAN,
            ..RetryPolicy::default()
        };
        ctx.activity("greet", "nan", options().retry(retry)).await
    }
}

/// `query-probe`: each `next` signal starts a round that schedules `greet`
/// for eight names in the iteration order of a fresh `std` `HashMap` (whose
/// keys come from WASI random); `finish` ends it with every round's
/// `"name: greeting"` pairs, which a run rebuilt with another key order
/// pairs wrongly.
/// Its queries try to change the run: `random` draws from the run's
/// generator, `hash` builds `HashMap`s (advancing `std`'s key counter),
/// `panic` panics.
#[derive(Default)]
pub struct QueryProbe {
    ctx: Option<WorkflowContext<QueryProbe>>,
    rounds_asked: u32,
    done: bool,
}

impl Workflow for QueryProbe {
    const NAME: &'static str = "query-probe";
    type Input = ();
    type Output = Vec<Vec<String>>;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Vec<Vec<String>>> {
        let probe = ctx.clone();
        ctx.update(|s| s.ctx = Some(probe));
        let mut rounds = Vec::new();
        loop {
            let round = u32::try_from(rounds.len()).unwrap_or(u32::MAX);
            ctx.wait_condition(move |s: &Self| s.done || s.rounds_asked > round)
                .await?;
            if ctx.state().rounds_asked <= round {
                break;
            }
            let names: HashMap<String, u32> = (0..8).map(|i| (format!("n{i}"), i)).collect();
            let mut results = Vec::new();
            for name in names.keys() {
                results.push((name, ctx.activity::<_, String>("greet", name, options())));
            }
            let mut greeted = Vec::new();
            for (name, result) in results {
                greeted.push(format!("{name}: {}", result.await?));
            }
            rounds.push(greeted);
        }
        Ok(rounds)
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("next", |s: &mut Self, (): ()| s.rounds_asked += 1)
            .signal("finish", |s: &mut Self, (): ()| s.done = true)
            .query("random", |s: &Self, (): ()| {
                s.ctx.as_ref().map(WorkflowContext::random)
            })
            .query("hash", |_: &Self, (): ()| {
                let maps: Vec<HashMap<u32, u32>> =
                    (0..5).map(|i| HashMap::from([(i, i)])).collect();
                maps.len()
            })
            .query("panic", |_: &Self, what: String| -> u32 {
                panic!("no answer for {what}")
            });
    }
}

/// `sleep-twice`: sleeps the input's milliseconds, then an hour; returns
/// `"woke"` unless cancelled. Cancelled after the first timer fired, it must
/// end cancelled at the second.
#[derive(Default)]
pub struct SleepTwice;

impl Workflow for SleepTwice {
    const NAME: &'static str = "sleep-twice";
    type Input = u64;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<String> {
        ctx.sleep(Duration::from_millis(ms)).await?;
        ctx.sleep(Duration::from_secs(3600)).await?;
        Ok("woke".into())
    }
}

/// `wait-forever`: waits on a condition that never holds.
#[derive(Default)]
pub struct WaitForever;

impl Workflow for WaitForever {
    const NAME: &'static str = "wait-forever";
    type Input = ();
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        ctx.wait_condition(|_| false).await?;
        Ok("never".into())
    }
}

/// `schedule-and-drop`: schedules `slow` (the input's milliseconds) and
/// drops it in the same activation, then sleeps 10 ms and returns.
#[derive(Default)]
pub struct ScheduleAndDrop;

impl Workflow for ScheduleAndDrop {
    const NAME: &'static str = "schedule-and-drop";
    type Input = u64;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<String> {
        for cancellation in [CancellationType::TryCancel, CancellationType::Abandon] {
            let call = ctx.activity::<_, u64>("slow", &ms, options().cancellation(cancellation));
            drop(call);
        }
        ctx.sleep(Duration::from_millis(10)).await?;
        Ok("dropped".into())
    }
}

/// `close-while-pending`: schedules `slow` (the input's milliseconds),
/// sleeps 1 ms and returns while the activity is still running, which
/// cancels it in the closing activation.
#[derive(Default)]
pub struct CloseWhilePending;

impl Workflow for CloseWhilePending {
    const NAME: &'static str = "close-while-pending";
    type Input = u64;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<String> {
        let options = options().cancellation(CancellationType::TryCancel);
        let call = ctx.activity::<_, u64>("slow", &ms, options);
        ctx.sleep(Duration::from_millis(1)).await?;
        drop(call);
        Ok("closed".into())
    }
}

/// `slow-activity`: runs the `slow` activity for the input's milliseconds
/// and returns what it returned.
#[derive(Default)]
pub struct SlowActivity;

impl Workflow for SlowActivity {
    const NAME: &'static str = "slow-activity";
    type Input = u64;
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<u64> {
        ctx.activity("slow", &ms, options()).await
    }
}

keel_sdk::workflows!(
    ThreadSleep,
    NanBackoff,
    QueryProbe,
    SleepTwice,
    WaitForever,
    ScheduleAndDrop,
    CloseWhilePending,
    SlowActivity,
);
