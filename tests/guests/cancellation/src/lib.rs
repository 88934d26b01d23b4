//! Test guest: the cancellation model, as in asyncio and Temporal. A
//! workflow cancel reaches the main task and what it awaits, not every
//! spawned task; one timer, activity or task can be cancelled on its own and
//! still awaited; a shield lets a step finish whatever the awaiting task
//! gets meanwhile. Also a dynamic signal handler. Each type records what
//! happened in a log, queried as `log` (also after the run closed).

use std::time::Duration;

use keel_sdk::{ActivityOptions, CancellationType, Handlers, Result, Workflow, WorkflowContext};

const HOUR: Duration = Duration::from_secs(3600);

/// State of every type here: what happened, in order.
#[derive(Default)]
pub struct Log {
    entries: Vec<String>,
    done: bool,
}

fn note<W: AsMut<Log> + 'static>(ctx: &WorkflowContext<W>, entry: impl Into<String>) {
    ctx.update(|s| s.as_mut().entries.push(entry.into()));
}

fn log_query<W: AsRef<Log> + 'static>(handlers: &mut Handlers<W>) {
    handlers.query("log", |s: &W, (): ()| s.as_ref().entries.clone());
}

macro_rules! logged {
    ($name:ident) => {
        #[doc = "State: the shared [`Log`]."]
        #[derive(Default)]
        pub struct $name(Log);

        impl AsMut<Log> for $name {
            fn as_mut(&mut self) -> &mut Log {
                &mut self.0
            }
        }

        impl AsRef<Log> for $name {
            fn as_ref(&self) -> &Log {
                &self.0
            }
        }
    };
}

logged!(Background);
logged!(Awaited);
logged!(Steps);
logged!(Shielded);
logged!(Dynamic);
logged!(NestedShield);
logged!(Cleanup);
logged!(StepError);

/// `background`: spawns a task that sleeps a second, then sleeps an hour in
/// the main task. Cancelled, the main task waits for the background task,
/// which a workflow cancel does not reach, and ends cancelled.
impl Workflow for Background {
    const NAME: &'static str = "background";
    type Input = ();
    type Output = ();

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        let task_ctx = ctx.clone();
        let background = ctx.spawn(async move {
            match task_ctx.sleep(Duration::from_secs(1)).await {
                Ok(()) => note(&task_ctx, "background finished"),
                Err(_) => note(&task_ctx, "background cancelled"),
            }
        });
        let slept = ctx.sleep(HOUR).await;
        note(
            &ctx,
            if slept.is_ok() {
                "main slept"
            } else {
                "main cancelled"
            },
        );
        background.await;
        slept
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `awaited`: the main task awaits a spawned task that sleeps an hour. A
/// workflow cancel passes on to it; it returns what it saw, and the main
/// task completes with that.
impl Workflow for Awaited {
    const NAME: &'static str = "awaited";
    type Input = ();
    type Output = Vec<String>;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Vec<String>> {
        let task_ctx = ctx.clone();
        let saw = ctx
            .spawn(async move {
                match task_ctx.sleep(HOUR).await {
                    Ok(()) => "slept",
                    Err(_) => "cancelled",
                }
            })
            .await;
        note(&ctx, format!("the awaited task was {saw}"));
        Ok(ctx.state().0.entries.clone())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `steps`: with no workflow cancel, cancels one timer, one `slow`
/// activity (input: how long it would run, ms; waiting for its
/// cancellation to complete) and one spawned task, awaiting each for its
/// outcome, then sleeps 1 ms to show the workflow itself was never
/// cancelled.
impl Workflow for Steps {
    const NAME: &'static str = "steps";
    type Input = u64;
    type Output = Vec<String>;

    async fn run(ctx: WorkflowContext<Self>, activity_ms: u64) -> Result<Vec<String>> {
        let timer = ctx.sleep(HOUR);
        timer.cancel();
        note(&ctx, format!("timer: {:?}", timer.await));

        let options = ActivityOptions::default()
            .start_to_close(Duration::from_secs(600))
            .cancellation(CancellationType::WaitCancellationCompleted);
        let call = ctx.activity::<_, u64>("slow", &activity_ms, options);
        ctx.sleep(Duration::from_millis(50)).await?;
        call.cancel();
        let outcome = match call.await {
            Ok(ms) => format!("completed after {ms} ms"),
            Err(e) => e.to_string(),
        };
        note(&ctx, format!("activity: {outcome}"));

        let task_ctx = ctx.clone();
        let task = ctx.spawn(async move {
            match task_ctx.sleep(HOUR).await {
                Ok(()) => "slept".to_string(),
                Err(e) => format!("saw {e}"),
            }
        });
        ctx.sleep(Duration::from_millis(10)).await?;
        task.cancel();
        note(&ctx, format!("task: {}", task.await));

        ctx.sleep(Duration::from_millis(1)).await?;
        note(
            &ctx,
            format!("cancel requested: {}", ctx.is_cancel_requested()),
        );
        Ok(ctx.state().0.entries.clone())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `shielded`: runs a shielded step (a 1 s timer, then the `greet`
/// activity) and then sleeps an hour. A cancel that arrives during the
/// step lets it finish and cancels the hour's sleep.
impl Workflow for Shielded {
    const NAME: &'static str = "shielded";
    type Input = ();
    type Output = ();

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        let step_ctx = ctx.clone();
        let greeted: Result<String> = ctx
            .shield(async move {
                step_ctx.sleep(Duration::from_secs(1)).await?;
                let options = ActivityOptions::default().start_to_close(Duration::from_secs(10));
                step_ctx.activity("greet", "shield", options).await
            })
            .await;
        note(&ctx, format!("shielded step: {greeted:?}"));
        if let Err(e) = ctx.sleep(HOUR).await {
            note(&ctx, "cancelled at the next step");
            return Err(e);
        }
        Ok(())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `dynamic`: logs every signal as `name=argument` through a dynamic
/// handler, except `finish`, which has its own handler and ends the run
/// with the log.
impl Workflow for Dynamic {
    const NAME: &'static str = "dynamic";
    type Input = ();
    type Output = Vec<String>;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<Vec<String>> {
        ctx.wait_condition(|s| s.0.done).await?;
        Ok(ctx.state().0.entries.clone())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("finish", |s: &mut Self, (): ()| s.0.done = true)
            .dynamic_signal(|s: &mut Self, name: &str, arg: serde_json::Value| {
                s.0.entries.push(format!("{name}={arg}"));
            });
        log_query(handlers);
    }
}

/// `nested-shield`: the main task awaits a spawned task that runs a
/// shielded 1 s timer and returns, then sleeps an hour. A cancel during the
/// shield, passed on to the spawned task, which never takes it, comes back
/// to the main task and cancels the hour's sleep.
impl Workflow for NestedShield {
    const NAME: &'static str = "nested-shield";
    type Input = ();
    type Output = ();

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        let task_ctx = ctx.clone();
        let done = ctx
            .spawn(async move {
                let step_ctx = task_ctx.clone();
                let slept = task_ctx
                    .shield(async move { step_ctx.sleep(Duration::from_secs(1)).await })
                    .await;
                format!("task: {slept:?}")
            })
            .await;
        note(&ctx, done);
        if let Err(e) = ctx.sleep(HOUR).await {
            note(&ctx, "cancelled at the next step");
            return Err(e);
        }
        Ok(())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `cleanup`: sleeps an hour; cancelled, cleans up for the input's
/// milliseconds (a timer, unshielded) and ends cancelled. A repeated cancel
/// request must not cut the clean-up short.
impl Workflow for Cleanup {
    const NAME: &'static str = "cleanup";
    type Input = u64;
    type Output = ();

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<()> {
        let Err(e) = ctx.sleep(HOUR).await else {
            return Ok(());
        };
        let cleaned = ctx.sleep(Duration::from_millis(ms)).await;
        note(&ctx, format!("cleanup: {cleaned:?}"));
        Err(e)
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        log_query(handlers);
    }
}

/// `step-error`: cancels its own timer and returns the error: with no
/// cancel request of the workflow, the run fails rather than ending
/// cancelled.
impl Workflow for StepError {
    const NAME: &'static str = "step-error";
    type Input = ();
    type Output = ();

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        let timer = ctx.sleep(HOUR);
        timer.cancel();
        timer.await
    }
}

keel_sdk::workflows!(
    Background,
    Awaited,
    Steps,
    Shielded,
    Dynamic,
    NestedShield,
    Cleanup,
    StepError,
);
