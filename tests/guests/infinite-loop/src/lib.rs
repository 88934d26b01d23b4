//! Test guest: `spin` never yields, to test the host's limit on activation
//! time; `ok` proves the component otherwise works.

use std::hint::black_box;

use keel_sdk::{Result, Workflow, WorkflowContext};

/// `spin`: counts forever without awaiting.
#[derive(Default)]
pub struct Spin;

impl Workflow for Spin {
    const NAME: &'static str = "spin";
    type Input = ();
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<u64> {
        let mut counter = 0u64;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

/// `ok`: returns 42.
#[derive(Default)]
pub struct Ok42;

impl Workflow for Ok42 {
    const NAME: &'static str = "ok";
    type Input = ();
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<u64> {
        Ok(42)
    }
}

keel_sdk::workflows!(Spin, Ok42);
