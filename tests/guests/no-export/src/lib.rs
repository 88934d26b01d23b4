//! Test guest: a workflow type written with keel-sdk, in a crate that never
//! lists it with `keel_sdk::workflows!`, so the component exports nothing a
//! host can run.

use keel_sdk::{Result, Workflow, WorkflowContext};

/// `forgotten`: would return 1.
#[derive(Default)]
pub struct Forgotten;

impl Workflow for Forgotten {
    const NAME: &'static str = "forgotten";
    type Input = ();
    type Output = u32;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<u32> {
        Ok(1)
    }
}
