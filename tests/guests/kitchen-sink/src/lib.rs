//! Test guest: one small workflow type per SDK feature, for the host's
//! end-to-end tests. Types without a meaningful input take `()` (JSON
//! `null`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_sdk::future::{FutureExt, join_all};
use keel_sdk::{
    ActivityOptions, CancellationType, ChildOptions, Error, Handlers, ParentClosePolicy, Result,
    RetryPolicy, Workflow, WorkflowContext,
};
use serde::{Deserialize, Serialize};

fn options() -> ActivityOptions {
    ActivityOptions::default().start_to_close(Duration::from_secs(5))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `timers`: sleeps the input's milliseconds and returns the workflow time
/// that passed, in milliseconds.
#[derive(Default)]
pub struct Timers;

impl Workflow for Timers {
    const NAME: &'static str = "timers";
    type Input = u64;
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<u64> {
        let before = ctx.now();
        ctx.sleep(Duration::from_millis(ms)).await?;
        Ok(millis(ctx.now().duration_since(before).unwrap_or_default()))
    }
}

/// What `random` drew.
#[derive(Debug, Serialize)]
pub struct Draws {
    /// Three `ctx.random()` values, with a 1 ms timer between draws.
    pub sdk: Vec<u64>,
    /// A fixed key hashed with `std`'s randomly keyed `RandomState`.
    pub std_hash: u64,
    /// `std::time::SystemTime::now()`, in milliseconds since the epoch.
    pub std_now_ms: u64,
}

/// `random`: draws replay-safe randomness across activations, from the SDK
/// and from `std`.
#[derive(Default)]
pub struct Random;

impl Workflow for Random {
    const NAME: &'static str = "random";
    type Input = ();
    type Output = Draws;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Draws> {
        let mut sdk = vec![ctx.random()];
        for _ in 0..2 {
            ctx.sleep(Duration::from_millis(1)).await?;
            sdk.push(ctx.random());
        }
        #[allow(
            clippy::disallowed_methods,
            reason = "shows that std time is workflow time here"
        )]
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
        Ok(Draws {
            sdk,
            std_hash: RandomState::new().hash_one("keel"),
            std_now_ms: millis(since_epoch.unwrap_or_default()),
        })
    }
}

/// Input of `activity-options`, passed on as the `flaky` activity's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlakyInput {
    /// A name for the activity to echo.
    pub name: String,
    /// How many attempts the activity fails before it succeeds.
    pub fail_times: u32,
    /// The retry policy's `maximum_attempts`.
    pub max_attempts: u32,
    /// Whether the activity fails with the non-retryable type `Fatal`.
    pub non_retryable: bool,
    /// The delay the activity asks for before its next attempt, ms (0: the
    /// policy's).
    #[serde(default)]
    pub retry_after_ms: u64,
}

/// `activity-options`: calls `flaky` with a fast retry policy; returns its
/// result or `"failed: {error_type}: {message}"`.
#[derive(Default)]
pub struct ActivityOptionsWorkflow;

impl Workflow for ActivityOptionsWorkflow {
    const NAME: &'static str = "activity-options";
    type Input = FlakyInput;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, input: FlakyInput) -> Result<String> {
        let retry = RetryPolicy {
            initial_interval: Duration::from_millis(10),
            backoff_coefficient: 2.0,
            maximum_interval: Duration::from_millis(100),
            maximum_attempts: input.max_attempts,
            non_retryable_error_types: vec!["Fatal".into()],
        };
        match ctx.activity("flaky", &input, options().retry(retry)).await {
            Err(Error::ActivityFailed {
                error_type,
                message,
                ..
            }) => Ok(format!("failed: {error_type}: {message}")),
            result => result,
        }
    }
}

/// `unknown-activity`: calls an activity no one implements; returns the
/// error's `Display` text.
#[derive(Default)]
pub struct UnknownActivity;

impl Workflow for UnknownActivity {
    const NAME: &'static str = "unknown-activity";
    type Input = ();
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        let result = ctx.activity::<_, String>("no-such-activity", &(), options());
        Ok(result.await.unwrap_or_else(|e| e.to_string()))
    }
}

/// `signals`: collects `add` signals until `finish`, then returns them.
#[derive(Default)]
pub struct Signals {
    items: Vec<String>,
    done: bool,
}

impl Workflow for Signals {
    const NAME: &'static str = "signals";
    type Input = ();
    type Output = Vec<String>;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Vec<String>> {
        ctx.wait_condition(|s| s.done).await?;
        Ok(ctx.state().items.clone())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("add", |s: &mut Self, item: String| s.items.push(item))
            .signal("finish", |s: &mut Self, (): ()| s.done = true)
            .try_signal("reject", |_: &mut Self, reason: String| {
                Err(Error::application("Rejected", reason))
            })
            .query("items", |s: &Self, (): ()| s.items.clone());
    }
}

/// `cancellable`: sleeps an hour; if cancelled, runs the `cleanup` activity
/// and then finishes as cancelled.
#[derive(Default)]
pub struct Cancellable;

impl Workflow for Cancellable {
    const NAME: &'static str = "cancellable";
    type Input = ();
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        match ctx.sleep(Duration::from_secs(3600)).await {
            Ok(()) => Ok("slept".into()),
            Err(e) if e.is_cancelled() => {
                let done: String = ctx.activity("cleanup", "cleanup", options()).await?;
                keel_sdk::info!(ctx, "cleanup: {done}");
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

/// `cancel-activity`: races the `slow` activity (sleeping the input's
/// milliseconds) against a 50 ms timer; the loser is dropped, which cancels
/// it.
#[derive(Default)]
pub struct CancelActivity;

impl Workflow for CancelActivity {
    const NAME: &'static str = "cancel-activity";
    type Input = u64;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<String> {
        let options = options().cancellation(CancellationType::TryCancel);
        keel_sdk::select_biased! {
            slept = ctx.activity::<_, u64>("slow", &ms, options).fuse() => {
                slept.map(|_| "activity won".into())
            }
            fired = ctx.sleep(Duration::from_millis(50)).fuse() => {
                fired.map(|()| "timer won".into())
            }
        }
    }
}

/// `spawn`: spawns three tasks, task `i` sleeping `i * 10` ms and returning
/// `i`; returns their outputs in spawn order, `[1, 2, 3]`.
#[derive(Default)]
pub struct Spawn;

impl Workflow for Spawn {
    const NAME: &'static str = "spawn";
    type Input = ();
    type Output = Vec<u64>;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Vec<u64>> {
        let handles = (1..=3u64).map(|i| {
            let task_ctx = ctx.clone();
            ctx.spawn(async move {
                task_ctx.sleep(Duration::from_millis(i * 10)).await?;
                Ok(i)
            })
        });
        join_all(handles).await.into_iter().collect()
    }
}

/// `fails`: fails with application error `Boom`, "it went boom".
#[derive(Default)]
pub struct Fails;

impl Workflow for Fails {
    const NAME: &'static str = "fails";
    type Input = ();
    type Output = String;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        Err(Error::application("Boom", "it went boom").with_details(&("code", 7)))
    }
}

/// Input of `bad-payload`: `n` is required.
#[derive(Debug, Deserialize)]
pub struct BadPayloadInput {
    /// The number returned.
    pub n: u64,
}

/// `bad-payload`: returns its input's `n`; for malformed-input tests.
#[derive(Default)]
pub struct BadPayload;

impl Workflow for BadPayload {
    const NAME: &'static str = "bad-payload";
    type Input = BadPayloadInput;
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, input: BadPayloadInput) -> Result<u64> {
        Ok(input.n)
    }
}

/// `strict-payload`: as `bad-payload`, but a payload error fails the run
/// rather than the workflow task.
#[derive(Default)]
pub struct StrictPayload;

impl Workflow for StrictPayload {
    const NAME: &'static str = "strict-payload";
    type Input = BadPayloadInput;
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, input: BadPayloadInput) -> Result<u64> {
        Ok(input.n)
    }

    fn fails_run(_error: &Error) -> bool {
        true
    }
}

/// `notify`: input `(target, items, to_cancel)`. Signals `add` with each
/// item and then `finish` to workflow `target` (a `signals` run), signals
/// the workflow `nobody` (which does not exist), cancels workflow
/// `to_cancel`, and returns how each request went.
#[derive(Default)]
pub struct Notify;

impl Workflow for Notify {
    const NAME: &'static str = "notify";
    type Input = (String, Vec<String>, String);
    type Output = Vec<String>;

    async fn run(
        ctx: WorkflowContext<Self>,
        (target, items, to_cancel): (String, Vec<String>, String),
    ) -> Result<Vec<String>> {
        let outcome = |what: String, sent: Result<()>| match sent {
            Ok(()) => format!("{what}: ok"),
            Err(e) => format!("{what}: {}", e.error_type()),
        };
        let mut report = Vec::new();
        for item in items {
            let sent = ctx.signal_external(&target, "add", &item).await;
            report.push(outcome(format!("add {item}"), sent));
        }
        let sent = ctx.signal_external(&target, "finish", &()).await;
        report.push(outcome("finish".into(), sent));
        let sent = ctx.signal_external("nobody", "add", "x").await;
        report.push(outcome("nobody".into(), sent));
        let sent = ctx.cancel_external(&to_cancel, "stopped by notify").await;
        report.push(outcome("cancel".into(), sent));
        Ok(report)
    }
}

/// `sequence`: calls `square` for 0..n one after another, each in its own
/// activation, and returns the sum; the shape of a long-running workflow's
/// history (about three events per step).
#[derive(Default)]
pub struct Sequence;

impl Workflow for Sequence {
    const NAME: &'static str = "sequence";
    type Input = u64;
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, n: u64) -> Result<u64> {
        let mut sum = 0;
        for i in 0..n {
            sum += ctx.activity::<_, u64>("square", &i, options()).await?;
        }
        Ok(sum)
    }
}

/// `looping`: input `(n, limit, pinned, wait)`. Sleeps 1 ms (then, with
/// `wait`, waits for signal `go`); returns "{version} done at n" once
/// `n == limit`, else continues as new with `n + 1`, on this version if
/// `pinned` and on the type's current one if not.
#[derive(Default)]
pub struct Looping {
    go: bool,
}

impl Workflow for Looping {
    const NAME: &'static str = "looping";
    type Input = (u32, u32, bool, bool);
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, input: (u32, u32, bool, bool)) -> Result<String> {
        let (n, limit, pinned, wait) = input;
        ctx.sleep(Duration::from_millis(1)).await?;
        if wait {
            ctx.wait_condition(|s| s.go).await?;
        }
        if n >= limit {
            return Ok(format!("v1 done at {n}"));
        }
        let next = (n + 1, limit, pinned, wait);
        Err(match pinned {
            true => ctx.continue_as_new_pinned(&next),
            false => ctx.continue_as_new(&next),
        })
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.signal("go", |s: &mut Self, (): ()| s.go = true);
    }
}

/// `fails-until`: fails with error type `Flaky` until its attempt (a retry
/// policy's) reaches the input, then returns "succeeded at attempt N".
/// Takes signal `poke` (and does nothing with it).
#[derive(Default)]
pub struct FailsUntil;

impl Workflow for FailsUntil {
    const NAME: &'static str = "fails-until";
    type Input = u32;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, until: u32) -> Result<String> {
        let attempt = ctx.info().attempt;
        ctx.sleep(Duration::from_millis(1)).await?;
        if attempt < until {
            return Err(Error::application("Flaky", format!("attempt {attempt}")));
        }
        Ok(format!("succeeded at attempt {attempt}"))
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.signal("poke", |_: &mut Self, (): ()| {});
    }
}

/// `hangs-until`: sleeps an hour until its attempt reaches the input, then
/// returns "succeeded at attempt N" (for run timeouts with retries).
#[derive(Default)]
pub struct HangsUntil;

impl Workflow for HangsUntil {
    const NAME: &'static str = "hangs-until";
    type Input = u32;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, until: u32) -> Result<String> {
        let attempt = ctx.info().attempt;
        if attempt < until {
            ctx.sleep(Duration::from_secs(3_600)).await?;
        }
        Ok(format!("succeeded at attempt {attempt}"))
    }
}

/// Pending once (waking itself), then ready: lets the executor poll the
/// other tasks within the same activation.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// `early-cancel`: a task starts child `{workflow id}-child` (a `signals`
/// run) and awaits it; in the same activation, before the child can have
/// started, the task is cancelled. Returns how the task ended.
#[derive(Default)]
pub struct EarlyCancel;

impl Workflow for EarlyCancel {
    const NAME: &'static str = "early-cancel";
    type Input = ();
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        let id = format!("{}-child", ctx.info().workflow_id);
        let options =
            ChildOptions::new("signals", id).parent_close_policy(ParentClosePolicy::Abandon);
        let c = ctx.clone();
        let task = ctx.spawn(async move {
            let child = c.start_child(options, &()).await?;
            child.result::<Vec<String>>().await.map(|_| ())
        });
        // Let the executor poll the task, which asks for the child.
        for _ in 0..3 {
            YieldOnce(false).await;
        }
        task.cancel();
        Ok(match task.await {
            Ok(()) => "child completed".into(),
            Err(e) => format!("err: {}", e.error_type()),
        })
    }
}

/// `parent`: input `(mode, child_type, child_input, policy)`. Starts child
/// `{workflow id}-child` of `child_type` with `child_input` and parent-close
/// `policy` (`terminate`, `request-cancel`, `abandon`). Mode `await` returns
/// its result; `signal` sends it `add` "a" and `finish`, then awaits it;
/// `cancel` asks it to cancel, then awaits it; `leave` returns once it has
/// started; `twice` starts a second child of the same id; `wait` awaits it
/// and fails as it does (a cancel of the parent reaches the child). Returns
/// `ok: {result}` or `err: {error type}: {message}`.
#[derive(Default)]
pub struct Parent;

impl Workflow for Parent {
    const NAME: &'static str = "parent";
    type Input = (String, String, serde_json::Value, String);
    type Output = String;

    async fn run(
        ctx: WorkflowContext<Self>,
        (mode, child_type, input, policy): (String, String, serde_json::Value, String),
    ) -> Result<String> {
        let policy = match policy.as_str() {
            "abandon" => ParentClosePolicy::Abandon,
            "request-cancel" => ParentClosePolicy::RequestCancel,
            _ => ParentClosePolicy::Terminate,
        };
        let id = format!("{}-child", ctx.info().workflow_id);
        let options = ChildOptions::new(child_type, &id).parent_close_policy(policy);
        let report = |r: Result<serde_json::Value>| match r {
            Ok(v) => format!("ok: {v}"),
            Err(e) => format!("err: {}: {e}", e.error_type()),
        };
        let child = match ctx.start_child(options.clone(), &input).await {
            Ok(child) => child,
            Err(e) => return Ok(report(Err(e))),
        };
        match mode.as_str() {
            "leave" => Ok(format!("started {}", child.run_id())),
            "twice" => match ctx.start_child(options, &input).await {
                Ok(_) => Ok("started twice".into()),
                Err(e) => Ok(report(Err(e))),
            },
            "signal" => {
                child.signal("add", "a").await?;
                child.signal("finish", &()).await?;
                Ok(report(child.result().await))
            }
            "cancel" => {
                child.cancel("the parent cancels it").await?;
                Ok(report(child.result().await))
            }
            "wait" => child
                .result()
                .await
                .map(|v: serde_json::Value| v.to_string()),
            _ => Ok(report(child.result().await)),
        }
    }
}

keel_sdk::workflows!(
    EarlyCancel,
    FailsUntil,
    HangsUntil,
    Parent,
    Timers,
    Random,
    ActivityOptionsWorkflow,
    UnknownActivity,
    Signals,
    Cancellable,
    CancelActivity,
    Spawn,
    Fails,
    BadPayload,
    StrictPayload,
    Notify,
    Sequence,
    Looping,
);
