//! Test guest: workflows that probe what a careless or hostile workflow can
//! do to the host and what races can do to the semantics. Each type's doc
//! says what it does; the tests in `hostile.rs` and `races.rs` say what must
//! happen.

use std::collections::HashMap;
use std::time::Duration;

use keel_sdk::{
    ActivityOptions, CancellationType, Error, Handlers, Result, RetryPolicy, Workflow,
    WorkflowContext,
};
use serde::{Deserialize, Serialize};

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

/// `bad-retry`: schedules `greet` with a retry policy history cannot hold:
/// a backoff coefficient of NaN (input `"nan"`) or a zero interval
/// (`"zero-interval"`).
#[derive(Default)]
pub struct BadRetry;

impl Workflow for BadRetry {
    const NAME: &'static str = "bad-retry";
    type Input = String;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, which: String) -> Result<String> {
        let retry = match which.as_str() {
            "nan" => RetryPolicy {
                backoff_coefficient: f64::NAN,
                ..RetryPolicy::default()
            },
            _ => RetryPolicy {
                initial_interval: Duration::ZERO,
                ..RetryPolicy::default()
            },
        };
        ctx.activity("greet", "retry", options().retry(retry)).await
    }
}

/// Input of `flood`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Flood {
    /// Hour-long timers started in the first activation.
    pub timers: u32,
    /// Hour-long `slow` activities scheduled in the first activation.
    pub activities: u32,
    /// Signals to the workflow `nobody` sent in the first activation, not
    /// awaited there.
    pub externals: u32,
    /// 1 ms sleeps one after another, each its own activation.
    pub steps: u32,
    /// Bytes of the failure message the run ends with, if not 0.
    pub failure_bytes: usize,
    /// Bytes of each activity's input (a string), if not 0.
    pub input_bytes: usize,
}

/// `flood`: makes the host hold as much as its input says; see [`Flood`].
#[derive(Default)]
pub struct FloodWorkflow;

impl Workflow for FloodWorkflow {
    const NAME: &'static str = "flood";
    type Input = Flood;
    type Output = u32;

    async fn run(ctx: WorkflowContext<Self>, flood: Flood) -> Result<u32> {
        let hour = Duration::from_secs(3600);
        let timers: Vec<_> = (0..flood.timers).map(|_| ctx.sleep(hour)).collect();
        let externals: Vec<_> = (0..flood.externals)
            .map(|_| ctx.signal_external("nobody", "x", &()))
            .collect();
        let big = "x".repeat(flood.input_bytes);
        let activities: Vec<_> = (0..flood.activities)
            .map(|_| match flood.input_bytes {
                0 => ctx.activity::<_, u64>("slow", &3_600_000u64, options()),
                _ => ctx.activity::<_, u64>("slow", &big, options()),
            })
            .collect();
        for _ in 0..flood.steps {
            ctx.sleep(Duration::from_millis(1)).await?;
        }
        if flood.failure_bytes > 0 {
            return Err(Error::application("Long", "x".repeat(flood.failure_bytes)));
        }
        drop((timers, activities, externals));
        Ok(flood.steps)
    }
}

/// `query-probe`: each `next` signal starts a round that schedules `greet`
/// for eight names in the iteration order of a fresh `std` `HashMap` (whose
/// keys come from WASI random); `finish` ends it with every round's
/// `"name: greeting"` pairs, which a run rebuilt with another key order
/// pairs wrongly.
/// Its queries try to change the run: `random` draws from the run's
/// generator, `hash` builds `HashMap`s (advancing `std`'s key counter),
/// `panic` panics, and `rounds` refuses until a round has started.
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
            })
            .try_query("rounds", |s: &Self, (): ()| {
                if s.rounds_asked == 0 {
                    return Err("no round has started yet");
                }
                Ok(s.rounds_asked)
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

/// Input of `timeouts`: the `slow` activity's run time and options.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    /// How long `slow` runs, ms.
    pub slow_ms: u64,
    /// Start-to-close, ms (0: none).
    pub start_to_close_ms: u64,
    /// Schedule-to-close, ms (0: none).
    pub schedule_to_close_ms: u64,
    /// Heartbeat timeout, ms (0: none).
    pub heartbeat_ms: u64,
    /// The retry policy's maximum attempts (0: unlimited).
    pub max_attempts: u32,
}

/// `timeouts`: runs `slow` with the input's timeouts and returns
/// `"ok"` or `"failed: {error type}"`, with the failure's details if any.
#[derive(Default)]
pub struct TimeoutsWorkflow;

impl Workflow for TimeoutsWorkflow {
    const NAME: &'static str = "timeouts";
    type Input = Timeouts;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, input: Timeouts) -> Result<String> {
        let ms = Duration::from_millis;
        let mut options = ActivityOptions::default().retry(RetryPolicy {
            initial_interval: ms(10),
            maximum_attempts: input.max_attempts,
            ..RetryPolicy::default()
        });
        if input.start_to_close_ms > 0 {
            options = options.start_to_close(ms(input.start_to_close_ms));
        }
        if input.schedule_to_close_ms > 0 {
            options = options.schedule_to_close(ms(input.schedule_to_close_ms));
        }
        if input.heartbeat_ms > 0 {
            options = options.heartbeat(ms(input.heartbeat_ms));
        }
        Ok(
            match ctx
                .activity::<_, u64>("slow", &input.slow_ms, options)
                .await
            {
                Ok(_) => "ok".into(),
                Err(e @ Error::ActivityFailed { .. }) => match e.details::<u64>() {
                    Some(details) => format!("failed: {} (details {details})", e.error_type()),
                    None => format!("failed: {}", e.error_type()),
                },
                Err(other) => return Err(other),
            },
        )
    }
}

/// `log-flood`: writes the input's number of lines through `ctx.log` and
/// as many to stdout, in one activation, then returns the number.
#[derive(Default)]
pub struct LogFlood;

impl Workflow for LogFlood {
    const NAME: &'static str = "log-flood";
    type Input = u32;
    type Output = u32;

    async fn run(ctx: WorkflowContext<Self>, lines: u32) -> Result<u32> {
        for i in 0..lines {
            keel_sdk::info!(ctx, "flood line {i}");
            println!("flood stdout {i}");
        }
        Ok(lines)
    }
}

/// The raw `wasi:clocks` import, to make resources without freeing them.
#[allow(unsafe_code)]
mod raw {
    #[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.6")]
    unsafe extern "C" {
        #[link_name = "subscribe-duration"]
        fn subscribe_duration(nanos: i64) -> i32;
    }

    /// Make a pollable and never drop it.
    pub(crate) fn leak_pollable() {
        // SAFETY: the import takes a duration and returns an owned handle,
        // which is deliberately never dropped.
        let _handle = unsafe { subscribe_duration(0) };
    }
}

/// `resource-hog`: makes the input's number of WASI pollables and keeps
/// them all, then returns how many it made.
#[derive(Default)]
pub struct ResourceHog;

impl Workflow for ResourceHog {
    const NAME: &'static str = "resource-hog";
    type Input = u32;
    type Output = u32;

    async fn run(_ctx: WorkflowContext<Self>, count: u32) -> Result<u32> {
        for _ in 0..count {
            raw::leak_pollable();
        }
        Ok(count)
    }
}

keel_sdk::workflows!(
    TimeoutsWorkflow,
    ResourceHog,
    ThreadSleep,
    BadRetry,
    FloodWorkflow,
    QueryProbe,
    SleepTwice,
    WaitForever,
    ScheduleAndDrop,
    CloseWhilePending,
    SlowActivity,
    LogFlood,
);
