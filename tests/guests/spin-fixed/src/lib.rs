//! Test guest: the `spin` of infinite-loop, fixed: it sleeps a second on a
//! durable timer and returns 7, so a run stuck on the spinning version can
//! be moved here and finish.

use std::time::Duration;

use keel_sdk::{Result, Workflow, WorkflowContext};

/// `spin`, fixed.
#[derive(Default)]
pub struct Spin;

impl Workflow for Spin {
    const NAME: &'static str = "spin";
    type Input = ();
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, (): ()) -> Result<u64> {
        ctx.sleep(Duration::from_secs(1)).await?;
        Ok(7)
    }
}

keel_sdk::workflows!(Spin);
