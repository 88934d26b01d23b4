//! Test guest: a changed version of kitchen-sink for non-determinism tests.
//! Its `timers` calls the `greet` activity before sleeping, so replaying a
//! kitchen-sink `timers` history with it diverges; `signals` and `looping`
//! only mark their results.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Handlers, Result, Workflow, WorkflowContext};

/// `timers`, changed: greets first, then sleeps the input's milliseconds and
/// returns the workflow time that passed, in milliseconds.
#[derive(Default)]
pub struct Timers;

impl Workflow for Timers {
    const NAME: &'static str = "timers";
    type Input = u64;
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, ms: u64) -> Result<u64> {
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(5));
        let _: String = ctx.activity("greet", "timers", options).await?;
        let before = ctx.now();
        ctx.sleep(Duration::from_millis(ms)).await?;
        let elapsed = ctx.now().duration_since(before).unwrap_or_default();
        Ok(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }
}

/// `signals`, as in kitchen-sink but marked: collects `add` signals until
/// `finish`, then appends "v2" so tests can tell which version ran.
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
        let mut items = ctx.state().items.clone();
        items.push("v2".into());
        Ok(items)
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("add", |s: &mut Self, item: String| s.items.push(item))
            .signal("finish", |s: &mut Self, (): ()| s.done = true)
            .query("items", |s: &Self, (): ()| s.items.clone());
    }
}

/// `looping`, as in kitchen-sink but answering "v2 done at n".
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
            return Ok(format!("v2 done at {n}"));
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

keel_sdk::workflows!(Timers, Signals, Looping);
